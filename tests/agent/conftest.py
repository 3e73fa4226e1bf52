"""Fixtures for the example coding agent's tests: one embedding cache for the whole run
(the model itself is loaded once per process by ``ctxkit.embeddings.default_embedder``),
fresh copies of the sample repositories, and one recorded scripted session that the
replay and live-over-HTTP tests answer from."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ctxkit import CallRecord, load_trace
from examples.coding_agent.cli import main
from examples.coding_agent.samples import SampleTask, copy_repo, sample


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embeddings") / "vectors.sqlite"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)


def repo_tests(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The repository's own test suite, in a subprocess, as a user would run it."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=120)


def fresh_copy(name: str, dest: Path) -> tuple[Path, SampleTask]:
    src = sample(name)
    return copy_repo(src, dest), SampleTask.load(src)


def run_cli(argv: list[str], embedding_cache: Path, **config: Any) -> tuple[int, str]:
    """The command line in process (the embedding model stays loaded); (rc, output)."""
    console = Console(record=True, width=1000, file=open(os.devnull, "w"))  # noqa: SIM115
    rc = main(argv, console=console, config={"embedding_cache": embedding_cache, **config})
    return rc, console.export_text()


@dataclass
class Recorded:
    """A finished scripted session: where its copy and trace are, and its records."""

    name: str
    repo: Path
    trace: Path
    records: list[CallRecord]


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> Recorded:
    """One scripted session on the ``slugs`` sample (it has a wrong first attempt)."""
    root = tmp_path_factory.mktemp("recorded")
    rc, out = run_cli(["--repo", str(sample("slugs")), "--workdir", str(root / "work"),
                       "--home", str(root / "home")], embedding_cache)
    assert rc == 0, out
    trace = next((root / "home" / "sessions").glob("*/trace.jsonl"))
    return Recorded("slugs", root / "work", trace, load_trace(trace))
