"""The command line under careless input: every subcommand's numbers are checked by the
parser, which names the option and the range, before any file is read or model loaded.

Each case once went through: ``--top -2`` hid the tables as ``--top 0`` does, ``--width 0``
and ``--max-bytes -1`` were taken (the latter then refused every file as "over the
-1-byte cap"), and ``ctxkit serve --port -5`` loaded the model before uvicorn failed with
"Servname not supported".
"""

from __future__ import annotations

import pytest

from ctxkit.cli import main

CASES = [
    (["audit", "x.jsonl", "--top", "-2"], "--top", "0 or more"),
    (["audit", "x.jsonl", "--width", "0"], "--width", "1 or more"),
    (["audit", "x.jsonl", "--max-bytes", "-1"], "--max-bytes", "1 or more"),
    (["audit", "x.jsonl", "--top", "ten"], "--top", "a whole number"),
    (["report", "x.jsonl", "--width", "-5"], "--width", "1 or more"),
    (["memory", "list", "--tenant", "t", "--user", "u", "--limit", "-1"], "--limit",
     "1 or more"),
    (["memory", "audit", "--tenant", "t", "--user", "u", "--limit", "0"], "--limit",
     "1 or more"),
    (["serve", "--model", "/no/such/model", "--port", "-5"], "--port", "0 to 65535"),
    (["serve", "--model", "/no/such/model", "--port", "70000"], "--port", "0 to 65535"),
    (["serve", "--model", "/no/such/model", "--max-request-bytes", "0"],
     "--max-request-bytes", "1 or more"),
    # the proxy's: nan/inf sizes ended in a ValueError/OverflowError traceback, and a nan
    # timeout started a proxy that answered every request with a plain-text 500
    (["proxy", "--max-body-mb", "nan"], "--max-body-mb", "a finite number > 0"),
    (["proxy", "--max-body-mb", "inf"], "--max-body-mb", "a finite number > 0"),
    (["proxy", "--max-body-mb", "0"], "--max-body-mb", "a finite number > 0"),
    (["proxy", "--read-timeout", "nan"], "--read-timeout", "a number > 0"),
    (["proxy", "--body-timeout", "nan"], "--body-timeout", "a number > 0"),
    (["proxy", "--connect-timeout", "-3"], "--connect-timeout", "a number > 0"),
    (["proxy", "--port", "70000"], "--port", "0 to 65535"),
]


@pytest.mark.parametrize("argv,option,expected", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_numbers_out_of_range_are_refused_by_the_parser(
        argv: list[str], option: str, expected: str, capsys: pytest.CaptureFixture[str]
        ) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and expected in err, err
    assert "Traceback" not in err


def test_every_subcommand_without_arguments_says_what_it_needs(
        capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("report", "audit", "serve"):
        with pytest.raises(SystemExit) as exit_:
            main([command])
        assert exit_.value.code == 2
        assert "required" in capsys.readouterr().err
    assert main(["memory"]) == 1
    assert "ctxkit memory list|show|audit|revoke" in capsys.readouterr().err
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().out
