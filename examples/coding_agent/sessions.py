"""Where an agent session lives on disk, and what is kept about it.

Owns ``<home>/sessions/<id>/``: ``session.json`` (the repository, the task, the layout,
one entry per run with its pipeline session and outcome), ``state.json`` (the State's
checkpoint, rewritten before every model call), ``trace.jsonl`` (every CallRecord, all
runs) and ``report.html``. Knows nothing of pipelines or models.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from ctxkit import StoreError


def new_id(repo: Path) -> str:
    """``<repo name>-<date>-<time>-<4 hex>``: sortable, readable, unique enough."""
    return f"{repo.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


class SessionDir:
    """One session's directory under ``home``."""

    def __init__(self, home: Path, session_id: str) -> None:
        if not session_id or "/" in session_id or session_id.startswith("."):
            raise StoreError(f"{session_id!r} is not a session id; pass the id an earlier run "
                             "printed (e.g. pages-20261129-101500-1a2b)")
        self.id = session_id
        self.path = home / "sessions" / session_id

    @property
    def meta_file(self) -> Path:
        return self.path / "session.json"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def trace_file(self) -> Path:
        return self.path / "trace.jsonl"

    @property
    def report_file(self) -> Path:
        return self.path / "report.html"

    def exists(self) -> bool:
        return self.meta_file.is_file()

    def create(self, repo: Path, task: str, layout: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.write({"id": self.id, "repo": str(repo), "task": task, "layout": layout,
                    "created": time.time(), "runs": []})

    def read(self) -> dict[str, Any]:
        if not self.exists():
            home = self.path.parent
            known = sorted(p.parent.name for p in home.glob("*/session.json")) \
                if home.is_dir() else []
            raise StoreError(f"no session {self.id!r} under {home}; "
                             + (f"known sessions: {', '.join(known)}" if known
                                else "no session was saved there yet"))
        try:
            data: dict[str, Any] = json.loads(self.meta_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise StoreError(f"{self.meta_file} is not valid JSON ({exc}); the session cannot "
                             "be resumed") from exc
        return data

    def write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".session.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.meta_file)

    def add_run(self, pipeline_session: str, status: str, num_calls: int) -> None:
        data = self.read()
        data["runs"].append({"session": pipeline_session, "status": status,
                             "calls": num_calls, "at": time.time()})
        self.write(data)
