"""Receipts: what every processed file gets back, in the teacher's language.

Owns rendering the receipt text from ``templates/receipt.<lang>.txt`` (control and bidi
characters shown escaped, :func:`pipeline.shown.shown`) and, when there are
problems, a copy of the teacher's own workbook with each bad cell filled red and commented.
Files are written atomically under ``outbox/receipts/``. Deciding the outcome is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter

from pipeline import files, resources, seal
from pipeline.intake.report import Problem
from pipeline.settings import Settings
from pipeline.shown import shown
from pipeline.texts import DEFAULT_LANGUAGE, LANGUAGES
from pipeline.xlsx.cells import escape_cell
from pipeline.xlsx.contract import layout


@dataclass
class ReceiptData:
    """Everything a receipt says."""

    status: str  # accepted | rejected | duplicate
    file_name: str
    received: str
    kept_at: str
    language: str = DEFAULT_LANGUAGE
    listnr: int | None = None
    course: str | None = None
    module: str | None = None
    problems: list[Problem] = field(default_factory=list)
    graded: int = 0
    students: int = 0
    changed: int = 0
    version: int | None = None
    submitted: bool = False
    examiner: str | None = None
    fresh_workbook: str | None = None
    marked_workbook: str | None = None
    earlier: str | None = None
    notes: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # what a dropped form did


@lru_cache(maxsize=16)
def _compiled(path: str, mtime: int) -> jinja2.Template:
    source = Path(path).read_text(encoding="utf-8")
    return jinja2.Environment(
        autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    ).from_string(source)


def render(settings: Settings, data: ReceiptData) -> str:
    language = data.language if data.language in LANGUAGES else DEFAULT_LANGUAGE
    path = resources.find("templates", f"receipt.{language}.txt", settings.root)
    template = _compiled(str(path), path.stat().st_mtime_ns)
    problems = [
        {
            "position": p.position(language, settings.root),
            "message": p.message(language, settings.root),
        }
        for p in data.problems
    ]
    context: dict[str, Any] = {**data.__dict__, "problems": problems}
    context["contacts"] = settings.contacts
    context["chain_head"] = _chain_head(settings)
    # A file name (or a cell's text) with control or bidi characters is shown escaped.
    return shown(template.render(**context), keep="\n")


def _chain_head(settings: Settings) -> dict[str, Any] | None:
    """The audit chain's signed end when the receipt is written (issue 16): whoever keeps the
    receipt can later show that the log reached at least this far."""
    try:
        head = seal.read_head(settings.head_path)
    except ValueError:
        return None
    return head.as_dict() if head is not None else None


def write_receipt(settings: Settings, stem: str, data: ReceiptData) -> Path:
    path = settings.receipts_dir / f"{stem}.txt"
    files.write_text(path, render(settings, data))
    return path


def mark_workbook(
    settings: Settings,
    source: Path,
    file_format: str,
    problems: list[Problem],
    target: Path,
    *,
    language: str,
    sheet_rows: dict[str, list[list[Any]]] | None = None,
) -> Path | None:
    """The teacher's workbook with every located problem filled red and commented.

    xlsx files are marked in place in a copy; an ods file is rebuilt as xlsx from its values
    (``sheet_rows``), since we write xlsx only. Returns ``None`` if the file can't be marked.
    """
    located = [p for p in problems if p.row is not None and p.column]
    if not located:
        return None
    try:
        if file_format == "xlsx":
            # Saved values, never the formulas: none of a teacher's reaches a file we write.
            wb = load_workbook(source, data_only=True)
        else:
            wb = _rebuild(sheet_rows or {})
    except Exception:
        return None
    fill = PatternFill("solid", fgColor=layout(settings.root)["style"]["error_fill"])
    for problem in located:
        sheet_name = problem.sheet or (wb.sheetnames[0] if wb.sheetnames else "")
        if sheet_name not in wb.sheetnames:
            continue
        ws = wb[sheet_name]
        assert problem.row is not None and problem.column is not None
        cell = ws.cell(row=problem.row, column=column_index_from_string(problem.column))
        cell.fill = fill
        text = problem.message(language, settings.root)
        if cell.comment is not None and cell.comment.author == "resultat":
            text = cell.comment.text + "\n" + text
        cell.comment = Comment(text, "resultat", width=300, height=120)
    files.save(wb, target)
    return target


def _rebuild(sheet_rows: dict[str, list[list[Any]]]) -> Workbook:
    wb = Workbook()
    default = wb.active
    for name, rows in sheet_rows.items():
        if name.startswith("_"):
            continue
        ws = wb.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value not in (None, ""):
                    ws.cell(row=r, column=c, value=escape_cell(value))
        for c in range(1, max((len(r) for r in rows), default=0) + 1):
            ws.column_dimensions[get_column_letter(c)].width = 16
    if default is not None and len(wb.sheetnames) > 1:
        wb.remove(default)
    return wb
