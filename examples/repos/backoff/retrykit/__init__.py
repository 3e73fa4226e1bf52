"""Retries with exponential backoff."""

from .backoff import delay, jittered
from .retry import RetryError, retry

__all__ = ["RetryError", "delay", "jittered", "retry"]
