"""What a final-grade (T34) workbook shows beside its inputs.

Owns the read-only columns of a T34 list's rows (each module's passed result, the credits,
the suggested grade) and the sheet of registered students who are not eligible for the
list, with the reason. The module results, the rule and the suggestion are computed by
:mod:`pipeline.lists.t34`; the main sheet and its layout are :mod:`pipeline.xlsx.workbook`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import object_session

from pipeline.app import App
from pipeline.lists import t34
from pipeline.models import ResultList
from pipeline.xlsx.cells import escape_cell
from pipeline.xlsx.contract import long_pnr
from pipeline.xlsx.look import Formats
from pipeline.xlsx.sheetxml import SheetDocument
from pipeline.xlsx.styles import Protection


class T34View:
    """What a final-grade workbook shows beside the inputs: module results, credits,
    the suggestion, and the registered students who are not eligible (own sheet)."""

    def __init__(self, app: App, result_list: ResultList, entries: Sequence[Any]) -> None:
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
        self, doc: SheetDocument, look: dict[str, Any], language: str, formats: Formats
    ) -> None:
        texts = look["t34"]
        ws = doc.add_sheet(texts["not_eligible_sheet"][language])
        ws.set("A1", texts["not_eligible_title"][language], formats.bold)
        headers = [look["columns"][f][language] for f in ("pnr", "last_name", "first_name")]
        headers.append(texts["reason"][language])
        for col, header in enumerate(headers, start=1):
            ws.cell(3, col, header, formats.header)
        rows = sorted(
            self.not_eligible,
            key=lambda s: (
                self.students[s.student_id].last_name.casefold(),
                self.students[s.student_id].first_name.casefold(),
            ),
        )
        records = []
        for standing in rows:
            student = self.students[standing.student_id]
            if standing.graded_on is not None:
                reason = texts["graded"][language].format(listnr=standing.graded_on)
            else:
                reason = texts["missing"][language].format(codes=", ".join(standing.missing))
            records.append(
                (
                    long_pnr(student.pnr),
                    escape_cell(student.last_name),
                    escape_cell(student.first_name),
                    reason,
                )
            )
        ws.rows(4, records, (formats.text, None, None, None))
        for column, width in enumerate((17, 20, 18, 45), start=1):
            ws.widths[column] = width
        ws.protection = Protection()
