import subprocess
import sys

import ctxkit

EXPECTED = [
    "Backend", "BackendError", "Block", "Breakpoint", "Budget", "BudgetError", "CacheRules",
    "CallRecord", "Candidate", "ContextPipeline", "CtxkitError", "Draft", "DriftEvent",
    "GreedyPacker", "Layer", "LayerTokens", "MissingExtraError", "Packer", "Prices", "Profile",
    "Provenance", "Response", "Session", "StoreError", "TokenCounter", "ToolCall",
    "ToolResult", "Trace", "Turn", "Usage", "UserError", "WorkingState", "canonical_json",
    "get_tokenizer",
    "load_trace", "profile_for", "register_profile",
]


def test_all_is_pinned_and_sorted() -> None:
    assert ctxkit.__all__ == sorted(ctxkit.__all__)
    assert ctxkit.__all__ == EXPECTED
    for name in ctxkit.__all__:
        assert hasattr(ctxkit, name), name


def test_import_is_slim() -> None:
    code = ("import sys, ctxkit, ctxkit.layers, ctxkit.testing; "
            "heavy = [m for m in ('torch', 'anthropic', 'openai', 'lancedb', 'sqlalchemy', "
            "'sentence_transformers', 'transformers') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_exception_tree() -> None:
    for exc in (ctxkit.UserError, ctxkit.BackendError, ctxkit.BudgetError, ctxkit.StoreError,
                ctxkit.MissingExtraError):
        assert issubclass(exc, ctxkit.CtxkitError)
    assert issubclass(ctxkit.UserError, ValueError)
    assert issubclass(ctxkit.MissingExtraError, ImportError)
    err = ctxkit.MissingExtraError("engine", "torch")
    assert "pip install 'ctxkit[engine]'" in str(err)


def test_cli_help_is_light() -> None:
    # `ctxkit --help` must not pay for torch, the SDKs or the stores
    code = ("import sys; from ctxkit.cli import build_parser; build_parser(); "
            "print([m for m in ('torch', 'sqlalchemy', 'lancedb', 'anthropic', 'openai', "
            "'fastapi') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
