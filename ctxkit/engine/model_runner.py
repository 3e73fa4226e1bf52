"""ModelRunner: weights, the KV pool, one batched forward per step, sampling on device.

Owns the tensors: it loads the decoder, sizes the pool from the memory left after weights
and a warm-up forward (GPU) or from ``cpu_kv_cache_gib`` (CPU), turns a scheduler
``Batch`` into flat inputs and attention metadata, runs the model (through a captured CUDA
graph when the step is all decodes) and samples the next tokens. Knows nothing of queues,
priorities or prefix hashing: sequences arrive with their block tables filled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .attention import DENSE_PREFILL_MIN_TOKENS, AttentionMetadata, num_decode_splits
from .config import Config
from .models import load_model
from .sampling import SamplingParams, sample
from .scheduler import Batch
from .sequence import Sequence

if TYPE_CHECKING:
    from .block_manager import Swap
    from .graphs import DecodeGraphs
    from .kv_swap import KVSwapper

SWAP_CHUNK = 128  # blocks per staged copy between the pool and the host tier

_GREEDY = SamplingParams(temperature=0.0, max_tokens=1)
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class ModelRunner:
    """Runs the model for the engine.

    Args:
        config: the engine config; ``num_kv_blocks`` is read from it when set.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        cfg = config.model_config
        self.model_config = cfg
        self.device = torch.device(config.device or ("cuda" if torch.cuda.is_available()
                                                     else "cpu"))
        default = "bfloat16" if self.device.type == "cuda" else "float32"
        self.dtype = _DTYPES[config.dtype or default]
        self.block_size = config.block_size
        assert config.max_model_len is not None
        self.max_blocks_per_seq = -(-config.max_model_len // config.block_size)
        torch.manual_seed(config.seed)
        self.model = load_model(config.model, cfg, device=self.device, dtype=self.dtype,
                                max_positions=config.max_model_len)
        self.model.eval()
        backend = config.attention
        if backend == "auto":
            backend = "triton" if self.device.type == "cuda" else "reference"
        # the Triton kernels take power-of-two head sizes: the pool pads others with zeros
        self.cache_dim = cfg.head_dim
        if backend == "triton" and cfg.head_dim & (cfg.head_dim - 1):
            self.cache_dim = 1 << cfg.head_dim.bit_length()
        self.attention_backend = backend
        for attn in self.model.attention_layers():
            attn.backend = backend
            attn.cache_dim = self.cache_dim
        self.model.use_fused_kernels(backend == "triton")
        self.num_sms = (torch.cuda.get_device_properties(self.device).multi_processor_count
                        if self.device.type == "cuda" else 8)
        self.graphs: DecodeGraphs | None = None
        self.num_host_blocks = int(config.host_kv_cache_gib * 2**30) // self.block_bytes
        self.num_blocks = config.num_kv_blocks or self._size_pool()
        padded = self.cache_dim != cfg.head_dim  # one more block: padded graph rows' writes
        shape = (cfg.num_layers, self.num_blocks + padded, cfg.num_kv_heads,
                 config.block_size, self.cache_dim)  # [L, NB, KV, bs, D]
        self.k_cache = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self.v_cache = torch.zeros(shape, dtype=self.dtype, device=self.device)
        for i, attn in enumerate(self.model.attention_layers()):
            attn.k_cache, attn.v_cache = self.k_cache[i], self.v_cache[i]
            attn.trash_slot = self.num_blocks * config.block_size
        self.swapper: KVSwapper | None = None
        if self.num_host_blocks:
            from .kv_swap import KVSwapper

            self.swapper = KVSwapper(self.k_cache, self.v_cache, self.num_host_blocks,
                                     chunk=SWAP_CHUNK)
        if self.device.type == "cuda" and not config.enforce_eager and backend == "triton":
            from .graphs import DecodeGraphs

            self.graphs = DecodeGraphs(self, max_batch=config.max_num_seqs)

    # -- pool sizing ---------------------------------------------------------------------

    @property
    def block_bytes(self) -> int:
        c = self.model_config
        return 2 * c.num_layers * c.num_kv_heads * self.block_size * self.cache_dim \
            * torch.tensor([], dtype=self.dtype).element_size()

    def _size_pool(self) -> int:
        if self.device.type != "cuda":
            return max(16, int(self.config.cpu_kv_cache_gib * 2**30) // self.block_bytes)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.device)
        self._warmup()
        free, total = torch.cuda.mem_get_info(self.device)
        peak = torch.cuda.max_memory_allocated(self.device)
        now = torch.cuda.memory_allocated(self.device)
        budget = total * self.config.gpu_memory_utilization - (total - free) - (peak - now)
        if self.num_host_blocks:
            budget -= min(SWAP_CHUNK, self.num_host_blocks) * self.block_bytes  # staging
        blocks = int(budget) // self.block_bytes
        if blocks < 16:
            raise RuntimeError(f"only {blocks} KV blocks fit after the weights; lower "
                               "max_num_batched_tokens or raise gpu_memory_utilization")
        return blocks

    def _warmup(self) -> None:
        """One forward at the full token budget, on a throwaway pool, to measure peak use."""
        c, bs = self.model_config, self.block_size
        n = min(self.config.max_num_batched_tokens, self.config.max_model_len or 1)
        nb = -(-n // bs)
        for _i, attn in enumerate(self.model.attention_layers()):
            attn.k_cache = torch.zeros(nb + 1, c.num_kv_heads, bs, self.cache_dim,
                                       dtype=self.dtype, device=self.device)
            attn.trash_slot = nb * bs
            attn.v_cache = torch.zeros_like(attn.k_cache)
        seq = Sequence([0] * n, params=_GREEDY, seed=0)
        seq.block_table = list(range(nb))
        self.run(Batch(items=[(seq, n)]))
        # compile the paged kernels too: chunks after a cached prefix, long and short
        chunks = []
        for prefix, chunk in ((64, min(200, n - 64)), (16, 17)):
            s = Sequence([0] * (prefix + chunk), params=_GREEDY, seed=0)
            s.block_table = list(range(-(-(prefix + chunk) // bs)))
            s.num_computed_tokens = prefix
            chunks.append((s, chunk))
        if n > 300:
            self.run(Batch(items=chunks))
            self.run(Batch(items=chunks[1:]))
        for attn in self.model.attention_layers():
            attn.k_cache = attn.v_cache = torch.empty(0)
        torch.cuda.synchronize(self.device)

    # -- one step ------------------------------------------------------------------------

    def swap(self, swaps: list[Swap]) -> None:
        """Queue the copies between the pool and the host tier (before the forward)."""
        assert self.swapper is not None, "copies between tiers queued without a host tier"
        self.swapper.apply(swaps)

    @torch.inference_mode()
    def run(self, batch: Batch) -> list[int]:
        """Compute the batch; return one sampled token per sequence that completes its
        context this step (batch order)."""
        seqs = [s for s, _ in batch.items]
        if self.graphs is not None and batch.num_decodes == len(batch.items) \
                and len(seqs) <= self.graphs.max_batch:
            logits = self.graphs.run(seqs)
            return self._sample(logits, seqs)
        ids, pos, meta, last = self.prepare(batch)
        hidden = self.model(ids, pos, meta)  # [T, hidden]
        sampling = [s for s, n in batch.items if s.num_computed_tokens + n == s.num_tokens]
        if not sampling:
            return []
        logits = self.model.compute_logits(hidden[last])  # [N, vocab]
        return self._sample(logits, sampling)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, AttentionMetadata,
                                              torch.Tensor]:
        """Flat input ids and positions [T], attention metadata, and the row of each
        sampling sequence's last token."""
        bs, dev = self.block_size, self.device
        ids: list[int] = []
        pos_parts: list[np.ndarray] = []
        slot_parts: list[np.ndarray] = []
        qsl, ctx, tables, last = [0], [], [], []
        for seq, n in batch.items:
            c = seq.num_computed_tokens
            ids.extend(seq.token_ids[c:c + n])
            p = np.arange(c, c + n, dtype=np.int64)
            table = np.asarray(seq.block_table, dtype=np.int64)
            pos_parts.append(p)
            slot_parts.append(table[p // bs] * bs + p % bs)
            qsl.append(qsl[-1] + n)
            ctx.append(c + n)
            tables.append(seq.block_table)
            if c + n == seq.num_tokens:
                last.append(qsl[-1] - 1)
        d = batch.num_decodes
        width = max(-(-x // bs) for x in ctx)
        table_arr = np.zeros((len(tables), width), dtype=np.int32)
        for i, t in enumerate(tables):
            table_arr[i, :len(t[:width])] = t[:width]

        def to(x: np.ndarray | list[int], dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x), dtype=dtype).to(dev, non_blocking=True)

        meta = AttentionMetadata(
            slot_mapping=to(np.concatenate(slot_parts), torch.int64), num_decode_tokens=d,
            query_start_loc_list=qsl, context_lens_list=ctx, block_table_lists=tables)
        if d:
            meta.decode_context_lens = to(ctx[:d], torch.int32)
            meta.decode_block_tables = to(table_arr[:d], torch.int32)
            meta.decode_num_splits = num_decode_splits(d, self.model_config.num_kv_heads,
                                                       self.num_sms)
        if len(batch.items) > d:
            pq = np.asarray(qsl[d:]) - qsl[d]
            meta.prefill_query_start_loc = to(pq, torch.int32)
            meta.prefill_context_lens = to(ctx[d:], torch.int32)
            meta.prefill_block_tables = to(table_arr[d:], torch.int32)
            meta.prefill_max_query_len = int(np.diff(pq).max())
            c0, n0 = batch.items[d][0].num_computed_tokens, batch.items[d][1]
            meta.dense_prefill = (len(batch.items) == d + 1 and c0 == 0
                                  and n0 >= DENSE_PREFILL_MIN_TOKENS)
        return (to(ids, torch.int64), to(np.concatenate(pos_parts), torch.int64), meta,
                to(last, torch.int64))

    def _sample(self, logits: torch.Tensor, seqs: list[Sequence]) -> list[int]:
        """Draw one token per row of logits [N, vocab] for ``seqs``; record log-probs for
        the sequences that asked for them."""
        tokens = self._draw(logits, seqs)
        if any(s.params.logprobs is not None for s in seqs):
            _record_logprobs(logits, seqs, tokens)
        return tokens

    def _draw(self, logits: torch.Tensor, seqs: list[Sequence]) -> list[int]:
        params = [s.params for s in seqs]
        if all(p.temperature == 0 for p in params):
            return logits.argmax(dim=-1).tolist()
        dev = logits.device

        def t(values: list[float] | list[int], dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype).to(dev, non_blocking=True)

        tokens = sample(
            logits, t([p.temperature for p in params], torch.float32),
            t([p.top_p for p in params], torch.float32),
            t([p.top_k for p in params], torch.int64), t([s.seed for s in seqs], torch.int64),
            t([s.num_tokens for s in seqs], torch.int64),
            use_filters=any(p.top_p < 1 or p.top_k > 0 for p in params))
        return tokens.tolist()


def _record_logprobs(logits: torch.Tensor, seqs: list[Sequence], tokens: list[int]) -> None:
    """Append (sampled token's logprob, top alternatives) to each asking sequence."""
    rows = [i for i, s in enumerate(seqs) if s.params.logprobs is not None]
    k = max(seqs[i].params.logprobs or 0 for i in rows)
    idx = torch.tensor(rows, device=logits.device)
    lp = torch.log_softmax(logits.index_select(0, idx).float(), dim=-1)  # [R, vocab]
    chosen = lp.gather(1, torch.tensor([[tokens[i]] for i in rows], device=lp.device))
    top_v, top_i = lp.topk(k, dim=-1) if k else (lp[:, :0], lp[:, :0].long())
    chosen_l, top_vl, top_il = chosen[:, 0].tolist(), top_v.tolist(), top_i.tolist()
    for r, i in enumerate(rows):
        n = seqs[i].params.logprobs or 0
        seqs[i].logprobs.append((chosen_l[r], list(zip(top_il[r][:n], top_vl[r][:n],
                                                       strict=True))))
