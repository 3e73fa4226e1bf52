"""Query rewriting: from the user turn, the current plan step and the latest error text to
a Query for the two retrievers.

Owns the extraction of identifiers (CamelCase, snake_case, dotted names), file paths and
the informative lines of an error (the exception line, the frames' files and functions),
and an optional LLM rewrite through any backend (``LLMQueryRewriter``; its ``acall`` is
the async form ``arun`` awaits). Knows nothing of indexes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from ._types import Query

_CAMEL = re.compile(r"\b(?:[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+|[a-z][a-z0-9]*[A-Z]\w*)\b")
_SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b|\b_{1,2}\w+\b")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b")
_PATH = re.compile(r"(?:[\w.-]+/)+[\w.-]+|\b[\w-]+\.(?:py|pyi|md|rst|txt|js|ts|tsx|jsx|go|rs|"
                   r"java|c|h|cc|cpp|hpp|rb|sh|toml|yaml|yml|json|cfg|ini)\b")
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
_EXC = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Failure|Warning|Exit|Interrupt))"
                  r"(?::\s*(.*))?$", re.M)


def extract_identifiers(text: str) -> tuple[list[str], list[str]]:
    """(identifiers, paths) named in ``text``, in order of appearance, without repeats."""
    paths = list(dict.fromkeys(m.group(0) for m in _PATH.finditer(text)))
    in_paths = set(paths)
    found: list[tuple[int, str]] = []
    for rx in (_CAMEL, _SNAKE, _DOTTED):
        found.extend((m.start(), m.group(0)) for m in rx.finditer(text))
    idents = [w for _, w in sorted(found) if w not in in_paths and not _is_path_part(w, paths)]
    return list(dict.fromkeys(idents)), paths


def _is_path_part(word: str, paths: Sequence[str]) -> bool:
    return any(word in p for p in paths) and "." in word


def error_summary(error: str, *, max_frames: int = 3) -> str:
    """The informative part of an error: the exception line(s) and the last frames'
    files and functions (a traceback's middle is noise for a search)."""
    frames = _FRAME.findall(error)[-max_frames:]
    excs = [f"{m.group(1)}: {m.group(2) or ''}".strip().rstrip(":") for m in _EXC.finditer(error)]
    parts = [f"{path} {func}" for path, _, func in frames] + excs[-2:]
    if not parts:
        lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
        parts = lines[-2:]
    return "\n".join(parts)


def rewrite_query(message: str, *, plan_step: str | None = None, error: str | None = None,
                  extra: Sequence[str] = ()) -> Query:
    """Build a Query from the turn's inputs.

    The embedding query is the user's words plus the plan step and the exception line (a
    sentence a model can embed); the BM25 query adds every identifier and path found in
    all of them, so ``parse_header`` in a traceback finds the function that defines it.

    Args:
        message: the user's turn.
        plan_step: the state's current plan step, if any.
        error: the latest error text (a traceback, a failing test's output), if any.
        extra: more text to mine for identifiers (e.g. the last tool call's arguments).
    """
    err = error_summary(error) if error else ""
    dense = [message.strip()]
    if plan_step:
        dense.append(f"Current step: {plan_step.strip()}")
    if err:
        dense.append(err.splitlines()[-1])
    idents: list[str] = []
    paths: list[str] = []
    for text in [message, plan_step or "", err, *extra]:
        i, p = extract_identifiers(text)
        idents.extend(i)
        paths.extend(p)
    idents, paths = list(dict.fromkeys(idents)), list(dict.fromkeys(paths))
    lexical = " ".join([*dense, err, *idents, *paths]).strip()
    return Query(text="\n".join(d for d in dense if d), lexical=lexical,
                 identifiers=tuple(idents), paths=tuple(paths), source=message)


class QueryRewriter(Protocol):
    """Turns the turn's inputs into a Query (``rewrite_query`` is the default)."""

    def __call__(self, message: str, *, plan_step: str | None = None,
                 error: str | None = None) -> Query: ...


_REWRITE_PROMPT = ("You write search queries for a code and document index. Given the "
                   "user's request, the current plan step and the latest error, answer with "
                   "one line: the words and identifiers most likely to appear in the text "
                   "that answers it. No explanation.")


class LLMQueryRewriter:
    """Ask a model for the query, then add the rule-based identifiers to it.

    Args:
        backend: any ctxkit Backend (a small, cheap model is enough).
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def __call__(self, message: str, *, plan_step: str | None = None,
                 error: str | None = None) -> Query:
        from ._llm import ask

        base, prompt = self._prompt(message, plan_step, error)
        return self._merge(base, message, ask(self.backend, _REWRITE_PROMPT, prompt))

    async def acall(self, message: str, *, plan_step: str | None = None,
                    error: str | None = None) -> Query:
        """The async form (``arun`` awaits it): the backend's ``acomplete``."""
        from ._llm import aask

        base, prompt = self._prompt(message, plan_step, error)
        return self._merge(base, message, await aask(self.backend, _REWRITE_PROMPT, prompt))

    def _prompt(self, message: str, plan_step: str | None,
                error: str | None) -> tuple[Query, str]:
        base = rewrite_query(message, plan_step=plan_step, error=error)
        ask_text = "\n\n".join(x for x in [f"Request: {message}",
                                           f"Plan step: {plan_step}" if plan_step else "",
                                           f"Error:\n{error_summary(error)}" if error else ""]
                               if x)
        return base, ask_text

    @staticmethod
    def _merge(base: Query, message: str, reply: str) -> Query:
        line = reply.strip().splitlines()
        model_query = line[0].strip() if line else ""
        if not model_query:
            return base
        return Query(text=f"{base.text}\n{model_query}",
                     lexical=f"{base.lexical} {model_query}", identifiers=base.identifiers,
                     paths=base.paths, source=message)
