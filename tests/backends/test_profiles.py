"""Profiles as data: built-in facts per family, overridable without code; and the public
face of ``ctxkit.backends``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ctxkit.backends
import ctxkit.testing
from ctxkit import _profile, profile_for
from ctxkit.backends import OpenAI


@pytest.fixture
def fresh_profiles(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """Reload profiles from a CTXKIT_PROFILES file written by the test."""
    monkeypatch.setattr(_profile, "_registry", [])
    monkeypatch.setattr(_profile, "_loaded", False)

    def write(items: list[dict]) -> Path:  # type: ignore[type-arg]
        path = tmp_path / "profiles.json"
        path.write_text(json.dumps({"profiles": items}))
        monkeypatch.setenv("CTXKIT_PROFILES", str(path))
        return path

    return write


def test_every_builtin_profile_has_dated_prices_and_cache_rules() -> None:
    text = (Path(_profile.__file__).parent / "data" / "profiles.json").read_text()
    for raw in json.loads(text)["profiles"]:
        p = profile_for(raw["name"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.prices.as_of), p.name
        assert p.context_window > 0 and p.max_output > 0
    sonnet = profile_for("claude-sonnet-4-5").prices
    assert (sonnet.cache_write_5m, sonnet.cache_write_1h, sonnet.cache_read) == (
        sonnet.input * 1.25, sonnet.input * 2, pytest.approx(sonnet.input * 0.1))
    assert profile_for("vllm").cache.reports_cached is False
    assert profile_for("gpt-4o").cache.kind == "automatic"


def test_override_only_what_changed(fresh_profiles) -> None:  # type: ignore[no-untyped-def]
    fresh_profiles([{"extends": "claude-sonnet-4-5",
                     "prices": {"input": 4.0, "as_of": "2027-01-01"}}])
    p = profile_for("claude-sonnet-4-6")  # still matched by the family's patterns
    assert p.prices.input == 4.0 and p.prices.as_of == "2027-01-01"
    assert p.prices.output == 15.0 and p.cache.min_tokens == 1024


def test_add_a_family_for_a_self_hosted_server(fresh_profiles) -> None:  # type: ignore[no-untyped-def]
    fresh_profiles([{"name": "my-vllm", "extends": "vllm", "match": ["qwen3*"],
                     "context_window": 131072, "cache": {"reports_cached": True}}])
    p = profile_for("qwen3-32b")
    assert p.context_window == 131072 and p.cache.reports_cached is True
    assert p.cache.block_size == 16  # inherited
    assert profile_for("vllm").cache.reports_cached is False  # the parent is untouched
    b = OpenAI("qwen3-32b", base_url="http://gpu:8000/v1")
    assert b.profile.cache.reports_cached is True


def test_a_bad_user_profile_says_what_is_wrong(fresh_profiles) -> None:  # type: ignore[no-untyped-def]
    fresh_profiles([{"name": "x", "extends": "no-such-family"}])
    with pytest.raises(ValueError, match="no profile for model 'no-such-family'"):
        profile_for("x")


def test_public_face() -> None:
    names = ctxkit.backends.__all__
    assert names == sorted(names)
    # the remote backends' public face (the local engine's backend may join it)
    assert {"Anthropic", "OpenAI", "ProviderError", "Replay", "RetryPolicy",
            "TokenBudget"} <= set(names)
    assert all(hasattr(ctxkit.backends, n) for n in names)
    with pytest.warns(DeprecationWarning, match="ctxkit.backends.Replay"):
        old = ctxkit.testing.ReplayBackend
    assert old is ctxkit.backends.Replay
    assert issubclass(ctxkit.backends.ProviderError, ctxkit.BackendError)


def test_importing_backends_does_not_import_the_sdks() -> None:
    code = ("import sys, ctxkit.backends; "
            "print('anthropic' in sys.modules, 'openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_a_server_that_renders_ids_is_said_in_its_cache_rules(fresh_profiles) -> None:  # type: ignore[no-untyped-def]
    fresh_profiles([{"name": "my-serve", "extends": "ctxkit-serve", "match": ["mine*"],
                     "cache": {"block_size": 32}}])
    p = profile_for("mine-8b")
    assert p.cache.renders_ids_via == "tokenize" and p.cache.block_size == 32
    assert p.cache.reports_cached is True and p.cache.kind == "paged"
    assert profile_for("vllm").cache.renders_ids_via is None
    with pytest.raises(ctxkit.UserError, match="renders_ids_via 'grpc'"):
        _profile.CacheRules(kind="paged", renders_ids_via="grpc")  # type: ignore[arg-type]


def test_only_a_server_that_renders_ids_is_asked_for_them() -> None:
    plain = OpenAI("qwen", base_url="http://127.0.0.1:9/v1", profile="vllm")
    assert plain.render(_one_message_draft(plain)).get("extra_body") is None
    serve = OpenAI("qwen", base_url="http://127.0.0.1:9/v1", profile="ctxkit-serve",
                   params={"extra_body": {"top_k": 5}})
    body = serve.render(_one_message_draft(serve))["extra_body"]
    assert body == {"return_token_ids": True, "top_k": 5}
    # the server sends reply ids on whole replies only
    assert serve.render(_one_message_draft(serve), stream=True)["extra_body"] == {"top_k": 5}


def _one_message_draft(backend: OpenAI) -> ctxkit.Draft:
    draft = ctxkit.Draft(profile=backend.profile, counter=backend.counter(),
                         budget=ctxkit.Budget())
    draft.add(ctxkit.Block(layer="turn", role="user", content="hello"))
    return draft
