"""An example coding agent built on ctxkit: every model call assembled by a
ContextPipeline (cached prefix with tool search, session memory, compacted history,
fresh retrieval, recalled failures, working state), subagents, checkpoint and resume.

    python -m examples.coding_agent "tests/test_x.py fails; fix it" --repo PATH \\
        --backend anthropic

``agent`` wires the pipeline, ``tools`` and ``toolbox`` are its tools, ``standin`` is the
offline stand-in model for the sample repositories in ``examples/repos``, ``cli`` is the
command line. See docs/tutorial.md.
"""

from .agent import Agent, AgentConfig, Outcome

__all__ = ["Agent", "AgentConfig", "Outcome"]
