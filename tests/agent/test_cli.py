"""The command line: its refusals say what to do, and the module runs as a program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from examples.coding_agent.samples import sample

from .conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(("argv", "message"), [
    (["--repo", "SAMPLE"], "pass --workdir DIR to work on a copy"),
    (["fix it", "--repo", "PLAIN"], "the scripted stand-in plays only the sample"),
    (["--repo", "PLAIN"], "say what to do"),
    (["--repo", "SAMPLE", "--workdir", "W", "--backend", "local"],
     "--backend local needs --model PATH"),
    (["--repo", "SAMPLE", "--workdir", "W", "--backend", "replay"],
     "--backend replay needs --model TRACE"),
    (["--repo", "SAMPLE", "--workdir", "W", "--backend", "anthropic"],
     "needs ANTHROPIC_API_KEY in the environment"),
    (["--repo", "SAMPLE", "--workdir", "W", "--backend", "openai"],
     "needs OPENAI_API_KEY in the environment"),
    ([], "pass --repo PATH (or --resume SESSION)"),
])
def test_refusals_say_what_to_do(argv: list[str], message: str, tmp_path: Path,
                                 embedding_cache: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    subs = {"SAMPLE": str(sample("pages")), "PLAIN": str(plain), "W": str(tmp_path / "w")}
    rc, out = run_cli([subs.get(a, a) for a in argv] + ["--home", str(tmp_path / "home")],
                      embedding_cache)
    assert rc == 1
    assert message in " ".join(out.split())
    assert not (tmp_path / "w").exists(), "nothing is copied before the backend is ready"


def test_the_package_runs_as_a_module() -> None:
    proc = subprocess.run([sys.executable, "-m", "examples.coding_agent", "--help"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for option in ("--repo", "--backend", "--model", "--trace", "--resume", "--html"):
        assert option in proc.stdout
