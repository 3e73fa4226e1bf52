"""The live path, exercised by recorded HTTP exchanges: the real ``anthropic`` and
``openai`` SDKs talk to a loopback server that answers with the moves of a recorded
session and checks every request as the provider would (and reports cached tokens from
its own prefix cache). The agent's tools really run; the repository really gets fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxkit import CallRecord, load_trace
from examples.coding_agent.samples import sample
from tests.backends.fakeserver import FakeServer

from .conftest import Recorded, repo_tests, run_cli

pytestmark = pytest.mark.filterwarnings(
    "ignore:The model .* is deprecated:DeprecationWarning")


def _queue(server: FakeServer, records: list[CallRecord]) -> None:
    """Answer each request with the recorded reply of the same call."""
    for r in records:
        assert r.response is not None
        server.reply(r.response.text, tool_calls=[
            {"id": c.id, "name": c.name, "arguments": c.arguments}
            for c in r.response.tool_calls])


def _run(provider: str, recorded: Recorded, tmp_path: Path, embedding_cache: Path,
         monkeypatch: pytest.MonkeyPatch) -> tuple[FakeServer, list[CallRecord], Path]:
    pytest.importorskip(provider, reason=f"the {provider} SDK is part of ctxkit[dev]")
    work, home = tmp_path / "work", tmp_path / "home"
    with FakeServer() as server:
        _queue(server, recorded.records)
        key = f"{provider.upper()}_API_KEY"
        for k in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv(key, "test-key")
        url = server.url if provider == "anthropic" else server.openai_url
        monkeypatch.setenv(f"{provider.upper()}_BASE_URL", url)
        rc, out = run_cli(["--repo", str(sample(recorded.name)), "--workdir", str(work),
                           "--backend", provider, "--home", str(home)], embedding_cache)
    assert rc == 0, out
    assert server.violations == []
    return server, load_trace(next((home / "sessions").glob("*/trace.jsonl"))), work


def test_the_agent_runs_on_the_anthropic_sdk(recorded: Recorded, tmp_path: Path,
                                             embedding_cache: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    server, records, work = _run("anthropic", recorded, tmp_path, embedding_cache,
                                 monkeypatch)
    assert repo_tests(work).returncode == 0
    bodies = server.bodies("/v1/messages")
    assert len(bodies) == len(records) == len(recorded.records)
    assert {r.backend for r in records} == {"anthropic"}
    # tool search never touched the wire prefix: tools and system are byte-identical
    wire = {json.dumps([b["tools"], b["system"]], sort_keys=True) for b in bodies}
    assert len(wire) == 1
    names = [t["name"] for t in bodies[0]["tools"]]
    assert "search_tools" in names and "outline" not in names
    # system + tools asked for 1h; on the wire tools come first, so the mark lands on the
    # system text, covering both
    assert bodies[0]["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    # the provider's own count of cached tokens, read back into the records
    parent = [r for r in records if not r.extras.get("parent")]
    assert all(r.reported is not None for r in records)
    assert all(r.reported.cache_read_tokens > 0 for r in parent[1:])  # type: ignore[union-attr]
    _loaded_without_a_miss(parent)


def test_the_agent_runs_on_the_openai_sdk(recorded: Recorded, tmp_path: Path,
                                          embedding_cache: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server, records, work = _run("openai", recorded, tmp_path, embedding_cache, monkeypatch)
    assert repo_tests(work).returncode == 0
    bodies = [r.body for r in server.requests if r.path.startswith("/v1/")]
    assert len(bodies) == len(recorded.records)
    assert {r.backend for r in records} == {"openai"}
    assert len({json.dumps(b["tools"], sort_keys=True) for b in bodies}) == 1
    # one prompt_cache_key per session (the helper's session opens with its own task)
    keys = {(bool(r.extras.get("parent")), b.get("prompt_cache_key"))
            for r, b in zip(records, bodies, strict=True)}
    assert len(keys) == 2 and len({k for _, k in keys}) == 2 and None not in dict(keys).values()
    parent = [r for r in records if not r.extras.get("parent")]
    assert all(r.reported is not None and r.reported.cache_read_tokens > 0
               for r in parent[1:])


def _loaded_without_a_miss(parent: list[CallRecord]) -> None:
    """The call after search_tools read from the provider's cache at least what the call
    before it had cached: loading a tool broke nothing."""
    i = next(k for k, r in enumerate(parent) if r.response and any(
        c.name == "search_tools" for c in r.response.tool_calls))
    before, after = parent[i], parent[i + 1]
    assert not after.drift
    assert after.reported is not None and before.reported is not None
    assert after.reported.cache_read_tokens >= before.reported.cache_read_tokens
