"""Scheduler: chunked prefill, KV-budget admission, preemption by recompute, priority."""

from __future__ import annotations

from pathlib import Path

from ctxkit.engine import LLM, BlockManager, Config, SamplingParams, Scheduler, Sequence

GREEDY = SamplingParams(temperature=0, max_tokens=20, ignore_eos=True)


def prompts(llm: LLM, n: int, base: int = 40) -> list[list[int]]:
    vocab = llm.config.model_config.vocab_size
    return [[(7 * i + 3 * j) % (vocab - 3) + 3 for j in range(base + 5 * i)] for i in range(n)]


def test_chunked_prefill_equals_unchunked(llama_path: Path) -> None:
    whole = LLM(str(llama_path), num_kv_blocks=256, max_num_batched_tokens=4096)
    chunked = LLM(str(llama_path), num_kv_blocks=256, max_num_batched_tokens=16)
    chunked.check_invariants = True
    ps = prompts(whole, 4, base=70)
    a = whole.generate(ps, GREEDY)
    b = chunked.generate(ps, GREEDY)
    assert [o.token_ids for o in a] == [o.token_ids for o in b]
    assert chunked.num_steps > whole.num_steps  # it really ran in chunks
    assert chunked.block_manager.num_used_blocks == 0


def test_preemption_resumes_with_the_same_tokens(llama_path: Path) -> None:
    roomy = LLM(str(llama_path), num_kv_blocks=512)
    tight = LLM(str(llama_path), num_kv_blocks=24, block_size=4, watermark_blocks=0)
    tight.check_invariants = True
    ps = prompts(roomy, 6, base=12)
    params = SamplingParams(temperature=0.8, top_p=0.9, max_tokens=30, seed=5,
                            ignore_eos=True)
    a = roomy.generate(ps, params)
    b = tight.generate(ps, params)
    assert tight.stats()["preemptions"] > 0
    assert [o.token_ids for o in a] == [o.token_ids for o in b]
    assert tight.block_manager.num_used_blocks == 0
    tight.block_manager.check_invariants([])


def test_no_blocks_leak_after_mixed_requests(llama_path: Path) -> None:
    llm = LLM(str(llama_path), num_kv_blocks=40, block_size=8, max_num_batched_tokens=32)
    llm.check_invariants = True
    ps = prompts(llm, 5)
    ps.append(ps[0][:30] + [5, 6, 7])  # shares a prefix with the first
    llm.generate(ps, [SamplingParams(temperature=0, max_tokens=5 + 3 * i) for i in range(6)])
    bm = llm.block_manager
    assert bm.num_used_blocks == 0
    assert bm.num_free_blocks == bm.num_blocks
    bm.check_invariants([])


def make_scheduler(num_blocks: int, **kw: object) -> Scheduler:
    cfg = Config(model=str(_LLAMA[0]), block_size=4, **kw)  # type: ignore[arg-type]
    return Scheduler(cfg, BlockManager(num_blocks, 4))


_LLAMA: list[Path] = []


def test_admission_is_by_kv_budget_not_request_count(llama_path: Path) -> None:
    _LLAMA[:] = [llama_path]
    s = make_scheduler(10, max_num_seqs=64, watermark_blocks=0)
    for _ in range(8):
        s.add(Sequence(list(range(1, 13)), GREEDY, seed=0))  # 3 blocks each
    batch = s.schedule()
    assert len(batch) == 3 and len(s.waiting) == 5  # 9 of 10 blocks; a 4th does not fit


def test_decodes_go_first_and_short_prompts_are_preferred(llama_path: Path) -> None:
    _LLAMA[:] = [llama_path]
    s = make_scheduler(64, max_num_batched_tokens=32)
    long_one = Sequence(list(range(1, 25)), GREEDY, seed=0, arrival=1)
    s.add(long_one)
    first = s.schedule()
    s.postprocess(first, [7], frozenset())
    short = Sequence([1, 2, 3], GREEDY, seed=0, arrival=3)
    medium = Sequence(list(range(1, 11)), GREEDY, seed=0, arrival=2)
    s.add(medium)
    s.add(short)
    batch = s.schedule()
    assert batch.items[0] == (long_one, 1) and batch.num_decodes == 1
    assert [q for q, _ in batch.items[1:]] == [short, medium]


def test_fairness_bound_admits_a_starved_long_prompt(llama_path: Path) -> None:
    _LLAMA[:] = [llama_path]
    s = make_scheduler(64, max_num_batched_tokens=8, fairness_bound=2, max_num_seqs=1)
    long_one = Sequence(list(range(1, 31)), GREEDY, seed=0, arrival=0)
    s.add(long_one)
    admitted = []
    for k in range(6):
        s.add(Sequence([1, 2], SamplingParams(temperature=0, max_tokens=1), seed=0,
                       arrival=k + 1))
        batch = s.schedule()
        admitted.append(batch.items[0][0])
        s.postprocess(batch, [9] * sum(1 for q, n in batch.items
                                       if q.num_computed_tokens + n == q.num_tokens),
                      frozenset())
        if long_one in admitted:
            break
    assert long_one in admitted and long_one.num_skips >= 2
    assert admitted.index(long_one) == 2  # passed over exactly fairness_bound times
