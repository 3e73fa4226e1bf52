"""The GPU path's Triton kernels equal the PyTorch reference, run in Triton's CPU
interpreter (``TRITON_INTERPRET=1``), so CI checks the kernels' indexing without a GPU."""

from __future__ import annotations

import os

import pytest

os.environ["TRITON_INTERPRET"] = "1"  # before triton compiles anything in this process
pytest.importorskip("triton", reason="the GPU kernels are checked in Triton's interpreter; "
                    "pip install triton to run them on CPU")
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from triton.runtime import interpreter as _interpreter  # noqa: E402

_patch_tensor = getattr(_interpreter, "_patch_lang_tensor", None)


def _patch_index(tensor: object, scope: object) -> None:
    """Triton 3.6's interpreter turns scalars into Python ints with ``int(array)``, which
    NumPy >= 2.4 refuses for its 1-element arrays (loop bounds read from memory hit it)."""
    assert _patch_tensor is not None
    _patch_tensor(tensor, scope)
    scope.set_attr(tensor, "__index__",  # type: ignore[attr-defined]
                   lambda self: int(self.handle.data.reshape(-1)[0]))


if _patch_tensor is not None:
    _interpreter._patch_lang_tensor = _patch_index

from ctxkit.engine.attention import reference  # noqa: E402
from ctxkit.engine.attention.triton_decode import paged_decode  # noqa: E402
from ctxkit.engine.attention.triton_prefill import paged_prefill  # noqa: E402
from ctxkit.engine.models import fused  # noqa: E402
from ctxkit.engine.models.gemv import gemv  # noqa: E402
from ctxkit.engine.models.layers import RMSNorm, RotaryEmbedding, silu_and_mul  # noqa: E402

H, KV, D, BS, NB = 4, 2, 16, 4, 40


def pool(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.randn(NB, KV, BS, D, generator=gen)
    return k, torch.randn(NB, KV, BS, D, generator=gen)


def tables(ctx: list[int], gen: torch.Generator) -> list[list[int]]:
    perm = torch.randperm(NB, generator=gen).tolist()  # scattered, non-monotonic blocks
    out, i = [], 0
    for c in ctx:
        n = -(-c // BS)
        out.append(perm[i:i + n])
        i += n
    return out


def padded(t: list[list[int]]) -> torch.Tensor:
    width = max(len(r) for r in t)
    return torch.tensor([r + [0] * (width - len(r)) for r in t], dtype=torch.int32)


@pytest.mark.parametrize("splits", [1, 3])
def test_decode_kernel_matches_reference(splits: int) -> None:
    gen = torch.Generator().manual_seed(splits)
    kc, vc = pool(gen)
    ctx = [1, 9, 30]
    bt = tables(ctx, gen)
    q = torch.randn(len(ctx), H, D, generator=gen)
    out = paged_decode(q, kc, vc, padded(bt), torch.tensor(ctx, dtype=torch.int32),
                       D ** -0.5, splits)
    for i, c in enumerate(ctx):
        ref = reference.attend(q[i:i + 1], kc, vc, bt[i], c, D ** -0.5)
        torch.testing.assert_close(out[i:i + 1], ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("block_n", "splits"), [(16, 1), (128, 2)])
def test_decode_kernel_launch_settings_give_the_same_output(block_n: int, splits: int
                                                            ) -> None:
    """Keys per tile smaller and larger than the default (the probe sweeps them)."""
    gen = torch.Generator().manual_seed(block_n)
    kc, vc = pool(gen)
    ctx = [2, 31, 90]
    bt = tables(ctx, gen)
    q = torch.randn(len(ctx), H, D, generator=gen)
    out = paged_decode(q, kc, vc, padded(bt), torch.tensor(ctx, dtype=torch.int32),
                       D ** -0.5, splits, block_n=block_n, num_warps=2, num_stages=3)
    for i, c in enumerate(ctx):
        ref = reference.attend(q[i:i + 1], kc, vc, bt[i], c, D ** -0.5)
        torch.testing.assert_close(out[i:i + 1], ref, atol=1e-5, rtol=1e-5)


def test_decode_kernel_with_one_split_writes_the_output_itself() -> None:
    """One split (large batches): the split kernel writes ``out`` directly. Every row of
    the given slice is written, nothing past it, and the result equals the reference and
    the two-split path."""
    gen = torch.Generator().manual_seed(11)
    kc, vc = pool(gen)
    ctx = [3, 17, 30, 0]  # 0: a padded CUDA-graph row
    bt = tables(ctx, gen)
    q = torch.randn(len(ctx), H, D, generator=gen)
    table, lens = padded([r or [0] for r in bt]), torch.tensor(ctx, dtype=torch.int32)
    buf = torch.full((len(ctx) + 2, H, D), float("nan"))
    out = paged_decode(q, kc, vc, table, lens, D ** -0.5, 1, out=buf[:len(ctx)])
    assert out.data_ptr() == buf.data_ptr()
    assert torch.isfinite(buf[:len(ctx)]).all() and buf[len(ctx):].isnan().all()
    assert (out[3] == 0).all()
    two_splits = paged_decode(q, kc, vc, table, lens, D ** -0.5, 2)
    torch.testing.assert_close(out, two_splits, atol=1e-5, rtol=1e-5)
    for i, c in enumerate(ctx[:3]):
        ref = reference.attend(q[i:i + 1], kc, vc, bt[i], c, D ** -0.5)
        torch.testing.assert_close(out[i:i + 1], ref, atol=1e-5, rtol=1e-5)


def test_decode_kernel_zero_context_rows_are_finite() -> None:
    gen = torch.Generator().manual_seed(0)
    kc, vc = pool(gen)
    q = torch.randn(2, H, D, generator=gen)
    out = paged_decode(q, kc, vc, torch.zeros(2, 3, dtype=torch.int32),
                       torch.tensor([0, 0], dtype=torch.int32), 1.0, 4)
    assert torch.isfinite(out).all()


def test_prefill_kernel_with_cached_prefix_matches_reference() -> None:
    gen = torch.Generator().manual_seed(7)
    kc, vc = pool(gen)
    q_lens, prefixes = [5, 70, 1], [0, 12, 40]
    ctx = [p + n for p, n in zip(prefixes, q_lens, strict=False)]
    bt = tables(ctx, gen)
    t = sum(q_lens)
    q = torch.randn(t, H, D, generator=gen)
    k, v = torch.randn(t, KV, D, generator=gen), torch.randn(t, KV, D, generator=gen)
    qsl = [0]
    for n in q_lens:
        qsl.append(qsl[-1] + n)
    slots = torch.cat([torch.tensor([bt[i][p // BS] * BS + p % BS
                                     for p in range(prefixes[i], ctx[i])])
                       for i in range(3)])
    reference.store_kv(k, v, kc, vc, slots)
    out = paged_prefill(q, k, v, kc, vc, padded(bt), torch.tensor(ctx, dtype=torch.int32),
                        torch.tensor(qsl, dtype=torch.int32), max(q_lens), D ** -0.5,
                        block_m=32, block_n=16)
    for i in range(3):
        ref = reference.attend(q[qsl[i]:qsl[i + 1]], kc, vc, bt[i], ctx[i], D ** -0.5)
        torch.testing.assert_close(out[qsl[i]:qsl[i + 1]], ref, atol=1e-5, rtol=1e-5)


def test_fused_small_kernels_match_pytorch() -> None:
    gen = torch.Generator().manual_seed(3)
    x, r = torch.randn(5, 48, generator=gen), torch.randn(5, 48, generator=gen)
    norm = RMSNorm(48, 1e-6)
    norm.weight.data = torch.randn(48, generator=gen)
    out, res = fused.rms_norm(x, norm.weight, 1e-6, r)  # type: ignore[misc]
    ref_out, ref_res = norm(x, r)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(res, ref_res)
    gu = torch.randn(5, 2 * 40, generator=gen)
    torch.testing.assert_close(fused.silu_and_mul(gu), silu_and_mul(gu))


def test_fused_rope_and_store_matches_pytorch() -> None:
    gen = torch.Generator().manual_seed(4)
    rot = RotaryEmbedding(D, 10000.0, 64, None)
    t = 6
    qkv = torch.randn(t, (H + 2 * KV) * D, generator=gen)
    q, k, v = qkv.split([H * D, KV * D, KV * D], dim=-1)
    q, k, v = q.view(t, H, D), k.view(t, KV, D), v.view(t, KV, D)
    pos = torch.tensor([0, 3, 4, 17, 40, 63])
    slots = torch.tensor([5, 9, 10, 33, -1, 70])  # -1: a padded graph row, not written
    kc, vc = torch.zeros(NB, KV, BS, D), torch.zeros(NB, KV, BS, D)
    qo, ko = fused.rope_and_store(q, k, v, rot.cos, rot.sin, pos, kc, vc, slots)
    rq, rk = rot(pos, q, k)
    torch.testing.assert_close(qo, rq)
    torch.testing.assert_close(ko, rk)
    ref_k, ref_v = torch.zeros_like(kc), torch.zeros_like(vc)
    keep = slots >= 0
    reference.store_kv(rk[keep], v[keep], ref_k, ref_v, slots[keep])
    torch.testing.assert_close(kc, ref_k)
    torch.testing.assert_close(vc, ref_v)


@pytest.mark.parametrize("config", [(4, 32, 4, 1), (8, 64, 2, 2)])
def test_gemv_with_fused_stages_matches_pytorch(config: tuple[int, int, int, int]) -> None:
    """Each stage the one-token GEMV takes in (RMSNorm, bias, SiLU-and-mul, residual)
    against the PyTorch layers; K = 96 is not a multiple of 64 (the masked loop), N = 20
    not of 8 (the last program's rows)."""
    gen = torch.Generator().manual_seed(config[0])
    x = torch.randn(1, 96, generator=gen)
    w = torch.randn(40, 96, generator=gen) / 10
    b, r = torch.randn(40, generator=gen), torch.randn(1, 20, generator=gen)
    norm = RMSNorm(96, 1e-6)
    norm.weight.data = torch.randn(96, generator=gen)
    normed = norm(x)
    torch.testing.assert_close(gemv(x, w, config=config), x @ w.T)
    torch.testing.assert_close(gemv(x, w, norm_weight=norm.weight, eps=1e-6, bias=b,
                                    config=config), normed @ w.T + b)
    torch.testing.assert_close(gemv(x, w, norm_weight=norm.weight, eps=1e-6, silu=True,
                                    config=config), silu_and_mul(normed @ w.T))
    torch.testing.assert_close(gemv(x, w[:20], residual=r, config=config), r + x @ w[:20].T)
    with pytest.raises(AssertionError, match="one token"):
        gemv(torch.randn(2, 96), w)


@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3"])
def test_one_sequence_decodes_through_the_fused_gemvs(checkpoints: dict[str, Path],
                                                     family: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """One sequence: its one-token forwards take ``forward_one`` (four GEMVs a layer, the
    norms and residual adds fused in; Qwen2's q/k/v bias, Qwen3's q/k norms) and give the
    reference path's greedy tokens; a two-token forward does not take it. On by default;
    ``GEMV_MAX_TOKENS = 0`` builds the engine without it."""
    from ctxkit.engine import LLM, SamplingParams
    from ctxkit.engine.models import llama
    from ctxkit.engine.models.llama import LlamaDecoderLayer

    ref = LLM(str(checkpoints[family]), num_kv_blocks=64, block_size=16)
    tri = LLM(str(checkpoints[family]), num_kv_blocks=64, block_size=16, attention="triton",
              max_num_batched_tokens=32)
    assert tri.runner.model.gemv_max_tokens == 1 and ref.runner.model.gemv_max_tokens == 0
    calls: list[int] = []
    one = LlamaDecoderLayer.forward_one

    def counted(self: LlamaDecoderLayer, *a: object) -> torch.Tensor:
        calls.append(1)
        return one(self, *a)  # type: ignore[arg-type]

    greedy = SamplingParams(temperature=0, max_tokens=5, ignore_eos=True)
    prompt = [[7, 3, 9] * 9]
    expected = [o.token_ids for o in ref.generate(prompt, greedy)]
    LlamaDecoderLayer.forward_one = counted  # type: ignore[method-assign]
    try:
        assert not calls
        assert [o.token_ids for o in tri.generate(prompt, greedy)] == expected
        layers = tri.runner.model_config.num_layers
        assert len(calls) == 4 * layers  # decode steps 2..5; the prefill took forward
        calls.clear()
        tri.generate([[7, 3], [9, 9]], SamplingParams(temperature=0, max_tokens=2))
        assert not calls
    finally:
        LlamaDecoderLayer.forward_one = one  # type: ignore[method-assign]
    monkeypatch.setattr(llama, "GEMV_MAX_TOKENS", 0)  # the switch
    assert LLM(str(checkpoints[family]), num_kv_blocks=16, block_size=16,
               attention="triton").runner.model.gemv_max_tokens == 0


@pytest.mark.parametrize("num_prompts", [2, 8])
def test_engine_on_the_triton_path_matches_the_reference_path(llama_path: Path,
                                                              num_prompts: int) -> None:
    """The whole GPU code path (fused kernels, RoPE+store on strided q/k/v views, paged
    prefill after a cached prefix, split-KV decode, mixed batches), interpreted. Two
    prompts decode in 4 KV splits; eight (x 2 KV heads, on the CPU's notional 8
    multiprocessors) in one, which writes the output without the merge kernel."""
    from ctxkit.engine import LLM, SamplingParams
    from ctxkit.engine.attention import num_decode_splits

    ref = LLM(str(llama_path), num_kv_blocks=64, block_size=16)
    tri = LLM(str(llama_path), num_kv_blocks=64, block_size=16, attention="triton",
              max_num_batched_tokens=32)
    assert tri.runner.model.layers[0].self_attn.fused
    kv_heads, sms = tri.runner.model_config.num_kv_heads, tri.runner.num_sms
    assert num_decode_splits(num_prompts, kv_heads, sms) == (4 if num_prompts == 2 else 1)
    prompts = [[5 + i] * (20 + 23 * (i % 2)) for i in range(num_prompts)]
    greedy = SamplingParams(temperature=0, max_tokens=4, ignore_eos=True)
    expected = [o.token_ids for o in ref.generate(prompts, greedy)]
    assert [o.token_ids for o in tri.generate(prompts, greedy)] == expected


def test_head_size_that_is_not_a_power_of_two_runs_on_the_triton_path(
        tmp_path: Path) -> None:
    """head_dim 24: the pool pads K/V to 32 with zeros; outputs equal the reference path
    and transformers' own greedy tokens."""
    from transformers import AutoModelForCausalLM, Qwen3Config

    from ctxkit.engine import LLM, SamplingParams

    from .conftest import build_tokenizer, hf_model

    tok = build_tokenizer(tmp_path)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=48, intermediate_size=96,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=24, max_position_embeddings=256, initializer_range=0.08,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id)
    torch.manual_seed(7)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path)
    ref = LLM(str(tmp_path), num_kv_blocks=32, block_size=16)
    tri = LLM(str(tmp_path), num_kv_blocks=32, block_size=16, attention="triton",
              max_num_batched_tokens=32)
    assert tri.runner.cache_dim == 32 and tri.runner.k_cache.shape[-1] == 32
    assert tri.runner.k_cache.shape[1] == 33  # one block for padded rows, outside the pool
    prompts = [[5 + i] * (20 + 23 * i) for i in range(2)]
    greedy = SamplingParams(temperature=0, max_tokens=4, ignore_eos=True)
    expected = [o.token_ids for o in ref.generate(prompts, greedy)]
    assert [o.token_ids for o in tri.generate(prompts, greedy)] == expected
    hf = hf_model(tmp_path)
    for p, want in zip(prompts, expected, strict=True):
        out = hf.generate(torch.tensor([p]), max_new_tokens=4, do_sample=False)
        assert out[0, len(p):].tolist() == want
