"""Checking a dropped result workbook against its list: the heart of the T33 intake loop.

Owns the cross-checks around the schema (list exists and accepts results, version not stale,
identity and roster untouched, every row's student on the list, no duplicate rows, a final
grade's date) and when to apply: at once (:func:`check_and_apply`) or later under the list's
lock (:func:`check`, then :func:`apply_checked`). Applying is :mod:`pipeline.intake.apply`'s;
the order of work, receipts and records are :mod:`pipeline.intake.result_workbook`'s. This
module neither reads the disk nor prints.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.domain import deadlines, personnummer
from pipeline.domain.scales import GradeScale, get_scale
from pipeline.errors import NotFound
from pipeline.intake import checks
from pipeline.intake.apply import apply_prepared
from pipeline.intake.cell_values import to_date
from pipeline.intake.checked import (
    ACTION_DRAFT,
    Prepared,
    WorkbookCheck,
    as_int,
    preferred_language,
    staff_language,
)
from pipeline.intake.report import Problem, Report
from pipeline.intake.roster_binding import binding_problems
from pipeline.lists import t34
from pipeline.lists.query import (
    ACCEPTS_RESULTS,
    EntryRow,
    ListHead,
    get_list_head,
    load_entries,
    read_list_head,
)
from pipeline.lms import exports as lms
from pipeline.models import ListKind, ResultList
from pipeline.texts import t
from pipeline.xlsx.contract import ects_scale_code, layout, verify
from pipeline.xlsx.reader import ResultWorkbook


def _action(value: Any, app: App) -> str | None:
    if value is None:
        return ACTION_DRAFT
    text = str(value).strip().casefold()
    for key, labels in layout(app.root)["actions"].items():
        if text in {str(label).casefold() for label in labels.values()}:
            return str(key)
    return None


def check(session: Session, app: App, wb: ResultWorkbook) -> WorkbookCheck:
    """Every check of :func:`check_and_apply`, without applying anything."""
    return check_and_apply(session, app, wb, apply=False)


def check_and_apply(
    session: Session, app: App, wb: ResultWorkbook, *, apply: bool = True
) -> WorkbookCheck:
    """Validate ``wb`` against the stored list and, when valid, apply it in ``session``."""
    default_language = wb.meta.get("language") or app.settings.language
    listnr = wb.listnr
    report = Report()
    outcome = WorkbookCheck(False, listnr, default_language, report)
    sheet = wb.sheet

    if not verify(app.settings.hmac_key(), wb.meta, wb.roster):
        report.add(Problem("tampered-signature", {"listnr": listnr or ""}, sheet=sheet))
        return outcome
    assert listnr is not None
    # Only checking: the list's head as plain values in one query. Applying: the ORM
    # object, locked first, so nothing read below can change before it is applied.
    result_list: ResultList | ListHead
    try:
        if apply:
            result_list = get_list_head(session, listnr, lock=True)
            outcome.language = staff_language(session, result_list.reporter, default_language)
        else:
            result_list = read_list_head(session, listnr)
            outcome.language = preferred_language(result_list.reporter_language, default_language)
    except NotFound:
        report.add(Problem("list-not-found", {"listnr": listnr}, sheet=sheet))
        return outcome
    outcome.state = result_list.state
    outcome.version = result_list.version

    if result_list.state not in ACCEPTS_RESULTS:
        report.add(
            Problem(
                "list-wrong-state",
                {
                    "listnr": listnr,
                    "state": t(
                        f"intake.states.{result_list.state.value}", outcome.language, app.root
                    ),
                },
                sheet=sheet,
            )
        )
        return outcome
    if (wb.version or 0) < result_list.version:
        outcome.reissue = True
        report.add(Problem("stale-version", {"got": wb.version, "current": result_list.version}))
        return outcome
    if wb.version != result_list.version:
        report.add(Problem("tampered-version", {"listnr": listnr}, sheet=sheet))
        return outcome
    if as_int(wb.identity_listnr) != listnr:
        report.add(
            Problem(
                "tampered-listnr",
                {"listnr": listnr},
                sheet=sheet,
                row=4,
                column="B",
                value=wb.identity_listnr,
            )
        )
        return outcome

    action = _action(wb.action, app)
    if action is None:
        labels = layout(app.root)["actions"]
        report.add(
            Problem(
                "bad-action",
                {
                    "draft": labels["draft"][outcome.language],
                    "submit": labels["submit"][outcome.language],
                },
                sheet=sheet,
                row=int(wb.meta["action_cell"][1:]),
                column=wb.meta["action_cell"][0],
                value=wb.action,
            )
        )

    rules = list_rules(app, result_list)
    scale = rules.scale
    frame = _normalized(wb.frame, scale, rules.ects)
    report.extend(
        checks.run_schema(
            rules.schema, frame, sheet=sheet, letters=wb.letters, params=rules.message_params
        )
    )
    digits_by_row = _roster_checks(frame, wb, report)
    report.extend(binding_problems(wb, digits_by_row))
    options = _merge_options(wb, scale, result_list, report)
    t34_list = result_list.kind == ListKind.T34
    # The rows are needed to apply, and for a final-grade list's date checks.
    entries = load_entries(session, result_list.id) if apply or t34_list else []
    latest: dict[str, dt.date] = {}
    if t34_list:
        # Its date checks read the course's modules and other lists: the ORM object.
        full = (
            result_list if isinstance(result_list, ResultList) else get_list_head(session, listnr)
        )
        latest = _final_grade_checks(session, app, full, entries, frame, digits_by_row, wb, report)
        if not t34.credits_complete(full.course):
            outcome.notes.append("credits-incomplete")
    if not report.valid:
        return outcome
    outcome.prepared = Prepared(
        version=result_list.version,
        state=result_list.state,
        frame=frame,
        digits_by_row=digits_by_row,
        action=action or ACTION_DRAFT,
        options=options,
        latest=latest,
    )
    if apply:
        assert isinstance(result_list, ResultList)
        apply_prepared(session, app, wb, result_list, entries, outcome)
    return outcome


@dataclass(frozen=True)
class ListRules:
    """What a list's rows are checked against: its scales, the schema with the list's values
    filled in, and the values its problem messages name."""

    scale: GradeScale
    ects: GradeScale | None
    schema: checks.LoadedSchema
    message_params: dict[str, Any]


def list_rules(app: App, result_list: ResultList | ListHead) -> ListRules:
    module = result_list.module
    scale = get_scale(module.scale if module else result_list.course.scale, app.root)
    ects_code = ects_scale_code(result_list)
    ects = get_scale(ects_code, app.root) if ects_code else None
    start = result_list.course.start_date.isoformat()
    schema = checks.load_schema(
        f"{result_list.kind.value}_workbook",
        app.root,
        params={
            "grades": list(scale.grades),
            "failing": [g for g in scale.grades if g not in scale.passing],
            "ects_grades": list(ects.grades) if ects else [],
            "ects_failing": [g for g in ects.grades if g not in ects.passing] if ects else [],
            "today": deadlines.swedish_date().isoformat(),
            "course_start": start,
            "remove_marks": [str(layout(app.root)["t34"]["remove_mark"])],
        },
    )
    return ListRules(
        scale,
        ects,
        schema,
        {"scale": scale.code, "allowed": ", ".join(scale.grades), "start": start},
    )


def apply_checked(
    session: Session, app: App, wb: ResultWorkbook, checked: WorkbookCheck
) -> WorkbookCheck:
    """Apply a workbook that :func:`check` passed in an earlier (read-only) transaction.

    Under the list's lock: when the list is still at the version and state it was checked
    against, its results are applied as checked; when anything changed meanwhile, every
    check runs again here. Workers can so check files side by side and hold the write lock
    only for applying."""
    prepared = checked.prepared
    if prepared is None or checked.listnr is None:
        return check_and_apply(session, app, wb)
    try:
        result_list = get_list_head(session, checked.listnr, lock=True)
    except NotFound:
        return check_and_apply(session, app, wb)
    if (
        result_list.version != prepared.version
        or result_list.state != prepared.state
        or result_list.kind == ListKind.T34  # its checks read other lists' results too
    ):
        return check_and_apply(session, app, wb)
    entries = load_entries(session, result_list.id)
    active = {e.student.pnr for e in entries if not e.removed}
    if not set(prepared.digits_by_row.values()) <= active:
        return check_and_apply(session, app, wb)
    apply_prepared(session, app, wb, result_list, entries, checked)
    return checked


def _merge_options(
    wb: ResultWorkbook, scale: GradeScale, result_list: ResultList | ListHead, report: Report
) -> dict[str, Any] | None:
    """The LMS column and score thresholds the teacher set in the workbook (for merges)."""
    if "lms_column_cell" not in wb.meta and "thresholds_cell" not in wb.meta:
        return None
    options = dict(result_list.options or {})
    column = wb.cells.get("lms_column_cell")
    if column in (None, ""):
        options.pop("lms_column", None)
    else:
        options["lms_column"] = str(column).strip()
    raw = wb.cells.get("thresholds_cell")
    ref = wb.meta.get("thresholds_cell", "B14")
    if raw in (None, ""):
        options.pop("thresholds", None)
    else:
        try:
            parsed = lms.parse_thresholds(str(raw), scale)
        except lms.ThresholdError as exc:
            report.add(
                Problem(
                    "lms-bad-thresholds",
                    {"detail": str(exc)},
                    sheet=wb.sheet,
                    row=int(ref[1:]),
                    column=ref[0],
                    value=raw,
                )
            )
            return None
        options["thresholds"] = [[grade, minimum] for grade, minimum in parsed.steps]
    return options


def _final_grade_checks(
    session: Session,
    app: App,
    result_list: ResultList,
    entries: list[EntryRow],
    frame: pd.DataFrame,
    digits_by_row: dict[int, str],
    wb: ResultWorkbook,
    report: Report,
) -> dict[str, dt.date]:
    """A final grade's date (given, or the default) is not before the latest module date.

    Returns each student's latest module date (by personnummer), the default grade date."""
    by_pnr = {e.student.pnr: e.student_id for e in entries}
    results = t34.passed_results(session, result_list.course, list(by_pnr.values()), app.root)
    latest: dict[str, dt.date] = {}
    for pnr, student_id in by_pnr.items():
        dates = [r.date for r in results.get(student_id, {}).values()]
        if dates:
            latest[pnr] = max(dates)
    for row, digits in digits_by_row.items():
        given = to_date(frame.at[row, "grade_date"]) if "grade_date" in frame else None
        if given is not None and digits in latest and given < latest[digits]:
            report.add(
                Problem(
                    "date-before-modules",
                    {"latest": latest[digits].isoformat()},
                    sheet=wb.sheet,
                    row=row,
                    column=wb.letters.get("grade_date"),
                    field="grade_date",
                    value=given,
                )
            )
    return latest


def _normalized(frame: pd.DataFrame, scale: GradeScale, ects: GradeScale | None) -> pd.DataFrame:
    """Grades mapped onto their scale where possible ("vg " is VG); others left to fail."""
    out = frame
    for name, on in (("grade", scale), ("ects_grade", ects)):
        if name in out and on is not None:
            # Each distinct cell text is looked up once (a list has a handful of grades), and
            # the column is only rewritten when some cell is not written as on the scale.
            column = out[name]
            distinct = set(column.tolist())
            distinct.discard(None)
            mapping = {v: on.normalize(v) or v for v in distinct}
            if any(k.__class__ is not str or k != v for k, v in mapping.items()):
                if out is frame:
                    out = frame.copy()
                out[name] = column.map(mapping.get, na_action="ignore")
    return out


def _roster_checks(frame: pd.DataFrame, wb: ResultWorkbook, report: Report) -> dict[int, str]:
    """Each row's student is on the signed roster, once; returns row -> 12 digits."""
    numbers = personnummer.normalize_many(frame["pnr"].tolist())
    rows = frame.index.tolist()
    roster = set(wb.roster)
    if numbers == wb.roster and len(roster) == len(numbers):
        # The usual case: the locked column as issued, every student once, in order.
        return dict(zip(rows, cast(list[str], numbers), strict=True))  # index: Python ints
    first_seen: dict[str, int] = {}
    digits_by_row: dict[int, str] = {}
    letter = wb.letters.get("pnr")
    for index, digits in zip(rows, numbers, strict=True):
        if digits is None:
            continue  # already reported by the schema
        row = int(index)
        if digits not in roster:
            slug, params = "not-on-list", {}
        elif digits in first_seen:
            slug, params = "duplicate-row", {"other": first_seen[digits]}
        else:
            first_seen[digits] = row
            digits_by_row[row] = digits
            continue
        report.add(
            Problem(
                slug,
                params,
                sheet=wb.sheet,
                row=row,
                column=letter,
                field="pnr",
                value=personnummer.Personnummer(digits).long(),
            )
        )
    return digits_by_row
