"""The text rules of canonical tool output: terminal noise, volatile values, truncation.

Owns each normalization as a small pure function of text: stripping ANSI escapes, carriage
return overwrites and progress bars; replacing timestamps, durations, temporary paths,
request/trace ids, UUIDs, process ids and memory addresses with stable tokens; head/tail
truncation with an omitted-lines count. Knows nothing of tools, calls or transcripts.

The rules are deliberately narrow: a value is replaced only where its *form* says it is
volatile (a date with a time, a duration with a unit, ``/tmp/tmpk3j2x1``, ``at 0x7f..``).
Plain dates, counts, line numbers, hashes and hex constants stay: two outputs that differ
in what they say must stay different (over-normalization is a bug).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# -- terminal noise ----------------------------------------------------------------------

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"            # CSI: colours, cursor moves, erase line
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles, hyperlinks
    r"|\x1b[@-Z\\-_]"                      # two-character escapes
)
_PROGRESS = re.compile(
    r"^\s*(?:"
    r"\d{1,3}(?:\.\d+)?%\s*\|[^|]*\|.*"                  # tqdm:  45%|████▌     | 45/100
    r"|.*\[[=#>\-.\s]{6,}\]\s*\d{1,3}(?:\.\d+)?%"         # [=====>    ] 45%
    r"|.*[━█▏▎▍▌▋▊▉░▒▓]{4,}.*\d{1,3}(?:\.\d+)?%"          # rich / pip bars
    r"|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s.*"                                 # braille spinners
    r"|(?:Downloading|Fetching|Receiving objects|Resolving deltas|Unpacking objects"
    r"|Counting objects|Compressing objects|Writing objects)\b.*\d{1,3}%.*"
    r")\s*$"
)


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor movement, titles)."""
    return _ANSI.sub("", text)


def apply_overwrites(text: str) -> str:
    """What a terminal would show: ``\\r`` overwrites its line, ``\\b`` erases a character."""
    text = text.replace("\r\n", "\n")
    if "\r" in text:
        lines = []
        for line in text.split("\n"):
            if "\r" in line:
                parts = [p for p in line.split("\r") if p]
                line = parts[-1] if parts else ""
            lines.append(line)
        text = "\n".join(lines)
    if "\b" in text:
        out: list[str] = []
        for ch in text:
            if ch == "\b":
                if out and out[-1] != "\n":
                    out.pop()
            else:
                out.append(ch)
        text = "".join(out)
    return text


def drop_progress(text: str) -> str:
    """Keep only the last line of each run of progress-bar lines (the final state)."""
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        if _PROGRESS.match(line) and i + 1 < len(lines) and _PROGRESS.match(lines[i + 1]):
            continue
        out.append(line)
    return "\n".join(out)


# -- volatile values -----------------------------------------------------------------------

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?"
_TIMESTAMPS = re.compile(
    # ISO 8601 / RFC 3339 date-times: 2024-05-01T12:34:56.789Z, 2024-05-01 12:34:56+02:00
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?\b"
    # ctime / `date`: Tue May  7 12:34:56 UTC 2024; RFC 2822: Tue, 07 May 2024 12:34:56 +0000
    rf"|\b{_DAY}\s+(?:{_MONTH}\s+\d{{1,2}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}})\s+"
    r"\d{2}:\d{2}:\d{2}(?:\s+(?:[A-Z]{2,5}|[+-]\d{4}))?(?:\s+\d{4})?"
    # syslog: May  7 12:34:56
    rf"|\b{_MONTH}\s+\d{{1,2}}\s+\d{{2}}:\d{{2}}:\d{{2}}"
    # a bare clock time with seconds: 12:34:56, 12:34:56.789 (not file:line:col:)
    r"|(?<![:\w.])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![:\w])"
)
_DURATIONS = re.compile(
    r"(?<![\w.])(?:"
    r"\d+(?:\.\d+)?\s?(?:ms|µs|us|ns)"                    # 12ms, 3.4 µs
    r"|\d+\.\d+\s?(?:s|sec|secs|seconds|m|min|mins|minutes|h|hrs|hours)"  # 0.53s, 1.2 min
    r"|\d+\s(?:seconds|secs|minutes|milliseconds)"        # 5 seconds
    r"|\d+m\d+(?:\.\d+)?s"                                # 0m1.234s (`time`)
    r"|\d+h\d+m(?:\d+s)?"                                 # 1h2m3s
    r")(?![\w])"
)
_TEMP = re.compile(
    r"(?:/private)?/var/folders/[\w.-]+/[\w.-]+/T(?:/[\w.-]+)?"          # macOS
    r"|[A-Za-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp(?:\\[\w.-]+)?"  # Windows
    r"|/tmp/pytest-of-[\w.-]+/pytest-\d+"                              # pytest tmp_path root
    r"|/tmp/tmp[\w-]{4,}"                                              # tempfile.mkdtemp
    r"|/tmp/(?=[\w.-]*\d)(?=[\w.-]*[A-Za-z])[\w-]{8,}(?![\w.])"         # random-looking dir
)
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
                   r"-[0-9a-fA-F]{12}\b")
_KEYED_ID = re.compile(
    r"(?i)\b((?:x-)?(?:request|req|trace|span|correlation|amzn-request|invocation)[-_ ]?id"
    r"[\"']?\s*[:=]\s*[\"']?)([\w.-]{6,})")
_PREFIXED_ID = re.compile(
    r"\b(?:req|request|trace|span|msg|chatcmpl|resp|run|toolu|srvtoolu)_[A-Za-z0-9]{8,}\b")
_ADDRESS = re.compile(r"(?<=\bat )0x[0-9a-fA-F]{4,16}\b|\b0x(?:7f|55|56)[0-9a-f]{8,10}\b")
_PID = re.compile(r"(?i)\b(pid[ =:#]+|process )(\d{2,})\b")


class Numbering:
    """Stable tokens for one output: the first distinct value seen becomes ``<TMP1>``,
    the second ``<TMP2>``; a value seen again gets its token again, so equal values stay
    equal and different values stay different within the output."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def token(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._seen:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._seen[key] = f"<{kind}{self._counts[kind]}>"
        return self._seen[key]


def timestamps(text: str, _: Numbering) -> str:
    return _TIMESTAMPS.sub("<TIMESTAMP>", text)


def durations(text: str, _: Numbering) -> str:
    return _DURATIONS.sub("<DURATION>", text)


def temp_paths(text: str, n: Numbering) -> str:
    return _TEMP.sub(lambda m: n.token("TMP", m.group(0)), text)


def ids(text: str, n: Numbering) -> str:
    text = _UUID.sub(lambda m: n.token("UUID", m.group(0).lower()), text)
    text = _KEYED_ID.sub(lambda m: m.group(1) + n.token("ID", m.group(2)), text)
    text = _PREFIXED_ID.sub(lambda m: n.token("ID", m.group(0)), text)
    return _PID.sub(lambda m: m.group(1) + n.token("PID", m.group(2)), text)


def addresses(text: str, n: Numbering) -> str:
    return _ADDRESS.sub(lambda m: n.token("ADDR", m.group(0).lower()), text)


Rule = Callable[[str, Numbering], str]


# -- truncation ----------------------------------------------------------------------------

def truncate_lines(lines: list[str], head: int, tail: int) -> list[str]:
    """The first ``head`` and last ``tail`` lines with one marker line between them that
    counts what was left out; unchanged when nothing would be omitted."""
    omitted = len(lines) - head - tail
    if omitted <= 1:  # a marker line would not save anything
        return lines
    marker = f"[... {omitted} lines omitted ...]"
    return [*lines[:head], marker, *(lines[len(lines) - tail:] if tail else [])]


def truncate_line(line: str, max_chars: int) -> str:
    """A line cut to ``max_chars`` characters, saying how many were left out."""
    if len(line) <= max_chars:
        return line
    return f"{line[:max_chars]} [... {len(line) - max_chars} chars omitted]"
