"""Profiles: provider facts as data (window, prices, cache rules) per model family.

Owns the Profile types and the lookup from a model name to its profile. Built-in profiles
live in ``ctxkit/data/profiles.json``; a user adds or overrides one with
``register_profile`` or a JSON file named by the ``CTXKIT_PROFILES`` environment variable,
without code changes. A profile may ``"extends": "<name>"`` another and name only what
differs (say, new prices with their date). Layers ask the profile; they never test which
backend they talk to.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from ._errors import UserError

CacheKind = Literal["explicit", "automatic", "paged", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prices:
    """USD per million tokens, with the date they were taken."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    as_of: str = "unknown"

    def __post_init__(self) -> None:
        for f in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read"):
            if getattr(self, f) < 0:
                raise UserError(f"Prices.{f} must be >= 0 (USD per million tokens)")


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheRules:
    """How a provider's prompt cache behaves.

    Attributes:
        kind: ``explicit`` (breakpoints, Anthropic), ``automatic`` (longest cached prefix
            from ``min_tokens`` in ``increment`` steps, OpenAI), ``paged`` (block-aligned
            prefix of ``block_size`` tokens, vLLM/SGLang/the local engine) or ``none``.
        max_breakpoints: explicit breakpoints allowed per request.
        min_tokens: shortest prefix that is cached at all.
        lookback_blocks: how many blocks before a breakpoint the provider checks for a hit.
        ttls: TTLs the provider accepts, longest last.
        increment: cached lengths are multiples of this past ``min_tokens`` (automatic).
        block_size: KV block size in tokens (paged).
        reports_cached: whether the backend's usage reports cached tokens.
        renders_ids_via: how a remote server tells ctxkit the exact token ids of a prompt,
            so the cache model predicts on them as it does for ``Local``: ``"tokenize"``
            (vLLM's ``POST /tokenize``, which ``ctxkit serve`` speaks; replies then carry
            their ids through ``return_token_ids``), or None (estimate from block counts).
    """

    kind: CacheKind = "none"
    max_breakpoints: int = 4
    min_tokens: int = 1024
    lookback_blocks: int = 20
    ttls: tuple[str, ...] = ("5m", "1h")
    increment: int = 128
    block_size: int = 16
    reports_cached: bool = False
    renders_ids_via: Literal["tokenize"] | None = None

    def __post_init__(self) -> None:
        if self.renders_ids_via not in (None, "tokenize"):
            raise UserError(f"CacheRules.renders_ids_via {self.renders_ids_via!r}: use "
                            "'tokenize' (the server has vLLM's POST /tokenize) or None")
        if self.kind not in ("explicit", "automatic", "paged", "none"):
            raise UserError(f"CacheRules.kind {self.kind!r}: use explicit, automatic, paged, none")
        if self.max_breakpoints < 0 or self.min_tokens < 0 or self.block_size < 1:
            raise UserError("CacheRules: max_breakpoints, min_tokens >= 0 and block_size >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Facts about one model family that layers and reports need."""

    name: str
    provider: str
    context_window: int
    max_output: int
    tokenizer: str = "estimate"
    tokens_per_message: int = 0
    tokens_per_request: int = 0
    prices: Prices = field(
        default_factory=lambda: Prices(input=0, output=0, cache_write_5m=0, cache_write_1h=0,
                                       cache_read=0)
    )
    cache: CacheRules = field(default_factory=CacheRules)
    match: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.context_window <= 0 or self.max_output <= 0:
            raise UserError(f"profile {self.name!r}: context_window and max_output must be > 0")

    def replace(self, **changes: Any) -> Profile:
        """A copy with ``changes`` applied (e.g. a different tokenizer or price)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Build a profile from its JSON form (as in ``ctxkit/data/profiles.json``)."""
        try:
            d = _inherit(dict(data))
            d["prices"] = Prices(**d["prices"]) if "prices" in d else Prices(
                input=0, output=0, cache_write_5m=0, cache_write_1h=0, cache_read=0)
            cache = dict(d.get("cache", {}))
            if "ttls" in cache:
                cache["ttls"] = tuple(cache["ttls"])
            d["cache"] = CacheRules(**cache)
            d["match"] = tuple(d.get("match", ()))
            return cls(**d)
        except TypeError as exc:
            raise UserError(f"bad profile {data.get('name')!r}: {exc}; see ctxkit/data/"
                            "profiles.json for the expected fields") from exc


_registry: list[Profile] = []
_loaded = False


def _inherit(d: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``"extends": "<profile>"``: the named profile's fields, overridden by ``d``'s
    (``prices`` and ``cache`` merged key by key), so an override names only what differs."""
    parent = d.pop("extends", None)
    if parent is None:
        return d
    base = dataclasses.asdict(profile_for(str(parent)))
    if d.get("name", base["name"]) != base["name"]:
        base["match"] = []  # a new family matches by its own patterns, not its parent's
    for key in ("prices", "cache"):
        base[key] = {**base[key], **d.pop(key, {})}
    base.update(d)
    return base


def _load() -> None:
    global _loaded
    if _loaded:
        return
    text = resources.files("ctxkit").joinpath("data/profiles.json").read_text()
    builtin = [Profile.from_dict(p) for p in json.loads(text)["profiles"]]
    _registry.extend(builtin)
    _loaded = True  # user profiles below may extend built-in ones
    path = os.environ.get("CTXKIT_PROFILES")
    if not path:
        return
    try:
        try:
            with open(path) as fh:
                raw = json.load(fh)
        except (OSError, ValueError) as exc:
            raise UserError(f"CTXKIT_PROFILES={path!r} is not a readable JSON file: {exc}") \
                from exc
        items = raw["profiles"] if isinstance(raw, dict) else raw
        for i, item in enumerate(items):  # user profiles first, in file order: first wins
            _registry.insert(i, Profile.from_dict(item))
    except Exception:
        _registry.clear()
        _loaded = False
        raise


def register_profile(profile: Profile) -> None:
    """Add or override a profile; it wins over every profile registered before it."""
    _load()
    _registry.insert(0, profile)


def profile_for(model: str) -> Profile:
    """The profile whose name or match patterns fit ``model`` (first match wins)."""
    _load()
    for p in _registry:
        if model == p.name or any(fnmatch.fnmatchcase(model, pat) for pat in p.match):
            return p.replace(name=model) if model != p.name else p
    known = sorted({p.name for p in _registry})
    raise UserError(
        f"no profile for model {model!r}; known families: {', '.join(known)}. "
        "Register one with ctxkit.register_profile(Profile(...)) or CTXKIT_PROFILES=file.json"
    )
