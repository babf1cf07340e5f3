"""The student office's overview workbook, ``outbox/status.xlsx``: what the office works on.

``status.xlsx`` shows every open list (not yet registered or archived) and every list of the
current and the last term; each finished term (before the last one) gets its own file,
``status-HT2026.xlsx``, written once when the term leaves the current view and never again, so
a pass costs what the office works on, not the whole history.

Owns reading one row per result list shown (a single query: list, course, module and the number
of students and grades) and writing the workbooks:

- sheet 1 (*Listor*): listnr, kind, course, module, term, reporter, examiner, state, students,
  graded, created, submitted, approved, registered, archived, due date and days overdue;
  header frozen (with the listnr column), an auto filter over every column, dates as real date
  cells (Swedish local date), and each list past its due date and not yet approved filled
  in the overdue colour;
- sheet 2 (*Antal*): lists per course and state, with a total per course, the number of late
  lists per course, and a row for all courses.

Labels (sv, en), widths and colours come from ``templates/overview.yaml``. The file is
written to a temporary file beside it and renamed into place
(:func:`pipeline.files.save`), so someone who has it open never sees half of it.
"Days overdue" is in calendar days (:func:`pipeline.domain.deadlines.list_days_overdue`),
blank for lists already approved. A list created before due dates were stored gets the due date it
would have had.

Left to callers: when to write it (after every pass of ``watch``) and handling a failure to
write (a full disk, or a file share that will not let the file be replaced).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import func, or_, select

from pipeline import files, resources
from pipeline.app import App
from pipeline.domain import deadlines, terms
from pipeline.messages import overview_marks
from pipeline.models import Course, ListEntry, ListState, Module, ResultList
from pipeline.xlsx.cells import escape_cell

STATUS_NAME: Final = "status.xlsx"
#: One finished term's lists, written once: ``status-HT2026.xlsx``.
TERM_NAME: Final = "status-{term}.xlsx"
#: States of a list the office still works on (shown whatever its term).
OPEN_STATES: Final = tuple(
    s for s in ListState if s not in (ListState.REGISTERED, ListState.ARCHIVED)
)
LAYOUT: Final = "overview.yaml"
#: Columns of sheet 1, in order; their labels are under ``columns`` in the layout.
COLUMNS: Final = (
    "listnr",
    "kind",
    "course",
    "module",
    "term",
    "reporter",
    "examiner",
    "state",
    "students",
    "graded",
    "created",
    "submitted",
    "approved",
    "registered",
    "archived",
    "due_date",
    "days_overdue",
)
DATE_COLUMNS: Final = frozenset(
    {"created", "submitted", "approved", "registered", "archived", "due_date"}
)


@dataclass(frozen=True)
class OverviewRow:
    """One list as the overview shows it; dates are Swedish local dates."""

    listnr: int
    kind: str
    course: str
    module: str | None
    term: str
    reporter: str
    examiner: str | None
    state: str
    students: int
    graded: int
    created: dt.date
    submitted: dt.date | None
    approved: dt.date | None
    registered: dt.date | None
    archived: dt.date | None
    due_date: dt.date
    #: Calendar days past the due date; ``None`` once the list is approved.
    days_overdue: int | None

    @property
    def overdue(self) -> bool:
        return bool(self.days_overdue)


def layout(workspace: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = resources.load_yaml("templates", LAYOUT, workspace)
    return data


def collect(
    app: App, *, today: dt.date | None = None, term: str | None = None
) -> list[OverviewRow]:
    """The lists of the current overview — every open list, and every list of the current and
    the last term — or (``term``) every list of one term; ordered by listnr, in one query
    whose cost follows the lists shown, not every list ever made."""
    day = today or deadlines.swedish_date()
    settings = app.settings.deadlines
    active = ListEntry.removed.is_(False)
    if term is not None:
        shown = ResultList.term == term
    else:
        current = terms.term_of(day)
        shown = or_(
            ResultList.state.in_(OPEN_STATES),
            ResultList.term.in_((current, terms.previous(current))),
        )
    # Counted per shown list from the (list_id, removed, grade) index (migration 0009), a
    # correlated count: on PostgreSQL too, never a pass over every entry of the history.
    mine = (ListEntry.list_id == ResultList.id) & active
    students = select(func.count()).where(mine).scalar_subquery()
    graded = select(func.count()).where(mine, ListEntry.grade.is_not(None)).scalar_subquery()
    stmt = (
        select(
            ResultList.listnr,
            ResultList.kind,
            Course.code,
            Module.code,
            ResultList.term,
            ResultList.reporter,
            ResultList.examiner,
            ResultList.state,
            students,
            graded,
            ResultList.created_at,
            ResultList.submitted_at,
            ResultList.approved_at,
            ResultList.registered_at,
            ResultList.archived_at,
            ResultList.due_date,
            ResultList.exam_date,
        )
        .join(Course, Course.id == ResultList.course_id)
        .outerjoin(Module, Module.id == ResultList.module_id)
        .where(shown)
        .order_by(ResultList.listnr)
    )
    rows: list[OverviewRow] = []
    with app.db.session() as session:
        result = session.execute(stmt).all()
    for (
        listnr,
        kind,
        course,
        module,
        term,
        reporter,
        examiner,
        state,
        students,
        graded,
        created_at,
        submitted_at,
        approved_at,
        registered_at,
        archived_at,
        due_date,
        exam_date,
    ) in result:
        due = deadlines.effective_due(due_date, exam_date, created_at, settings)
        pending = state in deadlines.PENDING_STATES
        rows.append(
            OverviewRow(
                listnr=listnr,
                kind=kind.value,
                course=course,
                module=module,
                term=term,
                reporter=reporter,
                examiner=examiner,
                state=state.value,
                students=int(students),
                graded=int(graded),
                created=deadlines.swedish_date(created_at),
                submitted=_date(submitted_at),
                approved=_date(approved_at),
                registered=_date(registered_at),
                archived=_date(archived_at),
                due_date=due,
                days_overdue=deadlines.days_overdue(due, day) if pending else None,
            )
        )
    return rows


def _date(moment: dt.datetime | None) -> dt.date | None:
    return deadlines.swedish_date(moment) if moment is not None else None


def write_overview(
    app: App,
    *,
    today: dt.date | None = None,
    target: Path | None = None,
    language: str | None = None,
) -> Path:
    """Write ``outbox/status.xlsx`` (or ``target``) atomically, and beside it the file of each
    finished term that has none yet (:func:`write_finished_terms`); returns its path."""
    language = language or app.settings.language
    if language not in ("sv", "en"):
        raise ValueError(f"language must be 'sv' or 'en', not {language!r}")
    look = layout(app.root)
    day = today or deadlines.swedish_date()
    rows = collect(app, today=day)
    path = target or app.settings.office_outbox / STATUS_NAME
    # Rewritten only when what it shows changed (a rejected file, a list not shown: not).
    shown = overview_marks.fingerprint(rows, day, language)
    if not path.exists() or overview_marks.marked(app.settings.var, path) != shown:
        files.save(build(rows, language=language, look=look), path)
        overview_marks.mark(app.settings.var, path, shown)
    write_finished_terms(app, path.parent, today=day, language=language, look=look)
    return path


def term_path(folder: Path, term: str) -> Path:
    return folder / TERM_NAME.format(term=term)


def write_finished_terms(
    app: App, folder: Path, *, today: dt.date | None, language: str, look: dict[str, Any]
) -> list[Path]:
    """``status-<term>.xlsx`` for each finished term (before the last one) that has lists and
    no file yet: written once, never again by later passes. Returns the files written."""
    day = today or deadlines.swedish_date()
    with app.db.read_session() as session:
        seen = session.execute(select(ResultList.term).distinct()).scalars().all()
    written: list[Path] = []
    for term in terms.finished_before(terms.term_of(day), seen):
        path = term_path(folder, term)
        if path.exists():
            continue
        rows = collect(app, today=day, term=term)
        files.save(build(rows, language=language, look=look), path)
        written.append(path)
    return written


def build(rows: list[OverviewRow], *, language: str, look: dict[str, Any]) -> Workbook:
    """The overview workbook for ``rows`` (no file is written). Write-only (streamed) mode:
    its cells are written once, in order, at about half the time of a full workbook, which is
    what a rewrite of a few thousand lists costs (issue 19)."""
    wb = Workbook(write_only=True)
    lists = wb.create_sheet(str(look["sheets"]["lists"][language]))
    _lists_sheet(lists, rows, language, look)
    counts = wb.create_sheet(str(look["sheets"]["counts"][language]))
    _counts_sheet(counts, rows, language, look)
    return wb


def _styled(ws: Any, value: Any, **style: Any) -> WriteOnlyCell:
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


def _lists_sheet(ws: Any, rows: list[OverviewRow], language: str, look: dict[str, Any]) -> None:
    style = look["style"]
    labels = look["columns"]
    states = look["states"]
    header_fill = PatternFill("solid", fgColor=style["header_fill"])
    overdue_fill = PatternFill("solid", fgColor=style["overdue_fill"])
    overdue_font = Font(color=style["overdue_font"])
    bold = Font(bold=True)
    date_format = str(style["date_format"])
    for col, name in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = float(labels[name]["width"])
    # The header and the list number stay in view while scrolling either way.
    ws.freeze_panes = "B2"
    last = get_column_letter(len(COLUMNS))
    ws.auto_filter.ref = f"A1:{last}{max(len(rows) + 1, 2)}"
    ws.append([_styled(ws, str(labels[n][language]), font=bold, fill=header_fill) for n in COLUMNS])
    dated = [name in DATE_COLUMNS for name in COLUMNS]
    for row in rows:
        values = [escape_cell(v) for v in _values(row, states, language)]
        if row.overdue:
            ws.append(
                [
                    _styled(ws, v, fill=overdue_fill, font=overdue_font, number_format=date_format)
                    if d
                    else _styled(ws, v, fill=overdue_fill, font=overdue_font)
                    for v, d in zip(values, dated, strict=True)
                ]
            )
        else:
            ws.append(
                [
                    _styled(ws, v, number_format=date_format) if d else v
                    for v, d in zip(values, dated, strict=True)
                ]
            )


def _values(row: OverviewRow, states: dict[str, Any], language: str) -> list[Any]:
    state = states.get(row.state, {}).get(language, row.state)
    return [
        row.listnr,
        row.kind.upper(),
        row.course,
        row.module,
        row.term,
        row.reporter,
        row.examiner,
        state,
        row.students,
        row.graded,
        row.created,
        row.submitted,
        row.approved,
        row.registered,
        row.archived,
        row.due_date,
        row.days_overdue,
    ]


def _counts_sheet(ws: Any, rows: list[OverviewRow], language: str, look: dict[str, Any]) -> None:
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
    ws.append([_styled(ws, str(text), font=bold, fill=header_fill) for text in header])
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
    ws.append([_styled(ws, v, font=bold, fill=total_fill) for v in total])
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
