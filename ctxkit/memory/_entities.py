"""Rule-based entity and time extraction for memory links (no model, no downloads).

Owns what a record is *about* in the terms links use: people and named things
(capitalised names, a ``Name:`` speaker prefix, quoted titles), common places, objects and
activities from a small fixed vocabulary, and dates. Relative dates ("yesterday", "two
weeks ago", "last Tuesday", "next month") are resolved against an anchor, the time the
record was written (for a replayed conversation, the session's date), into a UTC range
``[start, end)`` with its label (``2023-05-07``, ``2023-05``, ``2023``). Knows nothing of
storage or ranking; ``_links`` stores what this returns.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ._text import _STOP, _stem

EXTRACTOR = "rules-v1"
DAY = 86_400.0

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS.pop("may", None)
_MONTHS["may"] = 5
_DAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_NUMS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
         "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a few": 3, "few": 3,
         "a couple of": 2, "a couple": 2, "couple of": 2, "several": 3}
_UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
# capitalised words that start sentences or greet, not names
_NOT_NAMES = frozenset("""
i i'm i've i'll i'd im ive hey hi hello wow yes yeah yep nope no oh ok okay thanks thank
sure great awesome cool nice love lol haha hmm well so and but or the a an that this it
it's its my your our their his her we you they he she what when where why how who which
did do does is are was were will would can could should have has had been being also just
really totally definitely absolutely congrats congratulations sorry good glad happy amazing
sounds looks seems maybe by for with from about after before during since until as at in
on of to if then there here these those not all any some every each both either neither
let let's gonna wanna gotta take check keep make made look see saw go went going
last next yesterday today tomorrow tonight morning night weekend week month year
""".split()) | _STOP
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w'’-]*)*")
_QUOTED = re.compile(r"[\"“]([^\"”]{2,60})[\"”]")
_SPEAKER = re.compile(r"^\s*([A-Z][\w'’-]{1,40}(?:\s[A-Z][\w'’-]{1,40})?):\s")
# a small vocabulary of common places, objects and activities (stemmed like the index)
_NOUNS = frozenset(_stem(w) for w in """
beach mountain mountains lake forest park museum concert festival school college
university church hospital library office gym studio cafe restaurant bar city town
village country island river camp camping hike hiking trip vacation holiday wedding
birthday party parade conference workshop class course job interview career dog dogs
cat cats puppy kitten horse bird pet pets car bike bicycle guitar piano violin drum
book books novel painting paintings pottery sculpture photo photos camera necklace
bracelet ring shoes game games movie movie film show play concert album song songs
music dance dancing swimming running yoga marathon race tournament team garden plant
plants flowers house home apartment kitchen recipe cake cookies pie soup bread
""".split())


@dataclass(frozen=True, slots=True)
class Entity:
    """One thing a text mentions: ``name`` normalised (casefolded, stemmed nouns),
    ``kind`` person|thing|place|object|time, and for ``time`` its UTC range."""

    name: str
    kind: str
    start: float | None = None
    end: float | None = None


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _day(dt: datetime) -> tuple[float, float, str]:
    d0 = datetime(dt.year, dt.month, dt.day, tzinfo=timezone.utc)
    return d0.timestamp(), d0.timestamp() + DAY, d0.strftime("%Y-%m-%d")


def _month(year: int, month: int) -> tuple[float, float, str]:
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    d0 = datetime(year, month, 1, tzinfo=timezone.utc)
    d1 = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
    return d0.timestamp(), d1.timestamp(), f"{year:04d}-{month:02d}"


def _year(year: int) -> tuple[float, float, str]:
    d0 = datetime(year, 1, 1, tzinfo=timezone.utc)
    return d0.timestamp(), datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp(), \
        f"{year:04d}"


def _week(dt: datetime) -> tuple[float, float, str]:
    start = datetime(dt.year, dt.month, dt.day, tzinfo=timezone.utc) \
        - timedelta(days=dt.weekday())
    iso = start.isocalendar()
    return start.timestamp(), start.timestamp() + 7 * DAY, f"{iso[0]:04d}-W{iso[1]:02d}"


_NUMWORD = r"(\d+|a few|a couple of|a couple|couple of|an?|one|two|three|four|five|six|" \
           r"seven|eight|nine|ten|few|several)"
_MONTHNAME = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|" \
             r"aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_TIME_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("dmy", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHNAME},?\s+(\d{{4}})\b")),
    ("mdy", re.compile(rf"\b{_MONTHNAME}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b")),
    ("my", re.compile(rf"\b{_MONTHNAME},?\s+(\d{{4}})\b")),
    ("ago", re.compile(rf"\b{_NUMWORD}\s+(day|weekend|week|month|year)s?\s+ago\b")),
    ("rel", re.compile(r"\b(last|this|next|past)\s+(week(?:end)?|month|year|summer|"
                       r"winter|spring|fall|autumn)\b")),
    ("wday", re.compile(r"\b(last|this|next|on)\s+(monday|tuesday|wednesday|thursday|"
                        r"friday|saturday|sunday)\b")),
    ("word", re.compile(r"\b(yesterday|today|tonight|tomorrow|last night|this morning|"
                        r"the other day|recently)\b")),
    ("in_month", re.compile(rf"\b(?:in|during|since|last)\s+{_MONTHNAME}\b(?!\s+\d)")),
    ("year", re.compile(r"\b(?:in|since|during|of|back in)\s+((?:19|20)\d\d)\b")),
]
_ANY_TIME = re.compile(rf"\d|ago\b|\b(last|this|next|past|yesterday|today|tonight|"
                       rf"tomorrow|the other day|recently|monday|tuesday|wednesday|"
                       rf"thursday|friday|saturday|sunday)\b|\b{_MONTHNAME}\b")
_SEASONS = {"summer": (6, 3), "fall": (9, 3), "autumn": (9, 3), "winter": (12, 3),
            "spring": (3, 3)}


def _month_num(name: str) -> int:
    name = name.lower()
    return _MONTHS.get(name, _MONTHS.get(name[:3], 0))


def resolve_times(text: str, anchor: float) -> list[Entity]:
    """Dates in ``text`` as ``time`` entities, relative ones resolved against ``anchor``
    (unix seconds, UTC): the range each names and its label. Unknown forms are skipped."""
    low = text.lower()
    if not _ANY_TIME.search(low):  # most texts name no date: one scan, not nine
        return []
    now = _utc(anchor)
    out: list[Entity] = []
    taken = bytearray(len(low))  # characters an earlier form's match already holds
    for form, pat in _TIME_PATTERNS:
        for m in pat.finditer(low):
            if any(taken[m.start():m.end()]):  # the match's own length, not all earlier ones
                continue
            span = _resolve(form, m, now)
            if span is None:
                continue
            taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())
            start, end, label = span
            out.append(Entity(name=label, kind="time", start=start, end=end))
    return out


def _resolve(form: str, m: re.Match[str], now: datetime
             ) -> tuple[float, float, str] | None:
    try:
        if form == "dmy":
            return _day(datetime(int(m[3]), _month_num(m[2]), int(m[1]), tzinfo=timezone.utc))
        if form == "mdy":
            return _day(datetime(int(m[3]), _month_num(m[1]), int(m[2]), tzinfo=timezone.utc))
        if form == "my":
            return _month(int(m[2]), _month_num(m[1]))
    except ValueError:  # "31 February 2023"
        return None
    if form == "ago":
        n = _NUMS.get(m[1]) or (int(m[1]) if m[1].isdigit() else 1)
        unit = m[2]
        if unit == "year":
            return _year(now.year - n)
        if unit == "month":
            return _month(now.year, now.month - n)
        if unit in ("week", "weekend"):
            return _week(now - timedelta(days=7 * n))
        return _day(now - timedelta(days=n))
    if form == "rel":
        step = {"last": -1, "past": -1, "this": 0, "next": 1}[m[1]]
        unit = m[2]
        if unit in _SEASONS:
            first, _ = _SEASONS[unit]
            year = now.year + step if step else now.year
            if step < 0 and first > now.month:
                year = now.year - 1
            s, _, _ = _month(year, first)
            e, _, _ = _month(year, first + 3)
            return s, e, f"{year:04d}-{unit}"
        if unit == "year":
            return _year(now.year + step)
        if unit == "month":
            return _month(now.year, now.month + step)
        if unit == "weekend":
            sat = now + timedelta(days=(5 - now.weekday()) % 7 + 7 * step)
            if step < 0:
                sat = now - timedelta(days=(now.weekday() - 5) % 7 or 7)
            s, _, label = _day(sat)
            return s, s + 2 * DAY, label
        return _week(now + timedelta(days=7 * step))
    if form == "wday":
        want = _DAYS[m[2]]
        if m[1] in ("last", "on"):
            back = (now.weekday() - want) % 7 or 7
            return _day(now - timedelta(days=back))
        ahead = (want - now.weekday()) % 7 or 7
        if m[1] == "next":
            ahead = ahead if ahead > 0 else 7
        return _day(now + timedelta(days=ahead))
    if form == "word":
        shift = {"yesterday": -1, "last night": -1, "tomorrow": 1, "the other day": -2,
                 "recently": -3}.get(m[1], 0)
        if m[1] == "recently":
            return _week(now - timedelta(days=3))
        return _day(now + timedelta(days=shift))
    if form == "in_month":
        month = _month_num(m[1])
        if not month:
            return None
        year = now.year if month <= now.month else now.year - 1
        return _month(year, month)
    if form == "year":
        return _year(int(m[1]))
    return None


def extract(text: str, anchor: float, terms: Iterable[str] | None = None) -> list[Entity]:
    """The entities of ``text``: people and named things, known nouns, and dates
    (resolved against ``anchor``). Deterministic; names are casefolded. ``terms``: the
    text's index terms when the caller has them (the write path), to skip stemming twice."""
    out: dict[tuple[str, str], Entity] = {}
    speaker = _SPEAKER.match(text)
    body = text[speaker.end():] if speaker else text
    if speaker:
        name = speaker[1].casefold()
        out[(name, "person")] = Entity(name=name, kind="person")
    for m in _QUOTED.finditer(body):
        name = m[1].strip().casefold()
        if name:
            out.setdefault((name, "thing"), Entity(name=name, kind="thing"))
    for m in _NAME.finditer(body):
        run: list[str] = []
        for w in [*re.split(r"\s+", m[0].replace("’", "'")), ""]:
            low = w.casefold().removesuffix("'s")
            if w and low not in _NOT_NAMES and not _month_num(low) and low not in _DAYS:
                run.append(low)
                continue
            name = " ".join(run)
            run = []
            if len(name) >= 2 and (name, "thing") not in out:
                out.setdefault((name, "name"), Entity(name=name, kind="name"))
    for s in sorted((set(terms) if terms is not None else
                     {_stem(w) for w in re.findall(r"[a-z]+", body.lower())}) & _NOUNS):
        out.setdefault((s, "object"), Entity(name=s, kind="object"))
    for e in resolve_times(body, anchor):
        out.setdefault((e.name, "time"), e)
    return list(out.values())


def query_names(text: str) -> list[str]:
    """The people and named things a question asks about (casefolded), for decomposition.
    Unlike ``extract``, a capitalised first word counts: questions open with names."""
    names = []
    for e in extract(text, 0.0):
        if e.kind in ("person", "name", "thing"):
            names.append(e.name)
    first = re.match(r"\s*([A-Z][a-z]+)", text)
    if first and first[1].casefold() not in _NOT_NAMES and first[1].casefold() not in names:
        names.append(first[1].casefold())
    return names
