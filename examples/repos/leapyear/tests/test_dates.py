import pytest

from calutil import days_in_month, is_leap


@pytest.mark.parametrize("year", [1996, 2000, 2024, 2400])
def test_leap_years(year):
    assert is_leap(year)


@pytest.mark.parametrize("year", [1900, 2100, 2023])
def test_century_years_are_not_leap_unless_divisible_by_400(year):
    assert not is_leap(year)


def test_days_in_february():
    assert days_in_month(2024, 2) == 29
    assert days_in_month(1900, 2) == 28


def test_bad_month():
    with pytest.raises(ValueError):
        days_in_month(2024, 13)
