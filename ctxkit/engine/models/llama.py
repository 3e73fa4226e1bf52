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

# one-token forwards on the Triton path take the fused GEMVs of gemv.py when this is 1 (the
# default: batch-1 decode 5-6 % faster on H100 and H200 for the 8B and 1B shapes, error
# against float64 no larger than cuBLAS's; bench/engine_gemv_ab.py, bench/RESULTS.md);
# 0 keeps cuBLAS and the small fused kernels
GEMV_MAX_TOKENS = 1


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
        out: torch.Tensor = self.o_proj(self.attend(positions, self.qkv_proj(x), meta))
        return out

    def attend(self, positions: torch.Tensor, qkv: torch.Tensor,
               meta: AttentionMetadata) -> torch.Tensor:
        """qkv [T, (H + 2KV) * D] -> attention output [T, H * D], K/V stored."""
        t = qkv.shape[0]
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size],  # type: ignore[no-untyped-call]
                            dim=-1)
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
        o: torch.Tensor = self.attn(q, k, v, meta)  # [T, H, D]
        return o.reshape(t, self.q_size)  # reshape: o may be a sliced view when the
        # pool's head size is padded


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

    def forward_one(self, positions: torch.Tensor, h: torch.Tensor,
                    meta: AttentionMetadata) -> torch.Tensor:
        """One token through four fused GEMVs around attention: h [1, hidden] (the
        residual stream) -> the next layer's residual stream. Same math and roundings as
        ``forward``; each norm runs in the next GEMV's prologue, each residual add in the
        previous one's epilogue, SiLU-and-mul in gate_up's."""
        from .gemv import gemv

        attn, mlp = self.self_attn, self.mlp
        ln1, ln2 = self.input_layernorm, self.post_attention_layernorm
        qkv = gemv(h, attn.qkv_proj.weight, norm_weight=ln1.weight, eps=ln1.eps,
                   bias=attn.qkv_proj.bias)
        o = attn.attend(positions, qkv, meta)
        h = gemv(o, attn.o_proj.weight, residual=h)
        a = gemv(h, mlp.gate_up_proj.weight, norm_weight=ln2.weight, eps=ln2.eps, silu=True)
        return gemv(a, mlp.down_proj.weight, residual=h)


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
        self.gemv_max_tokens = 0  # forwards of this many tokens or fewer take forward_one

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor,
                meta: AttentionMetadata) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [T, hidden]."""
        x = self.embed_tokens(input_ids)
        if input_ids.shape[0] <= self.gemv_max_tokens:
            for layer in self.layers:
                assert isinstance(layer, LlamaDecoderLayer)
                x = layer.forward_one(positions, x, meta)
            return self.norm(x)  # type: ignore[no-any-return]
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
        """Switch RMSNorm, RoPE+store and SiLU-and-mul to the fused Triton kernels, and
        one-token forwards (batch-1 decode) to the fused GEMVs of ``gemv.py``."""
        for m in self.modules():
            if isinstance(m, (RMSNorm, LlamaAttention, LlamaMLP)):
                m.fused = on
        self.gemv_max_tokens = GEMV_MAX_TOKENS if on else 0
