"""The decoder's small layers: RMSNorm (with the residual add), RoPE, SiLU-and-mul.

Owns their math in PyTorch, written to match Hugging Face transformers' float32 steps, and
the switch to the fused Triton kernels of ``fused.py`` on a GPU (one launch instead of a
handful, which is most of batch-1 decode's overhead). Knows nothing of attention or KV.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class RMSNorm(nn.Module):
    """y = w * x / rms(x), in float32, cast back; optionally adds ``residual`` first.

    ``forward(x, residual)`` returns ``(normed, x + residual)`` like the fused kernel, so
    a decoder layer threads its residual stream without extra adds.
    """

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps
        self.fused = False

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> Any:
        if self.fused:
            from . import fused

            return fused.rms_norm(x, self.weight, self.eps, residual)
        if residual is not None:
            x = x + residual
            residual = x
        dtype = x.dtype
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        out = self.weight * h.to(dtype)
        return out if residual is None else (out, residual)


def _llama3_inv_freq(inv_freq: torch.Tensor, scaling: dict[str, Any]) -> torch.Tensor:
    """Llama 3.1's frequency-dependent RoPE scaling (as transformers computes it)."""
    factor = float(scaling["factor"])
    low = float(scaling.get("low_freq_factor", 1.0))
    high = float(scaling.get("high_freq_factor", 4.0))
    old_len = float(scaling.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_len / low, old_len / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding in the "rotate half" layout of Hugging Face checkpoints.

    Holds cos/sin tables [max_positions, head_dim // 2] in float32.
    """

    def __init__(self, head_dim: int, theta: float, max_positions: int,
                 scaling: dict[str, Any] | None) -> None:
        super().__init__()
        self.head_dim, self.theta, self.scaling = head_dim, theta, scaling
        self.max_positions = max_positions
        self.register_buffer("cos", torch.empty(0), persistent=False)
        self.register_buffer("sin", torch.empty(0), persistent=False)
        self.reset(torch.device("cpu"))

    def reset(self, device: torch.device) -> None:
        """(Re)compute the float32 tables on ``device`` (after a meta-device build)."""
        cpu = torch.device("cpu")
        exponent = torch.arange(0, self.head_dim, 2, dtype=torch.int64, device=cpu).float()
        inv_freq = 1.0 / (self.theta ** (exponent / self.head_dim))  # [D/2]
        if self.scaling is not None:
            inv_freq = _llama3_inv_freq(inv_freq, self.scaling)
        t = torch.arange(self.max_positions, dtype=torch.float32, device=cpu)
        freqs = t[:, None] * inv_freq[None, :]  # [P, D/2]
        self.cos = freqs.cos().to(device)
        self.sin = freqs.sin().to(device)

    def forward(self, positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate q [T, H, D] and k [T, KV, D] by their tokens' positions [T]."""
        cos = self.cos[positions][:, None, :]  # [T, 1, D/2]
        sin = self.sin[positions][:, None, :]
        return _rotate(q, cos, sin), _rotate(k, cos, sin)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    c = torch.cat([cos, cos], dim=-1).to(x.dtype)
    s = torch.cat([sin, sin], dim=-1).to(x.dtype)
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * c + rotated * s


def silu_and_mul(gate_up: torch.Tensor, fused_kernel: bool = False) -> torch.Tensor:
    """SiLU(gate) * up for gate_up [T, 2I] -> [T, I]."""
    if fused_kernel:
        from . import fused

        return fused.silu_and_mul(gate_up)
    gate, up = gate_up.chunk(2, dim=-1)
    return nn.functional.silu(gate) * up
