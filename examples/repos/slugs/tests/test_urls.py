from slugkit import article_url


def test_article_url():
    assert article_url(42, "What's new in 2.0?") == "/articles/42-what-s-new-in-2-0"
