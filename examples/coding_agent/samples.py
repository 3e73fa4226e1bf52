"""The sample repositories in ``examples/repos``: each a small Python project with a real
bug, failing tests, and a ``TASK.json`` that records the task and the known fix.

Owns reading ``TASK.json`` (``SampleTask``), finding the samples, copying one to a working
directory *without* its ``TASK.json`` (the agent must never see the answer), and applying
a recorded edit. Knows nothing of agents or models: the scripted stand-in and the evals
read the fix from here; a live model never does.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxkit import UserError

REPOS = Path(__file__).resolve().parents[1] / "repos"
TASK_FILE = "TASK.json"
_IGNORE = shutil.ignore_patterns(TASK_FILE, "__pycache__", ".pytest_cache", ".ruff_cache",
                                 ".mypy_cache", "*.pyc")


@dataclass(frozen=True, slots=True)
class Edit:
    """An exact-string edit of one file: ``old`` occurs once in ``path`` and becomes ``new``."""

    path: str
    old: str
    new: str

    def apply(self, root: Path) -> None:
        """Apply the edit under ``root``; UserError if ``old`` is not there exactly once."""
        f = root / self.path
        text = f.read_text(encoding="utf-8")
        if text.count(self.old) != 1:
            raise UserError(f"{self.path}: the recorded edit's old text occurs "
                            f"{text.count(self.old)} times, not once; the repository does "
                            "not match its TASK.json")
        f.write_text(text.replace(self.old, self.new), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class SampleTask:
    """One sample's ``TASK.json``.

    Attributes:
        name: the sample's directory name.
        task: what the user asks the agent.
        failing_tests: test node ids (without parameters) that fail before the fix.
        symbol: the function or class at fault (what the stand-in searches for).
        fix: the known fix.
        wrong_fix: a plausible change that does not fix it (the stand-in tries it first,
            so failed attempts and their errors are exercised), or None.
    """

    name: str
    task: str
    failing_tests: tuple[str, ...]
    symbol: str
    fix: Edit
    wrong_fix: Edit | None = None

    @property
    def test_file(self) -> str:
        return self.failing_tests[0].split("::", 1)[0]

    @classmethod
    def load(cls, repo: str | Path) -> SampleTask:
        """The task of the sample at ``repo`` (a directory holding ``TASK.json``)."""
        path = Path(repo) / TASK_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{repo} has no {TASK_FILE}; the scripted stand-in plays only the "
                            f"sample repositories in {REPOS} (their {TASK_FILE} holds the fix "
                            "it makes). Use a live backend for your own repository") from None
        except ValueError as exc:
            raise UserError(f"{path} is not valid JSON: {exc}") from exc
        try:
            wrong = data.get("wrong_fix")
            return cls(name=data["name"], task=data["task"],
                       failing_tests=tuple(data["failing_tests"]), symbol=data["symbol"],
                       fix=Edit(**data["fix"]), wrong_fix=Edit(**wrong) if wrong else None)
        except (KeyError, TypeError) as exc:
            raise UserError(f"{path} lacks a field or has a wrong one ({exc}); it needs name, "
                            "task, failing_tests, symbol and fix {path, old, new}") from exc


def samples() -> list[Path]:
    """Every sample repository, sorted by name."""
    return sorted(p.parent for p in REPOS.glob(f"*/{TASK_FILE}"))


def sample(name: str) -> Path:
    """The sample repository called ``name``."""
    path = REPOS / name
    if not (path / TASK_FILE).is_file():
        names = ", ".join(p.name for p in samples())
        raise UserError(f"no sample repository {name!r}; the samples are: {names}")
    return path


def is_sample(repo: str | Path) -> bool:
    return (Path(repo) / TASK_FILE).is_file()


def copy_repo(src: str | Path, dest: str | Path) -> Path:
    """Copy ``src`` to ``dest`` (new or empty), leaving out TASK.json and caches."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} is not an empty directory; the agent edits files there, so "
                        "pass a new or empty one")
    shutil.copytree(src, dest, ignore=_IGNORE, dirs_exist_ok=True)
    return dest.resolve()
