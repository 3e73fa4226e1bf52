"""slugify: title -> lower-case ASCII words joined by hyphens."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[^a-z0-9]")


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return folded.encode("ascii", "ignore").decode("ascii")


def slugify(text: str, max_length: int | None = None) -> str:
    """The slug of ``text``; cut at a word boundary to at most ``max_length`` characters."""
    slug = _SEPARATORS.sub("-", _ascii(text).lower()).strip("-")
    if max_length is not None and len(slug) > max_length:
        cut = slug[:max_length + 1]
        slug = cut[:cut.rfind("-")] if "-" in cut else slug[:max_length]
    return slug
