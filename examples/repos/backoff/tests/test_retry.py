import pytest

from retrykit import RetryError, retry


def test_retry_until_success():
    waits = []
    results = iter([ValueError("a"), ValueError("b"), "ok"])

    def flaky():
        r = next(results)
        if isinstance(r, Exception):
            raise r
        return r

    assert retry(flaky, sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0]


def test_gives_up():
    def broken():
        raise ValueError("down")

    with pytest.raises(RetryError):
        retry(broken, attempts=2, sleep=lambda s: None)
