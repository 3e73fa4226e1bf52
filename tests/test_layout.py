"""The package's shape: examples use only the public API, and the root holds only the spine."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRIVATE = re.compile(r"^\s*(?:from|import)\s+ctxkit(?:\.\w+)*\._\w+", re.M)

# The spine (DESIGN.md, "Package layout"): block, draft, layer protocol, budget, cache
# model, drift, pipeline, record, tokens, profiles, errors, and their small helpers.
SPINE = {
    "__init__.py", "__main__.py", "_assembly.py", "_backend.py", "_block.py", "_budget.py",
    "_cache.py", "_capture.py", "_deprecated.py", "_draft.py", "_drift.py", "_errors.py",
    "_layer.py",
    "_pipeline.py", "_profile.py", "_record.py", "_subagent.py", "_tokens.py", "_tools.py",
    "_types.py", "py.typed",
}


def test_examples_import_no_private_ctxkit_module() -> None:
    offenders = []
    for path in sorted((REPO / "examples").rglob("*.py")):
        for match in PRIVATE.finditer(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(REPO)}: {match.group(0).strip()}")
    assert not offenders, "examples must use only ctxkit's public API:\n" + "\n".join(offenders)


def test_the_private_import_check_catches_one() -> None:
    assert PRIVATE.search("from ctxkit._demo_tools import RepoTools")
    assert PRIVATE.search("import ctxkit.report._html")
    assert not PRIVATE.search("from ctxkit.tools import RepoTools")


def test_package_root_lists_only_spine_modules() -> None:
    files = {p.name for p in (REPO / "ctxkit").iterdir() if p.is_file()}
    extra = sorted(files - SPINE)
    assert not extra, (f"{extra} sit at the package root; the root holds the spine only — "
                       "put role code in its package (DESIGN.md, 'Package layout')")
