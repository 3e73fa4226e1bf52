"""The cache-replay eval runs, and its two layouts differ the way the issue says."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

EVAL = Path(__file__).resolve().parents[2] / "evals" / "cache_replay.py"


def test_short_replay_favours_the_ctxkit_layout(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("cache_replay", EVAL)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--turns", "3", "--profiles", "claude-sonnet-4-5", "gpt-5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for row in rows:
        ours, naive = row["ctxkit"], row["naive"]
        assert ours["calls"] == naive["calls"] == 9
        assert naive["read"] == 0  # a timestamp first: nothing is ever reused
        assert ours["hit"] > 0.5 and row["ratio"] < 1
