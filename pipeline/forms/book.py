"""What every form shares: writing one (a titled input sheet and the signed hidden metadata
sheet our workbooks have), telling whose a dropped one is, and its receipt.

Owns the form's look from ``templates/forms.yaml`` (labels in the reader's language), the
metadata (``format``/``purpose``/``language`` signed by :func:`pipeline.xlsx.workbook.sign`,
the form's person signed as its roster), and concluding a dropped form: its receipt listing
what was done and every problem, the form marked red where it is wrong, the receipt handed to
the person, the file's record. What a form's rows mean is its own module's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from pipeline import files, resources
from pipeline.app import App
from pipeline.intake.dropped import DroppedFile, Kind, hand_over, record
from pipeline.intake.outcomes import Accepted, Refused
from pipeline.intake.receipts import ReceiptData, mark_workbook, write_receipt
from pipeline.intake.report import Problem
from pipeline.models import FileOutcome
from pipeline.people.directory import Person
from pipeline.texts import DEFAULT_LANGUAGE, LANGUAGES, t
from pipeline.xlsx.contract import FORMAT, sign, verify
from pipeline.xlsx.reader import META_SHEET, ResultWorkbook

#: The metadata ``kind`` of every form (``purpose`` tells which form it is).
FORM_KIND: Final = "form"
SCHEMA_VERSION: Final = "1"
#: The cell naming the form's person (the reader's "action cell").
PERSON_CELL: Final = "B2"


def look(workspace: Path | None = None) -> dict[str, Any]:
    """``templates/forms.yaml``."""
    data: dict[str, Any] = resources.load_yaml("templates", "forms.yaml", workspace)
    return data


def rules(name: str, workspace: Path | None = None) -> dict[str, Any]:
    """``schemas/forms/<name>.yaml``."""
    data: dict[str, Any] = resources.load_yaml("schemas", f"forms/{name}.yaml", workspace)
    return data


def language_of(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def reader_language(wb: ResultWorkbook, *people: Person | None) -> str:
    """The language of the first of ``people`` known, else the form's own."""
    for person in people:
        if person is not None:
            return person.language
    return language_of(wb.meta.get("language"))


def label(entry: Mapping[str, Any], language: str) -> str:
    """An entry's label (``{sv: ..., en: ...}``) in ``language``."""
    return str(entry.get(language) or entry[DEFAULT_LANGUAGE])


def choice(entries: Mapping[str, Mapping[str, Any]], value: Any) -> str | None:
    """The key whose label (in either language) or key is ``value``, case and spaces aside."""
    if value is None:
        return None
    wanted = " ".join(str(value).split()).casefold()
    for key, entry in entries.items():
        names = {str(key).casefold(), *(str(v).casefold() for v in entry.values())}
        if wanted in names:
            return str(key)
    return None


def yes_no(value: Any, workspace: Path | None = None) -> bool | None:
    """``True``/``False`` for ja/nej, yes/no (and a spreadsheet's own TRUE/FALSE)."""
    if isinstance(value, bool):
        return value
    found = choice(look(workspace)["yes_no"], value)
    return None if found is None else found == "yes"


@dataclass
class FormSheet:
    """A form being written: its input sheet and the metadata it will carry."""

    workbook: Workbook
    sheet: Worksheet
    language: str
    style: dict[str, Any]
    meta: dict[str, str] = field(default_factory=dict)

    def input_cell(self, ref: str, value: Any = None, *, text: bool = False) -> None:
        """An unlocked, tinted cell for the person to fill."""
        cell = self.sheet[ref]
        if value is not None:
            cell.value = value
        cell.protection = Protection(locked=False)
        cell.fill = PatternFill("solid", fgColor=self.style["input_fill"])
        if text:
            cell.number_format = "@"

    def dropdown(self, ref: str, choices: Sequence[str]) -> None:
        """A list of ``choices`` for the cells ``ref`` (a cell or a range)."""
        listed = ",".join(c.replace('"', "") for c in choices)
        validation = DataValidation(type="list", formula1=f'"{listed}"', allow_blank=True)
        validation.add(ref)
        self.sheet.add_data_validation(validation)


def new_form(
    app: App, form: str, *, person: str, person_label: str, language: str, purpose: str
) -> FormSheet:
    """A form's workbook with its title, the person it is for and its help text."""
    shape = look(app.root)
    entry = shape[form]
    style = shape["style"]
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = label(entry["sheet"], language)
    ws["A1"] = label(entry["title"], language)
    ws["A1"].font = Font(bold=True, size=style["title_font_size"])
    ws["A2"] = label(entry["person"], language)
    ws["A2"].font = Font(bold=True)
    ws[PERSON_CELL] = person_label
    ws["A3"] = label(entry["help"], language)
    ws["A3"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells("A3:H3")
    ws.row_dimensions[3].height = 60
    ws.protection.sheet = True
    meta = {
        "format": FORMAT,
        "kind": FORM_KIND,
        "purpose": purpose,
        "schema_version": SCHEMA_VERSION,
        "sheet": ws.title,
        "language": language,
        "person": person,
        "action_cell": PERSON_CELL,
    }
    return FormSheet(wb, ws, language, style, meta)


def table(form: FormSheet, columns: Mapping[str, Mapping[str, Any]], header_row: int) -> None:
    """Headers of a form with one entry a row, and the metadata saying where its rows are."""
    fill = PatternFill("solid", fgColor=form.style["header_fill"])
    for column in columns.values():
        cell = form.sheet[f"{column['letter']}{header_row}"]
        cell.value = label(column, form.language)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True)
        form.sheet.column_dimensions[column["letter"]].width = column["width"]
    form.meta["header_row"] = str(header_row)
    form.meta["first_row"] = str(header_row + 1)
    form.meta["columns"] = json.dumps({name: c["letter"] for name, c in columns.items()})


def save(app: App, form: FormSheet, target: Path) -> Path:
    """Sign the metadata (the person as its roster), add the hidden sheet, write ``target``."""
    meta = dict(form.meta)
    meta.setdefault("header_row", "0")
    meta.setdefault("first_row", "1000")
    meta.setdefault("columns", "{}")
    roster = [meta["person"]]
    meta["hmac"] = sign(app.settings.hmac_key(), meta, roster)
    ms = form.workbook.create_sheet(META_SHEET)
    ms.sheet_state = "hidden"
    row = 1
    for key, value in meta.items():
        ms.cell(row, 1, key)
        ms.cell(row, 2, value).number_format = "@"
        row += 1
    ms.cell(row, 1, "roster")
    ms.cell(row, 2, str(len(roster)))
    ms.cell(row + 1, 2, " ".join(roster)).number_format = "@"
    ms.protection.sheet = True
    return files.save(form.workbook, target)


def signed_person(app: App, wb: ResultWorkbook) -> str | None:
    """The person a dropped form was issued for, ``None`` when its signature fails."""
    if wb.meta.get("kind") != FORM_KIND or len(wb.roster) != 1:
        return None
    if not verify(app.settings.hmac_key(), wb.meta, wb.roster):
        return None
    person = wb.roster[0]
    return person if wb.meta.get("person") == person else None


def text(value: Any) -> str | None:
    """A cell as trimmed text (a whole number without ``.0``), ``None`` when blank."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    shown = str(value).strip()
    return shown or None


def as_date(value: Any) -> dt.date | None:
    """A date cell, or ISO text; ``None`` when it is neither."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    shown = text(value)
    if shown and re.fullmatch(r"\d{4}-\d{2}-\d{2}", shown):
        try:
            return dt.date.fromisoformat(shown)
        except ValueError:
            return None
    return None


def located(
    wb: ResultWorkbook,
    slug: str,
    name: str | None,
    row: int | None,
    *,
    value: Any = None,
    **params: Any,
) -> Problem:
    """A problem at ``row`` in the column of the form's field ``name`` (for a form with
    fixed cells, ``name``'s cell)."""
    column = wb.letters.get(name) if name else None
    ref = wb.meta.get(f"{name}_cell") if name else None
    if column is None and ref:
        column, row = ref.rstrip("0123456789"), int(ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return Problem(
        slug,
        params,
        sheet=wb.sheet,
        row=row,
        column=column,
        field=f"form-{name}" if name else None,
        value=value,
    )


@dataclass
class FormResult:
    """What a dropped form did (``done``: lines for the receipt) and what it could not do."""

    language: str
    done: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    listnr: int | None = None
    extra: list[Path] = field(default_factory=list)


def done_line(
    app: App, wb: ResultWorkbook | None, row: int | None, key: str, language: str, **params: Any
) -> str:
    """One line of what was done, with where in the form it was asked for."""
    line = t(f"forms.done.{key}", language, app.root, **params)
    if wb is None or row is None:
        return line
    where = Problem("", sheet=wb.sheet, row=row).position(language, app.root)
    return f"{where}: {line}"


def conclude(
    ctx: DroppedFile, wb: ResultWorkbook | None, result: FormResult, kind: Kind
) -> Accepted | Refused:
    """Receipt (what was done, every problem), marked form, hand-over and record."""
    app = ctx.app
    status = FileOutcome.ACCEPTED if result.done else FileOutcome.REJECTED
    stem = ctx.stem(result.listnr)
    problems = sorted(result.problems, key=lambda p: (p.sheet or "", p.row or 0, p.column or ""))
    data = ReceiptData(
        status="done" if result.done else "rejected",
        file_name=ctx.claimed.original_name,
        received=ctx.received,
        kept_at=ctx.kept_at(status),
        language=result.language,
        listnr=result.listnr,
        problems=problems,
        done=result.done,
    )
    marked: Path | None = None
    if problems and wb is not None:
        marked = mark_workbook(
            app.settings,
            ctx.claimed.path,
            wb.file_format,
            problems,
            app.settings.receipts_dir / f"{stem}_fel.xlsx",
            language=result.language,
            sheet_rows={wb.sheet: wb.sheet_rows},
        )
        data.marked_workbook = marked.name if marked else None
    receipt = write_receipt(app.settings, stem, data)
    with app.db.session() as session:
        hand_over(
            session, ctx, result.listnr, receipt, *([marked] if marked else []), *result.extra
        )
        record(session, ctx, status=status, kind=kind, listnr=result.listnr, receipt=receipt)
    outcome = Accepted if result.done else Refused
    return outcome(result.listnr, receipt, tuple(problems))
