"""Safety on write: find secrets and common PII and replace them before anything is stored.

Owns the detectors (private keys, provider API keys and tokens, passwords in URLs and in
``key=value`` assignments, JWTs and bearer tokens; e-mail addresses, phone numbers, card
numbers that pass the Luhn check, US social security numbers, IBANs that pass mod 97) and
the replacement ``[REDACTED:<kind>]``. The store calls ``redact`` on every write and keeps
the kinds on the record. Knows nothing of storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Detector = tuple[str, "re.Pattern[str]", "Callable[[re.Match[str]], str | None] | None"]


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str | None:
    digits = re.sub(r"\D", "", m.group(0))
    return "[REDACTED:credit_card]" if 13 <= len(digits) <= 19 and _luhn(digits) else None


def _iban(m: re.Match[str]) -> str | None:
    s = m.group(0).replace(" ", "")
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return "[REDACTED:iban]" if 15 <= len(s) <= 34 and int(num) % 97 == 1 else None


def _keep_prefix(kind: str) -> Callable[[re.Match[str]], str]:
    # keep the label ("password=", "https://user:"), replace only the secret itself
    def sub(m: re.Match[str]) -> str:
        tail = m.group(2) if m.re.groups >= 2 else ""
        return f"{m.group(1)}[REDACTED:{kind}]{tail}"
    return sub


_SECRETS: list[Detector] = [
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S), None),
    ("password_in_url", re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)"),
     _keep_prefix("password_in_url")),
    ("api_key", re.compile(r"\bsk-(?:ant-|proj-|live-)?[A-Za-z0-9_-]{20,}"), None),
    ("api_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"), None),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), None),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,})"), None),
    ("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), None),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), None),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
     None),
    ("token", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{16,}"), _keep_prefix("token")),
    ("secret", re.compile(
        r"(?i)(\b(?:password|passwd|pwd|passphrase|secret|api[_-]?key|access[_-]?token|"
        r"auth[_-]?token|client[_-]?secret|private[_-]?key)\b[\"']?\s*[:=]\s*[\"']?)"
        r"(?!\[REDACTED)[^\s\"',;]{4,}"), _keep_prefix("secret")),
]

_PII: list[Detector] = [
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
     None),
    ("ssn", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"), None),
    ("credit_card", re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"), _card),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), _iban),
    ("phone", re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)"),
     None),
]


@dataclass(frozen=True, slots=True)
class Redaction:
    """The redacted text and the kinds found (in detector order, repeats kept once)."""

    text: str
    kinds: tuple[str, ...]


def redact(text: str, *, secrets: bool = True, pii: bool = True) -> Redaction:
    """Replace secrets and PII in ``text`` with ``[REDACTED:<kind>]``.

    Args:
        text: what is about to be stored.
        secrets: detect keys, tokens, private keys and passwords.
        pii: detect e-mail addresses, phone, card, SSN and IBAN numbers.
    """
    found: list[str] = []
    detectors = (_SECRETS if secrets else []) + (_PII if pii else [])
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
