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

Labels (sv, en), widths and colours come from ``templates/overview.yaml``. Written atomically
(:mod:`pipeline.files`), ``status.xlsx`` only when its rows changed and then at the cost of the
rows that changed (:mod:`~pipeline.messages.overview_splice`). "Days overdue" is in calendar
days, blank for lists already approved; a list from before due dates were stored gets the due
date it would have had.

Left to callers: when to write it (after every pass of ``watch``) and handling a failure to
write (a full disk, or a file share that will not let the file be replaced).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import func, or_, select

from pipeline import files, resources
from pipeline.app import App
from pipeline.domain import deadlines, terms
from pipeline.domain.lists import OPEN_STATES
from pipeline.messages import overview_marks, overview_splice
from pipeline.messages.overview_counts import counts_sheet, styled
from pipeline.models import Course, ListEntry, Module, ResultList
from pipeline.xlsx.cells import escape_cell

STATUS_NAME: Final = "status.xlsx"
#: One finished term's lists, written once: ``status-HT2026.xlsx``.
TERM_NAME: Final = "status-{term}.xlsx"
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
    # Rewritten only when what it shows changed (a rejected file, a list not shown: not), and
    # then at the cost of the rows that changed (the others' sheet XML is kept).
    keys = overview_splice.row_keys(rows)
    shown = overview_marks.fingerprint(keys, day, language)
    if not path.exists() or overview_marks.marked(app.settings.var, path) != shown:
        setting = json.dumps([language, look], sort_keys=True, default=str)
        overview_splice.save(
            path,
            rows,
            keys,
            var=app.settings.var,
            setting=setting,
            build=lambda fresh: build(rows, language=language, look=look, listed=fresh),
        )
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


def build(
    rows: list[OverviewRow],
    *,
    language: str,
    look: dict[str, Any],
    listed: list[OverviewRow] | None = None,
) -> Workbook:
    """The overview workbook for ``rows`` (no file is written); ``listed``: only these on
    sheet 1 (the rest spliced in by :mod:`~pipeline.messages.overview_splice`). Write-only
    (streamed) mode: cells written once, in order; style ids in a fixed order."""
    wb = Workbook(write_only=True)
    lists = wb.create_sheet(str(look["sheets"]["lists"][language]))
    _lists_sheet(lists, rows if listed is None else listed, len(rows), language, look)
    counts = wb.create_sheet(str(look["sheets"]["counts"][language]))
    counts_sheet(counts, rows, language, look)
    return wb


def _lists_sheet(
    ws: Any, rows: list[OverviewRow], shown: int, language: str, look: dict[str, Any]
) -> None:
    style = look["style"]
    labels = look["columns"]
    states = look["states"]
    header_fill = PatternFill("solid", fgColor=style["header_fill"])
    overdue_fill = PatternFill("solid", fgColor=style["overdue_fill"])
    overdue_font = Font(color=style["overdue_font"])
    bold = Font(bold=True)
    date_format = str(style["date_format"])
    # Every style's id registered first, in one order whatever the rows, so a row's XML kept
    # from an earlier file (overview_splice) has the ids of this one's styles; a change
    # here raises overview_splice.FORMAT.
    for kind in (
        {"font": bold, "fill": header_fill},
        {"number_format": date_format},
        {"fill": overdue_fill, "font": overdue_font},
        {"fill": overdue_fill, "font": overdue_font, "number_format": date_format},
        {"font": bold, "fill": PatternFill("solid", fgColor=style["total_fill"])},
    ):
        styled(ws, None, **kind).style_id  # noqa: B018 (registers the style)
    for col, name in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = float(labels[name]["width"])
    # The header and the list number stay in view while scrolling either way.
    ws.freeze_panes = "B2"
    last = get_column_letter(len(COLUMNS))
    ws.auto_filter.ref = f"A1:{last}{max(shown + 1, 2)}"
    ws.append([styled(ws, str(labels[n][language]), font=bold, fill=header_fill) for n in COLUMNS])
    dated = [name in DATE_COLUMNS for name in COLUMNS]
    for row in rows:
        values = [escape_cell(v) for v in _values(row, states, language)]
        if row.overdue:
            ws.append(
                [
                    styled(ws, v, fill=overdue_fill, font=overdue_font, number_format=date_format)
                    if d
                    else styled(ws, v, fill=overdue_fill, font=overdue_font)
                    for v, d in zip(values, dated, strict=True)
                ]
            )
        else:
            ws.append(
                [
                    styled(ws, v, number_format=date_format) if d else v
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
