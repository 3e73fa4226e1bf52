"""Text helpers of the memory store: canonical content hashes, terms, BM25.

Owns what "the same content" means for dedupe (a hash over a canonical form: Unicode
NFKC, case-folded, whitespace collapsed, trailing punctuation dropped) and how text is cut
into terms for the lexical half of hybrid search (lower-cased words, stop words out, a
light suffix stemmer), and the BM25 formula. Knows nothing of storage.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

_WS = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_STOP = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself
yourselves s t don doesn didn isn wasn aren weren won wouldn shouldn couldn ll re ve d m o
y also get got yeah oh hey hi really like just well lot lots much thing things one
""".split())
MAX_TERM = 64


def canonical(text: str) -> str:
    """The form dedupe compares: NFKC, case-folded, whitespace collapsed, no end punctuation."""
    t = unicodedata.normalize("NFKC", text).casefold()
    return _WS.sub(" ", t).strip().rstrip(".!?;:,").strip()


def content_hash(text: str) -> str:
    """sha256 of the canonical form (hex)."""
    return hashlib.sha256(canonical(text).encode("utf-8")).hexdigest()


def _stem(word: str) -> str:
    # A light, deterministic suffix stripper: enough to meet "paint"/"painting"/"painted"
    # and "kids"/"kid" without a stemming dependency.
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "sses", "zes")):
                continue
            stem = word[: len(word) - len(suffix)] + keep
            if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2] \
                    and stem[-1] not in "lsz":
                stem = stem[:-1]  # running -> run, stopped -> stop
            return stem
    return word


def terms(text: str) -> list[str]:
    """The terms of ``text`` for the lexical index, in order, with repeats."""
    out: list[str] = []
    for w in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        if w in _STOP or len(w) < 2:
            continue
        t = _stem(w)[:MAX_TERM]
        if t and t not in _STOP:
            out.append(t)
    return out


def term_counts(text: str) -> Counter[str]:
    return Counter(terms(text))


def bm25(postings: Iterable[tuple[str, str, int, int]], query_terms: list[str], *,
         num_docs: int, avg_len: float, k1: float = 1.2, b: float = 0.75
         ) -> tuple[dict[str, float], float]:
    """BM25 scores by record id, and the most any record could score for this query.

    Args:
        postings: ``(record_id, term, tf, doc_len)`` for every visible record that holds a
            query term (already limited to one scope and one point in time).
        query_terms: the query's terms (repeats weigh more).
        num_docs: visible records in the scope (the collection BM25 is relative to).
        avg_len: their average length in terms.

    The bound (every query term present at saturating frequency) puts scores on a 0..1
    scale that means the same for every query, which linear fusion needs: a record that
    matches one weak word of a five-word question scores low, not 1.
    """
    rows = list(postings)
    df: Counter[str] = Counter(term for _, term, _, _ in rows)
    weight = Counter(query_terms)
    avg = avg_len or 1.0
    idf = {t: math.log(1.0 + (num_docs - df[t] + 0.5) / (df[t] + 0.5)) for t in weight}
    scores: dict[str, float] = {}
    for rid, term, tf, length in rows:
        norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
        scores[rid] = scores.get(rid, 0.0) + weight[term] * idf[term] * norm
    bound = sum(weight[t] * idf[t] * (k1 + 1) for t in weight)
    return scores, bound
