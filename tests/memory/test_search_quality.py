"""Search quality with the real offline model (all-MiniLM-L6-v2): the vector half finds
paraphrases with no word in common, the lexical half finds exact identifiers that
embeddings blur; hybrid gets both right."""

from __future__ import annotations

import pytest

DISTRACTORS = [
    "deploys go to the staging cluster on fridays",
    "likes green tea in the afternoon",
    "the build uses poetry and python 3.11",
    "the office moved to the fourth floor",
    "code review needs two approvals",
]


@pytest.fixture
def real_store(make_store, minilm):
    return make_store("real", embedder=minilm)


def test_a_paraphrase_with_no_shared_word_is_found(real_store, scope):
    target = real_store.write(scope, "prefers pytest over unittest", tier="semantic",
                              source="user")
    for text in DISTRACTORS:
        real_store.write(scope, text, source="agent")
    hits = real_store.search(scope, "which test framework should I use?", k=3)
    assert hits[0].record.id == target.id


def test_an_exact_identifier_beats_semantically_close_records(real_store, scope):
    target = real_store.write(scope, "ERR_CONN_4711 means the VPN dropped", source="agent")
    for code in ("ERR_CONN_4712", "ERR_CONN_4710", "ERR_CONN_4811"):
        real_store.write(scope, f"{code} means a connection problem with the proxy",
                         source="agent")
    hits = real_store.search(scope, "what does ERR_CONN_4711 mean", k=4)
    assert hits[0].record.id == target.id


def test_scores_fall_with_relevance(real_store, scope):
    real_store.write(scope, "the user's dog is called Biscuit", source="user")
    for text in DISTRACTORS:
        real_store.write(scope, text, source="agent")
    hits = real_store.search(scope, "what is the name of my dog?", k=6)
    assert "Biscuit" in hits[0].record.content
    assert hits[0].score > hits[-1].score
