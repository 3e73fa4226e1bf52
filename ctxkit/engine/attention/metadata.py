"""``AttentionMetadata``: what one forward pass's attention needs to know about the batch.

Owns the per-step description (prefill/decode split, sequence lengths, slot mapping, block
tables) that the model runner builds and every attention path (Triton kernels, the PyTorch
reference) reads. Sits below them all, so none of them imports another to get it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(slots=True, kw_only=True)
class AttentionMetadata:
    """Where a batch's tokens go and what they attend to.

    Tensors live on the model's device; the ``*_list`` mirrors feed the reference path.

    Attributes:
        slot_mapping: [T] pool slot of each new token.
        num_decode_tokens: the first this many tokens (and sequences) are decodes.
        decode_context_lens: [Sd] int32 context length of each decode sequence.
        decode_block_tables: [Sd, max_blocks] int32.
        prefill_query_start_loc: [Sp + 1] int32 offsets of prefill queries, from the
            first prefill token.
        prefill_context_lens: [Sp] int32 tokens with K/V after this step (prefix + chunk).
        prefill_block_tables: [Sp, max_blocks] int32.
        prefill_max_query_len: longest prefill chunk in the batch.
        decode_num_splits: KV splits per decode sequence (split-KV decode kernel).
        dense_prefill: the prefill part is one long chunk with no cached prefix: it runs
            through PyTorch's fused SDPA (the same kernel a dense model uses), which beats
            the paged Triton kernel on long causal prompts.
    """

    slot_mapping: torch.Tensor
    num_decode_tokens: int = 0
    decode_context_lens: torch.Tensor | None = None
    decode_block_tables: torch.Tensor | None = None
    prefill_query_start_loc: torch.Tensor | None = None
    prefill_context_lens: torch.Tensor | None = None
    prefill_block_tables: torch.Tensor | None = None
    prefill_max_query_len: int = 0
    decode_num_splits: int = 1
    dense_prefill: bool = False
    query_start_loc_list: list[int] = field(default_factory=list)
    context_lens_list: list[int] = field(default_factory=list)
    block_table_lists: list[list[int]] = field(default_factory=list)
