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
from pipeline.models import ListEntry, ListKind, ResultList, Staff
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
    "lms_column_cell",
    "thresholds_cell",
)
#: A T33 results workbook's cells for merging learning-platform exports (see pipeline.merge).
LMS_COLUMN_CELL: Final = "B12"
THRESHOLDS_CELL: Final = "B14"
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


def ects_scale_code(result_list: ResultList) -> str | None:
    """A module list's ECTS scale is the module's; a final-grade list's the course's."""
    if result_list.module is not None:
        return result_list.module.ects_scale
    return result_list.course.ects_scale


def field_order(result_list: ResultList) -> list[str]:
    t34 = result_list.kind == ListKind.T34
    fields = ["pnr", "last_name", "first_name"]
    if t34:
        for module in result_list.course.modules:
            fields += [
                f"m:{module.code}:grade",
                f"m:{module.code}:date",
                f"m:{module.code}:credits",
            ]
        fields += ["credits_sum", "suggestion"]
    fields.append("grade")
    if ects_scale_code(result_list):
        fields.append("ects_grade")
    fields += ["grade_date"] if t34 else ["grade_date", "points"]
    fields.append("comment")
    if t34:
        fields.append("remove")
    return fields


INPUT_FIELDS: Final = frozenset(
    {"grade", "ects_grade", "grade_date", "points", "comment", "remove"}
)
#: Fields a dropped workbook is read back for (the rest is shown, not read).
READ_FIELDS: Final = INPUT_FIELDS | {"pnr"}


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
        workbook, rows = build_current(app, result_list)
    path = target or app.settings.lists_dir / f"{listnr}.xlsx"
    save_atomic(workbook, path)
    return IssuedWorkbook(listnr, result_list.version, path, rows)


def build_current(app: App, result_list: ResultList) -> tuple[Workbook, int]:
    """The list's current workbook (in its reporter's language), from a list already loaded
    in the caller's session; returns it with its number of rows."""
    session = object_session(result_list)
    assert session is not None
    reporter = get_staff(session, result_list.reporter)
    language = reporter.language if reporter.language in ("sv", "en") else "sv"
    entries = [e for e in result_list.entries if not e.removed]
    return build(app, result_list, entries, language=language), len(entries)


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
    ects_code = ects_scale_code(result_list)
    ects_scale = get_scale(ects_code, app.root) if ects_code else None
    fields = field_order(result_list)
    letters = {f: get_column_letter(i) for i, f in enumerate(fields, start=1)}
    t34_view = _t34_view(app, result_list, entries) if result_list.kind == ListKind.T34 else None

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = look["sheet_name"][language]
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor=style["header_fill"])
    identity_fill = PatternFill("solid", fgColor=style["identity_fill"])
    input_fill = PatternFill("solid", fgColor=style["input_fill"])
    readonly_fill = PatternFill("solid", fgColor=style.get("readonly_fill", "EDEDED"))
    unlocked = Protection(locked=False)

    module_text = f"{module.code} {_name(module, language)}" if module else ""
    course_text = f"{course.code} {_name(course, language)}"
    ws["A1"] = look["title"][result_list.kind.value][language].format(
        listnr=result_list.listnr, course=course.code, module=module.code if module else ""
    )
    if result_list.corrects_listnr:
        ws["A1"] = f"{ws['A1'].value} – " + str(look["correction"][language]).format(
            listnr=result_list.corrects_listnr
        )
    ws["A1"].font = Font(bold=True, size=style["title_size"])
    ws["A2"] = look["instructions_t34" if t34_view else "instructions"][language]
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
        if result_list.kind == ListKind.T33:
            _lms_cells(ws, look, language, result_list, bold, input_fill, unlocked)
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
        cell.value = _header(look, field, language)
        cell.font = bold
        cell.fill = header_fill
        ws.column_dimensions[letter].width = look["columns"].get(field, {}).get("width", 11)
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
            "remove": None,
        }
        if t34_view is not None:
            values.update(t34_view.values(entry.student_id))
        for field, letter in letters.items():
            target: Cell = ws[f"{letter}{row}"]  # type: ignore[assignment]
            target.value = escape_cell(values.get(field))
            if field == "pnr":
                target.number_format = "@"
            if field == "grade_date" or field.endswith(":date"):
                target.number_format = style["date_format"]
            if field in INPUT_FIELDS and not review:
                target.fill = input_fill
                target.protection = unlocked
            elif field.startswith("m:") or field in ("credits_sum", "suggestion"):
                target.fill = readonly_fill

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
    if "remove" in letters and not review:
        remove_choices = DataValidation(
            type="list", formula1='"{}"'.format(look["t34"]["remove_mark"]), allow_blank=True
        )
        ws.add_data_validation(remove_choices)
        remove_choices.add(f"{letters['remove']}{FIRST_ROW}:{letters['remove']}{last_row}")
    if t34_view is not None:
        t34_view.write_not_eligible(wb, look, language, bold, header_fill)

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
        "columns": json.dumps(
            {f: letter for f, letter in letters.items() if f in READ_FIELDS}, sort_keys=True
        ),
        "action_cell": ACTION_CELL,
        "language": language,
        "purpose": "review" if review else "results",
        **(
            {"lms_column_cell": LMS_COLUMN_CELL, "thresholds_cell": THRESHOLDS_CELL}
            if result_list.kind == ListKind.T33 and not review
            else {}
        ),
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


def thresholds_text(raw: Any) -> str | None:
    """Stored thresholds (``[[grade, minimum], ...]``) as the text the teacher writes."""
    if not raw:
        return None
    return ",".join(f"{grade}={minimum:g}" for grade, minimum in raw)


def _lms_cells(
    ws: Any,
    look: dict[str, Any],
    language: str,
    result_list: ResultList,
    bold: Font,
    fill: PatternFill,
    unlocked: Protection,
) -> None:
    """Where the teacher names the LMS column and the score thresholds for a merge."""
    options = result_list.options or {}
    values = (
        (LMS_COLUMN_CELL, "lms_column", options.get("lms_column")),
        (THRESHOLDS_CELL, "thresholds", thresholds_text(options.get("thresholds"))),
    )
    for ref, key, value in values:
        row = int(ref[1:])
        ws.cell(row=row, column=1, value=look["lms"][key][language]).font = bold
        cell = ws[ref]
        cell.value = escape_cell(value)
        cell.fill = fill
        cell.protection = unlocked
        cell.number_format = "@"
        ws.merge_cells(f"{ref}:{chr(ord(ref[0]) + 2)}{row}")


def _header(look: dict[str, Any], field: str, language: str) -> str:
    if field.startswith("m:"):
        _, code, part = field.split(":")
        return str(look["t34"][f"module_{part}"][language]).format(code=code)
    return str(look["columns"][field][language])


class _T34View:
    """What a final-grade workbook shows beside the inputs: module results, credits,
    the suggestion, and the registered students who are not eligible (own sheet)."""

    def __init__(self, app: App, result_list: ResultList, entries: list[ListEntry]) -> None:
        from pipeline import t34

        session = object_session(result_list)
        assert session is not None
        course = result_list.course
        self.course = course
        ids = [e.student_id for e in entries]
        self.results = t34.passed_results(session, course, ids, app.root)
        rule = t34.rule_for(app.settings.raw, course.code)
        self.suggestions = {
            sid: t34.suggest(course, res, rule, app.root) for sid, res in self.results.items()
        }
        on_list = set(ids)
        self.not_eligible = [
            s
            for s in t34.standings(session, course, result_list.term, app.root)
            if not s.eligible and s.student_id not in on_list
        ]
        self.students = t34.students_of(session, [s.student_id for s in self.not_eligible])

    def values(self, student_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        results = self.results.get(student_id, {})
        for code, result in results.items():
            out[f"m:{code}:grade"] = result.grade
            out[f"m:{code}:date"] = result.date
            out[f"m:{code}:credits"] = float(result.credits)
        out["credits_sum"] = float(sum(r.credits for r in results.values()))
        out["suggestion"] = self.suggestions.get(student_id)
        return out

    def write_not_eligible(
        self, wb: Workbook, look: dict[str, Any], language: str, bold: Font, fill: PatternFill
    ) -> None:
        texts = look["t34"]
        ws = wb.create_sheet(texts["not_eligible_sheet"][language])
        ws["A1"] = texts["not_eligible_title"][language]
        ws["A1"].font = bold
        headers = [look["columns"][f][language] for f in ("pnr", "last_name", "first_name")]
        headers.append(texts["reason"][language])
        for col, header in enumerate(headers, start=1):
            cell = ws.cell(row=3, column=col, value=header)
            cell.font = bold
            cell.fill = fill
        rows = sorted(
            self.not_eligible,
            key=lambda s: (
                self.students[s.student_id].last_name.casefold(),
                self.students[s.student_id].first_name.casefold(),
            ),
        )
        for offset, standing in enumerate(rows, start=4):
            student = self.students[standing.student_id]
            if standing.graded_on is not None:
                reason = texts["graded"][language].format(listnr=standing.graded_on)
            else:
                reason = texts["missing"][language].format(codes=", ".join(standing.missing))
            ws.cell(row=offset, column=1, value=_long_pnr(student.pnr)).number_format = "@"
            ws.cell(row=offset, column=2, value=escape_cell(student.last_name))
            ws.cell(row=offset, column=3, value=escape_cell(student.first_name))
            ws.cell(row=offset, column=4, value=reason)
        for letter, width in zip("ABCD", (17, 20, 18, 45), strict=True):
            ws.column_dimensions[letter].width = width
        ws.protection.sheet = True


def _t34_view(app: App, result_list: ResultList, entries: list[ListEntry]) -> _T34View:
    return _T34View(app, result_list, entries)


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
