"""WriterLock: one writer at a time on an index directory, across processes.

Owns the lock file ``<index>/.writer.lock`` (an advisory ``flock`` on POSIX, ``msvcrt``
byte lock on Windows) and the waiting policy: wait for ever, wait up to a timeout, or fail
at once with a message naming the holder's pid. The lock is re-entrant within one object
(an ``add_paths`` that reindexes inside ``search`` does not deadlock on itself). Knows
nothing of what is written under it: ``Index`` decides what to reload once it holds it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import StoreError

LOCK_NAME = ".writer.lock"
_POLL_S = 0.02


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


class WriterLock:
    """The writer lock of one index directory.

    Args:
        directory: the index directory (must exist).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None
        self._depth = 0

    @property
    def is_held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._depth > 0

    @contextmanager
    def hold(self, wait: bool | float = True) -> Iterator[None]:
        """Hold the lock for the ``with`` body.

        Args:
            wait: True waits as long as another writer holds it, False fails at once, a
                number of seconds waits that long; a lock not got raises StoreError.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._acquire(wait)
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            self._release()

    def _acquire(self, wait: bool | float) -> None:
        if isinstance(wait, bool):
            limit = None if wait else 0.0
        elif isinstance(wait, (int, float)) and wait >= 0:
            limit = float(wait)
        else:
            raise StoreError(f"wait={wait!r}: pass True, False or a number of seconds >= 0")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        start = time.monotonic()
        while not _try_lock(fd):
            waited = time.monotonic() - start
            if limit is not None and waited >= limit:
                holder = self._holder(fd)
                os.close(fd)
                how = "wait=False was given" if limit == 0 else f"waited {limit:g} s"
                raise StoreError(
                    f"the index {self.path.parent} is being written by another process "
                    f"({holder}); {how}. Retry when it is done, or open the index with "
                    "wait=True (the default) to wait for it")
            time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            pid = os.read(fd, 32).decode().strip()
        except (OSError, UnicodeDecodeError):
            pid = ""
        return f"pid {pid}" if pid.isdigit() else "pid unknown"
