"""evals/memory_recall.py runs end to end on a small LoCoMo-shaped file (``--data``):
old evidence is recalled by memory where the most recent turns cannot reach it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("memory_recall",
                                                  REPO / "evals" / "memory_recall.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _filler(i: int) -> str:
    return f"Chat number {i} about the weather, the traffic and lunch plans. " * 4


def test_eval_runs_on_a_small_conversation(tmp_path, capsys):
    s1 = [{"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a greyhound named Pixel."},
          {"speaker": "Bob", "dia_id": "D1:2", "text": "Lovely! Greyhounds are calm."}]
    s2 = [{"speaker": "Ann" if i % 2 == 0 else "Bob", "dia_id": f"D2:{i + 1}",
           "text": _filler(i)} for i in range(12)]
    conv = {"sample_id": "conv-26", "conversation": {
        "speaker_a": "Ann", "speaker_b": "Bob",
        "session_1_date_time": "1:56 pm on 8 May, 2023", "session_1": s1,
        "session_2_date_time": "2:10 pm on 9 June, 2023", "session_2": s2},
        "qa": [{"question": "What is the name of Ann's greyhound?", "answer": "Pixel",
                "evidence": ["D1:1"], "category": 4},
               {"question": "Malformed evidence still counts", "evidence": ["D:1:2; D9"],
                "category": 5}]}
    (tmp_path / "locomo").mkdir()
    (tmp_path / "locomo" / "locomo10.json").write_text(json.dumps([conv]))
    code = _load().main(["--conversations", "conv-26", "--budget", "400", "--data",
                         str(tmp_path), "--embedder", "hashing", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    single = summary["by_category"]["single-hop"]
    assert single["memory@400"] == 1.0 and single["recent@400"] == 0.0
    # BM25 over the turns finds it too ("greyhound" is in the question and the turn)
    assert single["bm25@400"] == 1.0
    assert summary["by_category"]["overall"]["questions"] == 2


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert _load().main(["--data", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
