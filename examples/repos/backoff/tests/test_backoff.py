import random

from retrykit import delay, jittered


def test_delay_grows_then_caps():
    assert [delay(i) for i in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert delay(10) == 30.0


def test_jitter_stays_below_the_delay():
    rng = random.Random(1)
    assert all(0.25 <= jittered(0, rng) < 0.5 for _ in range(20))
