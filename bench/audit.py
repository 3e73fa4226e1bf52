"""``ctxkit audit`` of a large request log: wall time and peak memory, beside the cost of
reading and JSON-parsing the same file alone.

Writes a JSONL request log (OpenAI chat shape, no session ids) of interleaved coding-agent
conversations: an 8 kB system prompt, 12 tool schemas, a history growing by a tool call and
a 1-3 kB result per call; every 25th call of a conversation moves a timestamp in the system
prompt, and some results repeat. Each line is a whole prompt, as proxies and request loggers
write them, so the file grows quadratically with conversation length.

For each size, in fresh child processes (so peak RSS is the command's own):

* **audit**: ``ctxkit.audit.audit(path, model="gpt-4.1")`` (exact o200k counts, sessions
  inferred, every figure computed);
* **baseline**: read the file line by line and ``json.loads`` each line, nothing kept.

Goals (issue 11): a 100 MB log in <= 2 minutes here, with memory bounded (streaming: peak
RSS must not grow with the file; compare the sizes).

    python bench/audit.py [--sizes 25,100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("context cache prefix token layer budget history retrieval memory state tool schema "
         "render backend profile drift report assemble engine block pipeline parser test "
         "module function value error").split()


def words(n: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_log(path: Path, megabytes: int, seed: int = 0) -> tuple[int, int]:
    """Write about ``megabytes`` MB of interleaved conversations; (lines, bytes)."""
    rng = random.Random(seed)
    system = "You are a coding agent. " + words(1300, rng)
    tools = [{"type": "function", "function": {"name": f"tool_{i}", "description":
                                              words(40, rng), "parameters": {
                                                  "type": "object", "properties": {
                                                      "arg": {"type": "string"}}}}}
             for i in range(12)]
    target = megabytes * 1_000_000
    lines = written = 0
    conv = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            # four conversations at a time, interleaved call by call
            histories = [[{"role": "user", "content": f"task {conv + j}: " + words(60, rng)}]
                         for j in range(4)]
            outputs = [words(rng.randint(150, 450), rng) for _ in range(8)]
            for k in range(120):
                for j, history in enumerate(histories):
                    stamp = f"Current time: 2026-11-{1 + (k // 25):02d}T09:00:00Z"
                    req = {"model": "gpt-4.1", "tools": tools, "messages": [
                        {"role": "system", "content": f"{system}\n{stamp}"}, *history]}
                    line = json.dumps(req) + "\n"
                    fh.write(line)
                    lines += 1
                    written += len(line)
                    cid = f"call_{conv + j}_{k}"
                    result = rng.choice(outputs) if k % 5 == 0 else words(
                        rng.randint(150, 450), rng)
                    history += [{"role": "assistant", "content": None, "tool_calls": [{
                        "id": cid, "type": "function", "function": {
                            "name": f"tool_{k % 12}", "arguments": json.dumps(
                                {"arg": words(6, rng)})}}]},
                        {"role": "tool", "tool_call_id": cid, "content": result}]
                if written >= target:
                    break
            conv += 4
    return lines, written


CHILD = r"""
import json, resource, sys, time
path, what = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
out = {}
if what == "audit":
    from ctxkit.audit import audit
    report = audit(path, model="gpt-4.1")
    out = {"sessions": len(report.sessions), "calls": sum(s.num_calls for s in report.sessions),
           "tokens": sum(s.input_tokens for s in report.sessions),
           "killers": len(report.killers()),
           "dup_tokens": sum(s.duplicate_tokens for s in report.sessions)}
else:
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            json.loads(line)
            n += 1
    out = {"lines": n}
out["seconds"] = time.perf_counter() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def child(path: Path, what: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), what], capture_output=True,
                          text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="25,100", help="log sizes in MB (default: 25,100)")
    ap.add_argument("--keep", type=Path, help="write the logs here and keep them")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ctxkit-bench-audit-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for mb in (int(x) for x in args.sizes.split(",")):
        path = folder / f"requests-{mb}mb.jsonl"
        t0 = time.perf_counter()
        lines, size = write_log(path, mb)
        gen = time.perf_counter() - t0
        base = child(path, "baseline")
        aud = child(path, "audit")
        rows.append((mb, lines, size, gen, base, aud))
        if args.keep is None:
            os.unlink(path)
    print(f"{'log':>8} {'lines':>6} {'sessions':>8} {'calls':>6} {'tokens':>13} "
          f"{'baseline s':>10} {'audit s':>8} {'ratio':>6} {'base RSS MB':>11} "
          f"{'audit RSS MB':>12}")
    for mb, lines, size, _gen, base, aud in rows:
        print(f"{size / 1e6:>6.1f}MB {lines:>6} {aud['sessions']:>8.0f} {aud['calls']:>6.0f} "
              f"{aud['tokens']:>13,.0f} {base['seconds']:>10.2f} {aud['seconds']:>8.2f} "
              f"{aud['seconds'] / base['seconds']:>5.1f}x {base['peak_rss_mb']:>11.0f} "
              f"{aud['peak_rss_mb']:>12.0f}")
    big = rows[-1]
    goal = "met" if big[5]["seconds"] <= 120 else "MISSED"
    print(f"\ngoal: {big[2] / 1e6:.0f} MB audited in {big[5]['seconds']:.1f} s (<= 120 s: "
          f"{goal}); peak RSS {big[5]['peak_rss_mb']:.0f} MB for a "
          f"{big[2] / 1e6:.0f} MB file")
    if len(rows) > 1:
        small = rows[0]
        print(f"memory growth: {small[5]['peak_rss_mb']:.0f} MB at {small[2] / 1e6:.0f} MB -> "
              f"{big[5]['peak_rss_mb']:.0f} MB at {big[2] / 1e6:.0f} MB "
              f"({big[2] / small[2]:.1f}x the file, "
              f"{big[5]['peak_rss_mb'] / small[5]['peak_rss_mb']:.2f}x the memory)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
