"""Lost-in-the-middle ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctxkit.packing import edges_order, position


def test_best_evidence_goes_to_the_edges() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    assert edges_order(scores) == [0, 2, 4, 3, 1]
    assert edges_order([0.1, 0.9, 0.5]) == [1, 0, 2]
    assert edges_order([]) == []


@given(st.lists(st.floats(0, 1), max_size=30))
def test_it_is_a_permutation_with_the_two_best_at_the_ends(scores: list[float]) -> None:
    order = edges_order(scores)
    assert sorted(order) == list(range(len(scores)))
    if len(scores) >= 2:
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        assert order[0] == ranked[0] and order[-1] == ranked[1]
    assert edges_order(scores) == order


def test_position_names_thirds() -> None:
    assert [position(i, 6) for i in range(6)] == ["start", "start", "middle", "middle",
                                                  "end", "end"]
    with pytest.raises(ValueError):
        position(3, 3)
