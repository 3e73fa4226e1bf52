"""Model backends: Anthropic, OpenAI (and every OpenAI-compatible server), and Replay.

    from ctxkit.backends import Anthropic, OpenAI
    Anthropic("claude-sonnet-4-5")                         # ANTHROPIC_API_KEY
    OpenAI("gpt-5", api="responses")                       # OPENAI_API_KEY
    OpenAI("Qwen/Qwen3-8B", base_url="http://gpu:8000/v1", profile="vllm")
    Local("path/to/hf-model-dir")                          # the bundled engine, in process

Each renders the backend-neutral Draft into its provider's wire format so the provider's
cache is hit as often as possible, and reads back exactly what the provider charged. The
SDKs are optional extras, imported when a backend first talks to its server. Retries
(``RetryPolicy``) and per-key token budgets (``TokenBudget``) are ctxkit's own.
"""

from ._local import Local
from ._ratelimit import TokenBudget
from ._replay import Replay
from ._retry import ProviderError, RetryPolicy
from .anthropic import Anthropic
from .openai import OpenAI

__all__ = ["Anthropic", "Local", "OpenAI", "ProviderError", "Replay", "RetryPolicy",
           "TokenBudget"]
