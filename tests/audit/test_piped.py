"""``ctxkit audit LOG | cat``: off a terminal every figure prints whole (issue 11)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.audit.shapes import swe_agent, write


def test_piped_audit_prints_every_figure_whole(tmp_path: Path) -> None:
    log = write(tmp_path / "run.traj", swe_agent(40))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run([sys.executable, "-m", "ctxkit", "audit", str(log)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert not re.search(r"[\d$,.%]…", out.stdout), out.stdout
    total = re.search(r"(\d[\d,]*) prompt tokens", out.stdout)
    assert total is not None
    # the sessions table shows the same total, whole
    assert re.search(rf"│ run\s+│.*│\s+{re.escape(total.group(1))} │", out.stdout), out.stdout
