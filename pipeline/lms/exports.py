"""Reading grade exports from learning platforms: Canvas, Moodle, ItsLearning and ladok3 rows.

Owns everything about an export file as such: reading it (CSV with ``,``, ``;`` or tab and
an optional byte order mark; xlsx and ods through python-calamine), recognising the platform
from its header rows, the assessment columns it offers, matching its rows to the students of
a list (personnummer, then LMS username / login id / sync key, then email; never by name),
and mapping its values onto a grading scale (case and whitespace tolerant, P↔G and F↔U,
points and percentages only through thresholds the teacher gives).

The ItsLearning layout has no public specification; how to read it is data in
``schemas/lms/itslearning.yaml``. Which list to merge into, the merged workbook and the
receipt are :mod:`pipeline.lms.merge`'s; this module neither writes files nor touches the
database.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import fnmatch
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from openpyxl.utils import get_column_letter

from pipeline import resources
from pipeline.domain import personnummer
from pipeline.domain.scales import GradeScale
from pipeline.errors import InvalidRequest
from pipeline.intake.report import Problem
from pipeline.xlsx.parser import open_book, sheet_rows
from pipeline.xlsx.reader import META_SHEET
from pipeline.xlsx.safety import Limits, UnreadableFile, read_checked

PLATFORMS: Final = ("canvas", "moodle", "itslearning", "ladok3")
#: What the values of a column are (see ``schemas/lms/itslearning.yaml``).
KINDS: Final = ("grade", "points", "percentage", "auto")
MATCHES: Final = ("personnummer", "username", "email", "any")
HEADER_SEARCH: Final = 10

# Canvas: the gradebook export ("Export Entire Gradebook"), always English headers.
CANVAS_PROFILE: Final = frozenset(
    {"student", "id", "sis user id", "sis login id", "integration id", "section", "root account"}
)
CANVAS_IDENTIFIERS: Final = {"sis user id": "any", "sis login id": "any", "integration id": "any"}
CANVAS_SKIPPED_ROWS: Final = frozenset({"points possible", "manual posting"})
CANVAS_NO_RESULT: Final = frozenset({"ex", "n/a", "-"})
_CANVAS_ASSIGNMENT: Final = re.compile(r"^(?P<label>.+?)\s*\((?P<id>\d+)\)$")

# Moodle: the grade export (csv, xlsx, ods), profile labels in English or Swedish.
MOODLE_FIRST: Final = frozenset({"first name", "förnamn"})
MOODLE_LAST: Final = frozenset({"last name", "surname", "efternamn"})
MOODLE_IDENTIFIERS: Final = {
    "id number": "any",
    "id-nummer": "any",
    "idnummer": "any",
    "username": "username",
    "användarnamn": "username",
    "email address": "email",
    "e-postadress": "email",
    "e-post": "email",
    "email": "email",
}
#: The display type in "Kind: Name (Type)"; feedback columns carry no grade.
MOODLE_TYPES: Final = {
    "real": "auto",
    "verklig": "auto",
    "verkligt": "auto",
    "reell": "auto",
    "poäng": "auto",
    "percentage": "percentage",
    "procent": "percentage",
    "letter": "grade",
    "bokstav": "grade",
    "bokstavsbetyg": "grade",
}
MOODLE_FEEDBACK: Final = frozenset({"feedback", "återkoppling"})
MOODLE_NO_RESULT: Final = frozenset({"-"})
_MOODLE_GRADE: Final = re.compile(
    r"^(?:(?P<item>[^:()]+):\s*)?(?P<name>.+?)\s*\((?P<type>[^()]+)\)$"
)

# Words for pass and fail that platforms write instead of a scale's own grades.
PASS_WORDS: Final = frozenset(
    {"P", "PASS", "PASSED", "GODKÄND", "GODKAND", "GODKÄNT", "COMPLETE", "GK"}
)
FAIL_WORDS: Final = frozenset(
    {"F", "FAIL", "FAILED", "UNDERKÄND", "UNDERKAND", "UNDERKÄNT", "INCOMPLETE", "UK"}
)
DISTINCTION_WORDS: Final = frozenset({"VÄL GODKÄND", "VAL GODKAND", "PASS WITH DISTINCTION"})
#: A grade missing from the scale is read as its twin when the scale has that one.
TWINS: Final = {"P": "G", "G": "P", "F": "U", "U": "F"}

_NUMBER: Final = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CODE: Final = re.compile(r"^[A-Za-z0-9]{1,12}$")
_SPACES: Final = re.compile(r"\s+")


# -- reading the file ----------------------------------------------------------------------


@dataclass
class Table:
    """The cells of an export: one sheet, rows numbered as a spreadsheet program shows them."""

    file_format: str  # csv | xlsx | ods
    sheet: str | None
    rows: list[tuple[int, list[Any]]]
    delimiter: str | None = None


def read_table(path: Path, limits: Limits) -> Table:
    """Read ``path`` (CSV, xlsx or ods); raises :class:`UnreadableFile` with a slug."""
    kind, data = read_checked(path, limits)
    if kind == "csv":
        return _read_csv(data, limits)
    book = open_book(data)
    names = list(book.sheet_names)
    if META_SHEET in names:
        raise UnreadableFile("lms-result-workbook")
    if not names:
        raise UnreadableFile("lms-empty-file")
    rows = sheet_rows(book, names[0], limits)
    return Table(kind, names[0], [(i + 1, list(r)) for i, r in enumerate(rows)])


def decode(raw: bytes) -> str:
    """Text of a CSV export: UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise UnreadableFile("lms-encoding") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel's "CSV" on a Swedish Windows; å, ä and ö decode correctly.
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        raise UnreadableFile("lms-encoding") from None


def _delimiter(lines: list[str]) -> str:
    """The separator that splits some line of the first few (a title above the header row
    may hold a comma) into the most fields, quotes respected."""
    best, most = ",", 0
    for line in lines:
        counts = {";": 0, ",": 0, "\t": 0}
        quoted = False
        for ch in line:
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch in counts:
                counts[ch] += 1
        for delimiter, count in counts.items():
            if count > most:
                best, most = delimiter, count
    return best


def _read_csv(raw: bytes, limits: Limits) -> Table:
    text = decode(raw)
    lines = [line for line in text.splitlines()[:50] if line.strip()][:HEADER_SEARCH]
    if not lines:
        raise UnreadableFile("lms-empty-file")
    delimiter = _delimiter(lines)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[Any]]] = []
    previous = 0
    try:
        for record in reader:
            rows.append((previous + 1, list(record)))
            previous = reader.line_num
            if len(rows) > limits.max_rows + 100:
                raise UnreadableFile("too-many-rows", rows=len(rows), limit=limits.max_rows)
    except csv.Error as exc:
        raise UnreadableFile("unreadable-file", detail=str(exc)) from None
    return Table("csv", None, rows, delimiter)


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


@dataclass
class Export:
    """A recognised export: its platform, result columns and student rows."""

    platform: str
    sheet: str | None
    header_row: int | None
    columns: list[Column]
    rows: list[ExportRow]
    no_result: frozenset[str] = frozenset()

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
        key = _key(str(wanted))
        for column in export.columns:
            if _key(column.header) == key:
                return ColumnChoice(column)
        by_label = [c for c in export.columns if _key(c.label) == key]
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


def _key(value: Any) -> str:
    """A header or word as compared: trimmed, single spaces, case-folded, BOM dropped."""
    if value is None:
        return ""
    return _SPACES.sub(" ", str(value).replace("\ufeff", "")).strip().casefold()


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str:
    if _blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def load_itslearning(workspace: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = resources.load_yaml("schemas", "lms/itslearning.yaml", workspace)
    return data


def parse_export(table: Table, workspace: Path | None = None) -> Export | None:
    """The export in ``table``, or ``None`` when no platform's layout is recognised."""
    rows = [(n, cells) for n, cells in table.rows if not all(_blank(c) for c in cells)]
    if not rows:
        return None
    ladok = _ladok3(table, rows)
    if ladok is not None:
        return ladok
    mapping = load_itslearning(workspace)
    search = max(HEADER_SEARCH, int(mapping.get("header_search", HEADER_SEARCH)))
    for position, (number, cells) in enumerate(rows[:search]):
        headers = [_key(c) for c in cells]
        body = rows[position + 1 :]
        export = (
            _canvas(table, cells, headers, number, body)
            or _moodle(table, cells, headers, number, body)
            or _itslearning(table, cells, headers, number, body, mapping)
        )
        if export is not None:
            return export
    return None


def _identifiers(cells: list[Any], spec: Sequence[tuple[int, str]]) -> list[Identifier]:
    out = []
    for index, match in spec:
        value = cells[index] if index < len(cells) else None
        if not _blank(value):
            out.append(Identifier(match, value, index))
    return out


def _cell(cells: list[Any], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return _text(cells[index])


def _canvas(
    table: Table,
    cells: list[Any],
    headers: list[str],
    number: int,
    body: list[tuple[int, list[Any]]],
) -> Export | None:
    present = set(headers)
    if not {"student", "id", "section"} <= present or not present & {"sis user id", "sis login id"}:
        return None
    columns: list[Column] = []
    ids: list[tuple[int, str]] = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if header in CANVAS_IDENTIFIERS:
            ids.append((index, CANVAS_IDENTIFIERS[header]))
            continue
        if header in CANVAS_PROFILE or not header:
            continue
        title = _text(raw)
        assignment = _CANVAS_ASSIGNMENT.match(title)
        if assignment is not None:
            columns.append(Column(index, title, assignment.group("label"), "auto"))
        elif header.endswith("grade"):
            columns.append(Column(index, title, title, "grade", total=True))
        elif header.endswith("score"):
            columns.append(Column(index, title, title, "percentage", total=True))
        elif header.endswith("points"):
            columns.append(Column(index, title, title, "points", total=True))
    student = headers.index("student")
    rows = []
    for row, values in body:
        if _key(values[0] if values else "") in CANVAS_SKIPPED_ROWS:
            continue
        rows.append(ExportRow(row, values, _identifiers(values, ids), _cell(values, student)))
    return Export("canvas", table.sheet, number, columns, rows, CANVAS_NO_RESULT)


def _moodle(
    table: Table,
    cells: list[Any],
    headers: list[str],
    number: int,
    body: list[tuple[int, list[Any]]],
) -> Export | None:
    first = next((i for i, h in enumerate(headers) if h in MOODLE_FIRST), None)
    last = next((i for i, h in enumerate(headers) if h in MOODLE_LAST), None)
    if first is None or last is None:
        return None
    ids: list[tuple[int, str]] = []
    columns: list[Column] = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if header in MOODLE_IDENTIFIERS:
            ids.append((index, MOODLE_IDENTIFIERS[header]))
            continue
        match = _MOODLE_GRADE.match(_text(raw))
        if match is None:
            continue
        display = _key(match.group("type"))
        if display in MOODLE_FEEDBACK or display not in MOODLE_TYPES:
            continue
        title = _text(raw)
        total = match.group("item") is None
        label = match.group("name").strip()
        columns.append(Column(index, title, label, MOODLE_TYPES[display], total=total))
    if not columns or not ids:
        return None
    rows = [
        ExportRow(
            row,
            values,
            _identifiers(values, ids),
            f"{_cell(values, first)} {_cell(values, last)}".strip(),
        )
        for row, values in body
    ]
    return Export("moodle", table.sheet, number, columns, rows, MOODLE_NO_RESULT)


def _matches(header: str, patterns: Iterable[Any]) -> bool:
    return any(fnmatch.fnmatchcase(header, _key(p)) for p in patterns)


def _itslearning(
    table: Table,
    cells: list[Any],
    headers: list[str],
    number: int,
    body: list[tuple[int, list[Any]]],
    mapping: dict[str, Any],
) -> Export | None:
    names = mapping.get("names", {})
    ids: list[tuple[int, str]] = []
    used: set[int] = set()
    for spec in mapping.get("identifiers", []):
        match = str(spec.get("match", "any"))
        if match not in MATCHES:
            match = "any"
        for index, header in enumerate(headers):
            if index not in used and header and _matches(header, spec.get("headers", [])):
                ids.append((index, match))
                used.add(index)
    name_columns: dict[str, int] = {}
    for part in ("first", "last", "full"):
        for index, header in enumerate(headers):
            if index not in used and header and _matches(header, names.get(part, [])):
                name_columns.setdefault(part, index)
                used.add(index)
    if not ids or not name_columns:
        return None
    assessments = mapping.get("assessments", {})
    default_kind = str(assessments.get("default_kind", "grade"))
    columns = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if index in used or not header or _matches(header, mapping.get("ignore", [])):
            continue
        kind = default_kind
        for rule in assessments.get("kinds", []):
            if _matches(header, rule.get("headers", [])):
                kind = str(rule.get("kind", default_kind))
                break
        title = _text(raw)
        columns.append(Column(index, title, title, kind if kind in KINDS else "auto"))

    def name(values: list[Any]) -> str:
        parts = [_cell(values, name_columns.get(p)) for p in ("first", "last")]
        return " ".join(p for p in parts if p) or _cell(values, name_columns.get("full"))

    rows = [ExportRow(row, values, _identifiers(values, ids), name(values)) for row, values in body]
    no_result = frozenset(_key(t) for t in mapping.get("no_result", []))
    return Export("itslearning", table.sheet, number, columns, rows, no_result)


def _ladok3(table: Table, rows: list[tuple[int, list[Any]]]) -> Export | None:
    """ladok3 report rows: course, component, student, grade, date[, graders], no header."""
    if table.delimiter != "\t":
        return None
    _, first = rows[0]
    fields = [_text(c) for c in first]
    if len(fields) < 4 or not (_CODE.match(fields[0]) and _CODE.match(fields[1])):
        return None
    if not any(ch.isdigit() for ch in fields[0]):
        return None
    if len(fields) > 4 and fields[4] and not _ISO_DATE.match(fields[4]):
        return None
    column = Column(3, "grade", "grade", "grade")
    out = []
    for row, values in rows:
        texts = [_text(c) for c in values]
        texts += [""] * (5 - len(texts))
        out.append(
            ExportRow(
                row,
                values,
                [Identifier("any", texts[2], 2)] if texts[2] else [],
                "",
                course=texts[0],
                component=texts[1],
                date=texts[4],
            )
        )
    return Export("ladok3", table.sheet, None, [column], out)


# -- matching rows to students -------------------------------------------------------------


@dataclass(frozen=True)
class RosterStudent:
    pnr: str
    name: str
    lms_username: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Match:
    """The student a row identifies (``pnr``), or how to show the row when there is none."""

    pnr: str | None
    shown: str
    problems: tuple[Problem, ...] = ()


class Roster:
    """The students of one list, looked up by personnummer, LMS username and email."""

    def __init__(self, students: Iterable[RosterStudent]) -> None:
        self.students: dict[str, RosterStudent] = {}
        self._usernames: dict[str, str | None] = {}
        self._emails: dict[str, str | None] = {}
        for student in students:
            self.students[student.pnr] = student
            for table, value in (
                (self._usernames, student.lms_username),
                (self._emails, student.email),
            ):
                key = _key(value)
                if key:
                    # The same name on two students identifies neither.
                    table[key] = None if key in table and table[key] != student.pnr else student.pnr

    def match(self, row: ExportRow, sheet: str | None) -> Match:
        problems: list[Problem] = []
        # 1. personnummer: the strongest identifier; a valid one not on the list is unknown.
        for ident in row.identifiers:
            if ident.match not in ("personnummer", "any"):
                continue
            try:
                digits = personnummer.parse(_pnr_text(ident.value)).digits
            except personnummer.PersonnummerError as exc:
                if ident.match == "personnummer":
                    problems.append(
                        Problem(
                            exc.slug,
                            sheet=sheet,
                            row=row.row,
                            column=get_column_letter(ident.index + 1),
                            value=personnummer.mask_text(_text(ident.value)),
                        )
                    )
                continue
            if digits in self.students:
                return Match(digits, personnummer.mask(digits), tuple(problems))
            return Match(None, _shown(row, personnummer.mask(digits)), tuple(problems))
        # 2. LMS username, login id or sync key; 3. email.
        for kinds, tables in (
            (("username", "any"), (self._usernames,)),
            (("email", "any"), (self._emails, self._usernames)),
        ):
            for ident in row.identifiers:
                if ident.match not in kinds:
                    continue
                key = _key(_ident_text(ident.value))
                if ident.match == "any" and kinds[0] == "email" and "@" not in key:
                    continue
                for table in tables:
                    pnr = table.get(key)
                    if pnr is not None:
                        return Match(pnr, _text(ident.value), tuple(problems))
        first = next(iter(row.identifiers), None)
        shown = personnummer.mask_text(_ident_text(first.value)) if first else ""
        return Match(None, _shown(row, shown), tuple(problems))


def _pnr_text(value: Any) -> Any:
    """Excel's ``="..."`` wrapper and a leading apostrophe are how exports keep text text."""
    if not isinstance(value, str):
        return value
    text = value.strip().lstrip("'").strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1].strip()
    return text


def _ident_text(value: Any) -> str:
    text = _pnr_text(value)
    return text if isinstance(text, str) else _text(text)


def _shown(row: ExportRow, identifier: str) -> str:
    name = row.name.strip()
    if name and identifier:
        return f"{name} ({identifier})"
    return name or identifier or f"#{row.row}"


# -- grades ----------------------------------------------------------------------------------


class ThresholdError(InvalidRequest, ValueError):
    """Thresholds that cannot be used; the message says why (shown in the receipt, and by
    the CLI as a refused command)."""


@dataclass(frozen=True)
class Thresholds:
    """Minimum score per grade, lowest first: a score gets the grade of the highest minimum
    it reaches."""

    steps: tuple[tuple[str, float], ...]

    def grade_for(self, score: float) -> str | None:
        found = None
        for grade, minimum in self.steps:
            if score >= minimum:
                found = grade
        return found

    @property
    def lowest(self) -> float:
        return self.steps[0][1]


def parse_thresholds_text(text: str) -> list[tuple[str, float]]:
    """``"U=0,3=50,4=65,5=80"`` (also ``:`` and ``;`` or spaces) as pairs, for the CLI."""
    pairs: list[tuple[str, float]] = []
    for part in re.split(r"[,;\s]+", text.strip()):
        if not part:
            continue
        grade, sep, minimum = part.replace(":", "=").partition("=")
        if not sep:
            raise ThresholdError(f"{part!r}: skriv BETYG=MINIMUM / write GRADE=MINIMUM")
        try:
            pairs.append((grade.strip(), float(minimum)))
        except ValueError:
            raise ThresholdError(f"{part!r}: {minimum!r} är inget tal / is not a number") from None
    return pairs


def parse_thresholds(raw: Any, scale: GradeScale) -> Thresholds:
    """Thresholds from ``[(grade, minimum), ...]``, a ``{grade: minimum}`` dict or the text
    form, checked against ``scale``: every grade on it, no grade or minimum twice, and a
    better grade needs a higher minimum."""
    if isinstance(raw, str):
        raw = parse_thresholds_text(raw)
    items = list(raw.items()) if isinstance(raw, dict) else list(raw)
    steps: list[tuple[str, float]] = []
    for item in items:
        try:
            grade_value, minimum_value = item
            minimum = float(minimum_value)
        except (TypeError, ValueError):
            raise ThresholdError(f"{item!r}") from None
        if not math.isfinite(minimum):
            raise ThresholdError(f"{item!r}")
        grade = _on_scale(grade_value, scale)
        if grade is None:
            raise ThresholdError(
                f"{grade_value!r} finns inte i skalan / is not on the scale {scale.code}"
            )
        steps.append((grade, minimum))
    if not steps:
        raise ThresholdError("inga gränser / no thresholds")
    grades = [g for g, _ in steps]
    minimums = [m for _, m in steps]
    if len(set(grades)) != len(grades) or len(set(minimums)) != len(minimums):
        raise ThresholdError("samma betyg eller gräns två gånger / a grade or minimum twice")
    steps.sort(key=lambda s: s[1])
    quality = _quality(scale)
    ranks = [quality[g] for g, _ in steps]
    if ranks != sorted(ranks):
        raise ThresholdError(
            "ett bättre betyg behöver en högre gräns / a better grade needs a higher minimum"
        )
    return Thresholds(tuple(steps))


def _quality(scale: GradeScale) -> dict[str, int]:
    """Rank of each grade, worst first, whichever way the scale lists them."""
    grades = list(scale.grades)
    first_pass = next((i for i, g in enumerate(grades) if scale.is_passing(g)), 0)
    failing_first = any(not scale.is_passing(g) for g in grades[:first_pass])
    ordered = grades if failing_first else list(reversed(grades))
    return {g: i for i, g in enumerate(ordered)}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and not math.isfinite(value) else float(value)
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if _NUMBER.match(text):
            return float(text.replace(",", "."))
    return None


def _on_scale(value: Any, scale: GradeScale) -> str | None:
    """``value`` as a grade on ``scale``: the scale's own grade, a pass/fail word, or a
    twin (P↔G, F↔U) the scale has."""
    number = _number(value)
    if number is not None:
        value = int(number) if number.is_integer() else number
    key = _SPACES.sub(" ", str(value)).strip().upper()
    for candidate in (key, key.replace(" ", "")):
        grade = scale.normalize(candidate)
        if grade is not None:
            return grade
    if key in DISTINCTION_WORDS:
        key = "VG"
    elif key in PASS_WORDS:
        key = "G"
    elif key in FAIL_WORDS:
        key = "U"
    for candidate in (key, TWINS.get(key, key)):
        grade = scale.normalize(candidate)
        if grade is not None:
            return grade
    return None


@dataclass(frozen=True)
class GradeOutcome:
    """One value read: a grade on the scale, no result (``grade`` and ``slug`` None), or a
    problem slug with its parameters."""

    grade: str | None
    slug: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def map_grade(
    value: Any,
    *,
    scale: GradeScale,
    kind: str,
    thresholds: Thresholds | None,
    no_result: frozenset[str] = frozenset(),
) -> GradeOutcome:
    """Map one export value onto ``scale``.

    A blank or a status text in ``no_result`` is no result. A value with a percent sign is a
    percentage and a number in a ``points``/``percentage``/``auto`` column is a score: both
    become grades only through ``thresholds``. In a ``grade`` column a number is a grade
    name (3, 4, 5 on TH). Text is read as a grade, case and whitespace tolerant, with pass
    and fail words and P↔G, F↔U.
    """
    if _blank(value) or (isinstance(value, str) and _key(value) in no_result):
        return GradeOutcome(None)
    scale_params = {"scale": scale.code, "allowed": ", ".join(scale.grades)}
    score: float | None = None
    if isinstance(value, str) and value.strip().endswith("%"):
        score = _number(value.strip()[:-1])
    if score is None:
        number = _number(value)
        if number is not None and kind != "grade":
            score = number
    if score is not None:
        if thresholds is None:
            return GradeOutcome(None, "lms-number-without-thresholds")
        grade = thresholds.grade_for(score)
        if grade is None:
            return GradeOutcome(None, "lms-below-thresholds", {"lowest": _show(thresholds.lowest)})
        return GradeOutcome(grade)
    grade = _on_scale(value, scale)
    if grade is None:
        return GradeOutcome(None, "lms-grade-not-in-scale", scale_params)
    return GradeOutcome(grade)


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)


def parse_date(text: str | None) -> dt.date | None:
    """An ISO date of a ladok3 row; ``None`` when blank; raises ``ValueError`` otherwise."""
    if not text:
        return None
    if not _ISO_DATE.match(text):
        raise ValueError(text)
    return dt.date.fromisoformat(text)


# -- one export against one list -----------------------------------------------------------


@dataclass(frozen=True)
class ExportGrade:
    """A student's value in the chosen column: ``grade`` None is no result in the export, or
    (``readable`` False) a value that could not be mapped and is reported as a problem."""

    pnr: str
    row: int
    grade: str | None
    date: dt.date | None = None
    readable: bool = True


@dataclass
class Reading:
    grades: dict[str, ExportGrade] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_grades(
    export: Export,
    column: Column,
    roster: Roster,
    scale: GradeScale,
    thresholds: Thresholds | None,
    *,
    course: str,
    component: str,
) -> Reading:
    """Match every row of ``export`` to the roster and map its value in ``column``.

    ``course`` and ``component`` are what ladok3 rows must name (the list's course and
    module code, or the course code twice for a final grade)."""
    reading = Reading()
    sheet = export.sheet
    first_row: dict[str, int] = {}
    for row in export.rows:
        date: dt.date | None = None
        if export.platform == "ladok3":
            if (_key(row.course), _key(row.component)) != (_key(course), _key(component)):
                reading.problems.append(
                    Problem(
                        "lms-other-component",
                        {
                            "course": row.course,
                            "component": row.component,
                            "expected": f"{course}/{component}",
                        },
                        column="A",
                        sheet=sheet,
                        row=row.row,
                    )
                )
                continue
            try:
                date = parse_date(row.date)
            except ValueError:
                reading.problems.append(
                    Problem("lms-bad-date", column="E", value=row.date, sheet=sheet, row=row.row)
                )
                continue
        match = roster.match(row, sheet)
        reading.problems.extend(match.problems)
        if match.pnr is None:
            reading.unknown.append(match.shown)
            continue
        if match.pnr in first_row:
            reading.problems.append(
                Problem(
                    "lms-duplicate-student",
                    {"other": first_row[match.pnr]},
                    value=roster.students[match.pnr].name,
                    sheet=sheet,
                    row=row.row,
                )
            )
            continue
        first_row[match.pnr] = row.row
        raw = row.value(column)
        outcome = map_grade(
            raw,
            scale=scale,
            kind=column.kind,
            thresholds=thresholds,
            no_result=export.no_result,
        )
        if outcome.slug is not None:
            reading.problems.append(
                Problem(
                    outcome.slug,
                    outcome.params,
                    column=column.letter,
                    value=raw,
                    sheet=sheet,
                    row=row.row,
                )
            )
            reading.grades[match.pnr] = ExportGrade(match.pnr, row.row, None, readable=False)
            continue
        reading.grades[match.pnr] = ExportGrade(match.pnr, row.row, outcome.grade, date)
    return reading
