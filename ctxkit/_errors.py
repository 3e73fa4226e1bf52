"""The exception tree of ctxkit: one root, shallow branches.

Owns every exception ctxkit raises on purpose; knows nothing of where they are raised.

    CtxkitError
    ├── UserError        the caller's mistake: bad argument, bad config, misuse of the API
    ├── BackendError     the model backend failed (carries HTTP-like ``status`` and ``body``)
    ├── BudgetError      the must-keep blocks alone do not fit the token budget
    ├── StoreError       stored data was refused or could not be read (traces, memory)
    └── MissingExtraError  an optional dependency is not installed (also an ImportError)

Every message says what to do next.
"""

from __future__ import annotations


class CtxkitError(Exception):
    """Root of every exception ctxkit raises on purpose."""


class UserError(CtxkitError, ValueError):
    """The caller passed something ctxkit cannot use; the message says how to fix it."""


class BackendError(CtxkitError):
    """The backend (remote API, local engine, test double) failed to answer.

    Attributes:
        status: HTTP status or an engine-specific code, when known.
        body: the raw error body, when known.
        retryable: whether retrying the same request may succeed.
    """

    def __init__(
        self, message: str, *, status: int | None = None, body: object = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retryable = retryable


class BudgetError(CtxkitError):
    """The blocks that must be kept already exceed the token budget."""


class StoreError(CtxkitError):
    """Stored data (a trace, a memory record) was refused or is unreadable."""


class MissingExtraError(CtxkitError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"{module!r} is not installed; run: pip install 'ctxkit[{extra}]'"
        )
        self.extra = extra


def require(module: str, extra: str) -> object:
    """Import ``module`` or raise MissingExtraError naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(extra, module) from exc
