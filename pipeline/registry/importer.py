"""Registry import: what LADOK and the staff directory (BARD) supply, upserted into the database.

Owns reading registry files (CSV separated by ``,``, ``;`` or tab, UTF-8 with or without BOM;
the first sheet of an XLSX/ODS workbook), recognising each file's kind from its header row,
checking every row (the pandera schema in ``schemas/registry/<kind>.yaml``, then cross-checks
against the database and duplicates within the file) and the idempotent upsert: one
transaction and one audit event per file. Rejected rows come back as located
:class:`~pipeline.intake.report.Problem` objects while the good rows of the same file are imported.
Printing is the caller's; :func:`format_results` makes the text.

Row numbers are the ones a person sees (the header is row 1 of a CSV; a workbook's own row
numbers). Personnummer only ever leave this module masked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pandera.pandas as pa
from openpyxl.utils import get_column_letter
from pandera.api.extensions import register_check_method
from python_calamine import CalamineWorkbook
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App, require_admin
from pipeline.domain import personnummer, scales, terms
from pipeline.intake import checks, report
from pipeline.intake.cell_values import to_date, to_number
from pipeline.intake.column_checks import ensure_registered
from pipeline.intake.report import Problem
from pipeline.models import (
    Base,
    Course,
    Examiner,
    ExamSignup,
    Module,
    PriorResult,
    Registration,
    Staff,
    Student,
)

AUDIT_ACTION: Final = "registry.import"


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
        _spec("staff", "username name email", "mobile language", "username"),
        _spec("examiners", "course_code username from_term", "to_term"),
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
ALIASES: Final[dict[str, str]] = {
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

_UPPER: Final = frozenset(
    {"course_code", "module_code", "scale", "ects_scale", "from_term", "to_term", "term"}
)
_LOWER: Final = frozenset({"username", "language"})
_DATES: Final = frozenset({"start_date", "exam_date", "grade_date"})
# What our own writers escape with a leading apostrophe (and Excel's text marker for digits).
_ESCAPED_AFTER_APOSTROPHE: Final = frozenset("=+-@\t\r0123456789")
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PHONE_NOISE: Final = re.compile(r"[\s\-()]")
_HEADER_SEARCH: Final = 10


@dataclass
class ImportResult:
    """What happened to one file: counts, rejected rows, file-level problems and warnings."""

    path: Path
    kind: str | None
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.rejected})

    @property
    def ok(self) -> bool:
        return not self.problems and not self.rejected


# ---------------------------------------------------------------------------------------------
# Reading


class _FileProblem(Exception):
    def __init__(self, slug: str, **params: Any) -> None:
        super().__init__(slug)
        self.slug = slug
        self.params = params


@dataclass
class _Table:
    """A file's cells as read: the header row and the data rows with their row numbers."""

    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    sheet: str | None
    kind: str | None
    positions: dict[str, int]


def _read(path: Path) -> _Table:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _FileProblem("unreadable-registry-file", detail=exc.strerror or str(exc)) from None
    if raw.startswith(b"PK\x03\x04") or raw.startswith(_OLE_MAGIC):
        return _read_workbook(path)
    return _read_csv(raw)


def _read_csv(raw: bytes) -> _Table:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _FileProblem("registry-not-utf8") from None
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
        raise _FileProblem("unreadable-registry-file", detail=str(exc)) from None
    return _split_header(records, sheet=None)


def _read_workbook(path: Path) -> _Table:
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        cells = sheet.to_python(skip_empty_area=False)
        name = sheet.name
    except Exception as exc:  # calamine has a dozen error types for damaged or locked files
        raise _FileProblem("unreadable-registry-file", detail=str(exc)) from None
    return _split_header([(i + 1, list(row)) for i, row in enumerate(cells)], sheet=name)


def _is_empty(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _split_header(records: list[tuple[int, list[Any]]], *, sheet: str | None) -> _Table:
    """Find the header row: the first recognised one among the first rows (exports from
    reporting tools often put a title above it), else the first row."""
    rows = [(number, cells) for number, cells in records if not all(map(_is_empty, cells))]
    if not rows:
        raise _FileProblem("empty-registry-file")
    for index, (_, cells) in enumerate(rows[:_HEADER_SEARCH]):
        headers = ["" if cell is None else str(cell).strip().lstrip("\ufeff") for cell in cells]
        kind, positions = detect_kind(headers)
        if kind is not None:
            return _Table(headers, rows[index + 1 :], sheet, kind, positions)
    first = ["" if cell is None else str(cell).strip() for cell in rows[0][1]]
    return _Table(first, rows[1:], sheet, None, {})


def _cell(value: Any, *, keep_type: bool) -> Any:
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


# ---------------------------------------------------------------------------------------------
# Checking


def _register_checks() -> None:
    """Checks only registry schemas use (registered with pandera once)."""
    ensure_registered()
    if "one_decimal" in pa.Check.REGISTERED_CUSTOM_CHECKS:
        return

    def one_decimal(value: Any) -> bool:
        number = to_number(value)
        return number is None or abs(number * 10 - round(number * 10)) < 1e-6

    def number_at_most(value: Any, *, limit: float) -> bool:
        number = to_number(value)
        return number is None or number <= limit

    register_check_method(statistics=[], check_type="element_wise")(one_decimal)
    register_check_method(statistics=["limit"], check_type="element_wise")(number_at_most)


def _mask_value(field_name: str, value: Any) -> Any:
    """A value safe to show: personnummer masked, and anything that looks like one in text."""
    if value is None:
        return None
    if field_name == "personnummer":
        try:
            return personnummer.parse(value).masked()
        except personnummer.PersonnummerError:
            pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        seen = 0
        out = []
        for char in str(value):
            if char.isdigit():
                seen += 1
                out.append(char if seen <= 6 else "*")
            else:
                out.append(char)
        return "".join(out)
    if field_name == "mobile" or not isinstance(value, str):
        return value  # ten digits in the mobile column are a phone number, not a personnummer
    return personnummer.mask_text(value)


@dataclass
class _Record:
    """A row ready to store: the model's attribute values (its database key included)."""

    row: int
    values: dict[str, Any]


@dataclass
class _Rows:
    """One file's rows while they are checked; problems are collected, never raised."""

    spec: KindSpec
    frame: pd.DataFrame
    letters: dict[str, str]
    sheet: str | None
    problems: list[Problem] = field(default_factory=list)
    bad: set[tuple[int, str]] = field(default_factory=set)
    typed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def flag(self, row: int, column: str, slug: str, value: Any = None, **params: Any) -> None:
        self.problems.append(
            Problem(
                slug=slug,
                params=params,
                sheet=self.sheet,
                row=row,
                column=self.letters.get(column),
                field=column,
                value=value,
            )
        )
        self.bad.add((row, column))

    def ok(self, row: int, *columns: str) -> bool:
        return all((row, column) not in self.bad for column in columns)

    def rejected(self, row: int) -> bool:
        return any((row, column) in self.bad for column in self.spec.columns)

    def good(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Rows with no problem so far."""
        return ((row, values) for row, values in self.typed if not self.rejected(row))


def _prepare(table: _Table, spec: KindSpec, positions: dict[str, int]) -> _Rows:
    """The file's columns under their canonical names, normalised, indexed by row number."""
    numbers = [number for number, _ in table.rows]
    data: dict[str, list[Any]] = {}
    for column in spec.columns:
        position = positions.get(column)
        keep = column == "personnummer"
        data[column] = [
            _cell(cells[position], keep_type=keep)
            if position is not None and position < len(cells)
            else None
            for _, cells in table.rows
        ]
        if column in _UPPER:
            data[column] = [v.upper() if isinstance(v, str) else v for v in data[column]]
        elif column in _LOWER:
            data[column] = [v.lower() if isinstance(v, str) else v for v in data[column]]
        elif column == "mobile":
            data[column] = [
                _PHONE_NOISE.sub("", v) if isinstance(v, str) else v for v in data[column]
            ]
    frame = pd.DataFrame(data, index=pd.Index(numbers), dtype=object)
    letters = {
        column: get_column_letter(positions[column] + 1)
        for column in spec.columns
        if column in positions
    }
    return _Rows(spec=spec, frame=frame, letters=letters, sheet=table.sheet)


def _run_schema(rows: _Rows, workspace: Path) -> None:
    loaded = checks.load_schema(f"registry/{rows.spec.kind}", workspace)
    found = checks.run_schema(
        loaded, rows.frame, sheet=rows.sheet, letters=rows.letters, row_of=None
    )
    for problem in found:
        if problem.field == "personnummer" and problem.slug == "pnr-invalid":
            try:
                personnummer.parse(problem.value)
            except personnummer.PersonnummerError as exc:
                # The check only says "not valid"; the parser says why (e.g. Excel made a number).
                problem = replace(problem, slug=exc.slug)
        rows.problems.append(problem)
        if problem.row is not None and problem.field is not None:
            rows.bad.add((problem.row, problem.field))


def _typed_value(column: str, value: Any) -> Any:
    if column == "language":
        return value or "sv"
    if value is None:
        return None
    if column == "personnummer":
        return personnummer.normalize(value)
    if column in _DATES:
        return to_date(value)
    if column == "credits":
        number = to_number(value)
        return None if number is None else Decimal(str(number)).quantize(Decimal("0.1"))
    return value


def _type_rows(rows: _Rows) -> None:
    """Typed values (12-digit personnummer, dates, ``Decimal`` credits) of the cells that passed."""
    columns = list(rows.frame.columns)
    for row, values in zip(rows.frame.index, rows.frame.itertuples(index=False), strict=True):
        number = int(row)
        rows.typed.append(
            (
                number,
                {
                    column: _typed_value(column, value) if rows.ok(number, column) else None
                    for column, value in zip(columns, values, strict=True)
                },
            )
        )


def _check_duplicates(rows: _Rows, headers: dict[str, str]) -> None:
    """Every repeat of an earlier row's key is rejected; the first occurrence stays."""
    key_columns = rows.spec.key
    first: dict[tuple[Any, ...], int] = {}
    label = ", ".join(headers.get(column, column) for column in key_columns)
    for row, values in rows.typed:
        if not rows.ok(row, *key_columns):
            continue
        key = tuple(values[column] for column in key_columns)
        if key in first:
            rows.flag(row, key_columns[0], "registry-duplicate", key=label, other=first[key])
        else:
            first[key] = row


# ---------------------------------------------------------------------------------------------
# Cross-checks and records, one function per kind


@dataclass
class _Context:
    session: Session
    workspace: Path
    today: dt.date

    def course_ids(self) -> dict[str, int]:
        return {code: id_ for id_, code in self.session.execute(select(Course.id, Course.code))}

    def module_ids(self) -> dict[tuple[str, str], tuple[int, str]]:
        query = select(Module.id, Course.code, Module.code, Module.scale).join(Module.course)
        return {
            (course, module): (id_, scale)
            for id_, course, module, scale in self.session.execute(query)
        }

    def staff_ids(self) -> dict[str, int]:
        return {name: id_ for id_, name in self.session.execute(select(Staff.id, Staff.username))}

    def student_ids(self) -> dict[str, int]:
        return {pnr: id_ for id_, pnr in self.session.execute(select(Student.id, Student.pnr))}


_Extras = dict[int, dict[str, Any]]


def _resolve(
    rows: _Rows, row: int, value: Any, column: str, table: dict[Any, Any], slug: str, **params: Any
) -> Any:
    """Look a referenced thing up; flag the cell when it is not there."""
    if not rows.ok(row, column):
        return None
    found = table.get(value)
    if found is None:
        rows.flag(row, column, slug, value=value if column != "module_code" else value[1], **params)
    return found


def _no_references(rows: _Rows, ctx: _Context) -> _Extras:
    return {}


def _check_modules(rows: _Rows, ctx: _Context) -> _Extras:
    courses = ctx.course_ids()
    extras: _Extras = {}
    for row, v in rows.typed:
        course_id = _resolve(rows, row, v["course_code"], "course_code", courses, "unknown-course")
        if course_id is not None:
            extras[row] = {"course_id": course_id}
    return extras


def _check_examiners(rows: _Rows, ctx: _Context) -> _Extras:
    courses, staff = ctx.course_ids(), ctx.staff_ids()
    extras: _Extras = {}
    for row, v in rows.typed:
        course_id = _resolve(rows, row, v["course_code"], "course_code", courses, "unknown-course")
        staff_id = _resolve(rows, row, v["username"], "username", staff, "unknown-staff")
        first, last = v["from_term"], v["to_term"]
        checkable = first and last and rows.ok(row, "from_term", "to_term")
        if checkable and terms.term_key(last) < terms.term_key(first):
            rows.flag(row, "to_term", "term-order", value=last, from_term=first)
        if course_id is not None and staff_id is not None:
            extras[row] = {"course_id": course_id, "staff_id": staff_id}
    return extras


def _check_registrations(rows: _Rows, ctx: _Context) -> _Extras:
    students, courses = ctx.student_ids(), ctx.course_ids()
    extras: _Extras = {}
    for row, v in rows.typed:
        pnr = v["personnummer"]
        student_id = _resolve(rows, row, pnr, "personnummer", students, "unknown-student")
        course_id = _resolve(rows, row, v["course_code"], "course_code", courses, "unknown-course")
        if student_id is not None and course_id is not None:
            extras[row] = {"student_id": student_id, "course_id": course_id}
    return extras


def _check_module_results(rows: _Rows, ctx: _Context) -> _Extras:
    """Sign-ups and prior results: the student and the course's module must exist; a prior
    result's grade must be on the module's scale and its date not in the future."""
    students, courses, modules = ctx.student_ids(), ctx.course_ids(), ctx.module_ids()
    all_scales = scales.load_scales(ctx.workspace)
    with_grade = "grade" in rows.spec.columns
    extras: _Extras = {}
    for row, v in rows.typed:
        pnr = v["personnummer"]
        student_id = _resolve(rows, row, pnr, "personnummer", students, "unknown-student")
        code = v["course_code"]
        module = None
        if _resolve(rows, row, code, "course_code", courses, "unknown-course") is not None:
            key = (code, v["module_code"])
            module = _resolve(rows, row, key, "module_code", modules, "unknown-module", course=code)
        if student_id is None or module is None:
            continue
        extras[row] = {"student_id": student_id, "module_id": module[0]}
        if with_grade and rows.ok(row, "grade"):
            scale = all_scales[module[1]]
            grade = scale.normalize(v["grade"])
            if grade is None:
                allowed = ", ".join(scale.grades)
                rows.flag(
                    row,
                    "grade",
                    "grade-not-in-scale",
                    v["grade"],
                    scale=scale.code,
                    allowed=allowed,
                )
            extras[row]["grade"] = grade
    if with_grade:
        for row, v in rows.typed:
            day = v["grade_date"]
            if day is not None and day > ctx.today:
                rows.flag(row, "grade_date", "date-in-future", value=day.isoformat())
    return extras


def _check_module_credits(rows: _Rows, ctx: _Context, records: list[_Record]) -> list[_Record]:
    """A course's modules may not add up to more credits than the course (warn when fewer)."""
    query = select(Course.id, Course.code, Course.credits)
    courses = {id_: (code, credits) for id_, code, credits in ctx.session.execute(query)}
    in_file = {(r.values["course_id"], r.values["code"]) for r in records}
    totals: dict[int, Decimal] = {r.values["course_id"]: Decimal(0) for r in records}
    stored = select(Module.course_id, Module.code, Module.credits).where(
        Module.course_id.in_(list(totals))
    )
    for course_id, code, credits in ctx.session.execute(stored):
        if (course_id, code) not in in_file:
            totals[course_id] += credits
    kept: list[_Record] = []
    for record in records:
        course_id = record.values["course_id"]
        code, course_credits = courses[course_id]
        total = totals[course_id] + record.values["credits"]
        if total > course_credits:
            rows.flag(
                record.row,
                "credits",
                "module-credits-exceed",
                value=str(record.values["credits"]),
                course=code,
                total=str(total),
                course_credits=str(course_credits),
            )
            continue
        totals[course_id] = total
        kept.append(record)
    for course_id, total in totals.items():
        code, course_credits = courses[course_id]
        if total < course_credits:
            params = {"course": code, "total": str(total), "course_credits": str(course_credits)}
            rows.warnings.append(Problem(slug="module-credits-short", params=params))
    return kept


@dataclass(frozen=True)
class _Storage:
    """How one kind is stored: the model, the attributes that identify a stored row, which
    file column fills which attribute, and the cross-checks that resolve references."""

    model: type[Base]
    key: tuple[str, ...]
    attributes: dict[str, str]
    check: Callable[[_Rows, _Context], _Extras] = _no_references
    after: Callable[[_Rows, _Context, list[_Record]], list[_Record]] | None = None


_NAMES: Final = {"name_sv": "name_sv", "name_en": "name_en"}
_STORAGE: Final[dict[str, _Storage]] = {
    "courses": _Storage(
        Course,
        ("code",),
        {
            "course_code": "code",
            **_NAMES,
            "credits": "credits",
            "scale": "scale",
            "ects_scale": "ects_scale",
            "start_date": "start_date",
            "department": "department",
        },
    ),
    "modules": _Storage(
        Module,
        ("course_id", "code"),
        {
            "module_code": "code",
            **_NAMES,
            "credits": "credits",
            "scale": "scale",
            "ects_scale": "ects_scale",
        },
        _check_modules,
        _check_module_credits,
    ),
    "staff": _Storage(
        Staff,
        ("username",),
        {c: c for c in ("username", "name", "email", "mobile", "language")},
    ),
    "examiners": _Storage(
        Examiner,
        ("course_id", "staff_id", "from_term"),
        {"from_term": "from_term", "to_term": "to_term"},
        _check_examiners,
    ),
    "students": _Storage(
        Student,
        ("pnr",),
        {
            "personnummer": "pnr",
            **{c: c for c in ("first_name", "last_name", "email", "lms_username")},
        },
    ),
    "registrations": _Storage(
        Registration,
        ("student_id", "course_id", "term"),
        {"term": "term"},
        _check_registrations,
    ),
    "signups": _Storage(
        ExamSignup,
        ("student_id", "module_id", "exam_date"),
        {"exam_date": "exam_date"},
        _check_module_results,
    ),
    "prior_results": _Storage(
        PriorResult,
        ("student_id", "module_id", "grade_date"),
        {"grade_date": "grade_date"},
        _check_module_results,
    ),
}


def _records(rows: _Rows, storage: _Storage, extras: _Extras) -> list[_Record]:
    """Rows without problems as model values; a column the file lacks is left as stored."""
    present = [(c, a) for c, a in storage.attributes.items() if c in rows.letters]
    return [
        _Record(row, {**{a: v[c] for c, a in present}, **extras.get(row, {})})
        for row, v in rows.good()
    ]


def _upsert(
    session: Session, model: type[Base], key: tuple[str, ...], records: list[_Record]
) -> tuple[int, int, int]:
    """Insert new rows, update changed ones, in bulk; returns (added, changed, unchanged)."""
    if not records:
        return 0, 0, 0
    attributes = sorted({name for record in records for name in record.values})
    table: Any = model
    stored: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    query = select(table.id, *(getattr(table, name) for name in attributes))
    for found in session.execute(query):
        values = dict(zip(attributes, found[1:], strict=True))
        stored[tuple(values[name] for name in key)] = (found[0], values)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for record in records:
        existing = stored.get(tuple(record.values[name] for name in key))
        if existing is None:
            inserts.append(record.values)
        elif any(existing[1][name] != value for name, value in record.values.items()):
            updates.append({"id": existing[0], **record.values})
        else:
            unchanged += 1
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        session.execute(update(table), updates)
    return len(inserts), len(updates), unchanged


# ---------------------------------------------------------------------------------------------
# The public operations


def _expected_headers() -> str:
    return " | ".join(f"{spec.kind}: {', '.join(spec.columns)}" for spec in KINDS.values())


def _finish(problems: list[Problem], headers: dict[str, str]) -> list[Problem]:
    """Problems as the person sees them: the file's own header names, personnummer masked."""
    out = []
    for problem in problems:
        column = problem.field or ""
        out.append(
            replace(
                problem,
                field=headers.get(column, problem.field),
                value=_mask_value(column, problem.value),
            )
        )
    return sorted(out, key=lambda p: (p.row or 0, p.column or "", p.slug))


def _import_one(app: App, path: Path, table: _Table, today: dt.date) -> ImportResult:
    kind, positions = str(table.kind), table.positions
    spec = KINDS[kind]
    result = ImportResult(path=path, kind=kind)
    headers = {
        column: table.headers[positions[column]] for column in spec.columns if column in positions
    }
    used = set(headers.values())
    ignored = [h for h in table.headers if h and h not in used]
    if ignored:
        result.warnings.append(
            Problem(
                slug="registry-ignored-columns",
                params={"columns": personnummer.mask_text(", ".join(ignored))},
                sheet=table.sheet,
            )
        )
    rows = _prepare(table, spec, positions)
    _run_schema(rows, app.root)
    _type_rows(rows)
    _check_duplicates(rows, headers)
    storage = _STORAGE[kind]
    with app.db.session() as session:
        ctx = _Context(session=session, workspace=app.root, today=today)
        records = _records(rows, storage, storage.check(rows, ctx))
        if storage.after is not None:
            records = storage.after(rows, ctx, records)
        added, changed, unchanged = _upsert(session, storage.model, storage.key, records)
        result.added, result.changed, result.unchanged = added, changed, unchanged
        result.rejected = _finish(rows.problems, headers)
        result.warnings.extend(rows.warnings)
        audit.record(
            session,
            actor=app.actor,
            action=AUDIT_ACTION,
            admin=True,
            details={
                "file": path.name,
                "kind": kind,
                "added": added,
                "changed": changed,
                "unchanged": unchanged,
                "rejected_rows": result.rejected_rows,
            },
        )
    return result


def import_files(
    app: App, paths: Sequence[Path], *, admin: bool, today: dt.date | None = None
) -> list[ImportResult]:
    """Import registry files, in dependency order whatever order they are given in.

    Each file is one transaction with one audit event; a file whose kind is not recognised or
    that cannot be read changes nothing and reports why in ``problems``. Results come back in
    the order the files were imported, unrecognised files last. ``today`` (default: the date
    today) is the limit for grade dates.
    """
    require_admin(admin, "Registerimport")
    _register_checks()
    today = today or dt.date.today()
    readable: list[tuple[int, Path, _Table]] = []
    failed: list[ImportResult] = []
    for order, raw_path in enumerate(paths):
        path = Path(raw_path)
        try:
            table = _read(path)
        except _FileProblem as exc:
            problem = Problem(slug=exc.slug, params=exc.params)
            failed.append(ImportResult(path=path, kind=None, problems=[problem]))
            continue
        if table.kind is None:
            shown = personnummer.mask_text(", ".join(h for h in table.headers if h))
            problem = Problem(
                slug="unknown-registry-kind",
                params={"headers": shown, "expected": _expected_headers()},
                sheet=table.sheet,
            )
            failed.append(ImportResult(path=path, kind=None, problems=[problem]))
            continue
        readable.append((order, path, table))
    readable.sort(key=lambda item: (KIND_ORDER.index(str(item[2].kind)), item[0]))
    results = [_import_one(app, path, table, today) for _, path, table in readable]
    return results + failed


def _position(problem: Problem, words: dict[str, str]) -> str:
    """Sheet, row and column, naming the column by the header as written in the file."""
    parts = []
    if problem.sheet:
        parts.append(words["sheet"].format(sheet=problem.sheet))
    if problem.row is not None:
        parts.append(words["row"].format(row=problem.row))
    if problem.column:
        label = f"{problem.column} ({problem.field})" if problem.field else problem.column
        parts.append(words["column"].format(column=label))
    return ", ".join(parts)


def format_results(
    results: Sequence[ImportResult], language: str = "sv", workspace: Path | None = None
) -> str:
    """Per file: kind and counts, then every problem with its row, column and reason."""
    texts = report.messages(language, workspace)
    words = texts["registry"]

    def line(problem: Problem, prefix: str = "") -> str:
        where = _position(problem, texts["position"])
        message = problem.message(language, workspace)
        return f"  {prefix}{where}: {message}" if where else f"  {prefix}{message}"

    lines: list[str] = []
    totals = {"added": 0, "changed": 0, "unchanged": 0, "rejected": 0}
    for result in results:
        kind = words["kinds"].get(result.kind, result.kind) if result.kind else None
        counts = {
            "added": result.added,
            "changed": result.changed,
            "unchanged": result.unchanged,
            "rejected": result.rejected_rows,
        }
        for name, count in counts.items():
            totals[name] += count
        lines.append(
            words["summary"].format(
                file=result.path.name, kind=kind or words["unknown_kind"], **counts
            )
        )
        lines.extend(line(problem) for problem in result.problems)
        lines.extend(line(problem) for problem in result.rejected)
        lines.extend(line(problem, f"{words['warning']}: ") for problem in result.warnings)
    if len(results) > 1:
        lines.append(words["total"].format(**totals))
    return "\n".join(lines)
