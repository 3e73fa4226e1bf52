from csvstats import render, summarize

CSV = "name,price,qty\napple,1.5,3\npear,,x\nfig,2.5,1\n"


def test_summarize():
    s = summarize(CSV)
    assert s["price"] == {"count": 2, "mean": 2.0, "min": 1.5, "max": 2.5}


def test_text_column_has_no_stats():
    s = summarize(CSV)
    assert s["name"] == {"count": 0, "mean": None, "min": None, "max": None}


def test_render():
    out = render(summarize("a,b\n1,x\n3,y\n"))
    assert out.splitlines()[2].split() == ["b", "0", "-", "-", "-"]
