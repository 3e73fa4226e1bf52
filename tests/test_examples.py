"""The runnable examples run, and the docs show exactly their code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart.py"


def _run_quickstart(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    return subprocess.run([sys.executable, str(QUICKSTART)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_quickstart_runs_offline_and_reads_the_cache(tmp_path: Path) -> None:
    proc = _run_quickstart(tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "'the quick brown fox' has 4 words."
    reads = [int(m.group(1).replace(",", ""))
             for m in re.finditer(r"call \d+: [\d,]+ prompt tokens, ([\d,]+) read", proc.stdout)]
    assert len(reads) == 3 and reads[0] == 0 and all(r > 1000 for r in reads[1:])
    assert "tokens by layer" in proc.stdout
    assert (tmp_path / "quickstart.trace.jsonl").is_file()


def test_docs_quickstart_shows_the_example_verbatim() -> None:
    doc = (REPO / "docs" / "quickstart.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert QUICKSTART.read_text(encoding="utf-8") in blocks, \
        "docs/quickstart.md must show examples/quickstart.py verbatim in a python block"


def test_docs_quickstart_shows_what_the_example_prints(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "quickstart.md").read_text(encoding="utf-8")
    shown = doc.split("## What it prints", 1)[1].split("```\n", 2)[1].splitlines()
    printed = _run_quickstart(tmp_path).stdout.splitlines()
    assert printed[:len(shown)] == shown, \
        "update the output block under 'What it prints' in docs/quickstart.md"
