"""``ctxkit report`` on a 10,000-call trace: terminal and HTML time, HTML size.

The trace is real pipeline output: one session of ``--calls-per-session`` calls
(ScriptedBackend, Prefix + History, a tool loop, one drift) is run and written by
``ContextPipeline(trace=...)``, then repeated under new session and call ids up to
``--calls`` records. Timed, as a user runs them: ``ctxkit report TRACE > out`` (piped) and
``ctxkit report TRACE --format html -o page.html``, each a fresh process. Baseline, same
run: ``json.loads`` of every line of the trace in this process (the least any reader of
the file pays) and ``wc -c``-style reading of the bytes.

Goals (issue 11): terminal <= 3 s, HTML <= 5 s and <= 5 MB.

    python bench/report.py [--calls 10000] [--calls-per-session 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctxkit import ContextPipeline  # noqa: E402
from ctxkit.layers import History, Prefix  # noqa: E402
from ctxkit.testing import ScriptedBackend  # noqa: E402


def one_session(path: Path, calls: int) -> list[str]:
    def lookup(city: str) -> str:
        """Look up a city's weather."""
        return f"sunny in {city}"

    script: list[object] = []
    for i in range(calls + 4):
        script.append({"tool_calls": [{"id": f"c{i}", "name": "lookup",
                                       "arguments": {"city": f"city {i}"}}]}
                      if i % 3 == 1 else f"answer {i}: " + "words " * 40)
    system = "You are a coding agent. Follow the repository's conventions. " * 60
    pipe = ContextPipeline(ScriptedBackend(script), [Prefix(system=system, tools=[lookup]),
                                                     History()], trace=path, max_steps=4)
    turn = 0
    while len(pipe.records) < calls:
        if turn == calls // 2:
            pipe.layers[0] = Prefix(system="Today is 2026-12-04.\n" + system, tools=[lookup])
        pipe.run(f"question {turn}: " + "please look at this " * 10)
        turn += 1
    return path.read_text().splitlines()[:calls]


def build(dest: Path, calls: int, per_session: int) -> Path:
    lines = one_session(dest.with_suffix(".one.jsonl"), per_session)
    with open(dest, "w") as fh:
        for k in range(calls):
            rec = json.loads(lines[k % len(lines)])
            rec["session_id"] = f"s{k // len(lines):04d}"
            rec["call_id"] = f"{k:016x}"
            fh.write(json.dumps(rec) + "\n")
    return dest


def timed(cmd: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    with open(out, "w") as fh:
        subprocess.run(cmd, stdout=fh, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--calls-per-session", type=int, default=50)
    ap.add_argument("--keep", type=Path, default=None, help="keep the trace and outputs here")
    args = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    root = args.keep or Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    trace = build(root / "trace.jsonl", args.calls, args.calls_per_session)
    size = trace.stat().st_size

    t0 = time.perf_counter()
    data = trace.read_bytes()
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = sum(1 for line in data.splitlines() if json.loads(line))
    t_json = time.perf_counter() - t0 + t_read

    ctxkit = [sys.executable, "-m", "ctxkit", "report", str(trace)]
    t_import = timed([sys.executable, "-c", "import ctxkit.cli"], root / "import.txt")
    t_term = timed(ctxkit, root / "report.txt")
    html = root / "report.html"
    t_html = timed([*ctxkit, "--format", "html", "-o", str(html)], root / "html.txt")
    mb = html.stat().st_size / 1e6
    text = (root / "report.txt").read_text()
    page = html.read_text()

    rows = [
        ("trace", f"{n:,} calls, {size / 1e6:.1f} MB", ""),
        ("baseline: read + json.loads every line", f"{t_json:.2f} s", "same run, in process"),
        ("baseline: python -c 'import ctxkit.cli'", f"{t_import:.2f} s", "process start"),
        ("ctxkit report TRACE > file (terminal)", f"{t_term:.2f} s",
         f"goal <= 3 s: {'met' if t_term <= 3 else 'MISSED'}; "
         f"{t_term / t_json:.1f}x the json.loads baseline"),
        ("ctxkit report --format html", f"{t_html:.2f} s",
         f"goal <= 5 s: {'met' if t_html <= 5 else 'MISSED'}"),
        ("HTML size", f"{mb:.2f} MB", f"goal <= 5 MB: {'met' if mb <= 5 else 'MISSED'}"),
        ("terminal output", f"{len(text.splitlines()):,} lines",
         "sampled calls table, says so" if "of 10,000 shown" in text or n <= 60 else ""),
        ("HTML says it aggregated", "yes" if 'id="reduced"' in page else "no", ""),
    ]
    w = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name.ljust(w)}  {value:>22}  {note}")
    ok = t_term <= 3 and t_html <= 5 and mb <= 5
    print("PASS" if ok else "MISS", file=sys.stderr)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
