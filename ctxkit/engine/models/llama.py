"""The Llama decoder, the family Qwen2 and Qwen3 extend: one file, shapes inline.

Owns the forward pass over a flat batch of tokens (no padding: T tokens of many sequences,
with positions and attention metadata saying which is which). q/k/v and gate/up are fused
into one projection each, so a decode step runs two matmuls fewer per layer; the loader
maps checkpoint names onto them. Knows nothing of scheduling or of how K/V are laid out.
"""

from __future__ import annotations

import torch
from torch import nn

from ..attention import Attention, AttentionMetadata
from ..config import ModelConfig
from .layers import RMSNorm, RotaryEmbedding, silu_and_mul


class LlamaAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, rotary: RotaryEmbedding) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = \
            cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q_size = cfg.num_heads * cfg.head_dim
        self.kv_size = cfg.num_kv_heads * cfg.head_dim
        self.qkv_proj = nn.Linear(cfg.hidden_size, self.q_size + 2 * self.kv_size,
                                  bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(self.q_size, cfg.hidden_size, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps) if cfg.qk_norm else None
        self.k_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps) if cfg.qk_norm else None
        self.rotary = [rotary]  # shared; a list so it is not registered once per layer
        self.attn = Attention(cfg.num_heads, cfg.num_kv_heads, cfg.head_dim)
        self.fused = False

    def forward(self, positions: torch.Tensor, x: torch.Tensor,
                meta: AttentionMetadata) -> torch.Tensor:
        t = x.shape[0]
        qkv = self.qkv_proj(x)  # [T, (H + 2KV) * D]
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = q.view(t, self.num_heads, self.head_dim)  # [T, H, D]
        k = k.view(t, self.num_kv_heads, self.head_dim)  # [T, KV, D]
        v = v.view(t, self.num_kv_heads, self.head_dim)
        if self.q_norm is not None and self.k_norm is not None:
            q = self.q_norm(q.contiguous())
            k = self.k_norm(k.contiguous())
        rotary = self.rotary[0]
        if self.fused and self.attn.cache_dim == self.head_dim:
            from . import fused

            q, k = fused.rope_and_store(q, k, v, rotary.cos, rotary.sin, positions,
                                        self.attn.k_cache, self.attn.v_cache,
                                        meta.slot_mapping)
        else:
            q, k = rotary(positions, q, k)
            self.attn.store(k, v, meta)
        o = self.attn(q, k, v, meta)  # [T, H, D]
        out: torch.Tensor = self.o_proj(o.reshape(t, self.q_size))  # reshape: o may be a
        # sliced view when the pool's head size is padded
        return out


class LlamaMLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_up_proj = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)
        self.fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.down_proj(silu_and_mul(self.gate_up_proj(x), self.fused))
        return out  # [T, hidden]


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, rotary: RotaryEmbedding) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = LlamaAttention(cfg, rotary)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = LlamaMLP(cfg)

    def forward(self, positions: torch.Tensor, x: torch.Tensor, residual: torch.Tensor | None,
                meta: AttentionMetadata) -> tuple[torch.Tensor, torch.Tensor]:
        if residual is None:
            residual = x
            x = self.input_layernorm(x)
        else:
            x, residual = self.input_layernorm(x, residual)
        x = self.self_attn(positions, x, meta)
        x, residual = self.post_attention_layernorm(x, residual)
        return self.mlp(x), residual


class LlamaForCausalLM(nn.Module):
    """Embeddings, decoder layers, final norm and the LM head (tied when configured)."""

    def __init__(self, cfg: ModelConfig, max_positions: int) -> None:
        super().__init__()
        self.config = cfg
        self.rotary = RotaryEmbedding(cfg.head_dim, cfg.rope_theta, max_positions,
                                      cfg.rope_scaling)
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(LlamaDecoderLayer(cfg, self.rotary)
                                    for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor,
                meta: AttentionMetadata) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [T, hidden]."""
        x = self.embed_tokens(input_ids)
        residual: torch.Tensor | None = None
        for layer in self.layers:
            x, residual = layer(positions, x, residual, meta)
        x, _ = self.norm(x, residual)
        return x  # type: ignore[no-any-return]

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [N, hidden] -> logits [N, vocab] in float32."""
        logits: torch.Tensor = self.lm_head(hidden).float()
        return logits

    def attention_layers(self) -> list[Attention]:
        return [m for m in self.modules() if isinstance(m, Attention)]

    def use_fused_kernels(self, on: bool) -> None:
        """Switch RMSNorm, RoPE+store and SiLU-and-mul to the fused Triton kernels."""
        for m in self.modules():
            if isinstance(m, (RMSNorm, LlamaAttention, LlamaMLP)):
                m.fused = on
