"""The first example of each page this work documents runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("page", ["state.md", "compaction.md", "canonical.md"])
def test_the_first_example_runs(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"),
                      re.S)[0]
    exec(compile(code, str(DOCS / page), "exec"), {"__name__": "docs_example"})
    assert capsys.readouterr().out.strip()
