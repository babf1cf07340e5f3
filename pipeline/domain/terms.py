"""Terms (``HT2026`` autumn, ``VT2027`` spring) and their order."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Final

TERM_PATTERN: Final = re.compile(r"^(HT|VT)(\d{4})$")


def is_term(text: str) -> bool:
    return TERM_PATTERN.match(text) is not None


def term_key(term: str) -> int:
    """Sortable key: VT comes before HT of the same year."""
    match = TERM_PATTERN.match(term)
    if match is None:
        raise ValueError(f"not a term: {term!r} (expected e.g. HT2026 or VT2027)")
    season, year = match.groups()
    return int(year) * 2 + (1 if season == "HT" else 0)


def term_of(day: dt.date) -> str:
    """The term a date falls in (autumn from August)."""
    return f"HT{day.year}" if day.month >= 8 else f"VT{day.year}"


def in_range(term: str, start: str, end: str | None) -> bool:
    key = term_key(term)
    return term_key(start) <= key and (end is None or key <= term_key(end))


def previous(term: str) -> str:
    """The term before ``term``: VT2027 -> HT2026, HT2026 -> VT2026."""
    key = term_key(term) - 1
    return f"{'HT' if key % 2 else 'VT'}{key // 2}"


def finished_before(term: str, terms: Iterable[str]) -> list[str]:
    """Those of ``terms`` that ended before the term before ``term`` (oldest first): the
    terms no longer in the office's current overview."""
    last = term_key(previous(term))
    return sorted({t for t in terms if is_term(t) and term_key(t) < last}, key=term_key)
