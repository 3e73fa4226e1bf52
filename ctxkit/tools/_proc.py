"""Running commands for the coding tools: a subprocess in the repository, with a deadline,
an allowlisted environment, bounded output and canonical text.

Owns how ``RepoTools.run`` and ``RepoTools.run_tests`` start a process and what they get
back. The process runs under a supervisor in its own session (``_sandbox``), so at the
deadline, or when the command ends, everything it started is killed, ``setsid`` and
``nohup … &`` children included. Output is read as it comes into a ``CappedOutput`` (head
and tail lines, each line capped), never collected whole. The environment is built from
an allowlist (``PATH``, ``HOME``, locale...), not by removing what looks secret: the
repository's code has no business with the agent's credentials, whatever they are named.
The guard on command lines (no path outside the repository, no ``..`` that climbs out of
it, no bare ``cd``) catches mistakes; it is not a sandbox (``bwrap`` is, see
``_sandbox``). Knows nothing of tools' schemas or models.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from ._capture import CappedOutput
from ._sandbox import wrap

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_TIMING = re.compile(r" in \d+(?:\.\d+)?s\b")
_ALLOWED_OUTSIDE = ("/dev/null", "/dev/stdout", "/dev/stderr")
ENV_ALLOWLIST = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE",
                           "TZ", "TERM", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT", "COMSPEC"})
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", "|&", ";;", "\n"})
_REDIRECTS = re.compile(r"^[0-9]*[<>]+&?$")


class CommandRefused(Exception):
    """The command line names something outside the repository."""


def scrubbed_env(extra: dict[str, str] | None = None,
                 allow: Iterable[str] = ()) -> dict[str, str]:
    """The environment a command gets: only allowlisted names (``ENV_ALLOWLIST``, the
    ``LC_*`` locale names, and ``allow``) from this process's, plus ``extra``."""
    names = ENV_ALLOWLIST | frozenset(allow)
    env = {k: v for k, v in os.environ.items() if k in names or k.startswith("LC_")}
    # `python`, `pytest`, `pip` mean the environment the agent runs in (as an activated
    # venv would): a PATH without that directory found no `python`, or another one
    here = os.path.dirname(sys.executable)
    path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != here]
    env["PATH"] = os.pathsep.join([here, *path])
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"})
    env.update(extra or {})
    return env


def _words(command: str) -> list[str]:
    lex = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
    lex.whitespace_split = True
    lex.commenters = "#"
    return list(lex)


def check_command(command: str, root: Path) -> None:
    """Refuse a command line whose arguments point outside ``root``.

    The program of each command (the first word, and the first after ``;``, ``&&``,
    ``|``...) may be anywhere; every other word that is a path (or the value of
    ``--opt=path``) must stay inside the repository, and ``cd`` needs a path. This catches
    the common mistakes (``cat /etc/passwd``, ``cd ..; ls``), not a determined escape:
    ``run`` is a shell, sandboxed only under ``bwrap``.
    """
    try:
        words = _words(command)
    except ValueError as exc:
        raise CommandRefused(f"cannot parse the command line ({exc}); balance its quotes") \
            from exc
    program = True
    for i, word in enumerate(words):
        if word in _SEPARATORS:
            program = True
            continue
        if _REDIRECTS.match(word):
            continue
        if program:
            program = False
            nxt = words[i + 1] if i + 1 < len(words) else ";"
            if word in ("cd", "pushd") and (nxt in _SEPARATORS or nxt == "-"):
                raise CommandRefused(f"{word!r} without a path leaves the repository; pass "
                                     "a directory relative to its root")
            continue
        _check_word(word, root)


def _check_word(word: str, root: Path) -> None:
    value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
    if value.startswith("~") or "$HOME" in value or "${HOME}" in value:
        raise CommandRefused(f"{word!r} points into a home directory; stay inside the "
                             "repository and use paths relative to its root")
    if value.startswith("/"):
        if value.startswith(_ALLOWED_OUTSIDE) or _inside(Path(value), root):
            return
        raise CommandRefused(f"{word!r} is outside the repository; use paths relative "
                             "to its root")
    if ".." in Path(value).parts and not _inside(root / value, root):
        raise CommandRefused(f"{word!r} climbs out of the repository; use paths "
                             "relative to its root")


def _inside(path: Path, root: Path) -> bool:
    full = path.resolve()
    return full == root or full.is_relative_to(root)


def run_process(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, *,
                root: Path | None = None, sandbox: bool = False,
                output: CappedOutput | None = None) -> tuple[int, str]:
    """Run ``argv`` in ``cwd``; (exit code, stdout + stderr, head and tail kept).

    Raises TimeoutError after ``timeout`` seconds, once every process the command started
    is killed. ``sandbox`` runs it under bwrap with ``root`` (default ``cwd``) the only
    writable path.
    """
    out = output or CappedOutput()
    proc = subprocess.Popen(wrap(argv, (root or cwd).resolve(), cwd, sandbox), cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _stop(proc)
                raise TimeoutError(f"stopped after {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready and not _drain(fd, out):
                break  # EOF: every writer has gone
            if not ready and proc.poll() is not None:
                _drain(fd, out)  # the supervisor has reaped everything: nothing can write
                break
        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise TimeoutError(f"stopped after {timeout:.0f} s") from None
    finally:
        proc.stdout.close()
    return code, out.text()


def _drain(fd: int, out: CappedOutput) -> bool:
    """Read what is there; False at end of file."""
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not data:
            return False
        out.feed(data)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask the supervisor to kill everything the command started, then kill its group."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=2)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def canonical_output(text: str, root: Path, tail: int = 40) -> str:
    """Strip colours, timings and the absolute root; keep the last ``tail`` lines."""
    text = _ANSI.sub("", text).replace(str(root) + os.sep, "").replace(str(root), ".")
    lines = [_TIMING.sub("", ln).rstrip() for ln in text.strip().splitlines()]
    if len(lines) > tail:
        lines = [f"... ({len(lines) - tail} lines above cut)"] + lines[-tail:]
    return "\n".join(lines)
