"""Moving through months: add months to a date, count days of a billing period."""

from __future__ import annotations

import datetime as dt

from .dates import days_in_month, is_leap


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months``, clamped to the end of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, days_in_month(year, month)))


def billing_days(year: int) -> int:
    """Days billed in ``year``: every day of the year."""
    return 366 if is_leap(year) else 365
