"""Wire formats as the proxy reads them: a request body as ctxkit blocks, a reply (JSON
or server-sent events) as a ctxkit Response with its reported usage.

Owns only the glue: the Anthropic Messages and OpenAI Chat shapes are read by the audit's
format readers (``ctxkit.audit._formats``), the Responses API input here; replies are
rebuilt by the backends' own parsers and stream accumulators, so the proxy and the
backends agree on what usage means (whole prompt in ``input_tokens``). Usage from a stream
comes from its final events (``message_delta``, the last chat chunk, ``response.completed``).
Knows nothing of HTTP or sessions.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .._block import Block
from .._errors import BackendError
from .._record import BlockRecord
from .._types import Response
from ..audit._formats import (
    _part_text,
    _ttl,
    anthropic_message_items,
    as_recorded,
    openai_items,
    text_of,
    tool_items,
)
from ..audit._prompt import CallBuilder, RecordedCall, header
from ..backends.anthropic._parse import parse as parse_message
from ..backends.anthropic._stream import MessageAccumulator
from ..backends.openai._parse import parse_chat, parse_responses
from ..backends.openai._stream import ChatAccumulator, ResponsesAccumulator


@dataclass(slots=True)
class Request:
    """What the proxy understood of one request body."""

    route: str
    model: str
    stream: bool
    call: RecordedCall
    items: list[Item] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    block_records: list[Any] = field(default_factory=list)
    cache_key: str | None = None
    continues: str | None = None  # Responses' previous_response_id: state kept upstream


@dataclass(slots=True)
class Item:
    """One request item (the tool list, the system part, one message) as blocks, with each
    block's serialized segment and, per tokenizer, its tokens."""

    value: Any
    blocks: list[Block]
    where: list[str]
    segments: list[str]
    tokens: dict[str, list[int]] = field(default_factory=dict)
    records: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(slots=True)
class _Assembled:
    """The last call assembled for a route: its items, and after each item the number of
    blocks and the serialization's length so far (entry 0 is before the first item)."""

    items: list[Item]
    call: RecordedCall
    num_blocks: list[int]
    lengths: list[int]


Unit = tuple[tuple[Any, ...], Any, Callable[[], list[tuple[Block, str]]]]


class RequestReader:
    """Reads request bodies into RecordedCalls, reusing the items of recent requests.

    An agent's next request repeats its previous one and appends a little, so an item
    (a message at the same position, the same tool list) equal to one seen recently is
    taken from the cache rather than rebuilt and re-tokenized: the work per call follows
    what is new, not the length of the conversation.
    """

    def __init__(self, keep: int = 4, max_units: int = 200_000) -> None:
        self.keep = keep
        self.max_units = max_units
        self._seen: dict[tuple[Any, ...], list[Item]] = {}
        self._last: dict[str, _Assembled] = {}

    def read(self, route: str, body: bytes) -> Request:
        """Parse a body of ``route`` (``messages``, ``chat``, ``responses``).

        Raises:
            ValueError: the body is not a JSON object, or a part of it is not of its API's
                type (``messages`` a number): upstream will say why it refuses it.
        """
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("the request body is not a JSON object")
            units = {"messages": _anthropic_units, "chat": _chat_units,
                     "responses": _responses_units}[route](data)
            items = [self._item(route, key, value, build) for key, value, build in units]
        except (TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            raise ValueError(f"not in the shape of the API ({type(exc).__name__}: {exc})"
                             ) from None
        call = self._assemble(route, items)
        return Request(route=route, model=str(data.get("model") or "unknown"),
                       stream=bool(data.get("stream")), call=call, items=items,
                       cache_key=data.get("prompt_cache_key"),
                       continues=data.get("previous_response_id"))

    def _assemble(self, route: str, items: list[Item]) -> RecordedCall:
        """The RecordedCall of ``items``, continuing the arrays of the last call of this
        route for the items the two share at the start (the same cached Item objects)."""
        prev = self._last.get(route)
        k = 0
        if prev is not None:
            m = min(len(prev.items), len(items))
            while k < m and prev.items[k] is items[k]:
                k += 1
        call = CallBuilder(0).call
        nb = prev.num_blocks[k] if prev is not None and k else 0
        length = prev.lengths[k] if prev is not None and k else 0
        if prev is not None and k:
            pc = prev.call
            call.blocks, call.where = pc.blocks[:nb], pc.where[:nb]
            call.starts, call.content_starts = pc.starts[:nb], pc.content_starts[:nb]
        num_blocks = prev.num_blocks[:k + 1] if prev is not None and k else [0]
        lengths = prev.lengths[:k + 1] if prev is not None and k else [0]
        parts: list[str] = []
        for item in items[k:]:
            for blk, at, seg in zip(item.blocks, item.where, item.segments, strict=True):
                call.blocks.append(blk)
                call.where.append(at)
                call.starts.append(length)
                call.content_starts.append(length + len(seg) - len(blk.content) - 1)
                parts.append(seg)
                length += len(seg)
            num_blocks.append(len(call.blocks))
            lengths.append(length)
        head = prev.call.text[:prev.lengths[k]] if prev is not None and k else ""
        call.text = head + "".join(parts)
        self._last[route] = _Assembled(items, call, num_blocks, lengths)
        return call

    def count_tokens(self, req: Request, tokenizer: str, count: Callable[[str], int]) -> None:
        """Fill ``req.tokens`` (tokens of each block's segment) and ``req.block_records``,
        item by cached item."""
        out: list[int] = []
        recs: list[Any] = []
        for item in req.items:
            t = item.tokens.get(tokenizer)
            if t is None:
                t = item.tokens[tokenizer] = [int(count(seg)) for seg in item.segments]
                item.records[tokenizer] = [block_record(b, n) for b, n in
                                           zip(item.blocks, t, strict=True)]
            out += t
            recs += item.records[tokenizer]
        req.tokens, req.block_records = out, recs

    def _item(self, route: str, key: tuple[Any, ...], value: Any,
              build: Callable[[], list[tuple[Block, str]]]) -> Item:
        k = (route, *key)
        recent = self._seen.get(k)
        if recent is not None:
            for item in recent:
                if item.value == value:
                    return item
        pairs = build()
        item = Item(value=value, blocks=[p[0] for p in pairs], where=[p[1] for p in pairs],
                    segments=[header(p[0]) + p[0].content + "\n" for p in pairs])
        if len(self._seen) >= self.max_units:
            self._seen.clear()
        lst = self._seen.setdefault(k, [])
        lst.insert(0, item)
        del lst[self.keep:]
        return item


def _anthropic_units(data: dict[str, Any]) -> list[Unit]:
    """Tools, then system, then messages: the order Anthropic caches in."""
    system = data.get("system")
    tools = data.get("tools")
    units: list[Unit] = [(("tools",), tools, lambda: tool_items(tools)),
                         (("system",), system, lambda: _anthropic_system(system))]
    for i, msg in enumerate(data.get("messages") or []):
        units.append((("msg", i), msg, partial(_anthropic_message, i, msg)))
    return units


def _anthropic_system(system: Any) -> list[tuple[Block, str]]:
    parts = system if isinstance(system, list) else ([system] if system else [])
    out = []
    for j, part in enumerate(parts):
        at = "system" if isinstance(system, str) else f"system[{j}]"
        out.append((Block(layer="system", role="system", key=f"system:{j}",
                          content=_part_text(part), cache=_ttl(part)), at))
    return out


def _anthropic_message(i: int, msg: Any) -> list[tuple[Block, str]]:
    if not isinstance(msg, dict):
        return [(Block(layer="user", role="user", key=f"msg:{i}", content=as_recorded(msg)),
                 f"messages[{i}]")]
    return anthropic_message_items(msg, i)


def _chat_units(data: dict[str, Any]) -> list[Unit]:
    """Leading system/developer messages, then tools, then the conversation."""
    msgs = data.get("messages")
    msgs = msgs if isinstance(msgs, list) else []
    head = 0
    while head < len(msgs) and isinstance(msgs[head], dict) and \
            msgs[head].get("role") in ("system", "developer"):
        head += 1
    tools = data.get("tools")
    units: list[Unit] = [(("msg", i), m, partial(openai_items, m, i))
                         for i, m in enumerate(msgs[:head])]
    units.append((("tools",), tools, lambda: tool_items(tools)))
    for i, m in enumerate(msgs[head:], start=head):
        units.append((("msg", i), m, partial(
            openai_items, m if isinstance(m, dict) else {"role": "user",
                                                         "content": as_recorded(m)}, i)))
    return units


def _responses_units(data: dict[str, Any]) -> list[Unit]:
    """Instructions, tools, then the input items."""
    instructions = data.get("instructions")
    tools = data.get("tools")
    items = data.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    units: list[Unit] = [
        (("instructions",), instructions, lambda: [] if not instructions else [
            (Block(layer="system", role="system", key="instructions",
                   content=text_of(instructions)), "instructions")]),
        (("tools",), tools, lambda: tool_items(tools))]
    for i, item in enumerate(items if isinstance(items, list) else []):
        units.append((("msg", i), item, partial(_response_item, item, i)))
    return units


def _response_item(item: Any, i: int) -> list[tuple[Block, str]]:
    at, key = f"input[{i}]", f"msg:{i}"
    if not isinstance(item, dict):
        return [(Block(layer="user", role="user", key=key, content=as_recorded(item)), at)]
    kind = item.get("type", "message")
    if kind == "message":
        return openai_items({"role": item.get("role", "user"),
                             "content": item.get("content")}, i, where="input")
    if kind == "function_call":
        return [(Block(layer="assistant", role="assistant", kind="tool_use", key=key,
                       name=str(item.get("name", "?")), call_id=str(item.get("call_id") or key),
                       content=as_recorded(item.get("arguments", ""))), at)]
    if kind == "function_call_output":
        return [(Block(layer="observation", role="tool", kind="tool_result", key=key,
                       call_id=str(item.get("call_id") or key),
                       content=text_of(item.get("output"))), at)]
    if kind == "reasoning":
        text = "\n".join(str(s.get("text", "")) for s in item.get("summary") or []
                         if isinstance(s, dict))
        return [(Block(layer="assistant", role="assistant", kind="thinking", key=key,
                       content=text or as_recorded(item)), at)]
    return [(Block(layer="user", role="user", key=key, content=as_recorded(item)), at)]


MAX_TOKENS = 2**53  # a reported count past this is garbage (and overflows a float's cost)
_RECORDS: dict[tuple[str, str, str, str | None, int], BlockRecord] = {}


def block_record(b: Block, tokens: int) -> BlockRecord:
    """The record of a block, shared between the calls that repeat it."""
    key = (b.hash, b.layer, b.key, b.cache, tokens)
    rec = _RECORDS.get(key)
    if rec is None:
        if len(_RECORDS) > 500_000:
            _RECORDS.clear()
        rec = _RECORDS[key] = BlockRecord.model_construct(
            layer=b.layer, key=b.key, role=b.role, kind=b.kind, hash=b.hash, tokens=tokens,
            cache=b.cache, must_keep=True, score=None, trust="trusted")
    return rec


def decode(raw: bytes, encoding: str | None) -> bytes:
    """The body as sent before ``content-encoding`` (gzip, deflate, br, zstd). A body cut
    short (the reply ended early) gives what its start holds.

    Raises:
        ValueError: an unknown encoding, or a body that is not in it (corrupt).
        ImportError: ``br``/``zstd`` without their decoder installed.
    """
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return raw
    try:
        if enc in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw)
        if enc == "deflate":
            try:
                return zlib.decompressobj().decompress(raw)
            except zlib.error:
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw)
        if enc == "br":
            import brotli  # present when upstream sends br

            return bytes(brotli.Decompressor().process(raw))
        if enc == "zstd":
            import zstandard

            return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(raw))
    except ImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib.error, brotli.error, ZstdError
        raise ValueError(f"the {enc} body is corrupt ({exc})") from None
    raise ValueError(f"unknown content-encoding {encoding!r}")


def sse_events(text: str) -> list[Any]:
    """The JSON payloads of a server-sent event stream, in order (``[DONE]`` left out)."""
    out: list[Any] = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].removeprefix(" ") for line in event.split("\n")
                         if line.startswith("data:"))
        if not data or data == "[DONE]":
            continue
        try:
            out.append(json.loads(data))
        except ValueError:
            continue  # a keep-alive comment or a cut last event
    return out


def read_reply(route: str, body: bytes, content_type: str) -> tuple[Response | None, str | None]:
    """The reply as a Response (usage included), or None and why it could not be read.

    A stream that ended early still yields the usage its events carried so far. A reply
    not in its API's shape (usage counts in a list, content of numbers, 1e400 tokens) is
    None with the parser's complaint: upstream said 200, so the call is still recorded.
    """
    try:
        response, note = _read_reply(route, body, content_type)
        u = response.usage if response is not None else None
        if u is not None and max(u.input_tokens, u.output_tokens) > MAX_TOKENS:
            raise ValueError(f"usage reports over {MAX_TOKENS:,} tokens, more than any "
                             "model reads or writes")
        return response, note
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, ArithmeticError,
            RecursionError, BackendError) as exc:
        return None, f"the reply could not be read: {type(exc).__name__}: {exc}"


def _read_reply(route: str, body: bytes, content_type: str
                ) -> tuple[Response | None, str | None]:
    text = body.decode("utf-8", errors="replace")
    if "text/event-stream" in content_type:
        return _read_stream(route, sse_events(text))
    try:
        data = json.loads(text)
    except ValueError:
        return None, "the reply is not JSON"
    if not isinstance(data, dict):
        return None, "the reply is not a JSON object"
    if route == "messages":
        return parse_message(data)[0], None
    return (parse_chat(data) if route == "chat" else parse_responses(data)), None


def _read_stream(route: str, events: list[Any]) -> tuple[Response | None, str | None]:
    events = [e for e in events if isinstance(e, dict)]
    if route == "messages":
        acc = MessageAccumulator()
        for e in events:
            if e.get("type") == "error":
                return None, f"error event: {(e.get('error') or {}).get('message')}"
            acc.feed(e)
        if not acc.message:
            return None, "the stream ended before message_start"
        msg = dict(acc.message, content=[b for _, b in sorted(acc.blocks.items())])
        for b in msg["content"]:
            if b.get("type") == "tool_use" and not isinstance(b.get("input"), dict):
                b["input"] = {}
        return parse_message(msg)[0], None if acc.done else "the stream ended early"
    if route == "chat":
        chat = ChatAccumulator()
        for e in events:
            chat.feed(e)
        done = chat.finish_reason is not None
        if not done and chat.usage is None:
            return None, "the stream ended before a finish_reason"
        chat.finish_reason = chat.finish_reason or "incomplete"
        return parse_chat(chat.finish()), None if done else "the stream ended early"
    resp = ResponsesAccumulator()
    for e in events:
        try:
            resp.feed(e)
        except Exception as exc:  # a response.failed event: the upstream's own words
            return None, str(exc)
    if resp.final is None:
        return None, "the stream ended before response.completed"
    return parse_responses(resp.final), None
