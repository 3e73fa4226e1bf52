from cachekit import memoize


def test_memoize_calls_once_per_argument():
    calls = []

    @memoize(capacity=4)
    def square(x):
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]


def test_memoize_keeps_recent_results():
    calls = []

    @memoize(capacity=2)
    def ident(x):
        calls.append(x)
        return x

    ident(1)
    ident(2)
    ident(3)
    ident(3)
    assert calls == [1, 2, 3]
