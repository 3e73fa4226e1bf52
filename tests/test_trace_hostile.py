"""Traces from a crash, an attacker or a newer ctxkit: clear errors, nothing hangs.

Each case once failed: a FIFO or a symlink to /dev/zero named ``*.jsonl`` hung or ate
memory, deep JSON raised RecursionError, a last line cut off by a crash failed the whole
report, a newer schema was read without a word, and ESC sequences in a trace reached the
terminal. The hanging cases run in a subprocess with a timeout, so a regression fails
instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ctxkit import StoreError, load_trace
from ctxkit._record import TraceWarning
from ctxkit.cli import main
from tests.helpers import make_pipe

pytestmark = pytest.mark.moves_prefix("the sessions here only produce traces to corrupt")


def _trace(tmp_path: Path, calls: int = 2) -> Path:
    path = tmp_path / "run.jsonl"
    pipe = make_pipe([f"answer {i}" for i in range(calls)], trace=path)
    for i in range(calls):
        pipe.run(f"question {i}")
    return path


def _load_in_subprocess(path: Path) -> subprocess.CompletedProcess[str]:
    code = ("import sys\nfrom ctxkit import load_trace, StoreError\n"
            f"try:\n    load_trace({str(path)!r})\nexcept StoreError as e:\n"
            "    print('StoreError:', e)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need a POSIX system")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "session.jsonl"
    os.mkfifo(fifo)
    out = _load_in_subprocess(fifo)
    assert "StoreError:" in out.stdout and "not a regular file" in out.stdout, out


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "zero.jsonl"
    link.symlink_to("/dev/zero")
    out = _load_in_subprocess(link)
    assert "not a regular file" in out.stdout, out
    assert main(["report", str(link)]) == 1


def test_a_trace_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    with pytest.raises(StoreError, match=r"over the 1,000 this read allows.*max_bytes"):
        load_trace(path, max_bytes=1000)
    assert len(load_trace(path)) == 2


def test_deep_json_is_a_clear_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    with open(path, "a") as fh:
        fh.write("[" * 200_000 + "]" * 200_000 + "\n")
    with pytest.raises(StoreError, match=r"run.jsonl:3 nests JSON deeper"):
        load_trace(path)


def test_a_cut_off_last_line_is_skipped_with_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _trace(tmp_path, calls=3)
    whole = path.read_text().splitlines()
    path.write_text("\n".join(whole) + "\n" + whole[0][: len(whole[0]) // 2])
    with pytest.warns(TraceWarning, match=r"run.jsonl:4: skipped a last line cut off"):
        records = load_trace(path)
    assert len(records) == 3
    assert main(["report", str(path)]) == 0
    cap = capsys.readouterr()
    assert "warning: " in cap.err and "cut off" in cap.err
    assert "3 ok, 0 failed" in cap.out
    # a bad line that is not the last is still an error: it is not a crash's footprint
    path.write_text(whole[0][:40] + "\n" + "\n".join(whole) + "\n")
    with pytest.raises(StoreError, match=r"run.jsonl:1"):
        load_trace(path)


def test_a_newer_schema_is_refused_naming_the_version(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    lines = path.read_text().splitlines()
    newer = json.loads(lines[1])
    newer["schema_version"] = 7
    path.write_text(lines[0] + "\n" + json.dumps(newer) + "\n")
    with pytest.raises(StoreError, match=r"run.jsonl:2 .*schema_version 7; this ctxkit "
                                         r"reads up to 1.*upgrade"):
        load_trace(path)


def test_escape_sequences_from_a_trace_never_reach_the_terminal(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    evil = "\x1b]0;pwned\x07\x1b[2J\x9b31m"
    lines = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        rec["model"] = f"gpt{evil}"
        rec["error"] = None
        rec["by_layer"] = {f"{k}{evil}": v for k, v in rec["by_layer"].items()}
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    out = subprocess.run([sys.executable, "-m", "ctxkit", "report", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # the text stays, the controls go
    assert "gpt]0;pwned[2J31m" in out.stdout and "history]0;pwned" in out.stdout
    assert not any(c in out.stdout for c in "\x1b\x07\x9b"), repr(out.stdout[:400])


def test_piped_report_prints_every_figure_whole(tmp_path: Path) -> None:
    import re

    path = _trace(tmp_path, calls=12)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run([sys.executable, "-m", "ctxkit", "report", str(path)],
                         capture_output=True, text=True, timeout=120, env=env).stdout
    assert "…" not in out, out
    for i, r in enumerate(load_trace(path)):
        u = r.usage
        figures = [f"{n:,}" for n in (u.input_tokens, u.cache_read_tokens,
                                      u.cache_write_tokens, u.uncached_tokens, u.output_tokens)]
        assert re.search(rf"^{i}\s+{r.turn}\.{r.step}\s+" + r"\s+".join(figures), out, re.M), \
            (i, figures, out)
        assert f"${r.cost_usd:,.4f}" in out


def _edited(path: Path, edit: Any) -> None:
    lines = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        edit(rec)
        lines.append(json.dumps(rec))  # json.dumps writes NaN and Infinity as given
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("field,value", [("cost_usd", float("nan")),
                                         ("latency_s", float("inf")),
                                         ("started_at", float("-inf"))])
def test_nan_and_infinity_are_refused_naming_the_field(tmp_path: Path, field: str,
                                                       value: float) -> None:
    # once read as given: `--format json` then printed NaN (not JSON) and the HTML page's
    # JSON.parse failed, leaving it without charts
    path = _trace(tmp_path)
    _edited(path, lambda rec: rec.update({field: value}))
    for with_blocks in (True, False):
        with pytest.raises(StoreError, match=rf"run.jsonl:1 .*{field}.*finite"):
            load_trace(path, with_blocks=with_blocks)
    assert main(["report", str(path), "--format", "json", "-o", str(tmp_path / "r.json")]) == 1
    assert not (tmp_path / "r.json").exists()


def test_a_bad_field_is_named_in_the_error(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    _edited(path, lambda rec: rec["predicted"].update(input_tokens=-10))
    with pytest.raises(StoreError, match=r"run.jsonl:1 .*\(predicted: .*must be >= 0\)"):
        load_trace(path)
    _edited(path, lambda rec: rec.pop("predicted"))
    with pytest.raises(StoreError, match=r"run.jsonl:1 .*predicted: Field required"):
        load_trace(path)


def test_negative_layer_tokens_are_refused(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    _edited(path, lambda rec: rec["by_layer"]["prefix"].update(read=-1000))
    with pytest.raises(StoreError, match=r"run.jsonl:1 .*by_layer\.prefix\.read"):
        load_trace(path, with_blocks=False)


@pytest.mark.parametrize("version", ["2", 2.0])
def test_a_newer_schema_is_refused_however_its_version_is_spelled(tmp_path: Path,
                                                                   version: Any) -> None:
    path = _trace(tmp_path)
    _edited(path, lambda rec: rec.update(schema_version=version))
    with pytest.raises(StoreError, match=r"run.jsonl:1 .*schema_version 2; this ctxkit"):
        load_trace(path)


def test_a_byte_order_mark_at_the_start_is_read_past(tmp_path: Path) -> None:
    # a trace re-saved by a Windows editor starts with one; the first record was refused
    path = _trace(tmp_path)
    records = load_trace(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [r.call_id for r in load_trace(path)] == [r.call_id for r in records]
    assert len(load_trace(path, with_blocks=False)) == 2


def test_a_trace_given_twice_is_counted_once(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # `ctxkit report run.jsonl run*.jsonl` (or a copy of the trace) once doubled every figure
    path = _trace(tmp_path, calls=3)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(path.read_bytes())
    assert main(["report", str(path), "--format", "json"]) == 0
    once = json.loads(capsys.readouterr().out)
    assert main(["report", str(path), str(tmp_path / "." / "run.jsonl"), str(copy),
                 "--format", "json"]) == 0
    cap = capsys.readouterr()
    twice = json.loads(cap.out)
    assert twice["calls"] == once["calls"] == 3
    assert twice["input_tokens"] == once["input_tokens"]
    assert "6 records appear more than once" in cap.err and "counted once" in cap.err
