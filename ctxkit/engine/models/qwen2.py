"""Qwen2: the Llama decoder with a bias on the q/k/v projections.

Owns nothing but that difference (``ModelConfig.qkv_bias`` is set for ``qwen2``); the
loader maps ``q_proj.bias``/``k_proj.bias``/``v_proj.bias`` onto the fused projection.
"""

from __future__ import annotations

from ..config import ModelConfig
from .llama import LlamaForCausalLM


class Qwen2ForCausalLM(LlamaForCausalLM):
    def __init__(self, cfg: ModelConfig, max_positions: int) -> None:
        assert cfg.qkv_bias, "Qwen2 projects q/k/v with a bias"
        super().__init__(cfg, max_positions)
