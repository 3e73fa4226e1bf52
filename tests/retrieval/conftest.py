"""Fixtures for retrieval tests: real LanceDB directories under tmp_path, the real offline
embedding model (loaded once per session), and a small source tree to index."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lancedb", reason="the retrieval tests need the retrieval extra")
pytest.importorskip("sentence_transformers", reason="the retrieval tests need the extra")

from ctxkit.embeddings import SentenceTransformerEmbedder, default_embedder  # noqa: E402
from ctxkit.retrieval import Index  # noqa: E402

PARSER = textwrap.dedent('''\
    """Parsing of configuration headers."""

    import re

    HEADER = re.compile(r"^\\[(\\w+)\\]$")


    class HeaderParser:
        """Reads section headers like [server] from configuration text."""

        strict = True

        def parse_header(self, line):
            """Return the section name of a header line, or None."""
            m = HEADER.match(line.strip())
            return m.group(1) if m else None

        def parse_lines(self, text):
            """Every section name in text, in order."""
            return [h for h in map(self.parse_header, text.splitlines()) if h]


    def load_config(path):
        """Open a configuration file and return its sections."""
        with open(path) as fh:
            return HeaderParser().parse_lines(fh.read())
    ''')

NETWORK = textwrap.dedent('''\
    import socket


    def open_connection(host, port, timeout=5.0):
        """Connect a TCP socket to host:port with a timeout in seconds."""
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


    def retry_backoff(attempt):
        """Seconds to wait before retrying a failed connection attempt."""
        return min(30.0, 0.5 * 2 ** attempt)
    ''')

GUIDE = textwrap.dedent('''\
    # User guide

    Start here.

    ## Installing

    Run pip install sample to install the package with its command-line tool.

    ## Deploying to production

    Build a wheel, copy it to the servers and restart the workers one at a time so
    that the service stays up during the rollout.
    ''')


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole test session."""
    return default_embedder()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small project: Python, Markdown, a text file, a binary file."""
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "src" / "parser.py").write_text(PARSER)
    (root / "src" / "network.py").write_text(NETWORK)
    (root / "docs" / "guide.md").write_text(GUIDE)
    (root / "docs" / "notes.txt").write_text("The release checklist lives in the wiki.\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    return root


@pytest.fixture
def make_index(tmp_path: Path, embedder: SentenceTransformerEmbedder
               ) -> Callable[..., Index]:
    """Open (or reopen) an Index in tmp_path/index with the shared embedder."""

    def make(name: str = "index", **kw: Any) -> Index:
        kw.setdefault("embedder", embedder)
        kw.setdefault("base", str(tmp_path))
        return Index(tmp_path / name, **kw)

    return make
