"""The prefix-cache model under each kind of provider rules."""

from __future__ import annotations

import pytest

from ctxkit import Block, CacheRules, ContextPipeline, Profile, profile_for
from ctxkit.layers import History, Prefix
from ctxkit.testing import ScriptedBackend
from tests.helpers import LONG_SYSTEM, make_pipe


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_explicit_first_call_writes_then_reads() -> None:
    pipe = make_pipe(["a", "b", "c"])
    for m in ("one", "two", "three"):
        pipe.run(m)
    r0, r1, r2 = pipe.records
    prefix = r0.by_layer["prefix"]
    assert r0.usage.cache_read_tokens == 0 and prefix.write == prefix.total > 1024
    assert r0.usage.cache_write_1h_tokens == prefix.total  # system+tools ask for 1h
    # the user's text directly follows the cached region, so it is cached too (5m)
    assert r0.by_layer["turn"].write == r0.by_layer["turn"].total
    assert r1.by_layer["prefix"].read == prefix.total
    hist = r1.by_layer["history"]  # "one" was cached by call 0; the reply "a" is new
    assert hist.read == r0.by_layer["turn"].total and hist.write == hist.total - hist.read
    assert r2.usage.cache_read_tokens == r1.usage.cache_read_tokens + r1.usage.cache_write_tokens
    assert r2.usage.uncached_tokens == 0
    # by-layer attribution always adds up to the prompt
    for r in pipe.records:
        assert sum(v.total for v in r.by_layer.values()) == r.usage.input_tokens


def test_short_prefixes_are_not_cached() -> None:
    pipe = make_pipe(["a", "b"], system="Be terse.", tools=[])
    pipe.run("one")
    pipe.run("two")
    assert all(r.breakpoints == [] for r in pipe.records)
    assert all(r.usage.cache_read_tokens == r.usage.cache_write_tokens == 0 for r in pipe.records)


def test_ttl_expiry_5m_versus_1h() -> None:
    clock = Clock()
    pipe = make_pipe(["a", "b", "c"], clock=clock)
    pipe.run("one")
    pipe.run("two")
    clock.t += 600  # ten minutes idle: the 5m history entry expired, the 1h prefix did not
    pipe.run("three")
    r = pipe.records[2]
    assert r.by_layer["prefix"].read == r.by_layer["prefix"].total
    assert r.by_layer["history"].read == 0 and r.by_layer["history"].write > 0
    pipe2 = make_pipe(["a", "b"], clock=clock)
    pipe2.run("x")
    clock.t += 3601
    pipe2.run("y")
    assert pipe2.records[1].usage.cache_read_tokens == 0


def test_lookback_window_of_twenty_blocks() -> None:
    def session(lookback: int):  # noqa: ANN202
        calls = [{"id": f"c{i}", "name": "grep", "arguments": {"pattern": str(i)}}
                 for i in range(12)]
        rules = profile_for("scripted").cache
        profile = profile_for("scripted").replace(
            cache=CacheRules(**{**{f: getattr(rules, f) for f in rules.__slots__},
                                "lookback_blocks": lookback}))
        pipe = make_pipe(["hello", {"tool_calls": calls}, "done"], model=profile)
        pipe.run("first")
        pipe.run("go")  # call 1 caches up to "hello"; call 2 adds 25 blocks after it
        return pipe.records

    short = session(20)
    prefix = short[0].by_layer["prefix"].total
    # call 1 reads all call 0 cached (prefix + "first") and writes "hello" + "go"
    assert short[1].usage.cache_read_tokens == short[0].usage.cache_write_tokens > prefix
    assert short[1].by_layer["history"].write > 0
    # the new breakpoint is more than 20 blocks past the cached one: only the prefix hits
    assert short[2].usage.cache_read_tokens == prefix
    long = session(50)
    assert long[2].usage.cache_read_tokens == short[1].usage.cache_read_tokens + \
        short[1].usage.cache_write_tokens


def test_at_most_four_breakpoints_and_1h_before_5m() -> None:
    project = [(f"doc{i}.md", LONG_SYSTEM) for i in range(5)]

    def cached(ttl):  # noqa: ANN001, ANN202
        def layer(draft, turn):  # noqa: ANN001, ANN202
            return draft.add(Block(layer="late", role="system", content=LONG_SYSTEM, cache=ttl))
        return layer

    class EveryFile(Prefix):
        def blocks(self):  # noqa: ANN202
            return [b.replace(cache="5m") for b in super().blocks()]

    pipe = ContextPipeline(backend=ScriptedBackend(["a"]),
                           layers=[EveryFile(system=LONG_SYSTEM, project=project), cached("1h"),
                                   History()])
    pipe.run("go")
    bps = pipe.records[0].breakpoints
    assert len(bps) == 4
    ttls = [t for _, t in bps]
    assert ttls == sorted(ttls, key=lambda t: t == "5m")  # no 1h after a 5m
    assert bps[-1][0] == len(pipe.records[0].blocks) - 1  # the last (the user's text) is kept


@pytest.mark.parametrize("lcp, expected", [(1000, 0), (1024, 1024), (1151, 1024), (1152, 1152),
                                           (5000, 4992)])
def test_automatic_caching_steps(lcp: int, expected: int) -> None:
    from ctxkit._cache import CacheModel

    model = CacheModel(CacheRules(kind="automatic", min_tokens=1024, increment=128))
    model.commit(["h1", "h2"], [lcp, lcp + 50], [], 0, now=0.0)
    assert model.predict(["h1", "h3"], [lcp, lcp + 70], [], now=1.0).read == expected
    assert model.predict(["h1", "h3"], [lcp, lcp + 70], [], now=400.0).read == 0


def test_a_partial_hit_runs_into_the_changed_block_while_its_cached_prompt_lives() -> None:
    from ctxkit._cache import CacheModel, PartialHit

    model = CacheModel(CacheRules(kind="automatic", min_tokens=1024, increment=128))
    model.commit(["h1", "h2"], [600, 2000], [], 0, now=0.0)  # block 2 was 1,400 tokens
    part = PartialHit(index=1, tokens=1000, key="h2")  # its first 1,000 are unchanged
    assert model.predict(["h1", "h3"], [600, 2100], [], now=1.0).read == 0  # by block: < 1024
    assert model.predict(["h1", "h3"], [600, 2100], [], now=1.0, partial=part).read == 1536
    # the cached prompt it continues is unknown, or expired: no partial hit
    gone = PartialHit(index=1, tokens=1000, key="h9")
    assert model.predict(["h1", "h3"], [600, 2100], [], now=1.0, partial=gone).read == 0
    assert model.predict(["h1", "h3"], [600, 2100], [], now=400.0, partial=part).read == 0
    # never more than the block itself holds; Anthropic-style explicit caches ignore it
    big = PartialHit(index=1, tokens=9999, key="h2")
    assert model.predict(["h1", "h3"], [600, 1700], [], now=1.0, partial=big).read == 1664
    explicit = CacheModel(CacheRules(kind="explicit"))
    explicit.commit(["h1", "h2"], [600, 2000], [], 0, now=0.0)
    assert explicit.predict(["h1", "h3"], [600, 2100], [], now=1.0, partial=part).read == 0


def test_paged_caching_is_block_aligned_and_never_the_whole_prompt() -> None:
    from ctxkit._cache import CacheModel

    model = CacheModel(CacheRules(kind="paged", block_size=16, min_tokens=16))
    model.commit(["a", "b"], [40, 64], [], 0, now=0.0)
    assert model.predict(["a", "x"], [40, 90], [], now=1.0).read == 32
    assert model.predict(["a", "b"], [40, 64], [], now=1.0).read == 48  # last token computed


def test_openai_profile_reads_without_breakpoints() -> None:
    pipe = make_pipe(["a", "b"], model="gpt-4o")
    pipe.run("one")
    pipe.run("two")
    r = pipe.records[1]
    assert r.breakpoints == [] and r.usage.cache_write_tokens == 0
    assert r.usage.cache_read_tokens >= 1024 and (r.usage.cache_read_tokens - 1024) % 128 == 0


def test_profiles_can_be_added_without_code(tmp_path, monkeypatch) -> None:
    import ctxkit._profile as prof

    path = tmp_path / "profiles.json"
    path.write_text('{"profiles": [{"name": "acme-1", "match": ["acme-*"], "provider": "openai",'
                    '"context_window": 8000, "max_output": 1000, "tokenizer": "cl100k_base",'
                    '"prices": {"input": 1, "output": 2, "cache_write_5m": 1, '
                    '"cache_write_1h": 1, "cache_read": 0.5, "as_of": "2026-11-29"},'
                    '"cache": {"kind": "automatic"}}]}')
    monkeypatch.setenv("CTXKIT_PROFILES", str(path))
    monkeypatch.setattr(prof, "_registry", [])
    monkeypatch.setattr(prof, "_loaded", False)
    p = profile_for("acme-large")
    assert (p.context_window, p.tokenizer, p.cache.kind) == (8000, "cl100k_base", "automatic")
    assert profile_for("gpt-4o").provider == "openai"
    prof.register_profile(Profile(name="mine", provider="local", context_window=10,
                                  max_output=5))
    assert profile_for("mine").context_window == 10
