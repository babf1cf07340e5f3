"""The overview's second sheet (*Antal*: lists per course and state, a total per course, the
late lists per course, a row for all courses) and its cells with shared styles. Owned by
:mod:`pipeline.messages.overview`; ``rows`` are its ``OverviewRow``.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from pipeline.domain import deadlines
from pipeline.models import ListState
from pipeline.xlsx.cells import escape_cell


def styled(ws: Any, value: Any, **style: Any) -> WriteOnlyCell:
    """A cell with ``style``; cells of one style share its prototype's style record (as
    openpyxl copies a cell's style), which saves looking each style up again per cell."""
    protos: dict[tuple[Any, ...], WriteOnlyCell] = ws.__dict__.setdefault("_resultat_styles", {})
    key = tuple(sorted((name, id(setting)) for name, setting in style.items()))
    proto = protos.get(key)
    if proto is None:
        proto = protos[key] = WriteOnlyCell(ws)
        for name, setting in style.items():
            setattr(proto, name, setting)
    cell = WriteOnlyCell(ws, value=value)
    cell._style = copy.copy(proto._style)
    return cell


def counts_sheet(ws: Any, rows: Sequence[Any], language: str, look: dict[str, Any]) -> None:
    style = look["style"]
    labels = look["counts"]
    states = [s.value for s in ListState]
    header_fill = PatternFill("solid", fgColor=style["header_fill"])
    total_fill = PatternFill("solid", fgColor=style["total_fill"])
    bold = Font(bold=True)
    header = [
        labels["course"][language],
        *(look["states"][s][language] for s in states),
        labels["total"][language],
        labels["overdue"][language],
    ]
    for col in range(1, len(header) + 1):
        width = labels["course"]["width"] if col == 1 else labels["state_width"]
        ws.column_dimensions[get_column_letter(col)].width = float(width)
    ws.freeze_panes = "B2"
    ws.append([styled(ws, str(text), font=bold, fill=header_fill) for text in header])
    by_course: dict[str, Counter[str]] = {}
    for row in rows:
        counter = by_course.setdefault(row.course, Counter())
        counter[row.state] += 1
        counter["_overdue"] += row.overdue
    all_courses: Counter[str] = Counter()
    for course in sorted(by_course):
        counter = by_course[course]
        all_courses.update(counter)
        ws.append(_count_values(escape_cell(course), counter, states))
    total = _count_values(str(labels["all_courses"][language]), all_courses, states)
    ws.append([styled(ws, v, font=bold, fill=total_fill) for v in total])
    ws.append([])
    at = deadlines.swedish_time().strftime("%Y-%m-%d %H:%M")
    ws.append([str(labels["generated"][language]).format(at=at)])


def _count_values(label: str, counter: Counter[str], states: list[str]) -> list[Any]:
    return [
        label,
        *(counter[s] for s in states),
        sum(counter[s] for s in states),
        counter["_overdue"],
    ]
