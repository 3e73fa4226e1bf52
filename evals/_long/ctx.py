"""The ``ctxkit`` strategy: a Script through a real ContextPipeline, long-session defaults.

Owns ctxkit's long-session configuration and replaying a Script through it: ``Prefix``
(system prompt and sorted tools, cached 1h), ``History`` with a ``Compactor`` (a
milestone at every finished user turn, a token threshold as the fallback, an extractive
summary folded into the previous one, dropped turns written to an episodic sink) and
``State`` (the task as its goal) after it; tool results canonicalized (volatile bits
normalized, a result identical to one still shown becomes a reference). The model is a
FunctionBackend that records each Draft — its blocks and the breakpoints ctxkit placed —
as the neutral Prompt, and answers with the script's move. The tuned values are in
``CtxkitConfig`` (chosen on the dev sessions only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .score import Prompt, Scorer, Segment
from .sessions import Script


@dataclass(frozen=True, slots=True)
class CtxkitConfig:
    threshold: float = 0.8        # fallback compaction at this share of the budget
    keep_turns: int = 1
    keep_steps: int = 3
    keep_share: float = 0.03      # keep_tokens as a share of the budget
    summary_share: float = 0.03   # max summary tokens as a share of the budget
    min_growth: float = 0.25
    milestone_fill: float = 0.45  # a milestone compacts once the prompt fills this share


def _segment(b: Any) -> Segment:
    if b.kind == "tool":
        return Segment("tool", b.content)
    if b.kind in ("tool_use", "tool_result"):
        return Segment(b.kind, b.content, b.call_id or "")
    return Segment(b.role, b.content)


def run_ctxkit(script: Script, scorer: Scorer, cfg: CtxkitConfig | None = None) -> None:
    import ctxkit
    from ctxkit import Budget, ContextPipeline, Response, ToolCall, ToolResult, profile_for
    from ctxkit.compaction import Compactor, Milestone, Threshold
    from ctxkit.layers import History, Prefix
    from ctxkit.layers import State as StateLayer
    from ctxkit.testing import FunctionBackend

    cfg = cfg or CtxkitConfig()
    window = scorer.limit + 4096
    profile = profile_for("claude-sonnet-4-5").replace(tokenizer="o200k_base",
                                                       context_window=window)
    budget = Budget(window=window, reserve_output=4096)
    avail = scorer.limit
    state = ctxkit.WorkingState(goal=next(c.user for c in script.calls if c.user))
    milestone = Milestone(None, min_turns=1, min_fill=cfg.milestone_fill)
    compactor = Compactor(
        [milestone, Threshold(cfg.threshold, min_growth=cfg.min_growth)],
        keep_turns=cfg.keep_turns, keep_steps=cfg.keep_steps,
        keep_tokens=int(cfg.keep_share * avail),
        max_summary_tokens=max(64, int(cfg.summary_share * avail)))
    layers = [Prefix(system=script.system, tools=script.tools), History(compactor=compactor),
              StateLayer(state)]
    pos = {"i": 0}

    def model(draft: Any) -> Response:
        i = pos["i"]
        c = script.calls[i]
        segs = [_segment(b) for b in draft.blocks]
        scorer.call(Prompt(segs, {bp.index: bp.ttl for bp in draft.breakpoints}),
                    reply=c.reply, new_turn=c.user is not None,
                    needs=[(script.facts[n].kind, script.facts[n].probe) for n in c.needs])
        pos["i"] = i + 1
        calls = [ToolCall(id=f"call_{i}", name=c.tool, arguments=c.args)] if c.tool else []
        return Response(text=c.reply, tool_calls=calls)

    pipe = ContextPipeline(FunctionBackend(model, model=profile), layers, budget=budget,
                           max_steps=1, clock=lambda: scorer.now)
    for i, c in enumerate(script.calls):
        if c.milestone:
            milestone.reached("the user's request was answered" if script.kind == "coding"
                              else "a conversation session ended")
        if c.user is not None:
            pipe.run(c.user)
        else:
            prev = script.calls[i - 1]
            pipe.run(tool_results=[ToolResult(call_id=f"call_{i - 1}", name=prev.tool,
                                              content=prev.output)])
    scorer.t.compactions += len(compactor.compactions)
