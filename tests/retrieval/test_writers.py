"""Two writer processes on one index directory: a file lock serializes them, each reloads
the manifest under it, so no chunk is lost or orphaned; a writer that asks not to wait
gets a clear error instead."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from ctxkit import StoreError
from ctxkit.retrieval import Index

WRITER = textwrap.dedent('''\
    import json, sys, time
    from pathlib import Path
    from ctxkit.retrieval import Index

    path, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    index = Index(path, embedder=None)
    while not go.exists():
        time.sleep(0.01)
    want = {}
    for i in range(12):
        doc = f"{name}-{i}"
        index.add_texts([(doc, f"note {i} written by {name}")])
        want[doc] = f"note {i} written by {name}"
        if i % 3 == 2:  # rewrite an earlier one: its old chunk must go
            old = f"{name}-{i - 1}"
            index.add_texts([(old, f"rewritten note {i - 1} by {name}")])
            want[old] = f"rewritten note {i - 1} by {name}"
        if i % 4 == 3:  # and remove another
            index.remove([f"{name}-{i - 3}"])
            want.pop(f"{name}-{i - 3}")
    index.close()
    print(json.dumps(want))
''')


def _rows(path: Path) -> list[tuple[str, str]]:
    import lancedb

    table = lancedb.connect(str(path)).open_table("chunks").to_arrow()
    return list(zip(table.column("source").to_pylist(), table.column("text").to_pylist(),
                    strict=True))


def test_two_writer_processes_lose_and_orphan_nothing(tmp_path: Path) -> None:
    path, go = tmp_path / "index", tmp_path / "go"
    Index(path, embedder=None).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("alpha", "beta")]
    time.sleep(0.5)
    go.touch()
    want: dict[str, str] = {}
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        want.update(json.loads(out))
    assert len(want) == 18
    rows = _rows(path)
    by_source = Counter(src for src, _ in rows)
    manifest = set(json.loads((path / "manifest.json").read_text())["files"])
    expected = {"text:" + doc for doc in want}
    lost = expected - set(by_source)
    orphaned = set(by_source) - manifest
    duplicated = {s for s, n in by_source.items() if n > 1}
    assert (lost, orphaned, duplicated) == (set(), set(), set())
    assert manifest == expected
    assert sorted(t for _, t in rows) == sorted(want.values())
    again = Index(path, embedder=None)
    assert len(again) == 18
    assert again.search("rewritten note 1 by beta", k=1, mode="lexical")[0].chunk.text == \
        "rewritten note 1 by beta"


HOLDER = textwrap.dedent('''\
    import sys, time
    from pathlib import Path
    from ctxkit.retrieval._lock import WriterLock
    lock = WriterLock(sys.argv[1])
    with lock.hold(wait=True):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
        Path(sys.argv[1], "holder-done").touch()
''')


def test_a_second_writer_waits_or_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "index"
    Index(path, embedder=None).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "3"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=r"another process \(pid \d+\).*wait=True"):
            Index(path, embedder=None, wait=False)
        with pytest.raises(StoreError, match="waited 0.3 s"):
            Index(path, embedder=None, wait=0.3)
        index = Index(path, embedder=None)  # waits for the holder to finish
        assert (path / "holder-done").exists()
        index.add_texts([("a", "after the holder let go")])
        assert len(Index(path, embedder=None)) == 1
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_sees_what_another_wrote_before_it(tmp_path: Path) -> None:
    first = Index(tmp_path / "index", embedder=None)
    second = Index(tmp_path / "index", embedder=None)
    first.add_texts([("one", "the first writer's note")])
    second.add_texts([("two", "the second writer's note")])
    assert len(second) == 2  # reloaded under the lock before writing
    second.remove(["one"])
    first.add_texts([("three", "a third note")])
    assert sorted(c.path for c in first.catalog.chunks if c.id) == ["three", "two"]
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["text:three", "text:two"]
