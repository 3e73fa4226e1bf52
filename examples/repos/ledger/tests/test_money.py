import pytest

from ledger import format_cents, split


def test_format_cents():
    assert format_cents(1234) == "12.34"
    assert format_cents(-5) == "-0.05"


def test_even_split():
    assert split(900, 3) == [300, 300, 300]


def test_split_keeps_every_cent():
    parts = split(100, 3)
    assert sum(parts) == 100
    assert parts == [34, 33, 33]


def test_split_needs_parts():
    with pytest.raises(ValueError):
        split(100, 0)
