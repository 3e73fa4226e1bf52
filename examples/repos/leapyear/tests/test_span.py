import datetime as dt

from calutil import add_months, billing_days


def test_add_months_clamps_to_month_end():
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2023, 1, 31), 1) == dt.date(2023, 2, 28)


def test_add_months_across_years():
    assert add_months(dt.date(2023, 11, 15), 3) == dt.date(2024, 2, 15)


def test_billing_days():
    assert billing_days(2024) == 366
    assert billing_days(2100) == 365
