"""Local: the bundled engine as a pipeline backend, in process, with measured cache hits.

Owns rendering a Draft through the model's own chat template (system blocks -> the system
message, tool schemas -> the template's ``tools`` argument or, if it has none, a system
text; user / assistant / tool roles via the shared layout), generating with
``ctxkit.engine.LLM``, parsing ``<tool_call>{...}</tool_call>`` replies, and reporting usage
where ``cache_read_tokens`` is the engine's exact count of prompt tokens served from its
prefix cache. Knows nothing of the engine's internals beyond ``LLM``.

    from ctxkit.backends import Local
    pipe = ContextPipeline(backend=Local("/models/Qwen3-0.6B"), layers=[...])
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._backend import Backend
from .._block import Block
from .._draft import Draft
from .._errors import UserError
from .._profile import Profile, profile_for
from .._types import Response, ToolCall, Usage
from ._layout import layout

_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)
_STOP = {"stop": "end_turn", "length": "max_tokens", "abort": "error"}


def _keep(b: Block) -> bool:
    return b.kind != "thinking"


def render_messages(draft: Draft) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The draft as chat-template messages and OpenAI-style function tools."""
    lay = layout(draft, keep=_keep)
    messages: list[dict[str, Any]] = []
    if lay.system:
        messages.append({"role": "system",
                         "content": "\n\n".join(p.block.content for p in lay.system)})
    for m in lay.messages:
        if m.role == "assistant":
            text = "\n\n".join(p.block.content for p in m.parts if p.block.kind == "text")
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            calls = [p.block for p in m.parts if p.block.kind == "tool_use"]
            if calls:
                msg["tool_calls"] = [
                    {"id": b.call_id, "type": "function",
                     "function": {"name": b.name, "arguments": json.loads(b.content or "{}")}}
                    for b in calls]
            messages.append(msg)
            continue
        rest = []
        for p in m.parts:
            if p.block.kind == "tool_result":
                messages.append({"role": "tool", "tool_call_id": p.block.call_id,
                                 "name": p.block.name, "content": p.block.content})
            else:
                rest.append(p.block.content)
        if rest:
            messages.append({"role": "user", "content": "\n\n".join(rest)})
    tools = []
    for p in lay.tools:
        s = json.loads(p.block.content)
        tools.append({"type": "function", "function": {
            "name": s["name"], "description": s.get("description") or "",
            "parameters": s.get("input_schema") or {"type": "object", "properties": {}}}})
    return messages, tools


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` out of a reply."""
    calls: list[ToolCall] = []
    for raw in _TOOL_CALL.findall(text):
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            args = data.get("arguments", data.get("parameters", {}))
            calls.append(ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=data["name"],
                                  arguments=args if isinstance(args, dict) else {}))
    return (_TOOL_CALL.sub("", text).strip() if calls else text), calls


class Local(Backend):
    """The bundled engine, in process.

    Args:
        model_path: local Hugging Face directory (config.json, safetensors, tokenizer).
        max_tokens: most tokens per reply (default: the profile's ``max_output``).
        temperature: sampling temperature (0, greedy, by default: reproducible).
        top_p: nucleus sampling mass.
        top_k: sample among the k most likely tokens.
        seed: the sampling seed.
        llm: an already built ``ctxkit.engine.LLM`` to share (else one is built).
        **engine: ``ctxkit.engine.Config`` fields (block_size, num_kv_blocks, ...).
    """

    name = "local"

    def __init__(self, model_path: str | Path, *, max_tokens: int | None = None,
                 temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
                 seed: int | None = None, llm: Any = None, **engine: Any) -> None:
        from ..engine import LLM, SamplingParams

        path = Path(model_path).resolve()
        self.llm = llm if llm is not None else LLM(str(path), **engine)
        self._params: dict[str, Any] = dict(temperature=temperature, top_p=top_p,
                                            top_k=top_k, seed=seed)
        self._sampling = SamplingParams
        self._lock = threading.Lock()
        self._rendered: tuple[Draft, list[str], list[int]] | None = None
        self.profile = self._make_profile(path)
        self.max_tokens = max_tokens or self.profile.max_output
        SamplingParams(max_tokens=self.max_tokens, **self._params)  # validate now

    def _make_profile(self, path: Path) -> Profile:
        base = profile_for("local")
        window = int(self.llm.config.max_model_len or 0)
        bs = self.llm.config.block_size
        per_request, per_message = self._framing()
        return base.replace(
            name=f"local:{path.name}", tokenizer=f"hf:{path}", context_window=window,
            max_output=max(1, min(base.max_output, window // 4)),
            tokens_per_request=per_request, tokens_per_message=per_message,
            cache=replace(base.cache, kind="paged", block_size=bs, min_tokens=bs,
                          reports_cached=True))

    def _framing(self) -> tuple[int, int]:
        """Tokens the chat template adds per request and per message (measured)."""
        try:
            empty = len(self.llm.apply_chat_template([{"role": "user", "content": ""}]))
            one = len(self.llm.apply_chat_template([{"role": "user", "content": ""},
                                                    {"role": "assistant", "content": ""},
                                                    {"role": "user", "content": ""}]))
        except UserError:
            return 0, 0
        per_message = max(0, (one - empty) // 2)
        return max(0, empty - per_message), per_message

    def render_ids(self, draft: Draft) -> list[int]:
        """The prompt's exact token ids (the pipeline predicts the cache from them).

        Kept for the ``complete`` of the same draft, so a call renders once.
        """
        ids = self.render(draft)
        self._rendered = (draft, draft.chain(), ids)
        return ids

    def _ids_for(self, draft: Draft) -> list[int]:
        kept = self._rendered
        if kept is not None and kept[0] is draft and kept[1] == draft.chain():
            return kept[2]
        return self.render(draft)

    def render(self, draft: Draft) -> list[int]:
        """The prompt's token ids: the draft through the model's chat template."""
        messages, tools = render_messages(draft)
        template = getattr(self.llm.tokenizer, "chat_template", None) or ""
        if tools and "tools" not in template:
            listing = "\n".join(json.dumps(t["function"], sort_keys=True) for t in tools)
            note = ("You can call these tools; to call one, answer with <tool_call>"
                    '{"name": ..., "arguments": {...}}</tool_call>.\n' + listing)
            if messages and messages[0]["role"] == "system":
                messages[0] = {**messages[0], "content": messages[0]["content"] + "\n\n" + note}
            else:
                messages.insert(0, {"role": "system", "content": note})
            tools = []
        return list(self.llm.apply_chat_template(messages, tools or None))

    def complete(self, draft: Draft) -> Response:
        ids = self._ids_for(draft)
        room = int(self.llm.config.max_model_len or 0) - len(ids)
        if room < 1:
            raise UserError(f"the prompt has {len(ids)} tokens, the model's window is "
                            f"{self.llm.config.max_model_len}; lower the pipeline's Budget")
        params = self._sampling(max_tokens=min(self.max_tokens, room), **self._params)
        with self._lock:  # one caller steps the engine at a time
            out = self.llm.generate([ids], params)[0]
        text, calls = parse_tool_calls(out.text)
        usage = Usage(input_tokens=len(ids), cache_read_tokens=out.num_cached_tokens,
                      output_tokens=len(out.token_ids))
        stop = "tool_use" if calls else _STOP.get(out.finish_reason or "", "end_turn")
        return Response(text=text, tool_calls=calls, stop_reason=stop, usage=usage,
                        model=self.profile.name, output_ids=list(out.token_ids))
