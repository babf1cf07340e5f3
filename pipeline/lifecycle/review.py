"""What the examiner gets to review a list: the review workbook, a PDF preview, a grade chart.

Owns writing those three files to ``outbox/review/`` (:func:`review_files`) and the list's
identity as the context of the mails and SMS about it (:func:`list_context`). Sending them
and the approval code is :mod:`pipeline.lifecycle.approval`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.lifecycle import after_approval, chart
from pipeline.lists.content import grade_counts
from pipeline.models import ResultList, Staff
from pipeline.texts import t
from pipeline.xlsx.workbook import build_review


def list_context(session: Session, result_list: ResultList, language: str) -> dict[str, Any]:
    """The list's identity as a mail or SMS template's context, names in ``language``."""
    course, module = result_list.course, result_list.module
    reporter = session.execute(
        select(Staff).where(Staff.username == result_list.reporter)
    ).scalar_one_or_none()

    def name(obj: Any) -> str:
        return str(obj.name_en if language == "en" and obj.name_en else obj.name_sv)

    return {
        "listnr": result_list.listnr,
        "course_code": course.code,
        "course_name": name(course),
        "module_code": module.code if module else course.code,
        "module_name": name(module) if module else name(course),
        "term": result_list.term,
        "reporter_name": reporter.name if reporter else result_list.reporter,
    }


def review_files(app: App, result_list: ResultList, chash: str, *, language: str) -> list[Path]:
    """The review workbook, the PDF preview and the grade chart for the examiner's email."""
    folder = app.settings.review_dir
    stem = f"{result_list.listnr}_v{result_list.version}"
    review_name = t("lifecycle.review-file", language, app.root)
    workbook_path = build_review(
        app,
        result_list,
        language=language,
        content_hash=chash,
        target=folder / f"{stem}_{review_name}.xlsx",
    )
    preview = after_approval.render_pdf(
        app,
        result_list,
        chash,
        target=folder / f"{stem}_preview.pdf",
        language=language,
        preview=True,
    )
    counts = grade_counts(result_list)
    title = f"{result_list.listnr} {result_list.course.code}"
    if result_list.module:
        title += f" {result_list.module.code}"
    png = chart.grade_chart_png(counts, folder / f"{stem}_betyg.png", title=title)
    return [workbook_path, preview, png]
