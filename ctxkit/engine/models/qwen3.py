"""Qwen3: the Llama decoder with RMSNorm over each head of q and k, and an explicit
``head_dim`` (which need not be hidden_size / num_heads).

Owns nothing but that difference (``ModelConfig.qk_norm`` is set for ``qwen3``; the
attention layer applies ``q_norm``/``k_norm`` before RoPE).
"""

from __future__ import annotations

from ..config import ModelConfig
from .llama import LlamaForCausalLM


class Qwen3ForCausalLM(LlamaForCausalLM):
    def __init__(self, cfg: ModelConfig, max_positions: int) -> None:
        assert cfg.qk_norm, "Qwen3 normalizes q and k per head"
        super().__init__(cfg, max_positions)
