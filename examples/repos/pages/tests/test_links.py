from pager import page_links


def test_links_with_gaps():
    assert page_links(200, 10, current=8) == [1, None, 6, 7, 8, 9, 10, None, 20]


def test_links_for_a_single_page():
    assert page_links(5, 10, current=1) == [1]
