"""LLM: the engine's front door for offline batch generation, and its step loop.

Owns the pieces wired together (tokenizer, ModelRunner, BlockManager, Scheduler), request
validation, chat templates, stop strings, detokenized outputs and the engine's counters
(prefix hits, KV occupancy, queue depth, preemptions). ``step()`` is the one unit of work;
``generate`` and ``chat`` loop over it, and the server drives it from its own thread.
Not thread-safe: one caller steps the engine at a time.

    from ctxkit.engine import LLM, SamplingParams
    llm = LLM("/models/Qwen3-0.6B")
    out = llm.generate(["The capital of France is"], SamplingParams(temperature=0))
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

from .._errors import UserError
from .block_manager import BlockManager
from .config import Config
from .model_runner import ModelRunner
from .sampling import SamplingParams
from .scheduler import Scheduler
from .sequence import Sequence

Prompt = str | list[int]
Messages = list[dict[str, Any]]


@dataclass(slots=True)
class RequestOutput:
    """A request's result so far (final once ``finished``).

    Attributes:
        num_cached_tokens: prompt tokens whose K/V came from the prefix cache, measured.
        num_host_cached_tokens: of those, the tokens copied back from the host tier.
        logprobs: per output token, its log-probability and the top alternatives
            ``[(token id, logprob), ...]`` (when ``SamplingParams.logprobs`` is set).
        finish_reason: ``stop`` (EOS, a stop token or string), ``length`` or ``abort``.
        matched_stop: the stop string that ended generation, if one did.
    """

    request_id: str
    prompt_token_ids: list[int]
    token_ids: list[int]
    text: str
    finished: bool
    finish_reason: str | None
    num_cached_tokens: int
    matched_stop: str | None = None
    num_host_cached_tokens: int = 0
    logprobs: list[tuple[float, list[tuple[int, float]]]] | None = None

    @property
    def num_prompt_tokens(self) -> int:
        return len(self.prompt_token_ids)


def load_tokenizer(path: str) -> Any:
    """The checkpoint's own tokenizer (local files only)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a tokenizer from {path} ({exc}); the directory needs "
                        "tokenizer.json and tokenizer_config.json") from exc


class LLM:
    """A local model with paged KV, prefix caching and continuous batching.

    Args:
        model: local Hugging Face directory.
        tokenizer: a transformers tokenizer to use instead of the directory's.
        **config: ``Config`` fields (block_size, max_num_seqs, max_num_batched_tokens, ...).
    """

    def __init__(self, model: str, *, tokenizer: Any = None, **config: Any) -> None:
        self.config = Config(model=str(model), **config)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(str(model))
        self.runner = ModelRunner(self.config)
        self.block_manager = BlockManager(
            self.runner.num_blocks, self.config.block_size,
            enable_prefix_caching=self.config.enable_prefix_caching,
            host_blocks=self.runner.num_host_blocks)
        self.scheduler = Scheduler(self.config, self.block_manager)
        eos = set(self.config.model_config.eos_token_ids)
        if getattr(self.tokenizer, "eos_token_id", None) is not None:
            eos.add(int(self.tokenizer.eos_token_id))
        self.eos_token_ids = frozenset(eos)
        self.check_invariants = False
        self.num_steps = 0
        self.num_generated_tokens = 0
        self._rng = random.Random(self.config.seed)
        self._arrivals = 0

    @property
    def model_name(self) -> str:
        from pathlib import Path

        return Path(self.config.model).name

    # -- requests ------------------------------------------------------------------------

    def encode(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt)["input_ids"])
        if not all(isinstance(t, int) for t in prompt):
            raise UserError("a prompt is a str or a list of token ids (ints)")
        return list(prompt)

    def apply_chat_template(self, messages: Messages, tools: list[dict[str, Any]] | None = None
                            ) -> list[int]:
        """Token ids of ``messages`` under the model's chat template, ready to generate."""
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise UserError(f"{self.model_name} has no chat template; send a plain prompt "
                            "(generate / /v1/completions) instead")
        text = self.tokenizer.apply_chat_template(messages, tools=tools or None,
                                                  add_generation_prompt=True, tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def validate(self, ids: list[int], params: SamplingParams) -> None:
        """Raise UserError if a request of ``ids`` with ``params`` can never run here."""
        if not ids:
            raise UserError("the prompt is empty; send at least one token")
        limit = self.config.max_model_len or 0
        if len(ids) >= limit:
            raise UserError(f"the prompt has {len(ids)} tokens; this engine's max_model_len "
                            f"is {limit}: shorten the prompt")
        unknown = [t for t in ids if not 0 <= t < self.config.model_config.vocab_size]
        if unknown:
            raise UserError(f"token id {unknown[0]} is outside the vocabulary")
        bm = self.block_manager
        need = bm.blocks_for(min(len(ids) + params.max_tokens, limit))
        if need + self.config.watermark_blocks > bm.num_blocks:
            raise UserError(f"prompt + max_tokens needs {need} KV blocks; the pool has "
                            f"{bm.num_blocks}: lower max_tokens or give the engine more memory")

    def add_request(self, prompt: Prompt, params: SamplingParams | None = None, *,
                    request_id: str | None = None, session_id: str | None = None
                    ) -> Sequence:
        """Queue a request; returns its Sequence (progress is read from it).

        ``session_id`` names an agent session that returns turn after turn: while it is
        active (seen within ``session_ttl_s``), its last turn's blocks are evicted last.
        """
        params = params or SamplingParams()
        ids = self.encode(prompt)
        self.validate(ids, params)
        seed = params.seed if params.seed is not None else self._rng.getrandbits(62)
        self._arrivals += 1
        seq = Sequence(ids, params, seed=seed, request_id=request_id, arrival=self._arrivals)
        if session_id is not None:
            seq.session_id = str(session_id)
            self.block_manager.touch_session(seq.session_id, time.monotonic())
        self.scheduler.add(seq)
        return seq

    def abort(self, seq: Sequence) -> None:
        self.scheduler.abort(seq)

    def has_unfinished(self) -> bool:
        return self.scheduler.num_unfinished > 0

    # -- the loop ------------------------------------------------------------------------

    def step(self) -> list[Sequence]:
        """Run one scheduler step; returns the sequences that made progress."""
        bm = self.block_manager
        if bm.sessions:
            bm.expire_sessions(time.monotonic(), self.config.session_ttl_s)
        batch = self.scheduler.schedule()
        swaps = bm.take_swaps()
        if swaps:
            self.runner.swap(swaps)
        if not batch.items:
            if self.scheduler.waiting and not self.scheduler.running:
                seq = self.scheduler.waiting[0]
                raise RuntimeError(f"{seq} cannot be admitted into an empty pool")
            return []
        sampled = self.runner.run(batch)
        self.scheduler.postprocess(batch, sampled, self.eos_token_ids)
        self.num_steps += 1
        self.num_generated_tokens += len(sampled)
        seqs = [s for s, _ in batch.items]
        for seq in seqs:
            if seq.params.stop and not seq.is_finished and self._hits_stop(seq):
                self.scheduler.finish(seq, "stop")
        if self.check_invariants:
            self.block_manager.check_invariants(self.scheduler.running)
        return seqs

    def generate(self, prompts: Prompt | Seq[Prompt],
                 params: SamplingParams | Seq[SamplingParams] | None = None
                 ) -> list[RequestOutput]:
        """Generate for every prompt (a str, token ids, or a list of either), batched."""
        if isinstance(prompts, str) or (isinstance(prompts, list) and prompts
                                        and isinstance(prompts[0], int)):
            prompts = [prompts]
        plist = list(prompts)
        if params is None or isinstance(params, SamplingParams):
            params = [params or SamplingParams()] * len(plist)
        if len(params) != len(plist):
            raise UserError(f"{len(plist)} prompts but {len(params)} SamplingParams")
        seqs = [self.add_request(p, sp) for p, sp in zip(plist, params, strict=False)]
        return self._drain(seqs)

    def chat(self, messages: Messages | Seq[Messages], params: SamplingParams | None = None,
             *, tools: list[dict[str, Any]] | None = None) -> list[RequestOutput]:
        """Generate replies for one conversation or a list of them (chat template)."""
        convs = [messages] if messages and isinstance(messages[0], dict) else messages
        seqs = [self.add_request(self.apply_chat_template(list(c), tools), params)  # type: ignore[arg-type]
                for c in convs]
        return self._drain(seqs)

    def _drain(self, seqs: list[Sequence]) -> list[RequestOutput]:
        while not all(s.is_finished for s in seqs):
            self.step()
        return [self.output(s) for s in seqs]

    # -- outputs and counters ------------------------------------------------------------

    def decode(self, token_ids: list[int]) -> str:
        return str(self.tokenizer.decode(token_ids, skip_special_tokens=True))

    def output(self, seq: Sequence) -> RequestOutput:
        text = self.decode(seq.output_token_ids) if seq.params.detokenize else ""
        matched = None
        for stop in seq.params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, matched = text[:cut], stop
        return RequestOutput(request_id=seq.request_id,
                             prompt_token_ids=seq.token_ids[:seq.num_prompt_tokens],
                             token_ids=seq.output_token_ids, text=text,
                             finished=seq.is_finished, finish_reason=seq.finish_reason,
                             num_cached_tokens=seq.num_cached_tokens or 0,
                             num_host_cached_tokens=seq.num_host_cached_tokens,
                             logprobs=list(seq.logprobs) if seq.params.logprobs is not None
                             else None,
                             matched_stop=matched if seq.is_finished else None)

    def _hits_stop(self, seq: Sequence) -> bool:
        tail = self.decode(seq.output_token_ids[-64:])
        return any(s in tail for s in seq.params.stop)

    def stats(self) -> dict[str, float]:
        """Counters for metrics: prefix hits per tier, KV occupancy per tier, queue depth,
        preemptions."""
        s, bm = self.scheduler, self.block_manager
        prompt = s.num_prompt_tokens
        host = bm.host
        return {
            "prompt_tokens": prompt, "cached_prompt_tokens": s.num_cached_prompt_tokens,
            "cached_prompt_tokens_device": s.num_cached_prompt_tokens
            - s.num_host_cached_prompt_tokens,
            "cached_prompt_tokens_host": s.num_host_cached_prompt_tokens,
            "prefix_hit_rate": s.num_cached_prompt_tokens / prompt if prompt else 0.0,
            "generated_tokens": self.num_generated_tokens,
            "kv_blocks_total": bm.num_blocks, "kv_blocks_used": bm.num_used_blocks,
            "kv_blocks_cached": len(bm.evictable),
            "kv_occupancy": bm.num_used_blocks / bm.num_blocks,
            "host_kv_blocks_total": host.num_blocks if host else 0,
            "host_kv_blocks_used": host.num_used if host else 0,
            "host_swapped_out_blocks": bm.num_swapped_out,
            "host_swapped_in_blocks": bm.num_swapped_in,
            "active_sessions": len(bm.sessions),
            "waiting": len(s.waiting), "running": len(s.running),
            "preemptions": s.num_preemptions, "recomputed_tokens": s.num_recomputed_tokens,
            "evictions": bm.num_evictions,
            "steps": self.num_steps,
        }

    def reset_prefix_cache(self) -> None:
        self.block_manager.reset_prefix_cache()
