"""Loading a decoder from a local Hugging Face directory (config.json + *.safetensors).

Owns the map from checkpoint tensor names onto the engine's fused parameters (q/k/v into
``qkv_proj``, gate/up into ``gate_up_proj``), the dtype cast, and the check that every
parameter was loaded. Reads only local files; never downloads.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..._errors import UserError
from ..config import ModelConfig
from .llama import LlamaForCausalLM
from .qwen2 import Qwen2ForCausalLM
from .qwen3 import Qwen3ForCausalLM

MODELS: dict[str, type[LlamaForCausalLM]] = {
    "llama": LlamaForCausalLM, "qwen2": Qwen2ForCausalLM, "qwen3": Qwen3ForCausalLM,
}

# checkpoint suffix -> (engine suffix, shard index among the fused parts)
_FUSED = {
    "q_proj": ("qkv_proj", 0), "k_proj": ("qkv_proj", 1), "v_proj": ("qkv_proj", 2),
    "gate_proj": ("gate_up_proj", 0), "up_proj": ("gate_up_proj", 1),
}


def _shard_range(name: str, shard: int, cfg: ModelConfig) -> tuple[int, int]:
    if name == "qkv_proj":
        q, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
        starts, sizes = [0, q, q + kv], [q, kv, kv]
        return starts[shard], sizes[shard]
    i = cfg.intermediate_size
    return shard * i, i


def load_model(path: str | Path, cfg: ModelConfig, *, device: torch.device,
               dtype: torch.dtype, max_positions: int) -> LlamaForCausalLM:
    """Build the decoder for ``cfg`` on ``device`` and fill it from ``path``'s safetensors."""
    from safetensors import safe_open

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise UserError(f"no *.safetensors in {path}; convert the checkpoint with "
                        "transformers' save_pretrained(..., safe_serialization=True)")
    with torch.device("meta"):
        model = MODELS[cfg.model_type](cfg, max_positions)
    model = model.to_empty(device=device).to(dtype)
    model.rotary.reset(device)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.embed_tokens.weight
    params = dict(model.named_parameters(remove_duplicate=False))
    filled: dict[str, int] = {name: 0 for name in params}
    for file in files:
        with safe_open(str(file), framework="pt", device="cpu") as f:
            for key in f.keys():
                _load_one(key, f.get_tensor(key), params, filled, cfg)
    if cfg.tie_word_embeddings:
        filled["lm_head.weight"] = filled.get("embed_tokens.weight", 0)
    missing = [n for n, count in filled.items() if count == 0]
    if missing:
        raise UserError(f"checkpoint {path} lacks {len(missing)} tensors (first: "
                        f"{missing[0]}); is it a complete {cfg.model_type} checkpoint?")
    return model


def _load_one(key: str, tensor: torch.Tensor, params: dict[str, nn.Parameter],
              filled: dict[str, int], cfg: ModelConfig) -> None:
    name = key[len("model."):] if key.startswith("model.") else key
    if name.startswith("lm_head") and cfg.tie_word_embeddings:
        return
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part in _FUSED:
            fused, shard = _FUSED[part]
            target = ".".join(parts[:i] + [fused] + parts[i + 1:])
            if target not in params:
                break
            start, size = _shard_range(fused, shard, cfg)
            if tensor.shape[0] != size:
                raise UserError(f"{key}: expected {size} rows, found {tensor.shape[0]}")
            with torch.no_grad():
                params[target].data[start:start + size].copy_(tensor)
            filled[target] += 1
            return
    if name.endswith("rotary_emb.inv_freq"):
        return
    if name not in params:
        raise UserError(f"unexpected tensor {key} in the checkpoint; is config.json's "
                        f"model_type ({cfg.model_type}) right?")
    p = params[name]
    if tuple(p.shape) != tuple(tensor.shape):
        raise UserError(f"{key}: shape {tuple(tensor.shape)} != expected {tuple(p.shape)}")
    with torch.no_grad():
        p.data.copy_(tensor)
    filled[name] += 1
