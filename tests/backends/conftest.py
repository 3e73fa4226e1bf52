"""Fixtures for backend tests: the loopback server, a fake clock, a retry policy that
records its waits instead of sleeping."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from ctxkit.backends import RetryPolicy

from .fakeserver import FakeServer


class FakeClock:
    """Monotonic time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def retry(clock: FakeClock) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, asleep=clock.asleep, rng=random.Random(7))


# a system prompt long enough to be cacheable (>= 1024 tokens) on every profile but Opus'
SYSTEM = "You are a careful coding agent. Read before you write; run the tests. " * 120
AGENTS_MD = "# AGENTS.md\nUse pytest. Keep functions small. Never commit secrets.\n" * 40


def grep(pattern: str, path: str = ".") -> str:
    """Search files for a pattern."""
    return f"src/app.py:12: {pattern} = 1"


def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


def agent(backend, **kw):  # type: ignore[no-untyped-def]
    """A pipeline with a cached prefix (system, tools, project file) and history."""
    from ctxkit import ContextPipeline
    from ctxkit.layers import History, Prefix

    return ContextPipeline(backend, [Prefix(system=SYSTEM, tools=[read_file, grep],
                                            project=[("AGENTS.md", AGENTS_MD)]),
                                     History()], **kw)
