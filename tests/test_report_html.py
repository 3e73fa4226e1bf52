"""The HTML report, loaded in headless Chromium: the charts are drawn from the embedded
data, the script finishes without error, and hostile text (a ``<script>`` in a block key,
a layer name, a diff, an error) stays inert text."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ctxkit import BackendError, Block, ContextPipeline, Draft, Response, Turn
from ctxkit.layers import History, Prefix
from ctxkit.report import Report
from ctxkit.testing import FunctionBackend
from tests.test_report import SCRIPT, SYSTEM, clock, grep, read_file

CHROMIUM = "/usr/bin/chromium"
EVIL = ('</script><script>document.body.setAttribute("data-pwned","1")</script>'
        '<img src=x onerror="document.body.setAttribute(\'data-pwned\',\'2\')">')


class Notes:
    """A user layer whose name, key and content carry markup that must stay text."""

    name = 'notes<img src=x onerror="document.body.setAttribute(\'data-pwned\',\'3\')">'

    def __init__(self) -> None:
        self.text = "v1"

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        return draft.add(Block(layer=self.name, role="system", key=EVIL,
                               content=f"notes {self.text} {EVIL}", cache="5m"))


def hostile_session() -> Report:
    """A tool loop, a drift in the hostile layer, then a call that fails with hostile text."""
    script = list(SCRIPT[:4])

    def answer(draft: Draft) -> Any:
        if not script:
            raise BackendError(f"upstream said {EVIL}")
        return script.pop(0)

    def reminder(draft: Draft, turn: Turn) -> Draft:  # per-turn, never cached
        return draft.add(Block(layer="reminder", role="user", content=f"step {turn.step}"))

    notes = Notes()
    pipe = ContextPipeline(backend=FunctionBackend(answer),
                           layers=[Prefix(system=SYSTEM, tools=[read_file, grep]), notes,
                                   History(), reminder], clock=clock())
    pipe.run("the parser test fails on empty input; fix it")
    notes.text = "v2"
    pipe.run("add a test")
    with pytest.raises(BackendError):
        pipe.run("again")
    return pipe.report()


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text = ""

    def walk(self) -> Any:
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and all(
            n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)


class Tree(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", {}, None)
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_endtag(self, tag: str) -> None:
        n: Node | None = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data: str) -> None:
        self.cur.text += data


def chromium(*args: str, tmp: Path) -> str:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("chromium not installed: run `make test`, which installs it "
                    "(apt-get install chromium)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp / 'chromium-profile'}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("html")
    report = hostile_session()
    path = tmp / "report.html"
    html = report.to_html(str(path), title="hostile <title> & co")
    dom = chromium("--dump-dom", path.as_uri(), tmp=tmp)
    return {"report": report, "html": html, "dom": Tree(dom).root, "path": path, "tmp": tmp}


@pytest.mark.moves_prefix("the Notes layer changes its cached block to force a drift")
def test_script_ran_and_charts_have_one_mark_per_call(page: dict[str, Any]) -> None:
    report, dom = page["report"], page["dom"]
    (body,) = dom.find("body")
    assert body.attrs["data-rendered"] == "ok", body.attrs["data-rendered"]
    n, ok = len(report.records), len(report.calls)
    assert (n, ok) == (5, 4)
    (layers,) = dom.find("svg", id="chart-layers")
    bars = [g for g in layers.find("g") if "bar" in g.attrs.get("class", "").split()]
    assert layers.attrs["data-bars"] == str(n) and len(bars) == n
    assert [b.attrs["data-ok"] for b in bars] == ["1"] * ok + ["0"]
    for bar in bars[:ok]:  # every successful call has segments; its tooltip names them
        assert bar.find("rect") and "prefix: read" in bar.find("title")[0].all_text()
    kinds = {c for r in layers.find("rect") for c in r.attrs.get("class", "").split()}
    assert {"seg-read", "seg-write", "seg-uncached"} <= kinds
    (hit,) = dom.find("polyline", id="hitrate-line")
    points = [tuple(map(float, p.split(","))) for p in hit.attrs["points"].split()]
    assert len(points) == ok == int(hit.attrs["data-points"])
    # the points plot each call's hit rate on one linear scale (0% on the first call)
    rates = [r.hit_rate for r in report.calls]
    top = max(range(ok), key=lambda i: rates[i])
    assert rates[0] == 0.0 < rates[top]
    px = (points[0][1] - points[top][1]) / rates[top]
    for (_, y), rate in zip(points, rates, strict=True):
        assert y == pytest.approx(points[0][1] - px * rate, abs=0.11)
    drift_pos = next(i for i, r in enumerate(report.records) if r.drift)
    assert rates[drift_pos] < rates[drift_pos - 1]  # the drift cost cache reads
    (cost,) = dom.find("polyline", id="cost-cached")
    assert len(cost.attrs["points"].split()) == ok


@pytest.mark.moves_prefix("the Notes layer changes its cached block to force a drift")
def test_hostile_text_stays_inert(page: dict[str, Any]) -> None:
    dom, html = page["dom"], page["html"]
    (body,) = dom.find("body")
    assert "data-pwned" not in body.attrs
    assert not dom.find("img")  # neither the layer name nor the key became an element
    assert len(dom.find("script")) == 2  # the JSON data and the chart script, no more
    assert EVIL in [c.all_text() for c in dom.find("code")]  # the key, shown as text
    assert any(EVIL in c.all_text() for c in dom.find("code") if "upstream" in c.all_text())
    assert any(Notes.name in td.all_text() for td in dom.find("td"))
    assert "<script>document" not in html and html.count("<script") == 2
    (title,) = dom.find("head")[0].find("title")
    assert title.all_text() == "hostile <title> & co"


@pytest.mark.moves_prefix("the Notes layer changes its cached block to force a drift")
def test_page_is_self_contained(page: dict[str, Any]) -> None:
    dom, html = page["dom"], page["html"]
    assert not dom.find("link") and not dom.find("iframe")
    assert not [s for s in dom.find("script") if "src" in s.attrs]
    for marker in ("@import", "url(http", "src=\"http", "href=\"http", "fetch(", "XMLHttp"):
        assert marker not in html


@pytest.mark.moves_prefix("the Notes layer changes its cached block to force a drift")
def test_screenshot_is_written(page: dict[str, Any]) -> None:
    shot = page["tmp"] / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,2400", page["path"].as_uri(),
             tmp=page["tmp"])
    data = shot.read_bytes()
    assert len(data) > 10_000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_empty_report_renders_without_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    Report().to_html(str(path))
    dom = Tree(chromium("--dump-dom", path.as_uri(), tmp=tmp_path)).root
    (body,) = dom.find("body")
    assert body.attrs["data-rendered"] == "ok"
    (layers,) = dom.find("svg", id="chart-layers")
    assert layers.attrs["data-bars"] == "0" and not layers.find("g")


def test_embedded_json_survives_text_that_could_close_its_tag() -> None:
    """The embedded JSON is the report's to_dict, intact, whatever characters it holds."""
    import json

    hostile = "</script> \u2028 <!-- & \u2029 -->"

    def answer(draft: Draft) -> Response:
        raise BackendError(hostile)

    pipe = ContextPipeline(backend=FunctionBackend(answer), layers=[Prefix(system="s")])
    with pytest.raises(BackendError):
        pipe.run("hi")
    report = pipe.report()
    html = report.to_html(title="t")
    start = html.index('id="ctxkit-data">') + len('id="ctxkit-data">')
    raw = html[start:html.index("</script>", start)]
    assert "<" not in raw and "\u2028" not in raw
    embedded = json.loads(raw)
    assert embedded["errors"][0]["error"] == f"BackendError: {hostile}"
    assert {k: v for k, v in embedded.items() if k not in ("title", "colors")} == \
        report.to_dict()
