"""What an export holds, whichever platform wrote it: its assessment columns, identifiers
and rows (:class:`Export`), choosing the column to merge, and the small cell helpers the
platform readers share.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from openpyxl.utils import get_column_letter

PLATFORMS: Final = ("canvas", "moodle", "itslearning", "ladok3")
#: What the values of a column are (see ``schemas/lms/itslearning.yaml``).
KINDS: Final = ("grade", "points", "percentage", "auto")
MATCHES: Final = ("personnummer", "username", "email", "any")

NUMBER: Final = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CODE: Final = re.compile(r"^[A-Za-z0-9]{1,12}$")
SPACES: Final = re.compile(r"\s+")

# -- what an export holds ------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column that can hold results."""

    index: int
    header: str
    #: The short name a teacher would type: a Canvas title without its id, a Moodle item.
    label: str
    kind: str
    #: Course or group totals: never chosen on their own, only by name.
    total: bool = False

    @property
    def letter(self) -> str:
        return str(get_column_letter(self.index + 1))


@dataclass(frozen=True)
class Identifier:
    """A cell that may identify the student, and what kind of value it holds."""

    match: str
    value: Any
    index: int
    #: What the value is, as the export names it (its header), shown before a masked value.
    label: str = ""


@dataclass
class ExportRow:
    row: int
    cells: list[Any]
    identifiers: list[Identifier]
    name: str
    #: ladok3 rows only: course code, component and the date of the result.
    course: str | None = None
    component: str | None = None
    date: str | None = None

    def value(self, column: Column) -> Any:
        return self.cells[column.index] if column.index < len(self.cells) else None


@dataclass(frozen=True)
class SkippedRow:
    """A row of the export that is not a student's: ``reason`` is a catalogue key under
    ``lms.skipped`` (``points-possible``, ``manual-posting``, ``test-student``); ``name``
    what the row says, for the receipt."""

    row: int
    reason: str
    name: str = ""


@dataclass
class Export:
    """A recognised export: its platform, result columns, student rows and the rows that
    were skipped as not being students."""

    platform: str
    sheet: str | None
    header_row: int | None
    columns: list[Column]
    rows: list[ExportRow]
    no_result: frozenset[str] = frozenset()
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def assessments(self) -> list[Column]:
        return [c for c in self.columns if not c.total]

    @property
    def candidates(self) -> list[str]:
        return [c.header for c in self.assessments] + [c.header for c in self.columns if c.total]


@dataclass(frozen=True)
class ColumnChoice:
    """The column to take, or why there is none (``slug``) and what to choose from."""

    column: Column | None
    candidates: list[str] = field(default_factory=list)
    slug: str | None = None


def choose_column(export: Export, wanted: str | None) -> ColumnChoice:
    """``wanted`` (a full header or its short name, case-insensitive), else the only
    assessment column. Totals are taken only by name."""
    if export.platform == "ladok3":
        return ColumnChoice(export.columns[0])
    candidates = export.candidates
    if wanted is not None and str(wanted).strip():
        key = header_key(str(wanted))
        for column in export.columns:
            if header_key(column.header) == key:
                return ColumnChoice(column)
        by_label = [c for c in export.columns if header_key(c.label) == key]
        if len(by_label) == 1:
            return ColumnChoice(by_label[0])
        if by_label:
            return ColumnChoice(None, [c.header for c in by_label], "lms-ambiguous-column")
        return ColumnChoice(None, candidates, "lms-column-not-found")
    assessments = export.assessments
    if len(assessments) == 1:
        return ColumnChoice(assessments[0])
    if not candidates:
        return ColumnChoice(None, [], "lms-no-assessment-column")
    return ColumnChoice(None, candidates, "lms-ambiguous-column")


# -- recognising the platform --------------------------------------------------------------


def header_key(value: Any) -> str:
    """A header or word as compared: trimmed, single spaces, case-folded, BOM dropped."""
    if value is None:
        return ""
    return SPACES.sub(" ", str(value).replace("\ufeff", "")).strip().casefold()


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def cell_text(value: Any) -> str:
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def identifiers_at(cells: list[Any], spec: Sequence[tuple[int, str, str]]) -> list[Identifier]:
    """The identifying cells of a row: ``spec`` is (index, match, label) per column."""
    out = []
    for index, match, label in spec:
        value = cells[index] if index < len(cells) else None
        if not is_blank(value):
            out.append(Identifier(match, value, index, label))
    return out


def cell_at(cells: list[Any], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cell_text(cells[index])


def header_matches(header: str, patterns: Iterable[Any]) -> bool:
    return any(fnmatch.fnmatchcase(header, header_key(p)) for p in patterns)
