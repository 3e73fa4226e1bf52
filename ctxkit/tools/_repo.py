"""Coding tools over a repository — list, read, grep, edit, write, run, test — confined to it.

Owns ``RepoTools``, whose bound methods are plain Python callables a ``Prefix`` turns into
tool schemas and the pipeline's tool loop runs. ``ctxkit demo`` uses five of them; the
example coding agent (``examples/coding_agent``) uses all of them. Every path is resolved
inside the root; anything outside is refused with an error the model can act on. Output
is canonical (sorted listings, no ANSI colours, no timings or absolute paths), so an
identical result gives identical bytes. Files are walked and opened by ``_files`` (regular
files under the root only), processes started by ``_proc`` (bounded output, nothing left
running, allowlisted environment, under ``bwrap`` when available). Knows nothing of
models, layers or printing.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import regex

from ._files import is_inside, iter_lines, open_regular, walk_files
from ._proc import CommandRefused, canonical_output, check_command, run_process, scrubbed_env
from ._sandbox import bwrap_path

_SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".git", ".mypy_cache", ".ruff_cache",
                        ".venv", "node_modules"})
MAX_READ_LINES = 400
MAX_LIST = 200
MAX_GREP = 60
TEST_TAIL_LINES = 40
RUN_TAIL_LINES = 60
MAX_RUN_TIMEOUT = 300.0
MAX_LINE_CHARS = 2000  # read_file and command output: longer lines are cut
MAX_GREP_LINE = 300
MAX_GREP_BYTES = 16 << 20  # grep skips larger files
MAX_EDIT_BYTES = 16 << 20


class ToolError(Exception):
    """A tool refused its arguments; the message tells the model what to do instead."""


class RepoTools:
    """Coding tools over one directory tree.

    Args:
        root: the repository the tools may read and change.
        test_timeout: seconds before ``run_tests`` gives up on pytest.
        test_status: called with a label around each pytest run; returns a context
            manager (the demo passes a rich spinner).
        on_call: called after every tool call as ``on_call(name, arguments, result,
            is_error)`` (the demo prints it).
        load_plugins: let pytest autoload the plugins installed in this Python (off by
            default: the sample repository needs none, and autoloading e.g. hypothesis's
            plugin costs most of a second per run).
        sandbox: run ``run`` and ``run_tests`` under bwrap (the repository the only
            writable path, no network): "auto" (the default) when bwrap is installed and
            works here, True to require it, False never.
        allow_env: environment variable names commands may see beyond the allowlist
            (PATH, HOME, locale...), e.g. ``["PIP_INDEX_URL"]``.
        grep_timeout: seconds one ``grep`` may spend matching before it is stopped (a
            pattern such as ``(a|aa)+$`` can backtrack for minutes on one line).
    """

    def __init__(self, root: str | os.PathLike[str], *, test_timeout: float = 120.0,
                 test_status: Callable[[str], AbstractContextManager[Any]] | None = None,
                 on_call: Callable[[str, dict[str, Any], str, bool], None] | None = None,
                 load_plugins: bool = False, sandbox: bool | str = "auto",
                 allow_env: tuple[str, ...] | list[str] = (),
                 grep_timeout: float = 10.0) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ToolError(f"{self.root} is not a directory")
        self.test_timeout = test_timeout
        self.test_status = test_status
        self.on_call = on_call
        self.load_plugins = load_plugins
        self.allow_env = tuple(allow_env)
        self.grep_timeout = grep_timeout
        if sandbox not in ("auto", True, False):
            raise ToolError(f"sandbox={sandbox!r}: pass 'auto', True or False")
        if sandbox is True and bwrap_path() is None:
            raise ToolError("sandbox=True needs bwrap (bubblewrap) installed and able to "
                            "create namespaces here: apt-get install bubblewrap, or pass "
                            "sandbox='auto' to run unsandboxed where it is missing")
        self.sandbox = bwrap_path() is not None if sandbox == "auto" else bool(sandbox)

    def tools(self) -> list[Callable[..., str]]:
        """The demo's five tools, in the order a model should see them (Prefix sorts them
        anyway)."""
        return [self.read_file, self.grep, self.list_dir, self.edit_file, self.run_tests]

    def all_tools(self) -> list[Callable[..., str]]:
        """Every tool: the demo's five plus write_file and run."""
        return [*self.tools(), self.write_file, self.run]

    # -- helpers -------------------------------------------------------------------------

    def _resolve(self, path: str) -> Path:
        if "\x00" in path:
            raise ToolError(f"{path!r} holds a NUL byte, which no file name can; pass the path "
                            "without it")
        p = Path(path)
        try:
            full = (p if p.is_absolute() else self.root / p).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
            raise ToolError(f"{path!r} cannot be resolved ({exc}); pass another path") from None
        if not is_inside(full, self.root):
            raise ToolError(f"{path!r} is outside the repository; use a path relative to "
                            "its root, e.g. 'src/module.py'")
        return full

    def _rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix() or "."

    def _log(self, name: str, args: dict[str, Any], fn: Callable[[], str]) -> str:
        try:
            out = fn()
        except Exception as exc:
            if self.on_call is not None:
                self.on_call(name, args, f"{type(exc).__name__}: {exc}", True)
            raise
        if self.on_call is not None:
            self.on_call(name, args, out, False)
        return out

    def _make_parent(self, f: Path) -> None:
        """Create the directories above ``f``; a file standing where one belongs is a
        ToolError naming it."""
        for d in reversed(f.parents):
            if is_inside(d, self.root) and d.exists() and not d.is_dir():
                raise ToolError(f"{self._rel(d)} is a file, not a directory; pick a path "
                                "whose directories are directories")
        f.parent.mkdir(parents=True, exist_ok=True)

    def _files(self, top: Path) -> list[Path]:
        """Regular files under ``top`` whose real path is in the repository."""
        return walk_files(top, self.root, _SKIP_DIRS)

    def _exec(self, argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
        return run_process(argv, self.root, env, timeout, root=self.root,
                           sandbox=self.sandbox)

    # -- the tools -----------------------------------------------------------------------

    def list_dir(self, path: str = ".") -> str:
        """List the files under a directory of the repository, recursively, with sizes.

        Args:
            path: directory relative to the repository root ("." for the root).
        """
        def work() -> str:
            top = self._resolve(path)
            if not top.is_dir():
                raise ToolError(f"{path!r} is not a directory; call list_dir('.') to see "
                                "the layout")
            files = self._files(top)
            lines = [f"{self._rel(f)}  ({f.stat().st_size} bytes)" for f in files[:MAX_LIST]]
            if len(files) > MAX_LIST:
                lines.append(f"... {len(files) - MAX_LIST} more; list a subdirectory")
            return "\n".join(lines) or "(empty directory)"

        return self._log("list_dir", {"path": path}, work)

    def read_file(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Read a text file of the repository; each line is prefixed with its number and a tab.

        Args:
            path: file path relative to the repository root.
            start_line: first line to return (1-based).
            end_line: last line to return (inclusive); default: up to 400 lines.
        """
        def work() -> str:
            f = self._resolve(path)
            fh = open_regular(f) if f.is_file() else None
            if fh is None:
                raise ToolError(f"no file {path!r}; call list_dir('.') to see what exists")
            lo = max(1, start_line)
            want = end_line if end_line is not None else lo + MAX_READ_LINES - 1
            kept: list[str] = []
            total = 0
            with fh:
                for total, line in enumerate(iter_lines(fh, MAX_LINE_CHARS), 1):
                    if lo <= total <= want:
                        kept.append(f"{total}\t{line}")
            if not total:
                return "(empty file)"
            if not kept:
                return (f"(no lines {lo}-{want}: {path} has {total} lines; pass start_line "
                        f"between 1 and {total}, and end_line >= start_line)")
            hi = min(total, want)
            body = "\n".join(kept)
            if end_line is None and hi < total:
                body += f"\n(lines {lo}-{hi} of {total}; pass start_line={hi + 1} for more)"
            return body

        return self._log("read_file", {"path": path, "start_line": start_line,
                                       "end_line": end_line}, work)

    def grep(self, pattern: str, path: str = ".", glob: str = "") -> str:
        """Search files for a Python regular expression; prints path:line: text per match.

        Args:
            pattern: a Python regular expression, e.g. "def parse" or "lines\\[0\\]".
            path: file or directory to search, relative to the repository root.
            glob: only files whose path (relative to the root) or name matches this glob,
                e.g. "*.py" or "tests/*.py"; empty searches every text file.
        """
        def work() -> str:
            try:
                rx = regex.compile(pattern)  # re's syntax; matching can be stopped
            except regex.error as exc:
                raise ToolError(f"bad regular expression {pattern!r}: {exc}; escape special "
                                "characters such as ( [ . with a backslash") from exc
            hits: list[str] = []
            deadline = time.monotonic() + self.grep_timeout
            for f in self._files(self._resolve(path)):
                rel = self._rel(f)
                if glob and not (fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(f.name, glob)):
                    continue
                try:
                    hits += _grep_file(f, rel, rx, deadline)
                except TimeoutError:
                    raise ToolError(
                        f"{pattern!r} was still matching after {self.grep_timeout:g} s (at "
                        f"{rel}): it backtracks too much, as nested repeats like (a+)+ or "
                        "(a|aa)+ do; use a simpler pattern, or narrow path and glob") from None
            extra = len(hits) - MAX_GREP
            out = "\n".join(hits[:MAX_GREP]) or f"no match for {pattern!r}"
            return out + (f"\n... {extra} more matches; narrow the pattern" if extra > 0 else "")

        args = {"pattern": pattern, "path": path} | ({"glob": glob} if glob else {})
        return self._log("grep", args, work)

    def edit_file(self, path: str, old: str, new: str) -> str:
        """Replace one exact, unique occurrence of old with new in a file. Copy old from
        read_file's output without the line-number prefixes, whitespace included, with
        enough lines around the change to be unique. With old="" and a path that does not
        exist yet, creates the file with new as its content.

        Args:
            path: file path relative to the repository root.
            old: the exact text to replace.
            new: the replacement text.
        """
        def work() -> str:
            f = self._resolve(path)
            if not f.exists():
                if old:
                    raise ToolError(f"no file {path!r}; to create it pass old=''")
                data = _encoded(new, "new")
                self._make_parent(f)
                f.write_bytes(data)
                return f"created {path} ({len(new.splitlines())} lines)"
            if not f.is_file():
                raise ToolError(f"{path!r} is not a file")
            if not old:
                raise ToolError(f"{path} exists; pass the exact text to replace as old")
            if f.stat().st_size > MAX_EDIT_BYTES:
                raise ToolError(f"{path} is over {MAX_EDIT_BYTES >> 20} MB; edit_file is for "
                                "source files")
            try:
                text = f.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ToolError(f"{path} is not UTF-8 text; edit_file edits text files "
                                "(write_file replaces a whole file)") from None
            count = text.count(old)
            if count == 0:
                raise ToolError(f"old text not found in {path}; read_file it again and copy "
                                "the exact lines (whitespace included, without the line "
                                "numbers)")
            if count > 1:
                raise ToolError(f"old text occurs {count} times in {path}; include more "
                                "surrounding lines so it is unique")
            f.write_bytes(_encoded(text.replace(old, new, 1), "new"))
            line = text[:text.index(old)].count("\n") + 1
            return (f"edited {path} at line {line}: replaced {len(old.splitlines())} line(s) "
                    f"with {len(new.splitlines())}")

        return self._log("edit_file", {"path": path, "old": old, "new": new}, work)

    def write_file(self, path: str, content: str) -> str:
        """Write a whole file of the repository: creates it (and its directories) or
        replaces all of its content. For a change inside an existing file use edit_file.

        Args:
            path: file path relative to the repository root.
            content: the complete new text of the file.
        """
        def work() -> str:
            f = self._resolve(path)
            if f.is_dir():
                raise ToolError(f"{path!r} is a directory; pass a file path")
            if f.exists() and not f.is_file():
                raise ToolError(f"{path!r} is not a regular file (a FIFO or device); "
                                "write to another path")
            existed = f.exists()
            data = _encoded(content, "content")
            self._make_parent(f)
            f.write_bytes(data)
            verb = "replaced" if existed else "created"
            return f"{verb} {path} ({len(content.splitlines())} lines)"

        return self._log("write_file", {"path": path, "content": content}, work)

    def run(self, command: str, timeout: float = 60.0) -> str:
        """Run a shell command in the repository root; returns its exit code and the tail
        of its output (stdout and stderr together).

        Args:
            command: the command line, e.g. "python -m mypkg --help" or "ls tests".
            timeout: seconds before the command is stopped (at most 300).
        """
        def work() -> str:
            if not command.strip():
                raise ToolError("empty command; pass the command line to run")
            try:
                check_command(command, self.root)
            except CommandRefused as exc:
                raise ToolError(str(exc)) from None
            limit = min(max(1.0, float(timeout)), MAX_RUN_TIMEOUT)
            try:
                code, out = self._exec(["bash", "-c", command],
                                       scrubbed_env(allow=self.allow_env), limit)
            except TimeoutError:
                raise ToolError(f"the command did not finish in {limit:.0f} s and was "
                                "stopped; run something shorter or raise timeout") from None
            return f"exit code {code}\n" + canonical_output(out, self.root, RUN_TAIL_LINES)

        return self._log("run", {"command": command, "timeout": timeout}, work)

    def run_tests(self, target: str = "") -> str:
        """Run pytest in the repository; returns its exit code and the tail of its output.

        Args:
            target: a test file or node id ("tests/test_parser.py::test_empty_input");
                empty runs the whole suite.
        """
        def work() -> str:
            cmd = [sys.executable, "-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider",
                   "--color=no"]
            if target.startswith("-"):
                raise ToolError(f"{target!r} is a pytest option; run_tests takes a test file "
                                "or node id, e.g. 'tests/test_parser.py::test_empty_input'")
            if target:
                self._resolve(target.split("::", 1)[0])
                cmd += ["--", target]  # whatever follows is a path, never an option
            env = scrubbed_env({} if self.load_plugins else
                               {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, allow=self.allow_env)
            status = self.test_status(f"pytest {target or '(all tests)'}") \
                if self.test_status is not None else nullcontext()
            try:
                with status:
                    code, out = self._exec(cmd, env, self.test_timeout)
            except TimeoutError:
                raise ToolError(f"pytest did not finish in {self.test_timeout:.0f} s; run one "
                                "test file or node id instead") from None
            return f"exit code {code}\n" + canonical_output(out, self.root, TEST_TAIL_LINES)

        return self._log("run_tests", {"target": target}, work)


def _encoded(text: str, what: str) -> bytes:
    """``text`` as UTF-8, before any file is opened for writing: a file truncated by
    ``open`` and then left empty by an encoding error would lose what it held."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolError(f"{what} holds a lone UTF-16 surrogate ({text[exc.start]!r} at "
                        f"character {exc.start}), which is not text; send valid Unicode, e.g. "
                        "the whole emoji rather than half of its escape") from None


def _grep_file(f: Path, rel: str, rx: Any, deadline: float) -> list[str]:
    """``rel:line: text`` for each line of ``f`` that matches; none for a file that is not
    UTF-8 text, too large, or no longer a regular file.

    Raises:
        TimeoutError: matching ran past ``deadline`` (``time.monotonic()``).
    """
    fh = open_regular(f)
    if fh is None:
        return []
    hits: list[str] = []
    with fh:
        if os.fstat(fh.fileno()).st_size > MAX_GREP_BYTES:
            return []
        try:
            for n, line in enumerate(iter_lines(fh, MAX_LINE_CHARS, strict=True), 1):
                if rx.search(line, timeout=max(0.001, deadline - time.monotonic())):
                    text = line.strip()
                    if len(text) > MAX_GREP_LINE:
                        text = text[:MAX_GREP_LINE] + "..."
                    hits.append(f"{rel}:{n}: {text}")
        except UnicodeDecodeError:
            return []
    return hits
