"""CappedOutput: a process's output kept in bounded memory, however much it prints.

Owns the head/tail policy: the first ``head_lines`` lines and the last ``tail_lines``
lines are kept, every line cut to ``max_line_chars`` characters, and everything between
is only counted. The head is parsed as it comes (with a capped line builder, so a 5 GB
first line costs no more than a short one); after it, only the last ``tail_bytes`` raw
bytes are kept (a queue of chunks) and split into lines at the end. Memory is bounded by
``head_lines * max_line_chars * 4 + tail_bytes + one read``, and the per-byte work is C
(``bytes.count``), so ``yes`` at full speed costs little. Knows nothing of processes.
"""

from __future__ import annotations

from collections import deque


class CappedOutput:
    """Bytes in, a bounded text out.

    Args:
        head_lines: lines kept from the start.
        tail_lines: lines kept from the end.
        max_line_chars: longer lines are cut, with a note of their length.
        tail_bytes: raw bytes kept for the tail (at least ``tail_lines`` short lines).
    """

    def __init__(self, head_lines: int = 20, tail_lines: int = 400,
                 max_line_chars: int = 2000, tail_bytes: int = 1 << 20) -> None:
        self.head_lines = head_lines
        self.tail_lines = tail_lines
        self.max_line_chars = max_line_chars
        self.tail_bytes = tail_bytes
        self.head: list[str] = []
        self.num_bytes = 0
        self._line = bytearray()  # the head line being built, capped
        self._line_len = 0  # its full length
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._tail_cut = False  # bytes were dropped from the front of the tail
        self._tail_newlines = 0

    def feed(self, data: bytes) -> None:
        self.num_bytes += len(data)
        start = 0
        while len(self.head) < self.head_lines:
            nl = data.find(b"\n", start)
            end = len(data) if nl < 0 else nl
            room = self.max_line_chars * 4 - len(self._line)  # 4: the widest UTF-8 char
            if room > 0:
                self._line += data[start:min(end, start + room)]
            self._line_len += end - start
            if nl < 0:
                return
            self.head.append(self._cap(bytes(self._line), self._line_len))
            self._line, self._line_len = bytearray(), 0
            start = nl + 1
        rest = data[start:] if start else data
        if not rest:
            return
        self._tail.append(rest)
        self._tail_size += len(rest)
        self._tail_newlines += rest.count(b"\n")
        while self._tail_size - len(self._tail[0]) >= self.tail_bytes:
            self._tail_size -= len(self._tail.popleft())
            self._tail_cut = True

    def _cap(self, line: bytes, length: int) -> str:
        text = line.decode("utf-8", errors="replace").rstrip("\r")
        if len(text) > self.max_line_chars or length > len(line):
            return f"{text[:self.max_line_chars]}... [line cut at {self.max_line_chars} " \
                   f"of {length} bytes]"
        return text

    def text(self) -> str:
        """What was kept: head, a note of the lines cut, tail."""
        head = list(self.head)
        if self._line_len:  # the output ended inside the head
            head.append(self._cap(bytes(self._line), self._line_len))
        raw = b"".join(self._tail)
        num_tail_lines = self._tail_newlines + (0 if raw.endswith(b"\n") or not raw else 1)
        pieces = raw.split(b"\n")
        if raw.endswith(b"\n"):
            pieces.pop()
        first_partial = self._tail_cut and len(pieces) > 1
        if first_partial:
            pieces = pieces[1:]  # its start was dropped
        kept = pieces[-self.tail_lines:] if pieces else []
        tail = [self._cap(p, len(p)) for p in kept]
        if self._tail_cut and len(pieces) == 1:  # one line longer than the tail buffer
            tail = [f"[... line cut, its last {min(len(raw), self.max_line_chars)} bytes:] "
                    + raw[-self.max_line_chars:].decode("utf-8", "replace")]
        cut = num_tail_lines - len(tail)
        middle = [f"... ({cut} lines cut) ..."] if cut > 0 else []
        return "\n".join([*head, *middle, *tail])
