"""Compaction eval: long synthetic agent sessions through ctxkit, beside two baselines.

Sessions are built from ../shared/evaldata:

* bAbI qa1 (test split): 12 stories concatenated per session; every story sentence is a
  line in a tool output full of log noise (timestamps, request ids, progress bars); the
  agent reads one log page per turn, and each story is one plan step (a milestone). A
  later "X moved to Y" overrides an earlier one: the stale facts.
* LoCoMo dev conversations (conv-26, -30, -41, -42, -43): the dialogue arrives as user
  turns (four utterances each); each LoCoMo session ends with a milestone.

Every session runs through a real ContextPipeline (scripted agent, Anthropic-like
``scripted`` profile, o200k counts) under four history policies with the same token
budget: ``ctxkit`` (milestone + threshold compaction, extractive summary, episodic sink,
and — for bAbI — the State the agent keeps through ``update_state``), ``ctxkit_no_state``
(the same without a State), ``last_n_tokens`` (keep the most recent turns that fit) and
``summarize_every_k`` (every K turns the whole history becomes one extractive summary).

Reported, per dataset and policy: (a) the headline, ``in_prompt``: the share of facts
needed at the end that are verbatim in the assembled prompt (history, summary, state);
beside it ``reachable_with_recall``: in the prompt or among the top-k episodes recalled
(BM25) for the question — every policy writes what it drops to the same kind of episodic
sink, so recall is offered to the baselines too; (b) for bAbI, stale-fact suppression: overridden
location facts still visible in the prompt, questions where only a stale fact is visible,
and what a "latest mention wins" reader answers; (c) prompt tokens per call, with the
cache hit rate of prompt tokens under the profile's cache model.

    python evals/compaction.py --json [--data ../shared/evaldata] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ctxkit  # noqa: E402
from ctxkit import Block, ContextPipeline, Draft, Provenance, Session, Turn  # noqa: E402
from ctxkit.compaction import (  # noqa: E402
    Compactor,
    ExtractiveSummarizer,
    InMemorySink,
    Milestone,
    SummaryRequest,
    Threshold,
)
from ctxkit.layers import History, Prefix  # noqa: E402
from ctxkit.layers import State as StateLayer  # noqa: E402
from ctxkit.testing import FunctionBackend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEV_CONVERSATIONS = ("conv-26", "conv-30", "conv-41", "conv-42", "conv-43")
POLICIES = ("ctxkit", "ctxkit_no_state", "last_n_tokens", "summarize_every_k")
HISTORY_BUDGET = 3000      # tokens of history every policy may keep
SUMMARY_TOKENS = 500
EVERY_K = 10
RECALL_K = 5
SYSTEM = ("You are an operations agent. Read the logs page by page, keep track of where "
          "everyone and everything is, and answer questions about it. " * 40)
_MOVE = re.compile(r"^(\w+) (?:moved|went|travelled|journeyed|went back)(?: back)? to the (\w+)\.$")


# -- baselines (history policies without ctxkit's compaction) ------------------------------

def _turn_starts(blocks: list[Block]) -> list[int]:
    return [i for i, b in enumerate(blocks) if i == 0 or (
        b.role == "user" and b.kind == "text" and blocks[i - 1].role != "user")]


class KeepLastTokens:
    """Baseline: keep the most recent whole turns that fit ``tokens``; drop the rest (into
    the same episodic sink ctxkit writes to, so recall is offered to it too)."""

    def __init__(self, tokens: int, sink: InMemorySink) -> None:
        self.tokens, self.sink = tokens, sink

    def __call__(self, session: Session, draft: Draft, turn: Turn) -> None:
        blocks = session.transcript
        sizes = [draft.counter.count(b) for b in blocks]
        if sum(sizes) <= self.tokens:
            return
        starts = _turn_starts(blocks)
        cut = next((s for s in starts if sum(sizes[s:]) <= self.tokens), starts[-1])
        if cut > 0:
            self.sink.write_episodes(blocks[:cut], "keep the last N tokens")
            session.rewrite(blocks[cut:], reason="keep the last N tokens")


class SummarizeEveryK:
    """Baseline: every ``k`` turns the whole history becomes one extractive summary (the
    summarized turns go to the same episodic sink, for recall)."""

    def __init__(self, k: int, max_tokens: int, sink: InMemorySink) -> None:
        self.k, self.max_tokens, self.sink = k, max_tokens, sink
        self.summarizer = ExtractiveSummarizer()
        self.previous: Any = None
        self._done: set[int] = set()

    def __call__(self, session: Session, draft: Draft, turn: Turn) -> None:
        if turn.index == 0 or turn.index % self.k or turn.index in self._done or turn.step:
            return
        self._done.add(turn.index)
        body = [b for b in session.transcript if b.key != "summary"]
        self.sink.write_episodes(body, "summarize everything")
        summary = self.summarizer.summarize(SummaryRequest(dropped=body, previous=self.previous))
        summary = summary.trimmed(self.max_tokens, draft.counter.count_text)
        self.previous = summary
        session.rewrite([Block(layer="history", role="user", key="summary",
                               content="Summary so far:\n" + summary.render(),
                               provenance=Provenance(source="compaction"))],
                        reason="summarize everything")


# -- bAbI sessions ---------------------------------------------------------------------------

def babi_stories(path: Path) -> list[list[str]]:
    stories: list[list[str]] = []
    for line in path.read_text().splitlines():
        num, _, text = line.partition(" ")
        if num == "1":
            stories.append([])
        if "\t" not in text:
            stories[-1].append(text.strip())
    return stories


def noise(rng: random.Random, page: int) -> list[str]:
    out = []
    for _ in range(rng.randint(16, 28)):
        kind = rng.random()
        ts = f"2024-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}" \
             f":{rng.randint(0, 59):02d}Z"
        if kind < 0.35:
            out.append(f"{ts} INFO worker-{rng.randint(1, 9)} heartbeat ok request-id: "
                       f"{rng.getrandbits(48):012x}")
        elif kind < 0.55:
            out.append(f"[{'=' * rng.randint(1, 20):<20}] {rng.randint(0, 99)}% syncing shards")
        elif kind < 0.8:
            out.append(f"{ts} GET /api/v1/items?page={page} 200 in {rng.randint(2, 900)}ms")
        else:
            out.append(f"{ts} DEBUG cache miss at 0x7f{rng.getrandbits(40):010x} "
                       f"pid={rng.randint(100, 9999)}")
    return out


def log_reader(pages: list[list[str]]) -> Callable[[int], str]:
    """The ``read_log`` tool over one session's pages."""
    def read_log(page: int) -> str:
        """Read one page of the operations log."""
        return "\n".join(pages[page])
    return read_log


class BabiAgent:
    """The scripted model: reads page k; with a State, records each move as a keyed fact
    and marks a story's plan step done when its last page is read."""

    def __init__(self, pages: list[list[str]], story_of_page: list[int], use_state: bool) -> None:
        self.pages, self.story_of_page, self.use_state = pages, story_of_page, use_state

    def __call__(self, draft: Draft) -> Any:
        last = draft.blocks[-1]
        if last.layer == "turn":
            page = int(last.content.rsplit(" ", 1)[1])
            return {"tool_calls": [{"name": "read_log", "arguments": {"page": page}}]}
        results = [b for b in draft.blocks if b.kind == "tool_result"]
        if self.use_state and results and results[-1].name == "read_log":
            page = int(json.loads(next(b for b in reversed(draft.blocks)
                                       if b.kind == "tool_use").content)["page"])
            ops = []
            for line in self.pages[page]:
                if line.startswith("observation: "):
                    sent = line.removeprefix("observation: ")
                    m = _MOVE.match(sent)
                    key = f"location:{m.group(1)}" if m else None
                    ops.append({"op": "add", "path": "/facts/-", "value": {
                        "text": sent, "key": key, "source": "tool", "ref": results[-1].call_id}})
            s = self.story_of_page[page]
            if page + 1 == len(self.pages) or self.story_of_page[page + 1] != s:
                ops.append({"op": "replace", "path": f"/plan/@{s + 1}/status",
                            "value": "done"})
            if ops:
                return {"tool_calls": [{"name": "update_state",
                                        "arguments": {"ops": ops, "why": f"page {page}"}}]}
        return "Read it."


def babi_session(stories: list[list[str]], seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    pages: list[list[str]] = []
    story_of_page: list[int] = []
    for s, story in enumerate(stories):
        for sent in story:
            lines = noise(rng, len(pages))
            lines.insert(rng.randint(0, len(lines)), f"observation: {sent}")
            pages.append(lines)
            story_of_page.append(s)
    facts = [(p, line.removeprefix("observation: ")) for p, lines in enumerate(pages)
             for line in lines if line.startswith("observation: ")]
    where: dict[str, list[str]] = {}
    for _, sent in facts:
        m = _MOVE.match(sent)
        if m:
            where.setdefault(m.group(1), []).append(sent)
    return {"pages": pages, "story_of_page": story_of_page, "where": where,
            "num_stories": len(stories)}


# -- LoCoMo sessions -------------------------------------------------------------------------

def locomo_session(conv: dict[str, Any], per_turn: int = 4) -> dict[str, Any]:
    c = conv["conversation"]
    turns: list[tuple[str, bool]] = []  # (message, ends a LoCoMo session)
    text_of: dict[str, str] = {}
    k = 1
    while f"session_{k}" in c:
        dia = c[f"session_{k}"]
        date = c.get(f"session_{k}_date_time", "")
        chunks = [dia[i:i + per_turn] for i in range(0, len(dia), per_turn)]
        for j, chunk in enumerate(chunks):
            head = f"[conversation session {k}, {date}]\n" if j == 0 else ""
            turns.append((head + "\n".join(f"{u['speaker']}: {u['text']}" for u in chunk),
                          j == len(chunks) - 1))
            for u in chunk:
                text_of[u["dia_id"]] = f"{u['speaker']}: {u['text']}"
        k += 1
    qa = []
    for q in conv["qa"]:
        if q.get("category") == 5:
            continue  # adversarial: no answer to reach
        ev = [text_of[e] for e in q.get("evidence", []) if e in text_of]
        if ev:
            qa.append((q["question"], ev))
    return {"turns": turns, "qa": qa}


# -- running one session under one policy ----------------------------------------------------

def _history(policy: str, state: ctxkit.WorkingState | None, milestone: Milestone,
             sink: InMemorySink, prefix_tokens: int) -> Any:
    if policy in ("ctxkit", "ctxkit_no_state"):
        return Compactor([milestone, Threshold(tokens=prefix_tokens + HISTORY_BUDGET)],
                         sink=sink, keep_turns=2, keep_tokens=HISTORY_BUDGET // 3,
                         max_summary_tokens=SUMMARY_TOKENS)
    if policy == "last_n_tokens":
        return KeepLastTokens(HISTORY_BUDGET, sink)
    return SummarizeEveryK(EVERY_K, SUMMARY_TOKENS, sink)


def run_session(policy: str, messages: list[tuple[str, bool]], model: Callable[..., Any],
                tools: list[Any], state: ctxkit.WorkingState | None,
                signal_milestones: bool = True) -> dict[str, Any]:
    sink = InMemorySink()
    milestone = Milestone(state, min_turns=2)
    layers: list[Any] = []
    state_layer = StateLayer(state) if state is not None else None
    prefix = Prefix(system=SYSTEM, tools=[*tools, *([state_layer.tool] if state_layer else [])])
    backend = FunctionBackend(model)
    prefix_tokens = sum(backend.counter().count(b) for b in prefix.blocks())
    layers = [prefix, History(compactor=_history(policy, state, milestone, sink, prefix_tokens))]
    if state_layer is not None:
        layers.append(state_layer)
    pipe = ContextPipeline(backend, layers, max_steps=6)
    for message, milestone_after in messages:
        pipe.run(message)
        if milestone_after and signal_milestones:
            milestone.reached("a subtask finished")
    return {"pipe": pipe, "sink": sink}


def _prompt_text(draft: Draft) -> str:
    return "\n".join(b.content for b in draft.blocks).lower()


def _usage(pipe: ContextPipeline) -> dict[str, float]:
    tokens = [r.usage.input_tokens for r in pipe.records]
    read = sum(r.usage.cache_read_tokens for r in pipe.records)
    per_turn = [r.usage.input_tokens for r in pipe.records if r.step == 0]
    return {"calls": len(tokens), "prompt_tokens_mean": statistics.fmean(tokens),
            "turns": len(per_turn), "turn_tokens_sum": sum(per_turn),
            "prompt_tokens_max": max(tokens), "prompt_tokens_sum": sum(tokens),
            "cache_read_tokens": read, "compactions": len(pipe.session.rewrites)}


def eval_babi(data: Path, num_sessions: int, stories_per_session: int) -> dict[str, Any]:
    stories = babi_stories(data / "babi_tasks_en_test" / "qa1_single-supporting-fact_test.txt")
    out: dict[str, Any] = {p: {"needed": 0, "in_prompt": 0, "via_recall": 0, "reachable": 0,
                               "stale": 0, "stale_visible": 0, "stale_only": 0,
                               "reader_correct": 0, "usage": []} for p in POLICIES}
    for n in range(num_sessions):
        sess = babi_session(stories[n * stories_per_session:(n + 1) * stories_per_session],
                            seed=n)
        pages = sess["pages"]

        read_log = log_reader(pages)
        messages = [(f"Read the next log page: {p}", False) for p in range(len(pages))]
        for i in range(1, len(pages)):
            if sess["story_of_page"][i] != sess["story_of_page"][i - 1]:
                messages[i - 1] = (messages[i - 1][0], True)
        for policy in POLICIES:
            state = None
            if policy == "ctxkit":
                state = ctxkit.WorkingState(goal="know where everyone is")
                state.set_plan([f"read story {s + 1}" for s in range(sess["num_stories"])])
            agent = BabiAgent(pages, sess["story_of_page"], use_state=state is not None)
            # with a State the agent marks its own plan steps done: those are the milestones
            run = run_session(policy, messages, agent, [read_log], state,
                              signal_milestones=state is None)
            pipe, sink = run["pipe"], run["sink"]
            o = out[policy]
            o["usage"].append(_usage(pipe))
            for person, moves in sess["where"].items():
                question = f"Where is {person}?"
                text = _prompt_text(pipe.assemble(question))
                current = moves[-1].lower()
                # every policy wrote what it dropped to the same kind of sink: recall is
                # offered to all of them
                recalled = [t.lower() for _, t in sink.recall(question, k=RECALL_K)]
                in_prompt = current in text
                via_recall = any(current in t for t in recalled)
                o["needed"] += 1
                o["in_prompt"] += in_prompt
                o["via_recall"] += via_recall
                o["reachable"] += in_prompt or via_recall
                stale = {m.lower() for m in moves[:-1]} - {current}
                visible = {m for m in stale if m in text}
                o["stale"] += len(stale)
                o["stale_visible"] += len(visible)
                o["stale_only"] += bool(visible) and not in_prompt
                o["reader_correct"] += _latest_mention(text, person) == \
                    _MOVE.match(moves[-1]).group(2)  # type: ignore[union-attr]
    return {p: _finish(o, stale=True) for p, o in out.items()}


def _latest_mention(text: str, person: str) -> str | None:
    """A reader that trusts the last "<person> ... to the <place>." in the prompt."""
    found = re.findall(rf"\b{person.lower()} (?:moved|went|travelled|journeyed)(?: back)? "
                       r"to the (\w+)\.", text)
    return found[-1] if found else None


def eval_locomo(data: Path, conversations: tuple[str, ...]) -> dict[str, Any]:
    convs = {c["sample_id"]: c for c in json.loads(
        (data / "locomo" / "locomo10.json").read_text())}
    out: dict[str, Any] = {p: {"needed": 0, "in_prompt": 0, "via_recall": 0, "reachable": 0,
                               "usage": []} for p in POLICIES}
    for cid in conversations:
        sess = locomo_session(convs[cid])

        def listen(draft: Draft) -> str:
            return "Noted."

        for policy in POLICIES:
            state = (ctxkit.WorkingState(goal="remember the conversation")
                     if policy == "ctxkit" else None)
            run = run_session(policy, sess["turns"], listen, [], state)
            pipe, sink = run["pipe"], run["sink"]
            o = out[policy]
            o["usage"].append(_usage(pipe))
            text = _prompt_text(pipe.assemble("(questions follow)"))
            for question, evidence in sess["qa"]:
                # every policy wrote what it dropped to the same kind of sink: recall is
                # offered to all of them
                recalled = [t.lower() for _, t in sink.recall(question, k=RECALL_K)]
                for ev in evidence:
                    probe = _longest_sentence(ev).lower()
                    in_prompt = probe in text
                    via_recall = any(probe in t for t in recalled)
                    o["needed"] += 1
                    o["in_prompt"] += in_prompt
                    o["via_recall"] += via_recall
                    o["reachable"] += in_prompt or via_recall
    return {p: _finish(o, stale=False) for p, o in out.items()}


def _longest_sentence(utterance: str) -> str:
    speaker, _, text = utterance.partition(": ")
    parts = re.split(r"(?<=[.!?])\s+", text)
    return max(parts, key=len) if parts else text


def _finish(o: dict[str, Any], *, stale: bool) -> dict[str, Any]:
    n = o["needed"] or 1
    usage = o.pop("usage")
    calls = sum(u["calls"] for u in usage)
    tokens = sum(u["prompt_tokens_sum"] for u in usage)
    res: dict[str, Any] = {
        "facts_needed": o["needed"],
        "in_prompt": round(o["in_prompt"] / n, 4),  # the headline: what the model sees
        "reachable_with_recall": round(o["reachable"] / n, 4),
        "via_recall": round(o["via_recall"] / n, 4),
        "prompt_tokens_per_turn_mean": round(
            sum(u["turn_tokens_sum"] for u in usage) / sum(u["turns"] for u in usage), 1),
        "prompt_tokens_per_call_mean": round(tokens / calls, 1),
        "prompt_tokens_per_call_max": max(u["prompt_tokens_max"] for u in usage),
        "calls": calls,
        "cache_hit_rate": round(sum(u["cache_read_tokens"] for u in usage) / tokens, 4),
        "history_rewrites": sum(u["compactions"] for u in usage),
    }
    if stale:
        res.update({
            "stale_facts": o["stale"],
            "stale_visible": round(o["stale_visible"] / max(1, o["stale"]), 4),
            "stale_suppression": round(1 - o["stale_visible"] / max(1, o["stale"]), 4),
            "stale_only_questions": round(o["stale_only"] / n, 4),
            "latest_mention_reader_accuracy": round(o["reader_correct"] / n, 4),
        })
    return res


def run(data_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    babi = eval_babi(data_dir, num_sessions=2 if quick else 10, stories_per_session=12)
    locomo = eval_locomo(data_dir, DEV_CONVERSATIONS[:1] if quick else DEV_CONVERSATIONS)
    return {
        "eval": "compaction", "quick": quick,
        "setup": {"history_budget_tokens": HISTORY_BUDGET, "summary_tokens": SUMMARY_TOKENS,
                  "summarize_every_k": EVERY_K, "recall_k": RECALL_K, "profile": "scripted",
                  "babi": "qa1 test, 12 stories per session, one sentence per log page",
                  "locomo": "dev conversations, 4 utterances per turn, QA categories 1-4"},
        "babi": babi, "locomo": locomo,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _table(res: dict[str, Any]) -> str:
    lines = []
    for ds in ("babi", "locomo"):
        keys = ["in_prompt", "reachable_with_recall", "via_recall",
                "prompt_tokens_per_turn_mean", "cache_hit_rate", "history_rewrites"]
        if ds == "babi":
            keys += ["stale_suppression", "stale_only_questions",
                     "latest_mention_reader_accuracy"]
        lines.append(f"{ds}: " + "  ".join(f"{k}" for k in keys))
        for p, r in res[ds].items():
            lines.append(f"  {p:18} " + "  ".join(f"{r[k]}" for k in keys))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "evaldata")
    ap.add_argument("--quick", action="store_true", help="2 bAbI sessions, 1 conversation")
    args = ap.parse_args(argv)
    if not (args.data / "babi_tasks_en_test").exists() or not (args.data / "locomo").exists():
        print(f"evaluation data not found under {args.data}; pass --data PATH", file=sys.stderr)
        return 2
    res = run(args.data, quick=args.quick)
    print(json.dumps(res, indent=1) if args.json else _table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
