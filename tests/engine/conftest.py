"""Tiny random Llama, Qwen2 and Qwen3 checkpoints, built offline for the engine tests.

Each is saved with ``save_pretrained`` into a temporary directory with a small byte-level
BPE tokenizer trained here and a ChatML-style chat template, so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

try:
    import torch
except ImportError:  # without the extra only test_requires_extra.py runs, and skips
    torch = None
    collect_ignore_glob = ["test_[!r]*.py"]
else:
    # tiny matmuls: thread hand-offs cost more than the math on a 2-core CI machine
    torch.set_num_threads(1)

CHAT_TEMPLATE = (
    "{%- if tools %}<|im_start|>tools\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}"
    "<|im_end|>\n{% endif -%}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.content is string %}{{ m.content }}{% endif %}"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function | tojson }}</tool_call>"
    "{% endfor %}<|im_end|>\n{% endfor -%}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif -%}"
)

CORPUS = [
    "the quick brown fox jumps over the lazy dog", "hello world, how are you today?",
    "def add(a, b):\n    return a + b\n", "context engineering keeps the prefix stable",
    "paged attention stores keys and values in fixed size blocks",
    "the parser test fails on empty input; fix it", "you are a terse assistant",
] * 4

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer(directory: Path) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)
    return fast


def build_checkpoint(directory: Path, family: str, max_positions: int = 512) -> Path:
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

    tok = build_tokenizer(directory)
    common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=max_positions, initializer_range=0.08,
                  eos_token_id=tok.eos_token_id, bos_token_id=None, pad_token_id=None)
    if family == "llama":
        cfg: Any = LlamaConfig(**common, tie_word_embeddings=True, rope_theta=500000.0,
                               rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                             "original_max_position_embeddings": 64})
    elif family == "qwen2":
        cfg = Qwen2Config(**common, tie_word_embeddings=False)
    else:
        cfg = Qwen3Config(**common, head_dim=32, tie_word_embeddings=True)
    torch.manual_seed({"llama": 1, "qwen2": 2, "qwen3": 3}[family])
    model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    return {f: build_checkpoint(root / f, f) for f in ("llama", "qwen2", "qwen3")}


@pytest.fixture(scope="session")
def llama_path(checkpoints: dict[str, Path]) -> Path:
    return checkpoints["llama"]


def hf_model(path: Path) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    model.generation_config.eos_token_id = None
    return model
