"""An engine step that raises because of one request fails that request only: the others
in the batch keep their tokens and finish, and the engine keeps serving."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ctxkit.engine import LLM
from ctxkit.engine.async_engine import AsyncEngine
from ctxkit.engine.sampling import SamplingParams


async def _run(engine: AsyncEngine, llm: LLM) -> tuple[list[int], BaseException | None]:
    good_params = SamplingParams(temperature=0, max_tokens=40)
    bad_params = SamplingParams(temperature=0.7, top_k=5, max_tokens=40)
    good_ids = llm.encode("the quick brown fox jumps over the lazy dog")
    bad_ids = llm.encode("hello world, how are you today?")

    async def good() -> list[int]:
        last = None
        async for out in engine.generate(good_ids, good_params):
            last = out
        assert last is not None and last.finished
        return last.token_ids

    async def bad() -> BaseException | None:
        try:
            async for out in engine.generate(bad_ids, bad_params):
                # a fault that appears mid-run, past every check at admission: the next
                # batched step overflows building the top-k tensor
                if len(out.token_ids) == 2:
                    bad_params.top_k = 2 ** 70
        except Exception as exc:
            return exc
        return None

    tokens, error = await asyncio.gather(good(), bad())
    return tokens, error


def test_a_step_error_fails_only_the_request_that_caused_it(llama_path: Path) -> None:
    llm = LLM(str(llama_path), num_kv_blocks=64, block_size=8)
    llm.check_invariants = True
    alone = llm.generate("the quick brown fox jumps over the lazy dog",
                         SamplingParams(temperature=0, max_tokens=40))[0].token_ids
    engine = AsyncEngine(llm)
    try:
        tokens, error = asyncio.run(_run(engine, llm))
        assert error is not None and "overflow" in str(error).lower()
        assert tokens == alone  # recomputed after the preemption, token for token
        assert not llm.has_unfinished()
        assert llm.block_manager.num_used_blocks == 0
        again = asyncio.run(_run_one(engine, llm))
        assert again == alone[:5]
    finally:
        engine.close()


async def _run_one(engine: AsyncEngine, llm: LLM) -> list[int]:
    last = None
    async for out in engine.generate(llm.encode("the quick brown fox jumps over the lazy dog"),
                                     SamplingParams(temperature=0, max_tokens=5)):
        last = out
    assert last is not None
    return last.token_ids


def test_a_fault_that_is_no_ones_fails_everyone_but_the_engine_lives(
        llama_path: Path) -> None:
    llm = LLM(str(llama_path), num_kv_blocks=64, block_size=8)
    engine = AsyncEngine(llm)
    real_run = llm.runner.run
    broken = {"on": False}

    def run(batch: object) -> list[int]:
        if broken["on"]:
            raise RuntimeError("device lost")
        return real_run(batch)  # type: ignore[arg-type]

    llm.runner.run = run  # type: ignore[method-assign]

    async def two() -> list[BaseException | None]:
        async def one(prompt: str) -> BaseException | None:
            try:
                async for out in engine.generate(llm.encode(prompt),
                                                 SamplingParams(temperature=0, max_tokens=30)):
                    if len(out.token_ids) == 3:
                        broken["on"] = True
            except RuntimeError as exc:
                return exc
            return None
        return list(await asyncio.gather(one("hello world"), one("the parser test fails")))

    try:
        errors = asyncio.run(two())
        assert all(isinstance(e, RuntimeError) and "device lost" in str(e) for e in errors)
        broken["on"] = False
        assert not llm.has_unfinished() and llm.block_manager.num_used_blocks == 0
        assert len(asyncio.run(_run_one(engine, llm))) == 5
    finally:
        engine.close()
