"""evals/agent.py runs offline: the scripted and replayed sessions solve the samples, and
the ctxkit layout costs less than the naive one in the same run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

EVAL = Path(__file__).resolve().parents[2] / "evals" / "agent.py"


@pytest.mark.usefixtures("offline")
def test_the_eval_compares_ctxkit_with_a_naive_layout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("agent_eval", EVAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rc = module.main(["--repos", "slugs", "--backends", "scripted,replay,anthropic",
                      "--workdir", str(tmp_path), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert "cost per solved task, ctxkit / best_practice_breakpoints" in out
    assert result["not_run"] == {"anthropic": "set ANTHROPIC_API_KEY to run a live model"}
    for backend in ("scripted", "replay"):
        per = result["results"][backend]
        ctx, naive, best = per["ctxkit"], per["naive"], per["best_practice_breakpoints"]
        assert ctx["solve_rate"] == naive["solve_rate"] == best["solve_rate"] == 1.0
        assert ctx["calls_per_task"] == naive["calls_per_task"] == best["calls_per_task"] >= 8
        assert naive["cache_read_share"] == 0.0  # no breakpoints at all, subagent included
        assert best["cache_read_share"] > 0.5  # hand-placed breakpoints do read the cache
        assert per["cost_ratio_ctxkit_vs_best_practice_breakpoints"] > 0
        assert ctx["cache_read_share"] > 0.5
        assert ctx["undeclared_drift"] == 0
        assert 0 < per["cost_ratio_ctxkit_vs_naive"] < 0.8
    rows = result["rows"]
    assert {r["backend"] for r in rows} == {"scripted", "replay"}
    assert all(r["tools_loaded"] and r["index_refreshes"] >= 1 for r in rows)
    scripted = [r for r in rows if r["backend"] == "scripted"]
    replay = [r for r in rows if r["backend"] == "replay"]
    # the same moves: the same calls, and prompts equal but for the session ids the State
    # names (a few tokens)
    assert [r["calls"] for r in scripted] == [r["calls"] for r in replay]
    for a, b in zip(scripted, replay, strict=True):
        assert abs(a["prompt_tokens"] - b["prompt_tokens"]) <= 30
