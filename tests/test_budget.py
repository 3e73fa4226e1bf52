"""The budget step: must-keep first, flexible candidates under per-layer caps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxkit import Block, Budget, BudgetError, Candidate, ContextPipeline, Draft, GreedyPacker, Turn
from ctxkit.layers import History, Prefix
from ctxkit.testing import ScriptedBackend
from tests.helpers import LONG_SYSTEM


def chunks(n: int, words: int = 50):  # noqa: ANN201
    def layer(draft: Draft, turn: Turn) -> Draft:
        for i in range(n):
            draft.add(Block(layer="retrieval", role="user", must_keep=False, score=1.0 - i / n,
                            key=f"chunk:{i}", content=f"chunk {i} " + "lorem ipsum " * words))
        return draft
    layer.name = "retrieval"  # type: ignore[attr-defined]
    return layer


def test_flexible_candidates_are_dropped_by_score_to_fit() -> None:
    pipe = ContextPipeline(backend=ScriptedBackend(["a"]),
                           layers=[Prefix(system=LONG_SYSTEM), History(), chunks(20)],
                           budget=Budget(window=3000, reserve_output=500))
    draft = pipe.assemble("q")
    kept = [b.key for b in draft.blocks if b.layer == "retrieval"]
    assert 0 < len(kept) < 20 and draft.dropped
    assert kept == [f"chunk:{i}" for i in range(len(kept))]  # best scores survive, in order
    assert draft.num_tokens <= 2500
    pipe.run("q")
    rec = pipe.records[0]
    assert [b.key for b in rec.dropped] == [b.key for b in draft.dropped]


def test_per_layer_caps() -> None:
    pipe = ContextPipeline(backend=ScriptedBackend([]),
                           layers=[Prefix(system="s"), History(), chunks(10)],
                           budget=Budget(caps={"retrieval": 250}))
    draft = pipe.assemble("q")
    assert 0 < sum(draft.tokens(b) for b in draft.of_layer("retrieval")) <= 250


def test_must_keep_overflow_is_a_budget_error_naming_layers() -> None:
    pipe = ContextPipeline(backend=ScriptedBackend([]), layers=[Prefix(system=LONG_SYSTEM)],
                           budget=Budget(window=1000, reserve_output=100))
    with pytest.raises(BudgetError, match=r"prefix=.*raise Budget"):
        pipe.assemble("q")


def test_bad_budget_values() -> None:
    from ctxkit import UserError
    with pytest.raises(UserError):
        Budget(window=-1)
    with pytest.raises(UserError):
        Budget(caps={"retrieval": -5})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 400), st.floats(0, 1), st.sampled_from("abc")),
             max_size=30),
    st.integers(0, 3000),
    st.dictionaries(st.sampled_from("abc"), st.integers(0, 1500)),
)
def test_greedy_packer_never_exceeds_budget_or_caps(items, budget, caps) -> None:  # noqa: ANN001
    cands = [Candidate(Block(layer=g, content=str(i), must_keep=False, score=s), t)
             for i, (t, s, g) in enumerate(items)]
    chosen = GreedyPacker()(cands, budget, caps)
    assert len(set(chosen)) == len(chosen)
    assert sum(cands[i].tokens for i in chosen) <= budget
    for g, cap in caps.items():
        assert sum(cands[i].tokens for i in chosen if cands[i].block.group == g) <= cap
    assert chosen == GreedyPacker()(cands, budget, caps)  # deterministic


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(600, 6000))
def test_pipeline_never_drops_must_keep_and_never_exceeds(n: int, window: int) -> None:
    pipe = ContextPipeline(backend=ScriptedBackend([]),
                           layers=[Prefix(system="rules " * 100), History(), chunks(n, 20)],
                           budget=Budget(window=window, reserve_output=200))
    draft = pipe.assemble("q")  # must-keeps (~100 tokens) always fit these windows
    assert draft.num_tokens <= window - 200
    assert any(b.key == "system" for b in draft.blocks) and draft.blocks[-1].layer == "turn"
    assert not [b for b in draft.dropped if b.must_keep]


@pytest.mark.parametrize("kwargs,message", [
    ({"window": "100000"}, r"Budget\.window must be a whole number of tokens.*'100000' \(str\)"),
    ({"reserve_output": float("nan")}, r"Budget\.reserve_output must be a whole number.*nan"),
    ({"max_prompt": 5000.0}, r"Budget\.max_prompt must be .*5000\.0 \(float\); pass an int"),
    ({"window": True}, r"Budget\.window must be a whole number.*True \(bool\)"),
    ({"caps": None}, r"Budget\.caps must be a dict of layer name to tokens.*None"),
    ({"caps": {"retrieval": "500"}}, r"Budget\.caps\['retrieval'\] must be a whole number"),
    ({"caps": {3: 500}}, r"Budget\.caps keys are layer names.*3"),
])
def test_budget_fields_of_the_wrong_type_are_user_errors(kwargs: dict[str, object],
                                                         message: str) -> None:
    # each once raised TypeError/AttributeError from a comparison, or (NaN) built a budget
    # of 0 that failed every call with "the budget allows 0"
    from ctxkit import UserError

    with pytest.raises(UserError, match=message):
        Budget(**kwargs)  # type: ignore[arg-type]
