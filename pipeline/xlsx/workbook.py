"""Issuing result workbooks: the pre-filled xlsx a teacher fills in Excel or LibreOffice.

Owns the main sheet of an issued workbook: the title, the instructions, the identity block,
the action (or, for the examiner's review, the code and reason) cells, the header and one
row per entry with its dropdowns, the hidden metadata sheet signed over identity and roster,
and writing the file atomically to ``outbox/lists/<listnr>.xlsx``. Workbooks are always
generated from the database, never round-tripped from a user's file.

Left to others: where things are and what the reader relies on (:mod:`pipeline.xlsx.contract`),
the cell formats (:mod:`pipeline.xlsx.look`), a T34 list's extra columns and sheet
(:mod:`pipeline.xlsx.t34view`), and the xlsx package itself (:mod:`pipeline.xlsx.sheetxml`,
written without a spreadsheet library: issuing is on the hot path of intake). Reading a
dropped workbook back is :mod:`pipeline.xlsx.reader`'s job.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import object_session

from pipeline import files
from pipeline.app import App
from pipeline.domain.scales import get_scale
from pipeline.errors import NotFound
from pipeline.lists.query import get_list_head, load_entries
from pipeline.models import ListEntry, ListKind, ResultList, Staff
from pipeline.texts import t
from pipeline.xlsx.cells import escape_cell
from pipeline.xlsx.cellxml import column_letter, split_ref
from pipeline.xlsx.contract import (
    ACTION_CELL,
    CODE_CELL,
    ENTRY_FIELDS,
    FIRST_ROW,
    FORMAT,
    HEADER_ROW,
    IDENTITY_ROW,
    LMS_COLUMN_CELL,
    READ_FIELDS,
    REASON_CELL,
    ROSTER_PER_CELL,
    SCHEMA_VERSION,
    SIGNATURE_VERSION,
    THRESHOLDS_CELL,
    ects_scale_code,
    field_order,
    layout,
    long_pnr,
    names_cells,
    sign,
    thresholds_text,
)
from pipeline.xlsx.look import Formats
from pipeline.xlsx.sheetxml import Sheet, SheetDocument
from pipeline.xlsx.styles import CellFormat, ListValidation, Protection
from pipeline.xlsx.t34view import T34View


@dataclass(frozen=True)
class IssuedWorkbook:
    listnr: int
    version: int
    path: Path
    rows: int


def issue(app: App, listnr: int, *, target: Path | None = None) -> IssuedWorkbook:
    """Write the current workbook of ``listnr`` (with what has been entered so far)."""
    with app.db.read_session() as session:
        result_list = get_list_head(session, listnr)
        workbook, rows = build_current(app, result_list)
    path = target or app.settings.lists_dir / f"{listnr}.xlsx"
    files.save(workbook, path)
    return IssuedWorkbook(listnr, result_list.version, path, rows)


def build_current(
    app: App, result_list: ResultList, entries: Sequence[Any] | None = None
) -> tuple[SheetDocument, int]:
    """The list's current workbook (in its reporter's language), from a list loaded in the
    caller's session and its active ``entries`` (read as plain rows when not given); returns
    it with its number of rows."""
    session = object_session(result_list)
    assert session is not None
    # The reporter's language only: a plain statement built once (no ORM object loaded).
    found = session.execute(_STAFF_LANGUAGE, {"username": result_list.reporter}).first()
    if found is None:
        raise NotFound(t("lists.staff-not-found", username=result_list.reporter))
    language = found.language if found.language in ("sv", "en") else "sv"
    if entries is None:
        entries = load_entries(session, result_list.id, active=True)
    return build(app, result_list, list(entries), language=language), len(entries)


def build_review(
    app: App, result_list: ResultList, *, language: str, content_hash: str, target: Path
) -> Path:
    """The examiner's review workbook: every cell read-only except the approval code and the
    rejection reason; signed together with the content hash of exactly these rows."""
    entries = [e for e in result_list.entries if not e.removed]
    wb = build(app, result_list, entries, language=language, review_hash=content_hash)
    files.save(wb, target)
    return target


def build(
    app: App,
    result_list: ResultList,
    entries: Sequence[Any],
    *,
    language: str,
    review_hash: str | None = None,
    overrides: Mapping[int, Mapping[str, Any]] | None = None,
) -> SheetDocument:
    """The workbook of ``result_list`` with one row per entry, in the order given.

    Of each entry only ``student_id``, ``student.pnr``, ``student.last_name``,
    ``student.first_name``, ``grade``, ``ects_grade``, ``grade_date``, ``points`` and
    ``comment`` are read, so light objects do as well as :class:`ListEntry` rows.
    ``overrides`` replaces field values per ``student_id`` (``{id: {"grade": "4"}}``), for
    a workbook showing more than the database holds (a merge)."""
    review = review_hash is not None
    look = layout(app.root)
    style = look["style"]
    module = result_list.module
    course = result_list.course
    scale = get_scale(module.scale if module else course.scale, app.root)
    ects_code = ects_scale_code(result_list)
    ects_scale = get_scale(ects_code, app.root) if ects_code else None
    fields = field_order(result_list)
    letters = {f: column_letter(i) for i, f in enumerate(fields, start=1)}
    t34_view = T34View(app, result_list, entries) if result_list.kind == ListKind.T34 else None
    formats = Formats(style)

    doc = SheetDocument()
    title = look["review"]["sheet_name"][language] if review else look["sheet_name"][language]
    ws = doc.add_sheet(title)
    module_text = f"{module.code} {_name(module, language)}" if module else ""
    course_text = f"{course.code} {_name(course, language)}"
    heading = look["title"][result_list.kind.value][language].format(
        listnr=result_list.listnr, course=course.code, module=module.code if module else ""
    )
    if result_list.corrects_listnr:
        heading = f"{heading} – " + str(look["correction"][language]).format(
            listnr=result_list.corrects_listnr
        )
    ws.set("A1", heading, formats.title)
    ws.set("A2", look["instructions_t34" if t34_view else "instructions"][language], formats.wrap)
    ws.merged.append(f"A2:{letters[fields[-1]]}2")
    ws.heights[2] = 48

    labels = _staff_labels(result_list, (result_list.examiner, result_list.reporter))
    examiner = labels[result_list.examiner or ""]
    identity = [
        ("listnr", result_list.listnr),
        ("course", course_text),
        ("module", module_text),
        ("scale", f"{scale.code} ({', '.join(scale.grades)})"),
        ("term", result_list.term),
        ("examiner", examiner),
        ("reporter", labels[result_list.reporter or ""]),
        ("version", result_list.version),
    ]
    for offset, (key, value) in enumerate(identity):
        row = IDENTITY_ROW + offset
        ws.cell(row, 1, look["identity"][key][language], formats.bold)
        ws.cell(row, 2, escape_cell(value), formats.identity)

    if review:
        for ref, key in ((CODE_CELL, "code_label"), (REASON_CELL, "reason_label")):
            row, _ = split_ref(ref)
            ws.cell(row, 1, look["review"][key][language], formats.bold)
            ws.set(ref, None, formats.input_text)
        ws.set("C13", look["review"]["hint"][language])
    else:
        if result_list.kind == ListKind.T33:
            _lms_cells(ws, look, language, result_list, formats)
        actions = look["actions"]
        ws.cell(13, 1, look["action_label"][language], formats.bold)
        ws.set(ACTION_CELL, actions["draft"][language], formats.input)
        ws.validations.append(
            ListValidation(
                ACTION_CELL,
                (actions["draft"][language], actions["submit"][language]),
                allow_blank=False,
            )
        )

    for column, field in enumerate(fields, start=1):
        ws.cell(HEADER_ROW, column, _header(look, field, language), formats.header)
        ws.widths[column] = look["columns"].get(field, {}).get("width", 11)
    ws.widths[1] = max(ws.widths[1], 22)

    records, roster, names = _entry_records(entries, fields, t34_view, overrides or {})
    ws.rows(FIRST_ROW, records, [formats.column(f, review=review) for f in fields])

    last_row = FIRST_ROW + max(len(entries), 1) - 1

    def column_range(field: str) -> str:
        return f"{letters[field]}{FIRST_ROW}:{letters[field]}{last_row}"

    if not review:
        ws.validations.append(ListValidation(column_range("grade"), scale.grades))
        if ects_scale is not None:
            ws.validations.append(ListValidation(column_range("ects_grade"), ects_scale.grades))
        if "remove" in letters:
            ws.validations.append(
                ListValidation(column_range("remove"), (look["t34"]["remove_mark"],))
            )
    if t34_view is not None:
        t34_view.write_not_eligible(doc, look, language, formats)

    ws.freeze = f"A{FIRST_ROW}"
    ws.print_title_rows = (HEADER_ROW, HEADER_ROW)
    ws.landscape_fit_to_width = True
    ws.protection = Protection(format_columns=True, format_rows=True, sort=True, auto_filter=True)

    meta = {
        "format": FORMAT,
        "kind": result_list.kind.value,
        "listnr": str(result_list.listnr),
        "version": str(result_list.version),
        "schema_version": str(SCHEMA_VERSION),
        "course": course.code,
        "module": module.code if module else "",
        "term": result_list.term,
        "sheet": ws.title,
        "header_row": str(HEADER_ROW),
        "first_row": str(FIRST_ROW),
        "columns": json.dumps(
            {f: letter for f, letter in letters.items() if f in READ_FIELDS}, sort_keys=True
        ),
        "action_cell": ACTION_CELL,
        "language": language,
        "purpose": "review" if review else "results",
        "signature_version": str(SIGNATURE_VERSION),
        "name_columns": json.dumps(
            {f: letters[f] for f in ("last_name", "first_name")}, sort_keys=True
        ),
        **names_cells(names),
        **(
            {"lms_column_cell": LMS_COLUMN_CELL, "thresholds_cell": THRESHOLDS_CELL}
            if result_list.kind == ListKind.T33 and not review
            else {}
        ),
        "issued_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if review_hash is not None:
        meta.update(content_hash=review_hash, code_cell=CODE_CELL, reason_cell=REASON_CELL)
    meta["hmac"] = sign(app.settings.hmac_key(), meta, roster)
    _write_meta(doc, look["meta_sheet"], meta, roster)
    return doc


#: What :func:`build` reads of an entry and of its student (besides ``student_id``).
_ENTRY_ATTRS: Final = ("student", "grade", "ects_grade", "grade_date", "points", "comment")
_STUDENT_ATTRS: Final = ("pnr", "last_name", "first_name")
_LOADED_ENTRY: Final = itemgetter(*_ENTRY_ATTRS)
_LOADED_STUDENT: Final = itemgetter(*_STUDENT_ATTRS)


def _loaded_values(entry: ListEntry) -> tuple[Any, ...] | None:
    """An ORM entry's and its student's attributes as :data:`_ENTRY_ATTRS` and
    :data:`_STUDENT_ATTRS` name them, or None when one of them is not loaded.

    A loaded ORM object holds its attribute values in its instance dictionary: reading them
    there skips SQLAlchemy's attribute descriptors, which cost more than writing the row's
    cells. What is not loaded (expired, deferred) is left to the ordinary attribute access."""
    try:
        values: tuple[Any, ...] = _LOADED_ENTRY(entry.__dict__)
        values += _LOADED_STUDENT(values[0].__dict__)
    except (KeyError, AttributeError):
        return None
    return values


def _entry_records(
    entries: Sequence[Any],
    fields: list[str],
    t34_view: T34View | None,
    overrides: Mapping[int, Mapping[str, Any]],
) -> tuple[list[tuple[Any, ...]], list[str], list[tuple[str, str]]]:
    """The cell values of each entry's row in ``fields`` order, the roster (pnr) and each
    row's names as issued (surname, given name)."""
    read_entry, read_student = attrgetter(*_ENTRY_ATTRS), attrgetter(*_STUDENT_ATTRS)
    # Every list has the entry fields, in this order; a T33 list has nothing else, so
    # its rows (the common and the large case) are picked from a tuple, not a dictionary.
    pick = itemgetter(*(ENTRY_FIELDS.index(f) if f in ENTRY_FIELDS else 0 for f in fields))
    records = []
    roster = []
    names = []
    for entry in entries:
        loaded = _loaded_values(entry) if entry.__class__ is ListEntry else None
        if loaded is None:
            loaded = read_entry(entry)
            loaded += read_student(loaded[0])
        _, grade, ects_grade, grade_date, points, comment, pnr, last_name, first_name = loaded
        base = (
            escape_cell(long_pnr(pnr)),
            escape_cell(last_name),
            escape_cell(first_name),
            escape_cell(grade),
            escape_cell(ects_grade),
            grade_date,
            None if points is None else float(points),
            escape_cell(comment),
        )
        roster.append(pnr)
        names.append((last_name or "", first_name or ""))
        if t34_view is None and not overrides:
            records.append(pick(base))
            continue
        student_id = entry.student_id
        values = dict(zip(ENTRY_FIELDS, base, strict=True))
        if t34_view is not None:
            values.update(t34_view.values(student_id))
        values.update(overrides.get(student_id, {}))
        records.append(tuple(escape_cell(values.get(field)) for field in fields))
    return records, roster, names


def _write_meta(doc: SheetDocument, title: str, meta: dict[str, str], roster: list[str]) -> None:
    """The hidden metadata sheet: key/value rows, then ``roster``, its count, and the roster
    in rows of up to ``ROSTER_PER_CELL`` numbers separated by spaces (a 20,000-student list
    would otherwise be 20,000 more cells for every reader to parse)."""
    ms = doc.add_sheet(title, hidden=True)
    text = CellFormat(number_format="@")
    row = 1
    for key, value in meta.items():
        ms.cell(row, 1, key)
        ms.cell(row, 2, value, text)
        row += 1
    ms.cell(row, 1, "roster")
    ms.cell(row, 2, str(len(roster)))
    chunks = [
        " ".join(roster[i : i + ROSTER_PER_CELL]) for i in range(0, len(roster), ROSTER_PER_CELL)
    ]
    ms.rows(row + 1, [(None, chunk) for chunk in chunks], (None, text))
    ms.protection = Protection()


def _lms_cells(
    ws: Sheet, look: dict[str, Any], language: str, result_list: ResultList, formats: Formats
) -> None:
    """Where the teacher names the LMS column and the score thresholds for a merge."""
    options = result_list.options or {}
    values = (
        (LMS_COLUMN_CELL, "lms_column", options.get("lms_column")),
        (THRESHOLDS_CELL, "thresholds", thresholds_text(options.get("thresholds"))),
    )
    for ref, key, value in values:
        row, column = split_ref(ref)
        ws.cell(row, 1, look["lms"][key][language], formats.bold)
        ws.cell(row, column, escape_cell(value), formats.input_text)
        # The cells merged over are unlocked too, so the merged input is editable as a whole.
        for spare in (column + 1, column + 2):
            ws.cell(row, spare, None, formats.unlocked)
        ws.merged.append(f"{ref}:{column_letter(column + 2)}{row}")


def _header(look: dict[str, Any], field: str, language: str) -> str:
    if field.startswith("m:"):
        _, code, part = field.split(":")
        return str(look["t34"][f"module_{part}"][language]).format(code=code)
    return str(look["columns"][field][language])


_STAFF_LANGUAGE: Final = select(Staff.language).where(Staff.username == bindparam("username"))
#: Staff names by username: one statement, built once, for a workbook's examiner and
#: reporter (two built and run per workbook were half a millisecond of every drop).
_STAFF_NAMES: Final = select(Staff.username, Staff.name).where(
    Staff.username.in_(bindparam("names", expanding=True))
)


def _staff_labels(result_list: ResultList, usernames: Sequence[str | None]) -> dict[str, str]:
    """``"Name (username)"`` for each of ``usernames`` in the staff directory, the bare
    username for one not in it, ``""`` for none."""
    labels = {name: name for name in usernames if name}
    labels[""] = ""
    session = object_session(result_list)
    if session is None or len(labels) == 1:
        return labels
    wanted = sorted(name for name in labels if name)
    for username, name in session.execute(_STAFF_NAMES, {"names": wanted}):
        if name:
            labels[username] = f"{name} ({username})"
    return labels


def _name(obj: Any, language: str) -> str:
    return str(obj.name_en if language == "en" and obj.name_en else obj.name_sv)
