from csvstats import mean, numbers


def test_numbers_skip_text_and_blanks():
    assert numbers(["1", "", "x", "2.5", "1,000"]) == [1.0, 2.5, 1000.0]


def test_mean():
    assert mean([1.0, 2.0, 6.0]) == 3.0


def test_mean_of_empty_column_is_none():
    assert mean([]) is None
