"""ctxkit's bundled local engine: paged KV, prefix caching, continuous batching.

In the shape of the small serving engines (nano-vllm): ``Config``, ``Sequence``,
``BlockManager``, ``Scheduler``, ``ModelRunner``, ``models/`` (Llama, Qwen2, Qwen3 from
local safetensors), ``attention/`` (Triton paged kernels on GPU, a PyTorch reference on
CPU), ``server.py`` (OpenAI- and Anthropic-compatible HTTP). Needs the ``engine`` extra:

    pip install 'ctxkit[engine]'

    from ctxkit.engine import LLM, SamplingParams
    llm = LLM("/models/Llama-3.2-1B-Instruct")
    print(llm.chat([{"role": "user", "content": "hi"}], SamplingParams(temperature=0))[0].text)
"""

from .._errors import MissingExtraError

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("engine", "torch") from exc

from .block_manager import BlockManager
from .config import Config, ModelConfig
from .llm import LLM, RequestOutput
from .sampling import SamplingParams
from .scheduler import Batch, Scheduler
from .sequence import Sequence, SequenceStatus

__all__ = ["Batch", "BlockManager", "Config", "LLM", "ModelConfig", "RequestOutput",
    "SamplingParams", "Scheduler", "Sequence", "SequenceStatus"]
