"""Safety on write: find secrets and common PII and replace them before anything is stored.

Owns ``redact`` (one string), ``redact_value`` (every string inside a JSON-able value,
keys included: ``meta``, audit details) and ``query_digest`` (what the audit log keeps of
a search query instead of its text). The detectors live in ``_detectors``: private keys,
provider API keys and tokens, passwords in URLs and in ``key=value`` assignments, JWTs,
bearer and basic authorization, webhooks, Azure keys; e-mail addresses, phone numbers,
card numbers that pass the Luhn check, US social security numbers, IBANs that pass mod
97. A match becomes ``[REDACTED:<kind>]``. Text hiding a secret behind invisible
characters (zero-width spaces, joiners, soft hyphens) is scanned with them removed; when
something is found there, the stored text is the cleaned, redacted one. The store calls
these on every stored string and keeps the kinds on the record. Knows nothing of storage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._detectors import PII, SECRETS

# zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen, invisible operators,
# Mongolian vowel separator, bidi marks: none can be seen, so a key split by them reads whole
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060-\u2064\ufeff\u00ad\u180e\u200e\u200f"
                        "\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class Redaction:
    """The redacted text and the kinds found (in detector order, repeats kept once)."""

    text: str
    kinds: tuple[str, ...]


def _scan(text: str, secrets: bool, pii: bool) -> Redaction:
    found: list[str] = []
    detectors = (SECRETS if secrets else []) + (PII if pii else [])
    for kind, pattern, replace in detectors:
        def sub(m: re.Match[str], kind: str = kind,
                replace: Callable[[re.Match[str]], str | None] | None = replace) -> str:
            out = replace(m) if replace is not None else f"[REDACTED:{kind}]"
            if out is None:
                return m.group(0)
            if kind not in found:
                found.append(kind)
            return out
        text = pattern.sub(sub, text)
    return Redaction(text, tuple(found))


def redact(text: str, *, secrets: bool = True, pii: bool = True) -> Redaction:
    """Replace secrets and PII in ``text`` with ``[REDACTED:<kind>]``.

    Args:
        text: what is about to be stored.
        secrets: detect keys, tokens, private keys and passwords.
        pii: detect e-mail addresses, phone, card, SSN and IBAN numbers.
    """
    if not secrets and not pii:
        return Redaction(text, ())
    out = _scan(text, secrets, pii)
    if _INVISIBLE.search(text):
        clean = _scan(_INVISIBLE.sub("", text), secrets, pii)
        # only what hid behind invisible characters changes the text; emoji joiners in
        # text with nothing hidden stay as they were
        if set(clean.kinds) - set(out.kinds) or len(clean.kinds) > len(out.kinds):
            return clean
    return out


def redact_value(value: Any, *, secrets: bool = True, pii: bool = True,
                 found: list[str] | None = None) -> Any:
    """``value`` with every string in it redacted (dict keys too); kinds go to ``found``."""
    if isinstance(value, str):
        red = redact(value, secrets=secrets, pii=pii)
        if found is not None:
            found.extend(k for k in red.kinds if k not in found)
        return red.text
    if isinstance(value, dict):
        return {redact_value(str(k), secrets=secrets, pii=pii, found=found):
                redact_value(v, secrets=secrets, pii=pii, found=found)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, secrets=secrets, pii=pii, found=found) for v in value]
    return value


def query_digest(query: str) -> str:
    """What the audit log keeps of a search query: sha256 of its redacted text (hex, 16)."""
    return hashlib.sha256(redact(query).text.encode("utf-8")).hexdigest()[:16]
