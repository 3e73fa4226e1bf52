"""``ctxkit serve``: arguments and the entry point (wired into ``ctxkit/cli.py``).

Owns the command line of the server: which model, where to listen, and the engine knobs
worth changing from a shell. It lives outside ``ctxkit.engine`` because that package
imports torch: ``ctxkit --help`` must stay fast. Torch, FastAPI and uvicorn load when run.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._args import whole

API_KEY_ENV = "CTXKIT_API_KEY"

DESCRIPTION = """\
serve a local Hugging Face model (Llama, Qwen2, Qwen3) over HTTP with paged KV, prefix
caching and continuous batching: OpenAI-compatible /v1/chat/completions, /v1/completions,
/v1/models; Anthropic-compatible /v1/messages; /health and Prometheus /metrics. Usage
reports the prompt tokens served from the prefix cache, measured.

  ctxkit serve --model /models/Qwen3-0.6B --port 8000
  OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-")
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="local model directory (config.json, *.safetensors, tokenizer)")
    parser.add_argument("--served-model-name", default=None,
                        help="the model name clients send (default: the directory's name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=whole(0, 65535), default=8000)
    parser.add_argument("--block-size", type=int, default=16, help="tokens per KV block")
    parser.add_argument("--max-num-seqs", type=int, default=256,
                        help="most requests running at once")
    parser.add_argument("--max-num-batched-tokens", type=int, default=8192,
                        help="per-step token budget (longer prompts prefill in chunks)")
    parser.add_argument("--max-model-len", type=int, default=None,
                        help="longest prompt + output (default: the model's)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--num-kv-blocks", type=int, default=None,
                        help="fix the KV pool size instead of sizing it from free memory")
    parser.add_argument("--no-prefix-caching", action="store_true")
    parser.add_argument("--host-kv-cache-gib", type=float, default=0.0,
                        help="host memory for a second prefix tier: evicted prefix blocks "
                             "are kept there and copied back on a hit (0: off)")
    parser.add_argument("--session-ttl", type=float, default=600.0, metavar="SECONDS",
                        help="an X-Session-Id not seen for this long stops protecting its "
                             "prefix from eviction")
    parser.add_argument("--drain", type=float, default=30.0, metavar="SECONDS",
                        help="on shutdown, time requests in flight get to finish")
    parser.add_argument("--enforce-eager", action="store_true", help="no CUDA graphs")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if found)")
    parser.add_argument("--api-key", default=None,
                        help="require this key ('Authorization: Bearer KEY' or 'x-api-key: "
                             f"KEY') on every route but /health; default: ${API_KEY_ENV}, "
                             "else no auth")
    parser.add_argument("--max-request-bytes", type=whole(1), default=16 << 20,
                        help="refuse larger request bodies with 413 (default: 16 MiB)")
    parser.set_defaults(func=run)


def engine_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = dict(
        block_size=args.block_size, max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens, max_model_len=args.max_model_len,
        gpu_memory_utilization=args.gpu_memory_utilization, num_kv_blocks=args.num_kv_blocks,
        enable_prefix_caching=not args.no_prefix_caching, enforce_eager=args.enforce_eager,
        device=args.device, host_kv_cache_gib=args.host_kv_cache_gib,
        session_ttl_s=args.session_ttl)
    return kw


def app_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``build_app``'s keyword arguments; the API key falls back to $CTXKIT_API_KEY."""
    return {"served_name": args.served_model_name, "drain_s": args.drain,
            "api_key": args.api_key or os.environ.get(API_KEY_ENV) or None,
            "max_request_bytes": args.max_request_bytes}


def run(args: argparse.Namespace) -> int:
    from .._errors import require

    require("torch", "engine")
    require("fastapi", "engine")
    uvicorn: Any = require("uvicorn", "engine")
    from ..engine.llm import LLM
    from ..engine.serve.server import build_app

    llm = LLM(args.model, **engine_kwargs(args))
    app = build_app(llm, **app_kwargs(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
