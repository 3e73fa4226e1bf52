"""Calendar helpers (proleptic Gregorian calendar)."""

from .dates import days_in_month, is_leap
from .span import add_months, billing_days

__all__ = ["add_months", "billing_days", "days_in_month", "is_leap"]
