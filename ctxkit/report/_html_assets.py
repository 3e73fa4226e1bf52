"""The inline stylesheet and script of the HTML report (no CDN, no external requests).

Owns how the page looks and how the charts are drawn: the script reads the JSON embedded
in ``#ctxkit-data`` and draws into ``#chart-layers``, ``#chart-hitrate`` and
``#chart-cost``. It writes text only through ``textContent`` and attribute values, never
through ``innerHTML``, so nothing a user or a model wrote can become markup. At the end it
sets ``data-rendered="ok"`` on ``<body>`` (or ``"error: ..."`` if drawing threw).
"""

from __future__ import annotations

CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#f6f8fa; --card:#fff;
  --good:#1a7f37; --bad:#cf222e; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--fg); background:var(--bg); }
main { max-width:1200px; margin:0 auto; padding:24px 28px 48px; }
h1 { font-size:24px; margin:0 0 2px; } h2 { font-size:17px; margin:0 0 4px; }
.sub, .note { color:var(--muted); margin:0 0 10px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:16px 18px; margin:16px 0; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(180px,1fr)); gap:12px;
  background:none; border:none; padding:0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:12px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:24px; font-weight:600; margin:2px 0; font-variant-numeric:tabular-nums; }
.card .s { color:var(--muted); font-size:12px; }
.good .v { color:var(--good); } .bad .v { color:var(--bad); } .warn .v { color:var(--warn); }
svg.chart { width:100%; height:auto; display:block; }
svg text { font:11px system-ui,sans-serif; fill:#57606a; }
svg .axis-title { font-size:12px; fill:#1f2328; }
svg .grid { stroke:#eaeef2; } svg .axis { stroke:#8c959f; }
svg .bar:hover rect { stroke:#1f2328; stroke-width:.6; }
svg .miss { fill:var(--bad); } svg .missline { stroke:var(--bad); stroke-dasharray:3 3; }
svg .failed { stroke:var(--bad); stroke-width:2; }
svg .session { stroke:#57606a; stroke-width:1.5; } svg .session-name { font-weight:600; }
.legend { display:flex; flex-wrap:wrap; gap:6px 16px; margin:6px 0 8px; color:#424a53;
  font-size:12px; }
.legend span.sw { display:inline-block; width:14px; height:12px; border-radius:2px;
  vertical-align:-2px; margin-right:5px; border:1px solid rgba(0,0,0,.15); }
.sw.read { background:#6e7781; } .sw.uncached { background:#6e7781; opacity:.3; }
.sw.write { background:repeating-linear-gradient(45deg,#6e7781 0 2px,#d8dde2 2px 5px); }
.legend .sw.line { width:24px; height:3px; border:none; vertical-align:3px; border-radius:0; }
.legend .sw.dash { background:repeating-linear-gradient(90deg,#1f2328 0 4px,transparent 4px 7px); }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid #eaeef2;
  vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; border-bottom-color:var(--line); }
td.n, th.n { text-align:right; white-space:nowrap; }
tr.failed td { color:var(--bad); } tr.total td { font-weight:600; }
code, pre { font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
pre.diff { margin:0; white-space:pre-wrap; word-break:break-all; max-width:460px; }
pre.diff .del { color:var(--bad); } pre.diff .add { color:var(--good); }
.tag { display:inline-block; padding:0 6px; border-radius:10px; font-size:11px;
  background:#eaeef2; color:#424a53; margin:1px 2px 1px 0; }
.tag.bad { background:#ffebe9; color:var(--bad); } .tag.warn { background:#fff8c5; }
.stack { display:flex; height:10px; border-radius:2px; overflow:hidden; }
td:has(> .stack) { width:28%; }
.empty { color:var(--muted); font-style:italic; }
#render-error { display:none; color:var(--bad); font-weight:600; }
footer { color:var(--muted); font-size:12px; margin-top:20px; }
"""

JS = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg", W = 960, H = 300;
  var M = {l: 70, r: 18, t: 18, b: 46};
  function el(tag, attrs, parent, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { e.setAttribute(k, String(attrs[k])); }
    if (text !== undefined) { e.textContent = String(text); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function num(n) { return Math.round(n).toLocaleString("en-US"); }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function usd(x) { return "$" + (Math.abs(x) < 100 ? x.toFixed(4) : x.toFixed(2)); }
  function step(max, n) {
    var raw = max / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  }
  // a plot frame: band x scale over call positions, linear y scale from 0, axes, titles
  function frame(svg, n, ymax, yfmt, ytitle) {
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var pw = W - M.l - M.r, ph = H - M.t - M.b;
    var s = step(ymax > 0 ? ymax : 1, 5), top = Math.max(s, Math.ceil(ymax / s) * s);
    var f = {band: pw / Math.max(n, 1),
             x: function (i) { return M.l + (i + 0.5) * f.band; },
             y: function (v) { return M.t + ph - (v / top) * ph; }};
    for (var v = 0; v <= top + s / 2; v += s) {
      el("line", {"class": "grid", x1: M.l, x2: W - M.r, y1: f.y(v), y2: f.y(v)}, svg);
      el("text", {x: M.l - 6, y: f.y(v) + 4, "text-anchor": "end"}, svg, yfmt(v));
    }
    el("line", {"class": "axis", x1: M.l, x2: W - M.r, y1: f.y(0), y2: f.y(0)}, svg);
    var calls = DATA.per_call, widest = 1;
    calls.forEach(function (c) { widest = Math.max(widest, String(c.label).length); });
    var every = Math.max(1, Math.ceil((widest * 6.5 + 12) / f.band));
    for (var i = 0; i < n; i += every) {
      el("text", {x: f.x(i), y: f.y(0) + 15, "text-anchor": "middle"}, svg, calls[i].label);
    }
    if (DATA.sessions.length > 1) {  // mark where each session starts
      calls.forEach(function (c, i) {
        if (i > 0 && c.session === calls[i - 1].session) { return; }
        var x = M.l + i * f.band;
        if (i > 0) { el("line", {"class": "session", x1: x, x2: x, y1: M.t, y2: f.y(0)}, svg); }
        el("text", {"class": "session-name", x: x + 4, y: M.t - 5}, svg, "session " + c.session);
      });
    }
    el("text", {"class": "axis-title", x: M.l + pw / 2, y: H - 6, "text-anchor": "middle"},
       svg, "call (in order)");
    el("text", {"class": "axis-title", x: 14, y: M.t + ph / 2, "text-anchor": "middle",
                transform: "rotate(-90 14 " + (M.t + ph / 2) + ")"}, svg, ytitle);
    return f;
  }
  function missMarks(svg, f, calls, ytop) {
    calls.forEach(function (c, i) {
      if (!c.drift) { return; }
      el("line", {"class": "missline", x1: f.x(i), x2: f.x(i), y1: ytop, y2: f.y(0)}, svg);
    });
  }
  function drawLayers(svg, calls, layers) {
    var ok = calls.filter(function (c) { return c.ok; });
    var ymax = Math.max.apply(null, [1].concat(ok.map(function (c) {
      var t = 0;
      for (var k in c.layers) { t += c.layers[k].read + c.layers[k].write + c.layers[k].uncached; }
      return t; })));
    var f = frame(svg, calls.length, ymax, num, "prompt tokens");
    var defs = el("defs", {}, svg);
    layers.forEach(function (name, li) {
      var p = el("pattern", {id: "hatch-" + li, width: 6, height: 6,
        patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"}, defs);
      el("rect", {width: 6, height: 6, fill: DATA.colors[name], "fill-opacity": 0.3}, p);
      el("line", {x1: 1.5, y1: 0, x2: 1.5, y2: 6, stroke: DATA.colors[name], "stroke-width": 3}, p);
    });
    var bw = Math.max(1, f.band * 0.72), bars = 0;
    calls.forEach(function (c, i) {
      var g = el("g", {"class": "bar", "data-call": c.position, "data-ok": c.ok ? 1 : 0}, svg);
      bars += 1;
      var tip = "call " + c.label + " (turn " + c.turn + "." + c.step + ")";
      if (!c.ok) {
        var x = f.x(i), y = f.y(0) - 8;
        el("path", {"class": "failed",
                    d: "M" + (x - 5) + " " + (y - 5) + "l10 10m0 -10l-10 10"}, g);
        el("title", {}, g, tip + ": failed: " + (c.error || ""));
        return;
      }
      tip += ": input " + num(c.input) + " (read " + num(c.read) + ", write " + num(c.write) +
             ", uncached " + num(c.uncached) + "), hit rate " + pct(c.hit_rate);
      var base = 0;
      layers.forEach(function (name, li) {
        var lt = c.layers[name]; if (!lt) { return; }
        tip += "\n" + name + ": read " + num(lt.read) + ", write " + num(lt.write) +
               ", uncached " + num(lt.uncached);
        [["read", DATA.colors[name], 1], ["write", "url(#hatch-" + li + ")", 1],
         ["uncached", DATA.colors[name], 0.3]].forEach(function (k) {
          var v = lt[k[0]]; if (v <= 0) { return; }
          el("rect", {"class": "seg seg-" + k[0], "data-layer": li, x: f.x(i) - bw / 2,
            y: f.y(base + v), width: bw, height: Math.max(0.5, f.y(base) - f.y(base + v)),
            fill: k[1], "fill-opacity": k[2]}, g);
          base += v;
        });
      });
      if (c.drift) {
        tip += "\ncache miss: " + c.drift_causes.join("; ");
        var tx = f.x(i), ty = f.y(base) - 4;
        el("path", {"class": "miss", d: "M" + tx + " " + ty + "l-5 -8h10z"}, g);
      }
      el("title", {}, g, tip);
    });
    svg.setAttribute("data-bars", bars);
  }
  function line(svg, id, pts, attrs) {
    var a = {id: id, fill: "none", "stroke-width": 2, "stroke-linejoin": "round",
             points: pts.map(function (p) {
               return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" "),
             "data-points": pts.length};
    for (var k in attrs) { a[k] = attrs[k]; }
    return el("polyline", a, svg);
  }
  function drawHitRate(svg, calls) {
    var f = frame(svg, calls.length, 1, function (v) { return Math.round(100 * v) + "%"; },
                  "cache hit rate");
    missMarks(svg, f, calls, f.y(1));
    var per = [], cum = [];
    calls.forEach(function (c, i) {
      if (!c.ok) { return; }
      per.push([f.x(i), f.y(c.hit_rate), c]); cum.push([f.x(i), f.y(c.cumulative_hit_rate)]);
    });
    line(svg, "hitrate-cumulative", cum,
         {stroke: "#1f2328", "stroke-dasharray": "5 4", "stroke-width": 1.5});
    line(svg, "hitrate-line", per, {stroke: "#0969da"});
    per.forEach(function (p) {
      var dot = el("circle", {"class": "pt", cx: p[0], cy: p[1], r: 3.5, fill: "#0969da"}, svg);
      el("title", {}, dot, "call " + p[2].label + ": " + pct(p[2].hit_rate) + " of " +
         num(p[2].input) + " input tokens read from cache (session so far " +
         pct(p[2].cumulative_hit_rate) + ")");
    });
    svg.setAttribute("data-points", per.length);
  }
  function drawCost(svg, calls) {
    var a = 0, b = 0, cached = [], plain = [];
    calls.forEach(function (c, i) {
      if (!c.ok) { return; }
      a += c.cost_usd; b += c.cost_uncached_usd; cached.push([i, a]); plain.push([i, b]);
    });
    var f = frame(svg, calls.length, Math.max(a, b, 1e-6), usd, "cumulative cost (USD)");
    function pts(xs) { return xs.map(function (p) { return [f.x(p[0]), f.y(p[1])]; }); }
    line(svg, "cost-uncached", pts(plain), {stroke: "#8c959f", "stroke-dasharray": "5 4"});
    line(svg, "cost-cached", pts(cached), {stroke: "#1a7f37"});
    cached.forEach(function (p, k) {
      var dot = el("circle", {cx: f.x(p[0]), cy: f.y(p[1]), r: 3, fill: "#1a7f37"}, svg);
      el("title", {}, dot, "after call " + calls[p[0]].label + ": " + usd(p[1]) +
         " (without cache " + usd(plain[k][1]) + ")");
    });
    svg.setAttribute("data-points", cached.length);
  }
  var DATA;
  try {
    DATA = JSON.parse(document.getElementById("ctxkit-data").textContent);
    var calls = DATA.per_call;
    drawLayers(document.getElementById("chart-layers"), calls, DATA.layer_order);
    drawHitRate(document.getElementById("chart-hitrate"), calls);
    drawCost(document.getElementById("chart-cost"), calls);
    document.body.setAttribute("data-rendered", "ok");
  } catch (err) {
    document.body.setAttribute("data-rendered", "error: " + err);
    var box = document.getElementById("render-error");
    box.textContent = "The charts could not be drawn: " + err; box.style.display = "block";
  }
})();
"""
