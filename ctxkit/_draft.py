"""Draft and Budget: the backend-neutral prompt being built for one call.

Owns the ordered blocks, the token budget, the breakpoints, the deterministic
serialization used by the prefix invariant, and everything a layer hands the pipeline:
blocks (``add``), candidates for the packing step (``propose``), tools the tool loop runs
(``add_tool``) and notes for the CallRecord (``note``). Knows no wire format: a backend's
``render`` turns a Draft into Anthropic messages, OpenAI chat, or token ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ._block import Block, CacheTTL, Provenance, canonical_json
from ._deprecated import warn_once
from ._errors import UserError
from ._profile import Profile
from ._tokens import TokenCounter

Order = Literal["given", "edges"]


def _check_tokens(name: str, value: object) -> None:
    # bool is an int to Python, and NaN passes every comparison as False: both once built
    # budgets nobody meant (a NaN window allowed 0 tokens)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be a whole number of tokens, got {value!r} "
                        f"({type(value).__name__}); pass an int")
    if value < 0:
        raise UserError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Token budget for one call.

    Attributes:
        window: the context window to fit; defaults to the profile's.
        reserve_output: tokens kept free for the reply; defaults to min(max_output, 8192).
        caps: per-layer (or per ``cap_group``) ceilings for flexible candidates.
        max_prompt: an extra ceiling on the prompt, below the window (cost control).
    """

    window: int | None = None
    reserve_output: int | None = None
    caps: dict[str, int] = field(default_factory=dict)
    max_prompt: int | None = None

    def __post_init__(self) -> None:
        for name in ("window", "reserve_output", "max_prompt"):
            v = getattr(self, name)
            if v is not None:
                _check_tokens(f"Budget.{name}", v)
        if not isinstance(self.caps, dict):
            raise UserError(f"Budget.caps must be a dict of layer name to tokens, got "
                            f"{self.caps!r}; e.g. Budget(caps={{'retrieval': 2000}})")
        for k, v in self.caps.items():
            if not isinstance(k, str):
                raise UserError(f"Budget.caps keys are layer names (or cap groups), got {k!r}")
            _check_tokens(f"Budget.caps[{k!r}]", v)

    def available(self, profile: Profile) -> int:
        """Prompt tokens this budget allows under ``profile``."""
        window = self.window if self.window is not None else profile.context_window
        reserve = self.reserve_output
        if reserve is None:
            reserve = min(profile.max_output, 8192)
        limit = window - reserve
        if self.max_prompt is not None:
            limit = min(limit, self.max_prompt)
        return max(0, limit)


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A cache breakpoint after block ``index`` with ``ttl``."""

    index: int
    ttl: CacheTTL


@dataclass(frozen=True, slots=True)
class Proposal:
    """What a layer said about a candidate it proposed (see ``Draft.propose``)."""

    value: float
    order: Order = "given"


class Draft:
    """The ordered blocks of one call, plus what the budget and cache steps decided.

    Layers read it and extend it through its methods — ``add`` (blocks that stay),
    ``propose`` (candidates the packing step chooses among), ``add_tool`` (a tool schema
    and the callable the tool loop runs) and ``note`` (what the CallRecord keeps) — and
    return it. After the layers ran, the pipeline's budget step fills ``dropped`` and
    ``why_dropped``, and the breakpoint step fills ``breakpoints``.

    Attributes:
        layer: the name of the layer running now (set by the pipeline; error messages
            name it).
        tools: tool name -> the callable the tool loop runs (None: a schema-only tool, whose
            calls are handed back to the caller).
    """

    def __init__(self, *, profile: Profile, counter: TokenCounter, budget: Budget) -> None:
        self.profile = profile
        self.counter = counter
        self.budget = budget
        self.blocks: list[Block] = []
        self.breakpoints: list[Breakpoint] = []
        self.dropped: list[Block] = []
        self.why_dropped: dict[str, str] = {}
        self.packing_method: str | None = None
        self.declared_rewrite: str | None = None
        self.layer: str = ""
        self.tools: dict[str, Callable[..., Any] | None] = {}
        self.caps: dict[str, int] = {}
        self.proposals: dict[int, Proposal] = {}  # id(block) -> what its layer proposed
        self._notes: dict[str, Any] = {}

    def add(self, *blocks: Block) -> Draft:
        """Append blocks in order; returns the draft so layers can ``return draft.add(...)``."""
        for b in blocks:
            if not isinstance(b, Block):
                raise UserError(f"Draft.add takes Block objects, got {type(b).__name__}")
            self.blocks.append(b)
        return self

    def extend(self, blocks: Iterable[Block]) -> Draft:
        return self.add(*blocks)

    def propose(self, blocks: Iterable[Block], *, values: Iterable[float] | None = None,
                cap: int | None = None, order: Order = "given") -> Draft:
        """Add flexible candidates; the pipeline's one packing step chooses among them.

        Every candidate of every layer competes once, under the budget left after the
        must-keep blocks and under per-group caps. Kept candidates stay where they were
        proposed (in proposal order, or rearranged by ``order``); the others go to
        ``draft.dropped`` with a reason in ``draft.why_dropped``.

        Args:
            blocks: the candidates, in prompt order (``must_keep`` is set to False).
            values: what each is worth to the packer (default: its ``score``, else 0 — a
                candidate worth nothing is not packed).
            cap: a ceiling on the tokens kept from this group (the blocks' ``group``);
                ``Budget.caps`` still applies, and the lower of the two wins.
            order: ``"given"`` keeps proposal order; ``"edges"`` puts the most valuable
                kept candidates at the start and end of the group's section and the least
                in the middle (models read the edges of a long context best).
        """
        if order not in ("given", "edges"):
            raise UserError(f"Draft.propose(order={order!r}) must be 'given' or 'edges'")
        items = [b if not b.must_keep else b.replace(must_keep=False) for b in blocks]
        vals = None if values is None else [float(v) for v in values]
        if vals is not None and len(vals) != len(items):
            raise UserError(f"Draft.propose got {len(items)} blocks but {len(vals)} values")
        self.add(*items)
        for i, b in enumerate(items):
            value = vals[i] if vals is not None else float(b.score or 0.0)
            self.proposals[id(b)] = Proposal(value, order)
            if cap is not None:
                if cap < 0:
                    raise UserError(f"Draft.propose(cap={cap}) must be >= 0")
                self.caps[b.group] = min(cap, self.caps.get(b.group, cap))
        return self

    def add_tool(self, tool: Callable[..., Any] | Mapping[str, Any] | Block, *,
                 run: Callable[..., Any] | None = None, cache: CacheTTL | None = None,
                 layer: str | None = None) -> Draft:
        """Offer the model a tool: its schema block, and the callable the tool loop runs.

        The schema block joins the tools section — after the last tool block already in
        the draft, else after the leading system blocks — so tools stay together in the
        cached head whichever layer offers them.

        Args:
            tool: a Python callable (its schema comes from its signature and docstring; the
                tool loop calls it), a schema dict (neutral, OpenAI or Anthropic shape), or
                a tool Block (``kind="tool"``) made earlier, to keep its bytes.
            run: the callable for a schema dict or Block; without one, the model's calls
                to the tool are handed back to the caller of ``run``.
            cache: a cache TTL for the schema block.
            layer: the block's layer (default ``"tools"``: a schema sits in the stable
                head, apart from the offering layer's other blocks, so reports and layout
                diagnosis count it there).

        Offering a tool again under its name with the same schema changes nothing (the
        first callable stays); a different schema under a taken name is refused.
        """
        from ._tools import tool_schema

        if isinstance(tool, Block):
            if tool.kind != "tool" or not tool.name:
                raise UserError("Draft.add_tool(block) takes a tool schema block "
                                "(kind='tool', with a name)")
            block = tool if cache is None else tool.replace(cache=cache)
        else:
            if run is None and callable(tool) and not isinstance(tool, Mapping):
                run = tool
            schema = tool_schema(tool)
            block = Block(layer=layer or "tools", role="system", kind="tool",
                          name=schema["name"], key=f"tool:{schema['name']}",
                          content=canonical_json(schema), cache=cache,
                          provenance=Provenance(source="system"))
        name = str(block.name)
        if name in self.tools:
            old = next((b for b in self.blocks if b.kind == "tool" and b.name == name), None)
            if old is None or old.content != block.content:
                raise UserError(f"tool {name!r} is offered twice with different schemas "
                                f"(the second by layer {self.layer or block.layer!r}); give "
                                "each tool a unique name")
            return self
        at = next((i + 1 for i in range(len(self.blocks) - 1, -1, -1)
                   if self.blocks[i].kind == "tool"), None)
        if at is None:
            at = 0
            while at < len(self.blocks) and self.blocks[at].role == "system":
                at += 1
        self.blocks.insert(at, block)
        self.tools[name] = run
        return self

    def note(self, key: str, value: Any) -> Draft:
        """Keep ``value`` in this call's CallRecord, under ``record.extras[key]``.

        ``value`` is JSON-able, or a callable ``value(draft) -> JSON-able`` that is called
        once with the final draft (after packing) when the record is made — for notes
        that say what the budget step kept. Read earlier notes with ``draft.notes``.
        """
        if not isinstance(key, str) or not key:
            raise UserError("Draft.note(key, value) needs a non-empty str key")
        self._notes[key] = value
        return self

    @property
    def notes(self) -> Mapping[str, Any]:
        """The notes so far (read-only; write with ``note``)."""
        return MappingProxyType(self._notes)

    @property
    def extras(self) -> dict[str, Any]:
        """Deprecated: write notes with ``draft.note(key, value)``, read ``draft.notes``."""
        warn_once("ctxkit.Draft.extras", "Draft.extras is deprecated; write with "
                  "draft.note(key, value) and read draft.notes")
        return self._notes

    def resolved_notes(self) -> dict[str, Any]:
        """The notes as the CallRecord keeps them: deferred ones called with this draft."""
        return {k: v(self) if callable(v) else v for k, v in self._notes.items()}

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def tokens(self, block: Block) -> int:
        """Tokens of one block's content under the profile's tokenizer (cached by hash)."""
        return self.counter.count(block)

    def of_layer(self, layer: str) -> list[Block]:
        return [b for b in self.blocks if b.layer == layer]

    @property
    def num_messages(self) -> int:
        """Messages after grouping consecutive blocks of one role (as renderers do)."""
        n, last = 0, None
        for b in self.blocks:
            if b.role != last:
                n, last = n + 1, b.role
        return n

    @property
    def framing_tokens(self) -> int:
        """Tokens the wire format adds around messages (from the profile)."""
        p = self.profile
        return p.tokens_per_request + p.tokens_per_message * self.num_messages

    @property
    def num_tokens(self) -> int:
        """Prompt tokens: every block's content plus message framing."""
        return sum(self.tokens(b) for b in self.blocks) + self.framing_tokens

    @property
    def stable_end(self) -> int:
        """Index after the last block that asked to be cached: the region meant to be reused."""
        for i in range(len(self.blocks) - 1, -1, -1):
            if self.blocks[i].cache is not None:
                return i + 1
        return 0

    def chain(self) -> list[str]:
        """Fingerprint chain: entry i identifies blocks[0..i] (a hash over the hashes)."""
        out: list[str] = []
        h = hashlib.sha256()
        for b in self.blocks:
            h.update(b.hash.encode())
            out.append(h.copy().hexdigest()[:20])
        return out

    def serialize(self, end: int | None = None) -> str:
        """Deterministic serialization of blocks[:end], one block per line."""
        return "\n".join(b.serialize() for b in self.blocks[:end])

    def declare_rewrite(self, reason: str) -> None:
        """Say that this call rewrites the cached region on purpose (e.g. compaction)."""
        self.declared_rewrite = reason

    def to_messages(self) -> dict[str, Any]:
        """A provider-neutral view: system text, tool schemas and role-grouped messages.

        Backends render their own wire formats; this view is for humans, test doubles and
        the CLI's ``--show-prompt``.
        """
        import json

        system: list[str] = []
        tools: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for b in self.blocks:
            if b.kind == "tool":
                tools.append(json.loads(b.content))
            elif b.role == "system":
                system.append(b.content)
            else:
                part: dict[str, Any] = {"type": b.kind, "text": b.content}
                if b.kind in ("tool_use", "tool_result"):
                    part.update(name=b.name, call_id=b.call_id)
                if messages and messages[-1]["role"] == b.role:
                    messages[-1]["content"].append(part)
                else:
                    messages.append({"role": b.role, "content": [part]})
        return {"system": "\n\n".join(system), "tools": tools, "messages": messages}

