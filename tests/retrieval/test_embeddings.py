"""The embedder: length-sorted batches give the same vectors as a plain encode, in input
order; the content-hash cache embeds a text once, across instances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ctxkit import UserError
from ctxkit.embeddings import CachedEmbedder, SentenceTransformerEmbedder

TEXTS = ["def parse_header(line): return line.strip()",
         "A short note.",
         "Retry failed connections with exponential backoff, capped at thirty seconds, "
         "so that a flapping server is not hammered by every client at once. " * 4,
         "A short note."]


def test_vectors_match_a_plain_encode_in_input_order(embedder: SentenceTransformerEmbedder
                                                     ) -> None:
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(embedder.path, device="cpu")
    ref = plain.encode(TEXTS, normalize_embeddings=True)
    got = embedder.embed(TEXTS)
    assert got.shape == (4, embedder.dim) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * ref).sum(axis=1)
    assert cos.min() > 0.995  # bfloat16 on CPUs that have it; float32 is exact
    assert np.allclose(embedder.embed_query(TEXTS[0]), got[0], atol=2e-2)
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_the_cache_embeds_each_text_once(tmp_path: Path,
                                         embedder: SentenceTransformerEmbedder) -> None:
    cached = CachedEmbedder(embedder, tmp_path / "cache.sqlite")
    first = cached.embed(TEXTS)
    assert (cached.num_misses, cached.num_hits) == (3, 0)  # the repeated text once
    again = CachedEmbedder(embedder, tmp_path / "cache.sqlite")
    second = again.embed(list(reversed(TEXTS)))
    assert (again.num_misses, again.num_hits) == (0, 4)
    assert np.array_equal(second, first[::-1])


def test_a_missing_model_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a directory"):
        SentenceTransformerEmbedder(tmp_path / "nope")
    with pytest.raises(UserError, match="precision"):
        SentenceTransformerEmbedder(precision="int4")
