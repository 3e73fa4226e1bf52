"""Canonical tool output: equal results give equal bytes, and noise stays out of the prompt.

    from ctxkit.canonical import Canonicalizer, canonicalize

    canonicalize("\\x1b[32mok\\x1b[0m 3 passed in 0.53s at 2024-05-01T10:00:00Z")
    # 'ok 3 passed in <DURATION> at <TIMESTAMP>'

    pipe = ContextPipeline(backend, layers, canonical=Canonicalizer(
        unordered_tools={"ls", "env"}, max_lines=200))

The pipeline's tool loop runs every tool result through its ``canonical=`` Canonicalizer
(``DEFAULT`` unless told otherwise; ``None`` turns it off) before it enters the history.
"""

from ._canonicalizer import DEFAULT, REFERENCE_PREFIX, Canonicalizer, canonicalize
from ._rules import Numbering, Rule

__all__ = ["Canonicalizer", "DEFAULT", "Numbering", "REFERENCE_PREFIX", "Rule", "canonicalize"]
