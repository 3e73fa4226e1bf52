"""The engine needs the ``engine`` extra: without torch its import names the fix, and
the other engine tests (not collected then, see conftest.py) skip with that reason."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


def test_engine_import_without_torch_names_the_extra() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "from ctxkit import MissingExtraError\n"
            "try:\n    import ctxkit.engine\nexcept MissingExtraError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'ctxkit[engine]'" in out


def test_engine_tests_run_only_with_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the engine tests need torch: pip install 'ctxkit[engine]'")
    import ctxkit.engine

    assert ctxkit.engine.LLM is not None
