"""Issuing result workbooks: the pre-filled xlsx a teacher fills in Excel or LibreOffice.

Owns the layout (from ``templates/workbook.yaml``), the hidden metadata sheet and its HMAC
over identity and roster, and writing the file atomically to ``outbox/lists/<listnr>.xlsx``.
Workbooks are always generated from the database, never round-tripped from a user's file.
Reading a dropped workbook back is :mod:`pipeline.reader`'s job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import object_session

from pipeline import resources
from pipeline.app import App
from pipeline.cells import escape_cell
from pipeline.lists import get_list, get_staff
from pipeline.models import ListEntry, ResultList, Staff
from pipeline.scales import get_scale

FORMAT: Final = "resultat-workbook"
SCHEMA_VERSION: Final = 1
HEADER_ROW: Final = 15
FIRST_ROW: Final = HEADER_ROW + 1
ACTION_CELL: Final = "B13"
IDENTITY_ROW: Final = 4
#: Keys of the metadata sheet that the HMAC covers, in this order.
SIGNED_KEYS: Final = (
    "format",
    "kind",
    "listnr",
    "version",
    "schema_version",
    "course",
    "module",
    "term",
    "sheet",
    "header_row",
    "first_row",
    "columns",
    "action_cell",
    "language",
    "purpose",
    "content_hash",
    "code_cell",
    "reason_cell",
)
#: A review workbook (sent to the examiner) has these two input cells instead of the action.
CODE_CELL: Final = "B13"
REASON_CELL: Final = "B14"


def layout(workspace: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = resources.load_yaml("templates", "workbook.yaml", workspace)
    return data


def sign(key: bytes, meta: dict[str, str], roster: list[str]) -> str:
    """HMAC-SHA256 over the signed metadata keys and the roster, as canonical JSON."""
    # Only keys present are signed, so removing one (e.g. "purpose") breaks the signature.
    body = {"meta": {k: meta[k] for k in SIGNED_KEYS if k in meta}, "roster": roster}
    message = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(key: bytes, meta: dict[str, str], roster: list[str]) -> bool:
    return hmac.compare_digest(sign(key, meta, roster), meta.get("hmac", ""))


def field_order(result_list: ResultList) -> list[str]:
    fields = ["pnr", "last_name", "first_name", "grade"]
    if result_list.module is not None and result_list.module.ects_scale:
        fields.append("ects_grade")
    fields += ["grade_date", "points", "comment"]
    return fields


INPUT_FIELDS: Final = frozenset({"grade", "ects_grade", "grade_date", "points", "comment"})


@dataclass(frozen=True)
class IssuedWorkbook:
    listnr: int
    version: int
    path: Path
    rows: int


def issue(app: App, listnr: int, *, target: Path | None = None) -> IssuedWorkbook:
    """Write the current workbook of ``listnr`` (with what has been entered so far)."""
    with app.db.session() as session:
        result_list = get_list(session, listnr)
        reporter = get_staff(session, result_list.reporter)
        language = reporter.language if reporter.language in ("sv", "en") else "sv"
        entries = [e for e in result_list.entries if not e.removed]
        workbook = build(app, result_list, entries, language=language)
    path = target or app.settings.lists_dir / f"{listnr}.xlsx"
    save_atomic(workbook, path)
    return IssuedWorkbook(listnr, result_list.version, path, len(entries))


def build_review(
    app: App, result_list: ResultList, *, language: str, content_hash: str, target: Path
) -> Path:
    """The examiner's review workbook: every cell read-only except the approval code and the
    rejection reason; signed together with the content hash of exactly these rows."""
    entries = [e for e in result_list.entries if not e.removed]
    wb = build(app, result_list, entries, language=language, review_hash=content_hash)
    save_atomic(wb, target)
    return target


def save_atomic(workbook: Workbook, path: Path) -> None:
    """Save to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        workbook.save(tmp)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(
    app: App,
    result_list: ResultList,
    entries: list[ListEntry],
    *,
    language: str,
    review_hash: str | None = None,
) -> Workbook:
    review = review_hash is not None
    look = layout(app.root)
    style = look["style"]
    module = result_list.module
    course = result_list.course
    scale = get_scale(module.scale if module else course.scale, app.root)
    ects_scale = get_scale(module.ects_scale, app.root) if module and module.ects_scale else None
    fields = field_order(result_list)
    letters = {f: get_column_letter(i) for i, f in enumerate(fields, start=1)}

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = look["sheet_name"][language]
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor=style["header_fill"])
    identity_fill = PatternFill("solid", fgColor=style["identity_fill"])
    input_fill = PatternFill("solid", fgColor=style["input_fill"])
    unlocked = Protection(locked=False)

    module_text = f"{module.code} {_name(module, language)}" if module else ""
    course_text = f"{course.code} {_name(course, language)}"
    ws["A1"] = look["title"][result_list.kind.value][language].format(
        listnr=result_list.listnr, course=course.code, module=module.code if module else ""
    )
    ws["A1"].font = Font(bold=True, size=style["title_size"])
    ws["A2"] = look["instructions"][language]
    ws["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(fields))
    ws.row_dimensions[2].height = 48

    examiner = _staff_label(result_list, result_list.examiner)
    identity = [
        ("listnr", result_list.listnr),
        ("course", course_text),
        ("module", module_text),
        ("scale", f"{scale.code} ({', '.join(scale.grades)})"),
        ("term", result_list.term),
        ("examiner", examiner),
        ("reporter", _staff_label(result_list, result_list.reporter)),
        ("version", result_list.version),
    ]
    for offset, (key, value) in enumerate(identity):
        row = IDENTITY_ROW + offset
        label = ws.cell(row=row, column=1, value=look["identity"][key][language])
        label.font = bold
        cell = ws.cell(row=row, column=2, value=escape_cell(value))
        cell.fill = identity_fill
        cell.alignment = Alignment(horizontal="left")

    if review:
        for ref, key in ((CODE_CELL, "code_label"), (REASON_CELL, "reason_label")):
            label = ws.cell(row=int(ref[1:]), column=1, value=look["review"][key][language])
            label.font = bold
            ws[ref].fill = input_fill
            ws[ref].protection = unlocked
            ws[ref].number_format = "@"
        ws["C13"] = look["review"]["hint"][language]
        ws["C13"].alignment = Alignment(wrap_text=False)
    else:
        actions = look["actions"]
        ws.cell(row=13, column=1, value=look["action_label"][language]).font = bold
        action = ws[ACTION_CELL]
        action.value = actions["draft"][language]
        action.fill = input_fill
        action.protection = unlocked
        action_choices = DataValidation(
            type="list",
            formula1='"{},{}"'.format(actions["draft"][language], actions["submit"][language]),
            allow_blank=False,
        )
        ws.add_data_validation(action_choices)
        action_choices.add(action)

    for field, letter in letters.items():
        cell = ws[f"{letter}{HEADER_ROW}"]
        cell.value = look["columns"][field][language]
        cell.font = bold
        cell.fill = header_fill
        ws.column_dimensions[letter].width = look["columns"][field].get("width", 12)
    ws.column_dimensions["A"].width = max(ws.column_dimensions["A"].width or 0, 22)

    last_row = FIRST_ROW + max(len(entries), 1) - 1
    for offset, entry in enumerate(entries):
        row = FIRST_ROW + offset
        values: dict[str, Any] = {
            "pnr": _long_pnr(entry.student.pnr),
            "last_name": entry.student.last_name,
            "first_name": entry.student.first_name,
            "grade": entry.grade,
            "ects_grade": entry.ects_grade,
            "grade_date": entry.grade_date,
            "points": float(entry.points) if entry.points is not None else None,
            "comment": entry.comment,
        }
        for field, letter in letters.items():
            target: Cell = ws[f"{letter}{row}"]  # type: ignore[assignment]
            target.value = escape_cell(values[field])
            if field == "pnr":
                target.number_format = "@"
            if field == "grade_date":
                target.number_format = style["date_format"]
            if field in INPUT_FIELDS and not review:
                target.fill = input_fill
                target.protection = unlocked

    grade_choices = DataValidation(
        type="list", formula1='"{}"'.format(",".join(scale.grades)), allow_blank=True
    )
    if not review:
        ws.add_data_validation(grade_choices)
        grade_choices.add(f"{letters['grade']}{FIRST_ROW}:{letters['grade']}{last_row}")
    if ects_scale is not None and not review:
        ects_choices = DataValidation(
            type="list", formula1='"{}"'.format(",".join(ects_scale.grades)), allow_blank=True
        )
        ws.add_data_validation(ects_choices)
        ects_choices.add(f"{letters['ects_grade']}{FIRST_ROW}:{letters['ects_grade']}{last_row}")

    ws.freeze_panes = f"A{FIRST_ROW}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    protection = ws.protection
    protection.sheet = True
    protection.formatColumns = False
    protection.formatRows = False
    protection.sort = False
    protection.autoFilter = False

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
        "columns": json.dumps(letters, sort_keys=True),
        "action_cell": ACTION_CELL,
        "language": language,
        "purpose": "review" if review else "results",
        "issued_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if review_hash is not None:
        meta.update(content_hash=review_hash, code_cell=CODE_CELL, reason_cell=REASON_CELL)
        ws.title = look["review"]["sheet_name"][language]
        meta["sheet"] = ws.title
    roster = [entry.student.pnr for entry in entries]
    meta["hmac"] = sign(app.settings.hmac_key(), meta, roster)
    _write_meta(wb, look["meta_sheet"], meta, roster)
    return wb


def _write_meta(wb: Workbook, title: str, meta: dict[str, str], roster: list[str]) -> None:
    ms = wb.create_sheet(title)
    row = 1
    for key, value in meta.items():
        ms.cell(row=row, column=1, value=key)
        cell = ms.cell(row=row, column=2, value=value)
        cell.number_format = "@"
        row += 1
    ms.cell(row=row, column=1, value="roster")
    ms.cell(row=row, column=2, value=str(len(roster)))
    for pnr in roster:
        row += 1
        cell = ms.cell(row=row, column=2, value=pnr)
        cell.number_format = "@"
    ms.sheet_state = "hidden"
    ms.protection.sheet = True


def _staff_label(result_list: ResultList, username: str | None) -> str:
    session = object_session(result_list)
    if not username or session is None:
        return username or ""
    name = session.execute(
        select(Staff.name).where(Staff.username == username)
    ).scalar_one_or_none()
    return f"{name} ({username})" if name else username


def _long_pnr(digits: str) -> str:
    return f"{digits[:8]}-{digits[8:]}"


def _name(obj: Any, language: str) -> str:
    return str(obj.name_en if language == "en" and obj.name_en else obj.name_sv)
