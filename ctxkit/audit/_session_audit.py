"""One session's audit, fed one call at a time: bounded memory however long the log.

Owns the per-call steps and what is kept between calls: the last ``LOOKBACK_CALLS`` prompts
(for prefix reuse, the parent a call continues and its cache-killer), the cache model of
each layout (``_estimate.Simulator``), one pending call for ctxkit's layout (which needs to
know what the next call keeps), and small per-session tallies (tokens by kind, duplicate
hashes, measured usage). Nothing else of a prompt outlives its window. Knows no file format.
"""

from __future__ import annotations

import hashlib
from collections import deque

from .._profile import Profile
from ._analyze import (
    LOOKBACK_CALLS,
    choose_parent,
    common_prefix,
    find_killer,
    nbytes,
    observation_items,
    prefix_tokens,
    preview,
)
from ._causes import HISTORY_REWRITE
from ._count import SegmentCounter
from ._estimate import Scrubber, Simulator, ctxkit_blocks, recorded_blocks
from ._model import CallFigures, Duplicate, SessionAudit
from ._prompt import RecordedCall, RecordedSession

MIN_DUPLICATE_TOKENS = 16
GAP_WARNING = 0.10


class SessionAuditor:
    """Audits one session incrementally: ``add(call)`` per call, then ``finish()``.

    Args:
        session: the session's metadata (its ``calls`` are not read here).
        profile: tokenizer, prices and cache rules to estimate with.
        count: token counter for text (memoized by the caller).
        prices_known: False when the model has no prices (costs are then not shown).
    """

    def __init__(self, session: RecordedSession, profile: Profile, count: SegmentCounter, *,
                 prices_known: bool = True) -> None:
        self.session = session
        self.profile = profile
        self.count = count
        raw = self.raw = session.format == "openhands"
        self.out = SessionAudit(name=session.name, source=session.source,
                                format=session.format, model=profile.name,
                                prices_known=prices_known)
        self.window: deque[tuple[RecordedCall, list[int]]] = deque(maxlen=LOOKBACK_CALLS + 1)
        self.recorded = Simulator(profile, count, raw=raw)
        self.ours = Simulator(profile, count, raw=raw)
        self.scrubber = Scrubber()
        self.pending: tuple[RecordedCall, bool] | None = None
        self.places: dict[str, list[str]] = {}
        self.dup_info: dict[str, tuple[int, str, int]] = {}
        self.wasted: dict[str, int] = {}
        self.first_head: list[tuple[str, int]] = []  # (chain hash, cumulative tokens)

    # -- per call ------------------------------------------------------------------------

    def add(self, call: RecordedCall) -> None:
        k = len(self.out.calls)
        call.index = k
        seg = [self.count.block(b, raw=self.raw) for b in call.blocks]
        fig = CallFigures(index=k, tokens=sum(seg))
        self.out.calls.append(fig)
        for b, t in zip(call.blocks, seg, strict=True):
            self.out.tokens_by_kind[b.layer] = self.out.tokens_by_kind.get(b.layer, 0) + t
        parent: int | None = None
        if self.window:
            prev, prev_seg = self.window[-1]
            lcp = common_prefix(prev, call)
            fig.common_prefix_bytes = nbytes(call.text[:lcp])
            fig.common_prefix_tokens = prefix_tokens(call, seg, lcp, self.count)
            fig.reuse = fig.common_prefix_tokens / fig.tokens if fig.tokens else 0.0
            calls = [c for c, _ in self.window] + [call]
            segs = [s for _, s in self.window] + [seg]
            found = choose_parent(len(calls) - 1, calls, segs)
            if found is None:
                fig.new_prompt = True
            else:
                j, plcp = found
                parent = k - (len(calls) - 1 - j)
                fig.compared_to = parent
                if plcp < len(calls[j].text):
                    self.out.killers.append(find_killer(self.out.name, k, parent, plcp,
                                                        calls[j], call, segs[j], self.count))
        else:
            self.first_head = self._chain(call, seg)
        self._duplicates(k, call)
        fig.recorded_read = self.recorded.step(
            recorded_blocks(call.blocks, self.session.has_cache_markers))
        self._flush_pending(call if parent is not None and parent == k - 1 else None)
        self.pending = (call, self.scrubber.update(call.blocks))
        if call.usage is not None:
            self.out.measured.add(call.usage, fig.recorded_read, fig.tokens)
        self.window.append((call, seg))

    def _flush_pending(self, child: RecordedCall | None) -> None:
        if self.pending is None:
            return
        call, scrubbing = self.pending
        nxt = {b.hash for b in child.blocks} if child is not None else None
        read = self.ours.step(ctxkit_blocks(call.blocks, call.where, scrubbing=scrubbing,
                                            next_hashes=nxt))
        self.out.calls[call.index].ctxkit_read = read
        self.pending = None

    def _chain(self, call: RecordedCall, seg: list[int]) -> list[tuple[str, int]]:
        out, h, total = [], "", 0
        for b, t in zip(call.blocks, seg, strict=True):
            h = hashlib.blake2b((h + b.hash).encode(), digest_size=12).hexdigest()
            total += t
            out.append((h, total))
        return out

    def _duplicates(self, k: int, call: RecordedCall) -> None:
        for where, content in observation_items(call):
            h = hashlib.blake2b(content.encode(), digest_size=16).hexdigest()
            seen = self.places.get(h)
            if seen is None:
                tokens = self.count(content)  # the content alone, no framing
                if tokens < MIN_DUPLICATE_TOKENS:
                    continue
                seen = self.places[h] = []
                self.dup_info[h] = (tokens, preview(content), k)
            if where not in seen:
                seen.append(where)
            if seen[0] != where:
                self.wasted[h] = self.wasted.get(h, 0) + self.dup_info[h][0]

    # -- end of session -----------------------------------------------------------------

    def finish(self) -> SessionAudit:
        self._flush_pending(None)
        out, s = self.out, self.session
        out.recorded, out.ctxkit = self.recorded.estimate, self.ours.estimate
        out.no_cache_cost_usd = out.input_tokens * self.profile.prices.input / 1_000_000
        for h, wheres in self.places.items():
            if len(wheres) > 1:
                tokens, text, k = self.dup_info[h]
                out.duplicates.append(Duplicate(
                    session=out.name, tokens=tokens, copies=len(wheres),
                    first=f"call {k}, {wheres[0]}", repeats=wheres[1:],
                    tokens_wasted=self.wasted.get(h, 0), preview=text))
        out.duplicates.sort(key=lambda d: -d.tokens_wasted)
        out.notes = list(s.notes)
        out.reported_tokens_sent, out.reported_calls = s.reported_tokens_sent, s.reported_calls
        out.reconstructed = s.reconstructed
        if s.reconstructed and not any("rebuilt" in n for n in out.notes):
            out.notes.insert(0, "prompts reconstructed from the final transcript (one per "
                             "assistant turn), not the bytes the agent sent")
        if s.format == "anthropic" and not s.has_cache_markers:
            out.notes.append("no cache_control in the recorded requests: as sent, nothing was "
                             "cached; the recorded estimate assumes breakpoints after system + "
                             "tools and on the last block")
        self._gaps(out)
        if out.prices_known:
            p = self.profile.prices
            lost = sum(k.tokens_lost for k in out.killers if k.cause == HISTORY_REWRITE)
            out.rewrite_saving_usd = lost * (p.input - p.cache_read) / 1_000_000
        self.window.clear()
        return out

    def _gaps(self, out: SessionAudit) -> None:
        def gap(ours: int, theirs: int) -> bool:
            return theirs > 0 and abs(ours - theirs) / theirs > GAP_WARNING

        if out.reported_calls is not None and gap(out.num_calls, out.reported_calls):
            out.warnings.append(f"the log records {out.reported_calls:,} model calls; "
                                f"{out.num_calls:,} prompts could be read from it")
        counted = out.input_tokens
        tok = getattr(self.count, "tokenizer", None)
        if out.reported_tokens_sent and gap(counted, out.reported_tokens_sent):
            out.warnings.append(f"the log records {out.reported_tokens_sent:,} prompt tokens "
                                f"sent; the audited prompts count {counted:,} "
                                f"({counted / out.reported_tokens_sent:.2f}x) counted with "
                                f"{getattr(tok, 'name', self.profile.tokenizer)}")
        m = out.measured
        if m.calls and gap(m.estimated_input_tokens, m.input_tokens):
            out.warnings.append(f"the provider measured {m.input_tokens:,} prompt tokens over "
                                f"{m.calls:,} calls; the audited prompts of those calls count "
                                f"{m.estimated_input_tokens:,}")
