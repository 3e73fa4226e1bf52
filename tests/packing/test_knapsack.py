"""KnapsackPacker: property tests (never over budget, never drops a must-keep,
deterministic), optimality of the exact solver, and the value terms."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxkit import Block, BudgetError, Candidate, ContextPipeline, Provenance, UserError
from ctxkit.layers import Prefix
from ctxkit.packing import KnapsackPacker, solve_exact, solve_greedy
from ctxkit.testing import ScriptedBackend

items_st = st.lists(
    st.builds(lambda t, r, g, m, w: Candidate(tokens=t, relevance=r, group=g, must_keep=m,
                                         text=" ".join(w)),
              st.integers(0, 400), st.floats(-0.5, 1.0), st.sampled_from(["a", "b", "c"]),
              st.booleans(), st.lists(st.sampled_from(["x", "y", "z", "w"]), max_size=6)),
    max_size=24)
caps_st = st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 600), max_size=2)


def _check(items: list[Candidate], budget: int, caps: dict[str, int], chosen: list[int]) -> None:
    assert sum(items[i].tokens for i in chosen) <= budget
    must = {i for i, it in enumerate(items) if it.must_keep}
    assert must <= set(chosen)
    for g, cap in caps.items():
        flexible = sum(items[i].tokens for i in chosen if items[i].group == g
                       and not items[i].must_keep)
        must_g = sum(items[i].tokens for i in must if items[i].group == g)
        assert flexible <= max(0, cap - must_g)
    assert len(set(chosen)) == len(chosen)


@settings(max_examples=150, deadline=None)
@given(items_st, st.integers(0, 3000), caps_st, st.sampled_from([4_000_000, 0]))
def test_never_over_budget_never_drops_a_must_keep(items: list[Candidate], budget: int,
                                                   caps: dict[str, int], work: int) -> None:
    packer = KnapsackPacker(min_score=0.1, max_exact_work=work)  # work=0 forces greedy
    must = sum(it.tokens for it in items if it.must_keep)
    if must > budget:
        with pytest.raises(BudgetError):
            packer.pack(items, budget, caps)
        return
    result = packer.pack(items, budget, caps)
    _check(items, budget, caps, result.chosen)
    if work:
        assert result.method == "exact"
    assert all(items[i].relevance >= 0.1 or items[i].must_keep for i in result.chosen)
    assert packer.pack(list(items), budget, dict(caps)).chosen == result.chosen  # deterministic


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.floats(0.01, 1.0)), max_size=9),
       st.integers(0, 80), st.integers(0, 40))
def test_the_exact_solver_is_optimal(pairs: list[tuple[int, float]], budget: int,
                                     cap_a: int) -> None:
    w = [p[0] for p in pairs]
    v = [p[1] for p in pairs]
    g = ["a" if i % 2 else "b" for i in range(len(pairs))]
    caps = {"a": cap_a}
    best = 0.0
    for r in range(len(pairs) + 1):
        for comb in itertools.combinations(range(len(pairs)), r):
            if sum(w[i] for i in comb) <= budget and \
                    sum(w[i] for i in comb if g[i] == "a") <= cap_a:
                best = max(best, sum(v[i] for i in comb))
    chosen = solve_exact(w, v, g, budget, caps)
    assert sum(v[i] for i in chosen) == pytest.approx(best)
    greedy = solve_greedy(w, v, g, budget, caps)
    assert sum(v[i] for i in greedy) >= best / 2 - 1e-9  # the repair keeps the 1/2 bound


def test_exact_beats_greedy_where_ratio_order_is_a_trap() -> None:
    items = [Candidate(tokens=6, relevance=0.9), Candidate(tokens=5, relevance=0.8),
             Candidate(tokens=5, relevance=0.8)]  # ratio order takes 0 first, then nothing fits
    exact = KnapsackPacker(redundancy=0).pack(items, 10)
    assert exact.chosen == [1, 2] and exact.method == "exact"
    greedy = KnapsackPacker(redundancy=0, max_exact_work=0).pack(items, 10)
    assert greedy.method == "greedy" and greedy.chosen == [1, 2]  # repaired by a swap


def test_the_threshold_drops_noise_even_with_budget_left() -> None:
    items = [Candidate(tokens=10, relevance=0.9), Candidate(tokens=10, relevance=0.05)]
    result = KnapsackPacker(min_score=0.2).pack(items, 1000)
    assert result.chosen == [0]
    assert result.dropped == {1: "below_threshold"}


def test_a_near_duplicate_loses_to_distinct_evidence() -> None:
    text = "the parser fails on empty input because the header regex needs a name"
    items = [Candidate(tokens=50, relevance=1.0, text=text),
             Candidate(tokens=50, relevance=0.9, text=text + " indeed"),
             Candidate(tokens=50, relevance=0.7, text="retry with exponential backoff on timeouts")]
    result = KnapsackPacker(redundancy=0.8).pack(items, 100)
    assert result.chosen == [0, 2]
    assert result.dropped == {1: "budget"}
    assert KnapsackPacker(redundancy=0).pack(items, 100).chosen == [0, 1]


def test_fresher_evidence_wins_a_tie() -> None:
    now = 1_000_000.0
    items = [Candidate(tokens=10, relevance=0.5, at=now - 30 * 86400),
             Candidate(tokens=10, relevance=0.5, at=now - 60)]
    packer = KnapsackPacker(freshness=0.1, clock=lambda: now)
    assert packer.pack(items, 10).chosen == [1]
    values, _ = packer.values(items)
    assert values[1] == pytest.approx(0.6, abs=1e-3) and values[0] < 0.52


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UserError):
        KnapsackPacker(redundancy=2.0)
    with pytest.raises(UserError):
        KnapsackPacker(half_life_s=0)
    with pytest.raises(UserError):
        KnapsackPacker().pack([], -1)


def test_it_is_the_pipelines_packer() -> None:
    """Flexible candidates compete in the budget step; caps hold; must-keeps stay."""

    class Evidence:
        name = "evidence"

        def __call__(self, draft, turn):  # type: ignore[no-untyped-def]
            for i, score in enumerate([0.9, 0.1, 0.7, 0.6]):
                draft.add(Block(layer="evidence", content=f"fact {i} " + "word " * 300,
                                key=f"e{i}", must_keep=False, score=score,
                                provenance=Provenance(source="retrieval")))
            return draft

    from ctxkit import Budget

    packer = KnapsackPacker(min_score=0.2)
    pipe = ContextPipeline(ScriptedBackend(["ok"]),
                           [Prefix(system="You are terse."), Evidence()],
                           budget=Budget(window=2000, reserve_output=100,
                                         caps={"evidence": 700}),
                           packer=packer)
    draft = pipe.assemble("hi")
    kept = [b.key for b in draft.blocks if b.layer == "evidence"]
    assert kept == ["e0", "e2"]  # e1 is noise; e3 would break the cap
    assert {b.key for b in draft.dropped} == {"e1", "e3"}
    assert packer.last is not None and packer.last.dropped[1] == "below_threshold"
    cands = [Candidate(b, 10) for b in draft.dropped]
    assert packer(cands, 5, {}) == []
