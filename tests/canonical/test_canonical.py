"""Canonical tool output: noise and volatile values out, meaning kept."""

from __future__ import annotations

import pytest

from ctxkit import UserError
from ctxkit.canonical import Canonicalizer, canonicalize

RUN_A = ("\x1b[1m============ test session starts ============\x1b[0m\n"
         "platform linux -- Python 3.11.9, pytest-8.3.2\n"
         "rootdir: /tmp/pytest-of-ci/pytest-41/test_x0\n"
         "collected 3 items\n"
         " 33%|███▎      | 1/3 [00:01<00:02]\r 66%|██████▋   | 2/3\r100%|██████████| 3/3\n"
         "tests/test_parser.py \x1b[32m...\x1b[0m\n"
         "started 2024-05-01T10:00:00.123Z request-id: a1b2c3d4e5f6 pid=4242\n"
         "<Parser object at 0x7f3a2c1b4d50> in /tmp/tmpk3j2x1ab/parser.py\n"
         "trace 123e4567-e89b-12d3-a456-426614174000\n"
         "\x1b[32m3 passed in 0.53s\x1b[0m")
RUN_B = ("\x1b[1m============ test session starts ============\x1b[0m\n"
         "platform linux -- Python 3.11.9, pytest-8.3.2\n"
         "rootdir: /tmp/pytest-of-ci/pytest-97/test_x0\n"
         "collected 3 items\n"
         " 50%|█████     | 1/3\r100%|██████████| 3/3\n"
         "tests/test_parser.py \x1b[32m...\x1b[0m\n"
         "started 2025-11-28T23:59:59Z request-id: ffee00112233 pid=977\n"
         "<Parser object at 0x7ffe00112233> in /tmp/tmpzz91qq0c/parser.py\n"
         "trace 9b2f1c3e-0000-4a4a-8b8b-0123456789ab\n"
         "\x1b[32m3 passed in 12.07s\x1b[0m")


def test_two_runs_that_differ_only_in_noise_become_identical() -> None:
    a, b = canonicalize(RUN_A), canonicalize(RUN_B)
    assert a == b
    assert "\x1b" not in a and "\r" not in a
    assert "100%|██████████| 3/3" in a and "33%" not in a  # only the final progress state
    for token in ("<TIMESTAMP>", "<DURATION>", "<TMP1>", "<TMP2>", "<ID1>", "<PID1>",
                  "<ADDR1>", "<UUID1>"):
        assert token in a, token
    assert "3 passed in <DURATION>" in a


def test_genuinely_different_outputs_stay_different() -> None:
    failing = RUN_A.replace("3 passed", "2 passed, 1 failed")
    assert canonicalize(RUN_A) != canonicalize(failing)
    # what a tool says is kept: line numbers, plain dates, hashes, hex constants, paths
    for a, b in [("a.py:12:5: E501 line too long", "a.py:13:5: E501 line too long"),
                 ("released 2024-05-01", "released 2024-06-01"),
                 ("HEAD is now at 3f2a9c1 fix", "HEAD is now at 8e1b0d2 fix"),
                 ("mask = 0xFFFFFFFF", "mask = 0xFFFF0000"),
                 ("wrote /tmp/build.log", "wrote /tmp/deploy.log"),
                 ("retry in 5 attempts", "retry in 6 attempts")]:
        assert canonicalize(a) != canonicalize(b), (a, b)
        assert canonicalize(a) == a


def test_numbering_keeps_distinct_values_distinct_within_one_output() -> None:
    out = canonicalize("copy /tmp/tmpaaaa1111/x to /tmp/tmpbbbb2222/x and back to "
                       "/tmp/tmpaaaa1111/x")
    assert out == "copy <TMP1>/x to <TMP2>/x and back to <TMP1>/x"


def test_terminal_overwrites_and_backspaces() -> None:
    assert canonicalize("Downloading 10%\rDownloading 100%\ndone") == "Downloading 100%\ndone"
    assert canonicalize("abx\bc") == "abc"


def test_unordered_output_is_sorted_only_when_declared() -> None:
    c = Canonicalizer(unordered_tools=frozenset({"ls"}))
    assert c("b.py\na.py\nc.py", tool="ls") == "a.py\nb.py\nc.py"
    assert c("b.py\na.py\nc.py", tool="cat") == "b.py\na.py\nc.py"
    assert c("b\na", unordered=True) == "a\nb"


def test_truncation_is_deterministic_head_and_tail_with_a_count() -> None:
    c = Canonicalizer(max_lines=10, head_lines=6, tail_lines=3)
    text = "\n".join(f"line {i}" for i in range(100))
    out = c(text).split("\n")
    assert out[:6] == [f"line {i}" for i in range(6)]
    assert out[6] == "[... 91 lines omitted ...]"
    assert out[7:] == ["line 97", "line 98", "line 99"]
    assert c(text) == c(text)
    short = Canonicalizer(max_line_chars=20)("x" * 50)
    assert short == "x" * 20 + " [... 30 chars omitted]"


def test_bad_settings_say_what_to_change() -> None:
    with pytest.raises(UserError, match="max_lines"):
        Canonicalizer(max_lines=10, head_lines=8, tail_lines=5)
    with pytest.raises(UserError, match="str"):
        canonicalize(b"bytes")  # type: ignore[arg-type]
