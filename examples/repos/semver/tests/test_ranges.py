from semverlite import newest, satisfies


def test_satisfies():
    assert satisfies("1.4.0", ">=1.2.0,<2.0.0")
    assert not satisfies("2.0.0", ">=1.2.0,<2.0.0")


def test_newest_compatible():
    assert newest(["1.2.0", "1.10.1", "1.9.9", "2.0.0"], "<2.0.0") == "1.10.1"
