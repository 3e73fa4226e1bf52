"""HashingEmbedder: a model-free, deterministic Embedder (feature hashing of terms).

Owns a cheap stand-in for a sentence model where semantic quality is not the point:
tests of isolation, revocation and crash safety, and benchmarks of the store's own
overhead. Vectors depend only on the text's terms, so equal texts give equal vectors on
every machine. Knows nothing of stores.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ._text import terms


class HashingEmbedder:
    """Texts to L2-normalized bag-of-terms vectors of ``dim`` (signed feature hashing)."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in terms(text) or [text.strip().lower() or "_"]:
                h = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "big")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
            norm = float(np.linalg.norm(out[i]))
            if norm == 0.0:
                out[i, 0], norm = 1.0, 1.0
            out[i] /= norm
        return out
