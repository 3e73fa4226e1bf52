"""Config and ModelConfig: what the engine is asked to do, and what the checkpoint is.

Owns the engine's knobs (block size, per-step token budget, KV pool sizing, prefix cache,
CUDA graphs) with their validation, and the reading of a Hugging Face ``config.json`` into
the few numbers the decoder needs (Llama, Qwen2, Qwen3). Knows nothing of tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import UserError

ARCHITECTURES = ("llama", "qwen2", "qwen3")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """The decoder's shape, read from ``config.json``.

    Attributes:
        model_type: ``llama``, ``qwen2`` or ``qwen3``.
        qkv_bias: q/k/v projections carry a bias (Qwen2).
        qk_norm: RMSNorm over each head of q and k before RoPE (Qwen3).
        rope_scaling: the ``rope_parameters``/``rope_scaling`` dict (``llama3`` is handled).
    """

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict[str, Any] | None
    max_position_embeddings: int
    tie_word_embeddings: bool
    qkv_bias: bool
    qk_norm: bool
    eos_token_ids: tuple[int, ...] = ()

    @classmethod
    def from_dir(cls, path: str | Path) -> ModelConfig:
        """Read ``path/config.json`` (and ``generation_config.json`` for stop ids)."""
        p = Path(path)
        file = p / "config.json"
        if not file.exists():
            raise UserError(f"no config.json in {p}; pass a local Hugging Face model directory "
                            "(config.json, *.safetensors, tokenizer files)")
        raw = json.loads(file.read_text())
        if "text_config" in raw and "num_hidden_layers" not in raw:
            raw = {**raw, **raw["text_config"]}
        mtype = str(raw.get("model_type", ""))
        if mtype not in ARCHITECTURES:
            raise UserError(f"model_type {mtype!r} is not supported by the local engine; "
                            f"supported: {', '.join(ARCHITECTURES)}")
        rope = dict(raw.get("rope_parameters") or raw.get("rope_scaling") or {})
        theta = float(rope.pop("rope_theta", raw.get("rope_theta", 10000.0)))
        kind = rope.get("rope_type", rope.get("type", "default"))
        if kind not in ("default", "llama3"):
            raise UserError(f"RoPE scaling {kind!r} is not supported; supported: default, llama3")
        heads = int(raw["num_attention_heads"])
        hidden = int(raw["hidden_size"])
        eos = _eos_ids(raw, p)
        return cls(
            model_type=mtype, vocab_size=int(raw["vocab_size"]), hidden_size=hidden,
            intermediate_size=int(raw["intermediate_size"]),
            num_layers=int(raw["num_hidden_layers"]), num_heads=heads,
            num_kv_heads=int(raw.get("num_key_value_heads") or heads),
            head_dim=int(raw.get("head_dim") or hidden // heads),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)), rope_theta=theta,
            rope_scaling=rope if kind == "llama3" else None,
            max_position_embeddings=int(raw.get("max_position_embeddings", 4096)),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            qkv_bias=mtype == "qwen2" or bool(raw.get("attention_bias", False)),
            qk_norm=mtype == "qwen3", eos_token_ids=eos)


def _eos_ids(raw: dict[str, Any], path: Path) -> tuple[int, ...]:
    ids: list[int] = []
    sources = [raw]
    gen = path / "generation_config.json"
    if gen.exists():
        sources.append(json.loads(gen.read_text()))
    for src in sources:
        v = src.get("eos_token_id")
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, int) and x not in ids:
                ids.append(x)
    return tuple(ids)


@dataclass(slots=True, kw_only=True)
class Config:
    """Engine settings.

    Attributes:
        model: local Hugging Face directory.
        block_size: tokens per KV block (the unit of prefix caching).
        max_num_seqs: most sequences running at once (also the largest CUDA graph).
        max_num_batched_tokens: per-step token budget; longer prompts prefill in chunks.
        max_model_len: longest sequence (prompt + output); default: the model's limit.
        enable_prefix_caching: reuse KV blocks of identical block-aligned prefixes.
        device: ``cuda`` or ``cpu``; default: cuda when available.
        dtype: ``bfloat16``/``float16``/``float32``; default bf16 on GPU, float32 on CPU.
        gpu_memory_utilization: share of device memory the engine may hold in total.
        num_kv_blocks: fix the KV pool size instead of sizing it from free memory.
        cpu_kv_cache_gib: KV pool size on CPU (there is no free-memory query to size from).
        host_kv_cache_gib: host memory for the second prefix tier (0 turns it off):
            evicted prefix blocks are copied there and copied back on a hit.
        session_ttl_s: a session (``session_id`` on a request) not seen for this long stops
            protecting its prefix from eviction.
        enforce_eager: no CUDA graphs (debugging, or to save capture time).
        attention: ``auto`` (Triton on GPU, reference on CPU), ``triton`` or ``reference``.
        fairness_bound: a waiting request passed over this many times by shorter ones is
            admitted next (short-first priority cannot starve a long prompt).
        watermark_blocks: free blocks admission keeps back for running decodes.
    """

    model: str
    block_size: int = 16
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    max_model_len: int | None = None
    enable_prefix_caching: bool = True
    device: str | None = None
    dtype: str | None = None
    gpu_memory_utilization: float = 0.9
    num_kv_blocks: int | None = None
    cpu_kv_cache_gib: float = 0.25
    host_kv_cache_gib: float = 0.0
    session_ttl_s: float = 600.0
    enforce_eager: bool = False
    attention: str = "auto"
    fairness_bound: int = 64
    watermark_blocks: int = 1
    seed: int = 0
    model_config: ModelConfig = field(init=False)

    def __post_init__(self) -> None:
        if self.block_size < 1 or self.block_size & (self.block_size - 1):
            raise UserError(f"block_size must be a power of two, got {self.block_size}")
        if self.max_num_seqs < 1:
            raise UserError("max_num_seqs must be >= 1")
        if self.max_num_batched_tokens < self.block_size:
            raise UserError("max_num_batched_tokens must be >= block_size")
        if not 0.05 <= self.gpu_memory_utilization <= 0.99:
            raise UserError("gpu_memory_utilization must be in [0.05, 0.99]")
        if self.num_kv_blocks is not None and self.num_kv_blocks < 2:
            raise UserError("num_kv_blocks must be >= 2")
        if self.attention not in ("auto", "triton", "reference"):
            raise UserError("attention must be 'auto', 'triton' or 'reference'")
        if self.host_kv_cache_gib < 0:
            raise UserError("host_kv_cache_gib must be >= 0 (0 turns the host tier off)")
        if self.session_ttl_s <= 0:
            raise UserError("session_ttl_s must be > 0")
        if self.fairness_bound < 1:
            raise UserError("fairness_bound must be >= 1")
        self.model_config = ModelConfig.from_dir(self.model)
        limit = self.model_config.max_position_embeddings
        if self.max_model_len is None:
            self.max_model_len = limit
        elif self.max_model_len < 1:
            raise UserError("max_model_len must be >= 1")
