"""The OS side of running commands: a supervisor that leaves no process behind, and the
optional ``bwrap`` sandbox.

Owns how a command line becomes argv. Every command runs under a small supervisor (a
Python process in its own session) that makes itself the *child subreaper* (Linux
``PR_SET_CHILD_SUBREAPER``): anything the command starts, even with ``setsid`` or
``nohup … &``, is re-parented to it when orphaned, and is killed when the command ends or
when the supervisor is told to stop. Elsewhere the process group is killed instead.

With ``bwrap`` (bubblewrap) installed and usable, the command also runs in a sandbox:
the whole filesystem read-only, the repository the only writable path, a private
``/tmp``, no network, its own PID namespace (killed whole when the sandbox ends). This is
what confines code the model writes (``run``, and ``conftest.py`` under ``run_tests``);
the path checks on command lines only catch mistakes. Knows nothing of tools.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

SUPERVISOR = r"""
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
me = os.getpid()

def children():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2:].split()[1]) == me:
                out.append(int(name))
    return out

def reap_all():
    while True:
        kids = children() if os.path.isdir("/proc") else []
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return
        if not kids:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return

def stop(*_):
    reap_all()
    os._exit(124)

signal.signal(signal.SIGTERM, stop)
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
reap_all()
sys.exit(code if code >= 0 else 128 - code)
"""


@functools.cache
def bwrap_path() -> str | None:
    """The ``bwrap`` binary if it is installed and can make a sandbox here, else None."""
    path = shutil.which("bwrap")
    if path is None or not sys.platform.startswith("linux"):
        return None
    try:
        probe = subprocess.run([path, *_bwrap_args(Path("/"), Path("/")), "true"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


def _visible_under_tmp() -> list[str]:
    """The interpreter's prefixes and import paths that live under /tmp: the private /tmp
    would hide them, and the command (pytest, python) needs them, read-only."""
    keep: set[str] = set()
    for entry in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable), *sys.path):
        try:
            real = os.path.realpath(entry) if entry else ""
        except OSError:
            continue
        for path in {entry, real}:
            if path and path.startswith("/tmp/") and os.path.isdir(path):
                keep.add(path)
    # a parent first, so that binding it does not hide a child bound before it
    outer = [p for p in sorted(keep) if not any(p.startswith(q + "/") for q in keep)]
    return [arg for p in outer for arg in ("--ro-bind", p, p)]


def _bwrap_args(root: Path, cwd: Path) -> list[str]:
    return ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            *_visible_under_tmp(),
            "--bind", str(root), str(root), "--unshare-all", "--die-with-parent",
            "--new-session", "--chdir", str(cwd)]


def wrap(argv: list[str], root: Path, cwd: Path, sandbox: bool) -> list[str]:
    """argv under the supervisor, and inside bwrap when ``sandbox``."""
    inner = argv
    if sandbox:
        path = bwrap_path()
        if path is None:
            raise RuntimeError("bwrap is not installed or cannot create a sandbox here")
        inner = [path, *_bwrap_args(root, cwd), *argv]
    if not sys.platform.startswith("linux"):
        return inner
    return [sys.executable, "-I", "-S", "-c", SUPERVISOR, *inner]
