"""Exact prompt token ids from a server's vLLM-style ``POST /tokenize``.

Owns the tokenize request (the chat request's own ``model``, ``messages`` and ``tools``,
taken from what ``_render`` built for the real call, so nothing is rendered twice), its URL
(``/tokenize`` sits at the server root beside ``/v1``, in vLLM as in ``ctxkit serve``), and
checking the answer. Knows nothing of the cache model: a bad answer raises ``ValueError``
and the backend falls back to estimates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# the tokenize route renders the chat template only: sampling fields are not its business
_FIELDS = ("model", "messages", "tools")


def tokenize_url(base_url: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000/tokenize``."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1") + "/tokenize"


def tokenize_body(request: Mapping[str, Any]) -> dict[str, Any]:
    """The tokenize body for a rendered ``chat.completions.create`` request."""
    return {k: request[k] for k in _FIELDS if k in request}


def read_ids(data: Any) -> list[int]:
    """The ``tokens`` of a tokenize answer, checked: a non-empty list of token ids."""
    tokens = data.get("tokens") if isinstance(data, Mapping) else None
    if not isinstance(tokens, list) or not tokens or not all(
            type(t) is int and t >= 0 for t in tokens):
        shown = repr(data)
        raise ValueError(f"the answer is not {{'tokens': [id, ...]}}: "
                         f"{shown[:120]}{'...' if len(shown) > 120 else ''}")
    return tokens
