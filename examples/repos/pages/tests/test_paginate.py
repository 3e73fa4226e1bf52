import pytest

from pager import Paginator, num_pages


def test_num_pages_exact_multiple():
    assert num_pages(30, 10) == 3


def test_num_pages_partial_last_page():
    assert num_pages(25, 10) == 3


def test_empty_listing_has_one_page():
    assert num_pages(0, 10) == 1
    assert Paginator([], per_page=10).page(1).items == []


def test_last_partial_page():
    page = Paginator(list(range(25)), per_page=10).page(3)
    assert page.items == [20, 21, 22, 23, 24]
    assert not page.has_next and page.has_previous


def test_page_out_of_range():
    with pytest.raises(ValueError):
        Paginator(list(range(25)), per_page=10).page(4)
