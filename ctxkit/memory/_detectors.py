"""The secret and PII detectors that ``redact`` runs, in order.

Owns the patterns and the validators that keep them from firing on ordinary text:
provider tokens by their documented prefixes (OpenAI, Anthropic, Stripe, AWS, GitHub,
GitLab, Hugging Face, npm, PyPI, Slack, Google, SendGrid, Twilio, DigitalOcean, Shopify,
Vault, Docker Hub...), private key blocks, JWTs, credentials in URLs (passwords holding
``@`` or ``/`` included), HTTP Basic/Bearer authorization, webhook URLs, Azure connection
strings and SAS signatures, AWS secret access keys, and ``key = value`` assignments whose
label names a secret (``password``, ``DB_PASS``, ``MYSQL_PWD``, ``*_SECRET``, ``*_TOKEN``,
``*_KEY``...). An assignment's value is kept when it is code (a call, an attribute path,
a variable), a placeholder (``${DB_PASSWORD}``, ``<password>``) or a literal such as
``None``. The corpus in ``tests/memory/test_redact_corpus.py`` pins both directions.
Knows nothing of storage.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

Replace = Callable[[re.Match[str]], "str | None"]
Detector = tuple[str, "re.Pattern[str]", "Replace | None"]


def keep_prefix(kind: str, validate: Callable[[str, str], bool] | None = None) -> Replace:
    """Keep group 1 (the label), replace group 2 (the secret), keep group 3 if any."""
    def sub(m: re.Match[str]) -> str | None:
        label, value = m.group(1), m.group(2)
        if validate is not None and not validate(label, value):
            return None
        tail = m.group(3) if (m.re.groups >= 3 and m.group(3)) else ""
        return f"{label}[REDACTED:{kind}]{tail}"
    return sub


# -- validators ---------------------------------------------------------------------------

_LITERALS = frozenset("""none null nil true false undefined str string bytes int bool
optional any required empty yes no on off changeme redacted hidden secret password
xxx xxxx xxxxx xxxxxx xxxxxxxx *** **** ***** ****** ******** . ... - -- n/a na tbd
todo default unset self cls""".split())
_PLACEHOLDER = re.compile(
    r"^(?:\$\{[^}]*\}?|\$\(?[A-Za-z_][A-Za-z0-9_]*\)?|%\([^)]*\)s?|%s|\{\{.*\}\}|\{[^}]*\}"
    r"|<[^>]*>?|\[[^\]]*\]?|\*+|x+|X+|\.+|os\.environ.*|process\.env.*|ENV\[.*)$")
_FORMAT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdrfxi]|\{[^}]*\}")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::|->)[A-Za-z_][A-Za-z0-9_]*)+$")


def is_secret_value(label: str, value: str) -> bool:
    """Whether ``value`` assigned to a secret-named ``label`` is a secret, not code."""
    v = value.strip().strip("\"'`")
    if len(v) < 4 or v.lower() in _LITERALS or _PLACEHOLDER.match(v):
        return False
    if any(c in v for c in "()[]{}") or _DOTTED.match(v):
        return False  # a call, an index, an attribute path: code, not a value
    if sum(c.isalnum() for c in _FORMAT.sub("", v)) < 3:
        return False  # a format string: '%s:%s'
    name = re.sub(r"[\"'\s:=]", "", label)
    if v.lower() == name.lower().lstrip("-") or v.lower() == name.lower().split(".")[-1]:
        return False  # password=password
    quoted = value[:1] in "\"'`"
    env_style = re.fullmatch(r"(?:export\s+)?[A-Z][A-Z0-9_]*=", label.strip()) is not None
    if not quoted and not env_style and re.fullmatch(r"[a-z_][a-z_]*|[a-z_][a-z0-9_]*_[a-z0-9_]*",
                                                     v):
        return False  # a variable: password = new_password, pwd = user
    return True


def strong_value(label: str, value: str) -> bool:
    """For labels that only *may* name a secret (``*_KEY``): the value must look random."""
    v = value.strip().strip("\"'`")
    if not is_secret_value(label, value) or len(v) < 16:
        return False
    kinds = sum((any(c.islower() for c in v), any(c.isupper() for c in v),
                 any(c.isdigit() for c in v)))
    return kinds >= 2 and not re.fullmatch(r"[a-z]+(?:[_-][a-z]+)*", v)


def _basic(m: re.Match[str]) -> str | None:
    token = m.group(2)
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if ":" not in text or not text.isprintable():
        return None
    return f"{m.group(1)}[REDACTED:basic_auth]"


def _aws_secret(m: re.Match[str]) -> str | None:
    v = m.group(0)
    if re.fullmatch(r"[0-9a-fA-F]+", v) or "//" in v:
        return None  # a hex digest or a path, not a key
    mixed = (any(c.islower() for c in v) and any(c.isupper() for c in v)
             and any(c.isdigit() for c in v))
    return "[REDACTED:aws_secret_key]" if mixed else None


# -- the detectors --------------------------------------------------------------------------

# labels that name a secret: any value that is not code or a placeholder is one
_SECRET_WORDS = (r"pass(?:word|wd|phrase)?|pwd|secret|api[_-]?key|apikey|access[_-]?key|"
                 r"secret[_-]?(?:access[_-]?)?key|private[_-]?key|client[_-]?secret|"
                 r"(?:auth|access|refresh|bearer|api|session|csrf)[_-]?token|signing[_-]?key|"
                 r"encryption[_-]?key|master[_-]?key|account[_-]?key")
# labels that only may: the value must also look random (16+ characters, mixed)
_MAYBE_WORDS = r"token|key|auth|credentials?|conn(?:ection)?[_-]?str(?:ing)?"
# a label: optional prefix words joined by _ . or - (DB_PASSWORD, aws.secret_key, x-api-key)
# (bounded repeats: an unbounded prefix makes "a.a.a.a..." quadratic)
_LABEL = rf"(?:[A-Za-z0-9]{{1,32}}[_.-]){{0,6}}(?:{_SECRET_WORDS})"
_MAYBE = rf"(?:[A-Za-z0-9]{{1,32}}[_.-]){{0,6}}(?:{_MAYBE_WORDS})"
_VALUE = r"(\"[^\"\n]{1,400}\"|'[^'\n]{1,400}'|`[^`\n]{1,400}`|[^\s\"',;`]{1,400})"

SECRETS: list[Detector] = [
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S), None),
    ("private_key", re.compile(r"\bAGE-SECRET-KEY-1[0-9A-Z]{50,}"), None),
    ("webhook", re.compile(
        r"https://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|"
        r"(?:[a-z]+\.)?discord(?:app)?\.com/api/webhooks/|outlook\.office\.com/webhook/|"
        r"[a-z0-9-]+\.webhook\.office\.com/webhookb2/)[A-Za-z0-9/_@.-]+"), None),
    ("password_in_url", re.compile(
        r"(\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^\s:/@]{0,200}:)(?!\d+(?:/|$|\s))(\S{1,400}?)"
        r"(@[A-Za-z0-9._-]+(?::\d+)?(?=[/\s?#\"')\]]|$))"), keep_prefix("password_in_url")),
    ("api_key", re.compile(r"\bsk-(?:ant-(?:api|admin)\d\d-|proj-|live-|svcacct-|or-v1-)?"
                           r"[A-Za-z0-9_-]{20,}"), None),
    ("api_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"), None),
    ("api_key", re.compile(
        r"\b(?:hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_-]{50,}|"
        r"gsk_[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{30,}|lin_api_[A-Za-z0-9]{30,}|"
        r"dop_v1_[a-f0-9]{64}|doo_v1_[a-f0-9]{64}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|"
        r"hv[sbr]\.[A-Za-z0-9_-]{24,}|dckr_pat_[A-Za-z0-9_-]{20,}|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|"
        r"NRAK-[A-Z0-9]{27}|glsa_[A-Za-z0-9_]{32,}|glc_[A-Za-z0-9+/=]{32,}|"
        r"sbp_[a-f0-9]{40}|sntrys_[A-Za-z0-9+/=_]{40,}|tskey-[a-z]+-[A-Za-z0-9-]{20,}|"
        r"secret_[A-Za-z0-9]{43}|key-[0-9a-zA-Z]{32}|dapi[a-h0-9]{32}|"
        r"SK[0-9a-fA-F]{32}|AC[0-9a-f]{32}|sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}|"
        r"EAA[A-Za-z0-9]{60,}|ya29\.[0-9A-Za-z_-]{30,}|"
        r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|pul-[a-f0-9]{40}|"
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,})"), None),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA|AGPA|ANPA)[0-9A-Z]{16}\b"), None),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,})"), None),
    ("gitlab_token", re.compile(
        r"\b(?:glpat|glptt|gldt|glrt|glcbt|gloas|glft|glimt|glagent)-[A-Za-z0-9_-]{20,}|"
        r"\bGR1348941[A-Za-z0-9_-]{20,}"), None),
    ("slack_token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-\d-[A-Za-z0-9-]{20,}"),
     None),
    ("telegram_token", re.compile(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"), None),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), None),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
     None),
    ("azure_key", re.compile(
        r"(?i)(\b(?:AccountKey|SharedAccessKey|SharedSecretValue|SharedAccessSignature)"
        r"\s*=\s*)([^;\s\"']{8,})"), keep_prefix("azure_key")),
    ("azure_key", re.compile(r"([?&]sig=)([A-Za-z0-9%+/=]{16,})"), keep_prefix("azure_key")),
    ("basic_auth", re.compile(r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])"),
     _basic),
    ("token", re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{16,})"), keep_prefix("token")),
    ("token", re.compile(r"(?i)(\bauthorization\s*:\s*(?:token|digest|apikey|key)?\s*)"
                         r"([A-Za-z0-9._~+/=-]{16,})"), keep_prefix("token")),
    ("password", re.compile(r"(\bcurl\b[^\n|;]*?\s(?:-u|--user)\s+['\"]?[^\s:'\"]+:)"
                            r"([^\s'\"]+)"), keep_prefix("password")),
    ("password", re.compile(r"(\bmysql\b[^\n|;]*?\s-p)([^\s'\"-][^\s'\"]{3,})"),
     keep_prefix("password")),
    ("password", re.compile(r"(\bmachine\s+\S+\s+login\s+\S+\s+password\s+)(\S+)"),
     keep_prefix("password")),
    ("secret", re.compile(
        rf"(?<![A-Za-z0-9])((?:--?)?{_LABEL}[\"']?\s*(?::=|=>|[:=])\s*)(?!\[REDACTED){_VALUE}",
        re.I), keep_prefix("secret", is_secret_value)),
    ("secret", re.compile(
        r"(?<![A-Za-z0-9])(--(?:password|passwd|token|secret|api-key)\s+)(?!\[REDACTED)"
        r"([^\s\"'-][^\s\"']{3,})", re.I), keep_prefix("secret", is_secret_value)),
    ("secret", re.compile(
        rf"(?<![A-Za-z0-9])({_MAYBE}[\"']?\s*[:=]\s*)(?!\[REDACTED){_VALUE}", re.I),
     keep_prefix("secret", strong_value)),
    ("aws_secret_key", re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
     _aws_secret),
]


def luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str | None:
    digits = re.sub(r"\D", "", m.group(0))
    return "[REDACTED:credit_card]" if 13 <= len(digits) <= 19 and luhn(digits) else None


def _iban(m: re.Match[str]) -> str | None:
    s = m.group(0).replace(" ", "")
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return "[REDACTED:iban]" if 15 <= len(s) <= 34 and int(num) % 97 == 1 else None


PII: list[Detector] = [
    ("email", re.compile(
        r"\b(?!git@)[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
        r"\.[A-Za-z]{2,24}\b"), None),
    ("ssn", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"), None),
    ("credit_card", re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"), _card),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), _iban),
    ("phone", re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)"),
     None),
]
