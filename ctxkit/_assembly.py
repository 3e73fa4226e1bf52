"""Assembly of one call: layers → Draft → budget → breakpoints → cache prediction → drift.

Owns running the layers in list order (``run_layers`` for ``run``: an awaitable a layer
returns is driven to completion; ``arun_layers`` for ``arun``: a layer's ``acall`` is
preferred and every awaitable is awaited, so the event loop stays free), the synchronous
rest of a call that ``run`` and ``arun`` share, and the CallRecord built from it once the
backend answered. Knows no wire format and does no I/O of its own.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._block import Block, Provenance
from ._cache import CacheModel, PartialHit, Prediction, place_breakpoints
from ._deprecated import warn_once
from ._draft import Draft
from ._drift import DriftEvent, diagnose
from ._errors import UserError
from ._layer import layer_name
from ._profile import CacheRules
from ._record import BlockRecord, CallRecord, LayerTokens, LayoutNote, cost_usd
from ._types import Response, Turn, Usage
from .packing import Packer
from .packing._step import apply_budget


@dataclass(slots=True)
class Prepared:
    """A draft ready to send, with everything the record will need."""

    draft: Draft
    turn: Turn
    chain: list[str]
    cumulative: list[int]
    prediction: Prediction
    drift: DriftEvent | None
    layout: LayoutNote | None
    layer_ids: dict[str, int]
    num_rewrites: int
    prompt_ids: list[int] | None = None  # exact token ids, when the backend renders them


def _accept(layer: Any, draft: Draft, out: Any) -> Draft:
    if out is not None and not isinstance(out, Draft):
        raise UserError(f"layer {layer_name(layer)!r} returned {type(out).__name__}; "
                        "a layer returns the Draft it was given (or None)")
    draft = out if out is not None else draft
    _legacy_functions(layer, draft)
    return draft


def _legacy_functions(layer: Any, draft: Draft) -> None:
    """The first contract's tools: a ``functions`` mapping on the layer, for tool blocks it
    added itself. Kept for one release, warning once; ``draft.add_tool`` replaces it."""
    legacy = getattr(layer, "functions", None)
    if not isinstance(legacy, Mapping):
        return
    offered = {b.name for b in draft.blocks if b.kind == "tool"}
    for name, fn in legacy.items():
        if name in offered and draft.tools.get(name) is None and callable(fn):
            warn_once("layer.functions", f"layer {layer_name(layer)!r} offers tool "
                      f"{name!r} through a `functions` attribute; use "
                      "draft.add_tool(fn_or_schema, run=fn) instead")
            draft.tools[name] = fn


def _callable(layer: Any) -> None:
    if not callable(layer) or isinstance(layer, type):
        raise UserError(f"pipe.layers holds {layer!r}, which is not a layer; a layer has a "
                        "`name` and `__call__(draft, turn) -> Draft` (see ctxkit.Layer)")


def run_layers(layers: Sequence[Any], draft: Draft, turn: Turn) -> Draft:
    """Run ``layers`` in order on ``draft`` (``run``'s path): an awaitable a layer returns
    is run to completion here, so async layers work under ``run`` too."""
    for layer in layers:
        _callable(layer)
        draft.layer = layer_name(layer)
        out = layer(draft, turn)
        if inspect.isawaitable(out):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                out = asyncio.run(_await(out))
            else:
                if inspect.iscoroutine(out):
                    out.close()
                raise UserError(f"layer {draft.layer!r} is async and an event loop is "
                                "running; use `await pipe.arun(...)`")
        draft = _accept(layer, draft, out)
    draft.layer = ""
    return draft


async def arun_layers(layers: Sequence[Any], draft: Draft, turn: Turn) -> Draft:
    """Run ``layers`` in order on ``draft`` (``arun``'s path): a layer's async form
    ``acall`` is preferred, and whatever a layer returns that is awaitable is awaited."""
    for layer in layers:
        _callable(layer)
        draft.layer = layer_name(layer)
        acall = getattr(layer, "acall", None)
        out = acall(draft, turn) if callable(acall) else layer(draft, turn)
        if inspect.isawaitable(out):
            out = await out
        draft = _accept(layer, draft, out)
    draft.layer = ""
    return draft


async def _await(x: Any) -> Any:
    return await x


def finish_draft(draft: Draft, *, packer: Packer, user_block: Block | None) -> Draft:
    """After the layers: the user's message, the tool-pairing check, the packing step."""
    if user_block is not None:
        if draft.blocks and draft.blocks[-1].cache is not None:
            # nothing volatile sits between the cached region and the user's text: cache it
            # too, so the next call (whose history starts with it) reads it, not writes it
            user_block = user_block.replace(cache="5m")
        draft.add(user_block)
    check_tool_pairing(draft.blocks)
    apply_budget(draft, packer)
    return draft


def check_tool_pairing(blocks: Sequence[Block]) -> None:
    """Every tool_use is answered by its tool_result before the next assistant turn,
    and no tool_result lacks its call: what every provider requires."""
    open_calls: dict[str, str] = {}
    seen_assistant_after: set[str] = set()
    for b in blocks:
        if b.kind == "tool_use":
            open_calls[str(b.call_id)] = str(b.name)
        elif b.kind == "tool_result":
            if b.call_id not in open_calls:
                raise UserError(f"tool_result {b.call_id!r} has no matching tool_use before it; "
                                "a tool call and its result must stay together")
            del open_calls[str(b.call_id)]
        elif b.role == "assistant" and open_calls:
            seen_assistant_after.update(open_calls)
    if seen_assistant_after or open_calls:
        missing = sorted(seen_assistant_after or open_calls)
        raise UserError(f"tool calls {missing} have no result; pass "
                        "pipe.run(tool_results=[ToolResult(call_id=..., content=...)])")


def prepare(draft: Draft, turn: Turn, cache: CacheModel, prev: Prepared | None,
            layer_ids: dict[str, int], now: float,
            prompt_ids: list[int] | None = None) -> Prepared:
    blocks = draft.blocks
    cumulative = list(itertools.accumulate(draft.tokens(b) for b in blocks))
    draft.breakpoints = place_breakpoints(blocks, cumulative, draft.profile.cache)
    chain = draft.chain()
    drift = layout = None
    if prev is not None:
        pd = prev.draft
        end = pd.stable_end
        prev_tokens = [draft.tokens(b) for b in pd.blocks[:end]]
        rewrites = turn.session.rewrites
        declared = draft.declared_rewrite or (
            rewrites[-1] if len(rewrites) > prev.num_rewrites else None)
        replaced = frozenset(n for n, i in layer_ids.items() if prev.layer_ids.get(n, i) != i)
        drift = diagnose(pd.blocks[:end], blocks, prev_tokens, declared=declared,
                         replaced_layers=replaced)
        layout = diagnose_layout(pd, draft)
    if prompt_ids is not None:  # the backend rendered the ids: predict on them, exactly
        prediction = cache.predict_ids(prompt_ids)
    else:
        partial = partial_hit(prev, draft, drift) if prev is not None else None
        prediction = cache.predict(chain, cumulative, draft.breakpoints, now, partial)
    return Prepared(draft, turn, chain, cumulative, prediction, drift, layout, layer_ids,
                    len(turn.session.rewrites), prompt_ids)


def partial_hit(prev: Prepared, draft: Draft, drift: DriftEvent | None) -> PartialHit | None:
    """The start of the first changed block that a token-prefix cache (OpenAI's automatic
    cache, paged servers) still serves: its content up to the first difference, when the
    block keeps its role and kind (the wire framing before the content is the same)."""
    if drift is None or drift.offset <= 0 or draft.profile.cache.kind not in (
            "automatic", "paged"):
        return None
    i = drift.index
    old = prev.draft.blocks[i]
    new = draft.blocks[i] if i < len(draft.blocks) else None
    if new is None or (old.role, old.kind, old.name) != (new.role, new.kind, new.name):
        return None
    kept = min(draft.tokens(old), draft.counter.count_text(old.content[:drift.offset]))
    return PartialHit(i, kept, prev.chain[i]) if kept > 0 else None


def diagnose_layout(prev: Draft, cur: Draft) -> LayoutNote | None:
    """Tokens kept out of the cache because a changed layer precedes unchanged ones."""
    order: list[str] = []
    cur_by: dict[str, list[Block]] = {}
    for b in cur.blocks:
        if b.layer not in cur_by:
            order.append(b.layer)
            cur_by[b.layer] = []
        cur_by[b.layer].append(b)
    prev_by: dict[str, list[str]] = {}
    for b in prev.blocks:
        prev_by.setdefault(b.layer, []).append(b.hash)
    changed_at = None
    missed = 0
    after: list[str] = []
    for name in order:
        cur_h = [b.hash for b in cur_by[name]]
        old = prev_by.get(name, [])
        unchanged = bool(old) and cur_h[:len(old)] == old
        if changed_at is None:
            if not unchanged and old:
                if any(b.cache is not None for b in cur_by[name]):
                    # a layer that asked to be cached changed: that is drift, reported as
                    # such; moving layers around would not help
                    return None
                changed_at = name
        elif unchanged:
            missed += sum(cur.tokens(b) for b in cur_by[name][:len(old)])
            after.append(name)
    if changed_at is None or missed == 0:
        return None
    return LayoutNote(
        changed_layer=changed_at, unchanged_after=after, tokens_missed=missed,
        advice=f"layer {changed_at!r} changed and sits before {', '.join(after)}: "
               f"{missed:,} unchanged tokens miss the cache; move stable layers first",
    )


def _block_record(b: Block, tokens: int) -> BlockRecord:
    return BlockRecord(layer=b.layer, key=b.key, role=b.role, kind=b.kind, hash=b.hash,
                       tokens=tokens, cache=b.cache, must_keep=b.must_keep, score=b.score,
                       trust=b.trust)


def predicted_usage(p: Prepared, output_tokens: int) -> Usage:
    pr = p.prediction
    # token ids rendered by the backend already hold the template's framing
    framing = 0 if p.prompt_ids is not None else p.draft.framing_tokens
    return Usage(input_tokens=pr.total + framing, output_tokens=output_tokens,
                 cache_read_tokens=pr.read, cache_write_tokens=pr.write,
                 cache_write_1h_tokens=pr.write_1h)


def by_layer(p: Prepared, usage: Usage) -> dict[str, LayerTokens]:
    """Split each block's tokens into read / write / uncached by its position in the prompt."""
    read_end = usage.cache_read_tokens
    write_end = read_end + usage.cache_write_tokens
    out: dict[str, LayerTokens] = {}
    start = 0
    for b, end in zip(p.draft.blocks, p.cumulative, strict=True):
        r = max(0, min(end, read_end) - start)
        w = max(0, min(end, write_end) - max(start, read_end))
        lt = out.setdefault(b.layer, LayerTokens())
        lt.read += r
        lt.write += w
        lt.uncached += (end - start) - r - w
        start = end
    if p.draft.framing_tokens:
        out["framing"] = LayerTokens(uncached=p.draft.framing_tokens)
    return out


def cache_step(rules: CacheRules) -> int:
    """The granularity of cached lengths under ``rules`` (0: whole blocks)."""
    return rules.increment if rules.kind == "automatic" else \
        rules.block_size if rules.kind == "paged" else 0


def usage_disagreement(pred: Usage, rep: Usage, exact: bool, strict: bool = False,
                       step: int = 0) -> str | None:
    """What differs beyond tolerance; with ``strict`` (ctxkit rendered the token ids
    itself) every difference counts: nothing excuses one. ``step`` is the granularity of
    the provider's cached lengths (OpenAI: 128 tokens): a count a few tokens off (message
    framing, a serialization that is not the wire's) may floor to the neighbouring step,
    so one step is within tolerance; a real miss (a predicted hit reported as none) is not.
    """
    tol = 0 if strict else max(64, step, int(0.05 * max(pred.input_tokens, rep.input_tokens)))
    notes = []
    if abs(pred.cache_read_tokens - rep.cache_read_tokens) > tol:
        notes.append(f"cache read predicted {pred.cache_read_tokens:,}, reported "
                     f"{rep.cache_read_tokens:,}")
    if abs(pred.cache_write_tokens - rep.cache_write_tokens) > tol:
        notes.append(f"cache write predicted {pred.cache_write_tokens:,}, reported "
                     f"{rep.cache_write_tokens:,}")
    in_tol = 0 if strict else max(16, pred.input_tokens // 50)
    if exact and abs(pred.input_tokens - rep.input_tokens) > in_tol:
        notes.append(f"input predicted {pred.input_tokens:,}, reported {rep.input_tokens:,}")
    return "; ".join(notes) or None


def make_record(p: Prepared, *, session_id: str, index: int, backend: str, started_at: float,
                latency_s: float, response: Response | None, error: str | None,
                output_tokens: int) -> CallRecord:
    draft = p.draft
    profile = draft.profile
    pred = predicted_usage(p, output_tokens)
    rep = response.usage if response is not None else None
    use_reported = rep is not None and profile.cache.reports_cached
    usage = rep if (use_reported and rep is not None) else pred
    if rep is not None and not profile.cache.reports_cached:
        # the backend reports totals but not cache hits: keep our split, its totals
        usage = pred.model_copy(update={"output_tokens": rep.output_tokens})
    exact_ids = p.prompt_ids is not None  # the backend rendered the ids: input is exact
    disagreement = (usage_disagreement(pred, rep, draft.counter.is_exact or exact_ids,
                                       exact_ids, cache_step(profile.cache))
                    if use_reported and rep else None)
    ok = error is None
    blocks = [_block_record(b, t) for b, t in zip(
        draft.blocks, _deltas(p.cumulative), strict=True)]
    return CallRecord(
        call_id=uuid.uuid4().hex[:16], session_id=session_id, index=index, turn=p.turn.index,
        step=p.turn.step, started_at=started_at, latency_s=latency_s, backend=backend,
        model=profile.name, ok=ok, error=error, tokenizer=draft.counter.name,
        tokens_exact=draft.counter.is_exact, blocks=blocks,
        dropped=[_block_record(b, draft.tokens(b)) for b in draft.dropped],
        breakpoints=[(bp.index, bp.ttl) for bp in draft.breakpoints],
        framing_tokens=draft.framing_tokens, predicted=pred,
        reported=rep if use_reported else None, disagreement=disagreement,
        by_layer=by_layer(p, usage) if ok else {},
        cost_usd=cost_usd(usage, profile.prices) if ok else 0.0,
        cost_uncached_usd=cost_usd(Usage(input_tokens=usage.input_tokens,
                                         output_tokens=usage.output_tokens),
                                   profile.prices) if ok else 0.0,
        prices_as_of=profile.prices.as_of,
        drift=[p.drift] if p.drift is not None else [], layout=p.layout,
        prompt_hash=p.chain[-1] if p.chain else "", response=response,
        extras=draft.resolved_notes(),
    )


def _deltas(cumulative: list[int]) -> list[int]:
    return [c - (cumulative[i - 1] if i else 0) for i, c in enumerate(cumulative)]


def transcript_blocks(turn: Turn, response: Response) -> list[Block]:
    """The assistant message of ``response`` as history blocks (thinking, text, tool calls)."""
    from ._block import canonical_json

    base = f"turn:{turn.index}:{turn.step}"
    out: list[Block] = []
    src = Provenance(source="agent", ref=response.model)
    if response.thinking:
        out.append(Block(layer="history", role="assistant", kind="thinking",
                         content=response.thinking, key=f"{base}:thinking", provenance=src))
    if response.text or not response.tool_calls:
        out.append(Block(layer="history", role="assistant", content=response.text,
                         key=f"{base}:assistant", provenance=src))
    for call in response.tool_calls:
        out.append(Block(layer="history", role="assistant", kind="tool_use", name=call.name,
                         call_id=call.id, content=canonical_json(call.arguments),
                         key=f"{base}:call:{call.id}", provenance=src))
    return out
