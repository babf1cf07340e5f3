"""Registry files as read: which kinds there are (their columns, aliases and keys), reading a
file through the safe reader (:mod:`pipeline.xlsx.safety`, :mod:`pipeline.xlsx.parser`) or
as CSV, and recognising its kind from the header row. Checking the rows is
:mod:`pipeline.registry.rows`'s.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.xlsx.parser import open_book, sheet_rows
from pipeline.xlsx.safety import Limits, UnreadableFile, read_checked

#: What a registry file may be: larger than a result list (a whole term's registrations).
REGISTRY_LIMITS: Final = Limits(max_file_bytes=100 * 1024 * 1024, max_rows=500_000)


@dataclass(frozen=True)
class KindSpec:
    """One kind of registry file: its columns and the columns that identify a row in it."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


def _spec(kind: str, required: str, optional: str = "", key: str | None = None) -> KindSpec:
    return KindSpec(
        kind, tuple(required.split()), tuple(optional.split()), tuple((key or required).split())
    )


# In dependency order: a file may refer to what the kinds before it create.
KINDS: Final[dict[str, KindSpec]] = {
    spec.kind: spec
    for spec in (
        _spec(
            "courses",
            "course_code name_sv name_en credits scale start_date",
            "ects_scale department",
            "course_code",
        ),
        _spec(
            "modules",
            "course_code module_code name_sv name_en credits scale",
            "ects_scale",
            "course_code module_code",
        ),
        _spec("staff", "username name email", "mobile language os_login office", "username"),
        _spec("examiners", "course_code username from_term", "to_term"),
        _spec("teachers", "course_code teacher from_term", "to_term"),
        _spec(
            "students", "personnummer first_name last_name email", "lms_username", "personnummer"
        ),
        _spec("registrations", "personnummer course_code term"),
        _spec("signups", "personnummer course_code module_code exam_date"),
        _spec(
            "prior_results",
            "personnummer course_code module_code grade grade_date",
            key="personnummer course_code module_code grade_date",
        ),
    )
}
KIND_ORDER: Final = tuple(KINDS)

# Swedish headers staff may use, after normalising (lower case, spaces and hyphens to "_").
ALIASES: Final[dict[str, str]] = {  # i18n: not people-facing (headers recognised)
    "kurskod": "course_code",
    "namn_sv": "name_sv",
    "benämning_sv": "name_sv",
    "namn_en": "name_en",
    "benämning_en": "name_en",
    "hp": "credits",
    "högskolepoäng": "credits",
    "betygsskala": "scale",
    "ects_skala": "ects_scale",
    "startdatum": "start_date",
    "institution": "department",
    "provkod": "module_code",
    "modulkod": "module_code",
    "användarnamn": "username",
    "namn": "name",
    "e_post": "email",
    "epost": "email",
    "mobil": "mobile",
    "mobilnummer": "mobile",
    "språk": "language",
    "lärare": "teacher",
    "rapportör": "teacher",
    "reporter": "teacher",
    "inloggning": "os_login",
    "login": "os_login",
    "utbildningsstöd": "office",
    "utbildningsstod": "office",
    "från_termin": "from_term",
    "till_termin": "to_term",
    "förnamn": "first_name",
    "efternamn": "last_name",
    "lms_användarnamn": "lms_username",
    "termin": "term",
    "tentamensdatum": "exam_date",
    "betyg": "grade",
    "betygsdatum": "grade_date",
}

UPPER: Final = frozenset(
    {"course_code", "module_code", "scale", "ects_scale", "from_term", "to_term", "term"}
)
LOWER: Final = frozenset({"username", "teacher", "language", "os_login", "office"})
DATES: Final = frozenset({"start_date", "exam_date", "grade_date"})
# What our own writers escape with a leading apostrophe (and Excel's text marker for digits).
_ESCAPED_AFTER_APOSTROPHE: Final = frozenset("=+-@\t\r0123456789")
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PHONE_NOISE: Final = re.compile(r"[\s\-()]")
_HEADER_SEARCH: Final = 10


# ---------------------------------------------------------------------------------------------
# Reading


class FileProblem(Exception):
    def __init__(self, slug: str, **params: Any) -> None:
        super().__init__(slug)
        self.slug = slug
        self.params = params


@dataclass
class Table:
    """A file's cells as read: the header row and the data rows with their row numbers."""

    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    sheet: str | None
    kind: str | None
    positions: dict[str, int]


def read_table(path: Path) -> Table:
    """The file's cells: a workbook (or anything that is not text) through the safe reader,
    whose refusals keep their own slugs; other files as CSV."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_OLE_MAGIC))
        if head.startswith(b"PK\x03\x04") or head.startswith(_OLE_MAGIC):
            return _read_workbook(path)
        raw = path.read_bytes()
    except OSError as exc:
        raise FileProblem("unreadable-registry-file", detail=exc.strerror or str(exc)) from None
    except UnreadableFile as exc:
        raise FileProblem(exc.slug, **exc.params) from None
    if len(raw) > REGISTRY_LIMITS.max_file_bytes:
        raise FileProblem(
            "file-too-large",
            size_mb=round(len(raw) / 1048576, 1),
            limit_mb=round(REGISTRY_LIMITS.max_file_bytes / 1048576, 1),
        )
    return _read_csv(raw)


def _read_csv(raw: bytes) -> Table:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileProblem("registry-not-utf8") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(";,\t", key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[Any]]] = []
    previous = 0
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            records.append((start, list(record)))
    except csv.Error as exc:
        raise FileProblem("unreadable-registry-file", detail=str(exc)) from None
    return _split_header(records, sheet=None)


def _read_workbook(path: Path) -> Table:
    """The first sheet of a workbook that passed the safety checks, parsed in the parser's
    process."""
    _, data = read_checked(path, REGISTRY_LIMITS)
    book = open_book(data, limits=REGISTRY_LIMITS)
    if not book.sheet_names:
        raise FileProblem("empty-registry-file")
    name = book.sheet_names[0]
    cells = sheet_rows(book, name, REGISTRY_LIMITS)
    return _split_header([(i + 1, list(row)) for i, row in enumerate(cells)], sheet=name)


def _is_empty(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _split_header(records: list[tuple[int, list[Any]]], *, sheet: str | None) -> Table:
    """Find the header row: the first recognised one among the first rows (exports from
    reporting tools often put a title above it), else the first row."""
    rows = [(number, cells) for number, cells in records if not all(map(_is_empty, cells))]
    if not rows:
        raise FileProblem("empty-registry-file")
    for index, (_, cells) in enumerate(rows[:_HEADER_SEARCH]):
        headers = ["" if cell is None else str(cell).strip().lstrip("\ufeff") for cell in cells]
        kind, positions = detect_kind(headers)
        if kind is not None:
            return Table(headers, rows[index + 1 :], sheet, kind, positions)
    first = ["" if cell is None else str(cell).strip() for cell in rows[0][1]]
    return Table(first, rows[1:], sheet, None, {})


def clean_cell(value: Any, *, keep_type: bool) -> Any:
    """A cell as text (``None`` when blank); numbers and dates a spreadsheet made become text.

    ``keep_type`` leaves numbers and dates alone so the personnummer check can say that a
    spreadsheet program has turned the number into one.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 1 and text[0] == "'" and text[1] in _ESCAPED_AFTER_APOSTROPHE:
            text = text[1:]
        return text or None
    if keep_type:
        return value
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        if value != value:
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _header_key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def detect_kind(headers: Sequence[str]) -> tuple[str | None, dict[str, int]]:
    """The kind a header row belongs to and where each of its columns is (``None`` if unclear).

    A kind matches when all its required columns are present; of several, the one using the
    most columns wins, and a tie is no match.
    """
    positions: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = _header_key(header)
        name = ALIASES.get(key, key)
        positions.setdefault(name, index)
    scored = [
        (sum(column in positions for column in spec.columns), spec.kind)
        for spec in KINDS.values()
        if all(column in positions for column in spec.required)
    ]
    if not scored:
        return None, positions
    scored.sort(reverse=True)
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        return None, positions
    return scored[0][1], positions
