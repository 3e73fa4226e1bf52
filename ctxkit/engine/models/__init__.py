"""Decoder families of the local engine: Llama, Qwen2, Qwen3, and their loader."""

from .llama import LlamaForCausalLM
from .loader import MODELS, load_model
from .qwen2 import Qwen2ForCausalLM
from .qwen3 import Qwen3ForCausalLM

__all__ = ["MODELS", "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "load_model"]
