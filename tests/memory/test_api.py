"""The public face of ctxkit.memory: names pinned, slim import kept."""

from __future__ import annotations

import subprocess
import sys

import ctxkit.memory


def test_public_names_are_pinned():
    assert ctxkit.memory.__all__ == [
        "AuditEntry", "Consolidation", "ExtractedFact", "HashingEmbedder", "LLMDecomposer",
        "MemoryHit", "MemoryLink", "MemoryRecord",
        "MemoryStore", "MemoryView", "MemoryWriter", "ModelExtractor", "QueryParts",
        "RecallParams", "Redaction", "Scope", "SearchParams", "decompose", "explicit_mark",
        "extractive_summary", "fence", "redact", "rule_extractor",
    ]
    for name in ctxkit.memory.__all__:
        assert getattr(ctxkit.memory, name) is not None


def test_layers_and_value_types_import_without_the_storage_stack():
    code = ("import sys, ctxkit, ctxkit.layers, ctxkit.memory\n"
            "from ctxkit.memory import Scope, redact, fence\n"
            "from ctxkit.layers import Memory, Recall\n"
            "heavy = [m for m in ('sqlalchemy', 'lancedb', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
