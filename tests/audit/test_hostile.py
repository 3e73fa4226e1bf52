"""Hostile inputs (issue 16, item 11, the audit half): a FIFO named ``*.jsonl``, a symlink to
``/dev/zero``, JSON nested past Python's recursion limit, and terminal escape sequences in
file names and tool output. Each must end in a clear message, never a hang, an exhausted
memory, a traceback, or bytes that drive the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctxkit import UserError
from ctxkit.audit import audit
from ctxkit.cli import main

from . import shapes as S

ESC = "\x1b"


def good_log(folder: Path) -> Path:
    reqs = [{"model": "gpt-4.1", "messages": [{"role": "system", "content": S.SYSTEM},
                                              {"role": "user", "content": S.TASK}]}] * 2
    return S.write(folder / "good.jsonl", reqs, jsonl=True)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command in a child process, so a hang fails the test instead of the run."""
    return subprocess.run([sys.executable, "-m", "ctxkit", "audit", *args], text=True,
                          capture_output=True, timeout=timeout, env={**os.environ,
                                                                     "COLUMNS": "200"})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_a_fifo_named_jsonl_is_skipped_not_read(tmp_path: Path) -> None:
    good_log(tmp_path)
    os.mkfifo(tmp_path / "trap.jsonl")  # nobody ever writes: opening it to read would block
    done = run_cli(str(tmp_path), "--format", "json", timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [s["name"] for s in data["sessions"]] == ["good"]
    (err,) = data["errors"]
    assert err["path"].endswith("trap.jsonl") and "a FIFO, not a regular file" in err["error"]
    with pytest.raises(UserError, match="a FIFO, not a regular file"):
        audit(tmp_path / "trap.jsonl")  # named on its own: an error, still no hang


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_symlink_to_dev_zero_is_skipped_not_read(tmp_path: Path) -> None:
    good_log(tmp_path)
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    report = audit(tmp_path)
    assert [s.name for s in report.sessions] == ["good"]
    ((path, err),) = report.errors
    assert path.endswith("zero.jsonl") and "character device" in err


def test_files_over_the_size_cap_are_refused_before_reading(tmp_path: Path) -> None:
    log = good_log(tmp_path)
    with pytest.raises(UserError, match="over the 100-byte cap.*--max-bytes"):
        audit(log, max_bytes=100)


def test_deeply_nested_json_is_an_error_not_a_recursion_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(UserError, match="nested too deeply"):
        audit(deep)
    good_log(tmp_path)
    report = audit(tmp_path)  # in a directory: listed and skipped
    assert [s.name for s in report.sessions] == ["good"]
    assert "nested too deeply" in report.errors[0][1]
    deep_doc = tmp_path / "deep.json"
    deep_doc.write_text('{"messages": [{"role": "user", "content": ' + "[" * 950
                        + "]" * 950 + "}]}")
    try:  # json parses it; walking it must still not raise RecursionError
        audit(deep_doc)
    except UserError as exc:
        assert "nested too deeply" in str(exc)


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    evil = f"{ESC}]0;pwned{chr(7)}{ESC}[2J{ESC}[31mred"
    output = f"{evil}\n" + S.listing(1, 30)
    reqs = []
    history = [{"role": "user", "content": S.TASK}]
    for k in range(3):
        reqs.append({"model": "gpt-4.1", "messages": [{"role": "system", "content":
                                                       f"{S.SYSTEM} {evil} v{k}"}, *history]})
        history += [{"role": "assistant", "content": None, "tool_calls": [{
            "id": f"c{k}", "type": "function", "function": {"name": "bash",
                                                            "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": f"c{k}", "content": output}]
    path = S.write(tmp_path / f"run{ESC}[31m.jsonl", reqs, jsonl=True)
    done = run_cli(str(path), "--width", "200")
    assert done.returncode == 0, done.stderr
    assert "duplicate tool outputs" in done.stdout and "red" in done.stdout
    assert ESC not in done.stdout and chr(7) not in done.stdout
    assert ESC not in done.stderr
    assert main(["audit", str(path), "--format", "json"]) == 0  # JSON escapes them itself


def test_lines_of_no_known_shape_name_the_file_and_a_trace_points_to_report(
        tmp_path: Path) -> None:
    odd = S.write(tmp_path / "odd.jsonl", [{"messages": 5}, None], jsonl=True)
    with pytest.raises(UserError, match=r"^.*odd\.jsonl: the first lines are neither"):
        audit([odd])
    # a ctxkit trace is the other command's input: say so instead of listing formats
    from tests.helpers import make_pipe

    trace = tmp_path / "run.jsonl"
    pipe = make_pipe(["a", "b"], trace=trace)
    pipe.run("one")
    pipe.run("two")
    with pytest.raises(UserError, match=r"run\.jsonl: .*ctxkit trace.*ctxkit report"):
        audit([trace])
    with pytest.raises(UserError, match=r"run\.jsonl: .*ctxkit report"):
        audit([trace], fmt="openai")


def test_a_byte_order_mark_at_the_start_is_read_past(tmp_path: Path) -> None:
    # Windows tools (PowerShell's Out-File, Notepad) write one; json.loads refused it
    req = {"model": "gpt-4.1", "messages": [{"role": "system", "content": S.SYSTEM},
                                            {"role": "user", "content": S.TASK}]}
    plain = S.write(tmp_path / "plain.jsonl", [req, req], jsonl=True)
    for name, data in (("bom.jsonl", plain.read_bytes()),
                       ("bom.json", json.dumps({"messages": req["messages"]}).encode())):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + data)
        totals = audit([path]).to_dict()["totals"]
        assert totals["calls"] == (2 if name.endswith("l") else 1)
    with_bom = audit([tmp_path / "bom.jsonl"]).to_dict()["totals"]
    assert with_bom["input_tokens"] == audit([plain]).to_dict()["totals"]["input_tokens"]
