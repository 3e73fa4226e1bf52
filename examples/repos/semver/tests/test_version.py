import pytest

from semverlite import Version, parse


def test_parse():
    assert parse("v1.2.3") == Version(1, 2, 3)


def test_numeric_ordering():
    assert parse("1.10.0") > parse("1.9.0")
    assert not parse("2.0.0") > parse("10.0.0")


def test_bump():
    assert parse("1.9.3").bump("minor") == Version(1, 10, 0)


def test_not_a_version():
    with pytest.raises(ValueError):
        parse("1.2")
