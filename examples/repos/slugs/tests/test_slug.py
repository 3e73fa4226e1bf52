from slugkit import slugify


def test_simple_title():
    assert slugify("Release notes") == "release-notes"


def test_collapses_runs_of_separators():
    assert slugify("Hello,  World!") == "hello-world"


def test_folds_accents():
    assert slugify("Crème brûlée recipe") == "creme-brulee-recipe"


def test_cuts_at_a_word_boundary():
    assert slugify("one two three four", max_length=10) == "one-two"
