"""Running commands for the coding tools: a subprocess in the repository, with a timeout,
a scrubbed environment and canonical output.

Owns how ``RepoTools.run`` and ``RepoTools.run_tests`` start a process (its own process
group, so a timeout stops the whole tree), which environment it gets (no API keys, tokens
or secrets of the agent's own process), the guard on command lines (no absolute paths
outside the repository, no ``..`` that climbs out of it — a guard against mistakes, not a
sandbox), and the canonical form of what it printed (no colours, timings or absolute
root). Knows nothing of tools' schemas or models.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_TIMING = re.compile(r" in \d+(?:\.\d+)?s\b")
_SECRET_NAME = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.I)
_ALLOWED_OUTSIDE = ("/dev/null", "/dev/stdout", "/dev/stderr")


class CommandRefused(Exception):
    """The command line names something outside the repository."""


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without credentials, plus ``extra``.

    The repository's code runs with it: it has no business with the agent's API keys.
    """
    env = {k: v for k, v in os.environ.items() if not _SECRET_NAME.search(k)}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"})
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra or {})
    return env


def check_command(command: str, root: Path) -> None:
    """Refuse a command line whose arguments point outside ``root``.

    The first word (the program) may be anywhere; every later word that is a path (or the
    value of ``--opt=path``) must stay inside the repository. This catches the common
    mistakes — ``cat /etc/passwd``, ``cd ../..`` — not a determined escape: ``run`` is a
    shell, not a sandbox.
    """
    try:
        words = shlex.split(command, comments=True)
    except ValueError as exc:
        raise CommandRefused(f"cannot parse the command line ({exc}); balance its quotes") \
            from exc
    for word in words[1:]:
        value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
        if value.startswith("~"):
            raise CommandRefused(f"{word!r} points into a home directory; stay inside the "
                                 "repository and use paths relative to its root")
        if value.startswith("/"):
            if value.startswith(_ALLOWED_OUTSIDE) or _inside(Path(value), root):
                continue
            raise CommandRefused(f"{word!r} is outside the repository; use paths relative "
                                 "to its root")
        if ".." in Path(value).parts and not _inside(root / value, root):
            raise CommandRefused(f"{word!r} climbs out of the repository; use paths "
                                 "relative to its root")


def _inside(path: Path, root: Path) -> bool:
    full = path.resolve()
    return full == root or full.is_relative_to(root)


def run_process(argv: list[str], cwd: Path, env: dict[str, str], timeout: float
                ) -> tuple[int, str]:
    """Run ``argv`` in ``cwd``; (exit code, stdout + stderr). Raises TimeoutError after
    ``timeout`` seconds, once the whole process group is killed."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise TimeoutError(f"stopped after {timeout:.0f} s") from None
    return proc.returncode, out


def canonical_output(text: str, root: Path, tail: int = 40) -> str:
    """Strip colours, timings and the absolute root; keep the last ``tail`` lines."""
    text = _ANSI.sub("", text).replace(str(root) + os.sep, "").replace(str(root), ".")
    lines = [_TIMING.sub("", ln).rstrip() for ln in text.strip().splitlines()]
    if len(lines) > tail:
        lines = [f"... ({len(lines) - tail} lines above cut)"] + lines[-tail:]
    return "\n".join(lines)
