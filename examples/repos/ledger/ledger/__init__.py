"""Integer-cent money: splitting amounts and bills."""

from .bill import split_bill
from .money import format_cents, split

__all__ = ["format_cents", "split", "split_bill"]
