"""The long-session eval's plumbing: every strategy replays a small session with valid
prompts inside the window, and the script prints the table and the JSON contract line."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

EVALS = Path(__file__).resolve().parents[2] / "evals"
sys.path.insert(0, str(EVALS))

from _long import baselines, lc, score, sessions  # noqa: E402

pytest.importorskip("langchain.agents", reason="the evals extra: pip install -e '.[evals]'")
WINDOW = 24_576  # small enough that an 80-call session must be cut or compacted


@pytest.fixture
def small(evaldata: Path) -> sessions.Script:
    return sessions.build(evaldata, num_heldout=1, num_dev=0, calls=(80, 80), locomo=False,
                          system_chars=(6_000, 6_000))[0]


def _module() -> object:
    spec = importlib.util.spec_from_file_location("long_session", EVALS / "long_session.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_small_session_is_long_enough_to_need_cutting(small: sessions.Script) -> None:
    counter = score.Counter()
    total = counter(small.system) + sum(counter(c.output) + counter(c.reply) for c in small.calls)
    assert len(small.calls) == 80 and len(small.tools) >= 40
    assert total > WINDOW  # the whole session does not fit: every strategy must act
    kinds = {f.kind for f in small.facts}
    assert kinds == {"instruction", "path", "flag", "root_cause"}
    assert all(f.intro < f.need < len(small.calls) for f in small.facts)


@pytest.mark.parametrize("name", [*baselines.BASELINES, *lc.LANGCHAIN, "ctxkit"])
def test_each_strategy_sends_valid_prompts_inside_the_window(
        name: str, small: sessions.Script) -> None:
    mod = _module()
    t = mod.run_strategy(name, small, WINDOW)  # type: ignore[attr-defined]
    assert t.calls == len(small.calls)
    assert t.invalid == 0
    assert t.overflows == 0
    assert 0 < t.max_prompt <= WINDOW - score.REPLY_RESERVE
    assert t.facts_needed == len(small.facts)
    reads = t.read["claude-sonnet-4-5"]
    if name in ("naive", "langchain_summarization", "langchain_context_editing"):
        assert reads == 0  # no cache_control anywhere: Anthropic reads nothing
    else:
        assert reads > 0.5 * t.prompt_tokens


def test_strategies_cut_differently(small: sessions.Script) -> None:
    mod = _module()
    run = mod.run_strategy  # type: ignore[attr-defined]
    sliding, best, ours = (run(n, small, WINDOW) for n in
                           ("sliding_window", "best_practice_breakpoints", "ctxkit"))
    assert sliding.compactions > best.compactions > 0  # a cut per call vs a few big cuts
    assert ours.compactions > 0
    assert ours.cost["claude-sonnet-4-5"] < sliding.cost["claude-sonnet-4-5"]


def test_script_prints_table_and_contract_line(evaldata: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    mod = _module()
    assert mod.main(["--data", str(evaldata), "--windows", "65536", "--heldout", "1",  # type: ignore[attr-defined]
                     "--min-calls", "40", "--max-calls", "40", "--no-locomo",
                     "--workers", "1", "--strategies", "naive,sliding_window,ctxkit"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("naive (floor)") for line in out)
    last = json.loads(out[-1])
    assert last["sessions"] == 1 and last["window"] == 65536
    assert set(last["strategies"]) == {"naive", "sliding_window", "ctxkit"}
    for r in last["strategies"].values():
        assert set(r) >= {"cost_usd", "facts_in_prompt", "cache_read_share", "calls",
                          "compactions", "invalid_sequences", "overflows"}
        assert r["calls"] == 40
