"""Command line: ``python -m textstats FILE`` prints a document's statistics."""

from __future__ import annotations

import argparse
import sys

from .parser import parse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="textstats", description=__doc__)
    ap.add_argument("file", help="a text or Markdown file ('-' reads standard input)")
    args = ap.parse_args(argv)
    if args.file == "-":
        text = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as fh:
            text = fh.read()
    doc = parse(text)
    s = doc.stats()
    print(f"title:              {doc.title or '(none)'}")
    print(f"paragraphs:         {s.num_paragraphs}")
    print(f"sentences:          {s.num_sentences}")
    print(f"words:              {s.num_words}")
    print(f"mean sentence len:  {s.mean_sentence_length}")
    print(f"reading ease:       {s.flesch_reading_ease}")
    return 0
