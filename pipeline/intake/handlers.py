"""Checking a dropped result workbook and applying it: the heart of the T33 intake loop.

Owns the cross-checks around the schema (list exists and accepts results, version not stale,
identity and roster untouched, every row's student on the list, no duplicate rows) and applying
a valid workbook in the caller's transaction: results stored, version incremented, audit event,
state ``draft → submitted`` when the action cell says so. Claiming files, receipts and moving
files are :mod:`pipeline.intake.inbox`'s; this module neither reads the disk nor prints.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, cast

import pandas as pd
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App
from pipeline.domain import personnummer
from pipeline.domain.scales import GradeScale, get_scale
from pipeline.errors import NotFound
from pipeline.intake import checks
from pipeline.intake.report import Problem, Report
from pipeline.lifecycle import approval
from pipeline.lists import t34
from pipeline.lists.content import void_challenges
from pipeline.lists.query import (
    ACCEPTS_RESULTS,
    EntryRow,
    ListHead,
    get_list_head,
    load_entries,
    read_list_head,
)
from pipeline.lists.state import Role, transition
from pipeline.models import ListEntry, ListKind, ListState, ResultList, Staff, utcnow
from pipeline.xlsx.reader import ResultWorkbook
from pipeline.xlsx.sheetxml import without_illegal
from pipeline.xlsx.workbook import ects_scale_code, layout, verify

ACTION_DRAFT = "draft"
ACTION_SUBMIT = "submit"


@dataclass
class IntakeOutcome:
    """What happened to one result workbook; the inbox turns it into a receipt."""

    accepted: bool
    listnr: int | None
    language: str
    report: Report
    action: str | None = None
    changed: int = 0
    graded: int = 0
    students: int = 0
    version: int | None = None
    state: str | None = None
    stale: bool = False
    reissue: bool = False
    routing: str | None = None
    decision: str | None = None
    notes: list[str] = field(default_factory=list)
    #: The list's entries as they are after applying (for the fresh workbook).
    entries: list[EntryRow] | None = None
    #: What a passed check found, for applying it later (see :func:`apply_checked`).
    prepared: Prepared | None = None
    #: The list as applied, with its course and module, in the applying session.
    applied_to: ResultList | None = None


@dataclass
class Prepared:
    """A workbook that passed every check against the list at ``version`` in ``state``."""

    version: int
    state: ListState
    frame: pd.DataFrame
    digits_by_row: dict[int, str]
    action: str
    options: dict[str, Any] | None
    latest: dict[str, dt.date]


def _language(session: Session, username: str | None, default: str) -> str:
    """The staff member's language from the registry, else ``default``."""
    if not username:
        return default
    language = session.execute(
        select(Staff.language).where(Staff.username == username)
    ).scalar_one_or_none()
    return _preferred(language, default)


def _preferred(language: str | None, default: str) -> str:
    return language if language in ("sv", "en") else default


def _action(value: Any, app: App) -> str | None:
    if value is None:
        return ACTION_DRAFT
    text = str(value).strip().casefold()
    for key, labels in layout(app.root)["actions"].items():
        if text in {str(label).casefold() for label in labels.values()}:
            return str(key)
    return None


def check_review(session: Session, app: App, wb: ResultWorkbook) -> IntakeOutcome:
    """A review workbook back from the examiner: the code approves, a reason rejects."""
    listnr = wb.listnr
    report = Report()
    outcome = IntakeOutcome(False, listnr, wb.meta.get("language") or app.settings.language, report)
    if not verify(app.settings.hmac_key(), wb.meta, wb.roster) or listnr is None:
        report.add(Problem("tampered", {"detail": "HMAC", "listnr": listnr or ""}, sheet=wb.sheet))
        return outcome
    if _as_int(wb.identity_listnr) != listnr:
        report.add(
            Problem(
                "tampered",
                {"detail": "listnr", "listnr": listnr},
                sheet=wb.sheet,
                row=4,
                column="B",
                value=wb.identity_listnr,
            )
        )
        return outcome
    try:
        result_list = get_list_head(session, listnr)
    except NotFound:
        report.add(Problem("list-not-found", {"listnr": listnr}, sheet=wb.sheet))
        return outcome
    examiner = result_list.examiner
    outcome.language = _language(session, examiner, outcome.language)
    code = wb.cells.get("code_cell")
    reason = wb.cells.get("reason_cell")
    code_ref = wb.meta.get("code_cell", "B13")
    if code not in (None, ""):
        decision = approval.approve_in(
            session,
            app,
            listnr,
            str(code),
            via="workbook",
            actor=examiner or app.actor,
            expect_hash=wb.meta.get("content_hash"),
            expect_version=wb.version,
        )
    elif reason not in (None, ""):
        decision = approval.reject_in(
            session, app, listnr, str(reason), via="workbook", actor=examiner or app.actor
        )
    else:
        report.add(
            Problem("review-empty", sheet=wb.sheet, row=int(code_ref[1:]), column=code_ref[0])
        )
        return outcome
    outcome.decision = decision.slug
    outcome.state = result_list.state.value
    outcome.version = result_list.version
    if not decision.ok:
        report.add(
            Problem(
                "approval-failed",
                {"detail": approval.decision_text(decision, outcome.language, app.root)},
                sheet=wb.sheet,
                row=int(code_ref[1:]),
                column=code_ref[0],
            )
        )
        return outcome
    outcome.accepted = True
    return outcome


def check(session: Session, app: App, wb: ResultWorkbook) -> IntakeOutcome:
    """Every check of :func:`check_and_apply`, without applying anything."""
    return check_and_apply(session, app, wb, apply=False)


def check_and_apply(
    session: Session, app: App, wb: ResultWorkbook, *, apply: bool = True
) -> IntakeOutcome:
    """Validate ``wb`` against the stored list and, when valid, apply it in ``session``."""
    default_language = wb.meta.get("language") or app.settings.language
    listnr = wb.listnr
    report = Report()
    outcome = IntakeOutcome(False, listnr, default_language, report)
    sheet = wb.sheet

    if not verify(app.settings.hmac_key(), wb.meta, wb.roster):
        report.add(Problem("tampered", {"detail": "HMAC", "listnr": listnr or ""}, sheet=sheet))
        return outcome
    assert listnr is not None
    # Only checking: the list's head as plain values in one query. Applying: the ORM
    # object, locked first, so nothing read below can change before it is applied.
    result_list: ResultList | ListHead
    try:
        if apply:
            result_list = get_list_head(session, listnr, lock=True)
            outcome.language = _language(session, result_list.reporter, default_language)
        else:
            result_list = read_list_head(session, listnr)
            outcome.language = _preferred(result_list.reporter_language, default_language)
    except NotFound:
        report.add(Problem("list-not-found", {"listnr": listnr}, sheet=sheet))
        return outcome
    outcome.state = result_list.state.value
    outcome.version = result_list.version

    if result_list.state not in ACCEPTS_RESULTS:
        report.add(
            Problem(
                "list-wrong-state",
                {"listnr": listnr, "state": result_list.state.value},
                sheet=sheet,
            )
        )
        return outcome
    if (wb.version or 0) < result_list.version:
        outcome.stale = True
        outcome.reissue = True
        report.add(Problem("stale-version", {"got": wb.version, "current": result_list.version}))
        return outcome
    if wb.version != result_list.version:
        report.add(Problem("tampered", {"detail": "version", "listnr": listnr}, sheet=sheet))
        return outcome
    if _as_int(wb.identity_listnr) != listnr:
        report.add(
            Problem(
                "tampered",
                {"detail": "listnr", "listnr": listnr},
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
    outcome.action = action

    rules = list_rules(app, result_list)
    scale = rules.scale
    frame = _normalized(wb.frame, scale, rules.ects)
    report.extend(
        checks.run_schema(
            rules.schema, frame, sheet=sheet, letters=wb.letters, params=rules.message_params
        )
    )
    digits_by_row = _roster_checks(frame, wb, report)
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
        _apply_prepared(session, app, wb, result_list, entries, outcome)
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
            "today": dt.date.today().isoformat(),
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
    session: Session, app: App, wb: ResultWorkbook, checked: IntakeOutcome
) -> IntakeOutcome:
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
    _apply_prepared(session, app, wb, result_list, entries, checked)
    return checked


def _apply_prepared(
    session: Session,
    app: App,
    wb: ResultWorkbook,
    result_list: ResultList,
    entries: list[EntryRow],
    outcome: IntakeOutcome,
) -> None:
    prepared = outcome.prepared
    assert prepared is not None
    options = prepared.options
    if options is not None and options != (result_list.options or {}):
        audit.record(
            session,
            actor=result_list.reporter,
            action="list.options",
            listnr=result_list.listnr,
            details={"old": result_list.options or {}, "new": options},
        )
        result_list.options = options
    _apply(
        session,
        app,
        result_list,
        entries,
        prepared.frame,
        prepared.digits_by_row,
        prepared.action,
        outcome,
        wb,
        prepared.latest,
    )
    outcome.accepted = True
    outcome.reissue = True
    outcome.entries = [e for e in entries if not e.removed]
    outcome.applied_to = result_list


def _merge_options(
    wb: ResultWorkbook, scale: GradeScale, result_list: ResultList | ListHead, report: Report
) -> dict[str, Any] | None:
    """The LMS column and score thresholds the teacher set in the workbook (for merges)."""
    from pipeline.lms import exports as lms

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
        given = checks.to_date(frame.at[row, "grade_date"]) if "grade_date" in frame else None
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


def _as_int(value: Any) -> int | None:
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None


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


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _text_or_none(value: Any) -> str | None:
    return None if _blank(value) else str(value)


def _stored_date(value: Any) -> dt.date | None:
    if value.__class__ is dt.datetime:
        return value.date()  # type: ignore[no-any-return]
    if value is None or value.__class__ is dt.date:
        return value  # type: ignore[no-any-return]
    return checks.to_date(value)


def _stored_points(value: Any) -> Decimal | None:
    number = checks.to_number(value)
    return None if number is None else Decimal(str(round(number, 2)))


def _stored_comment(value: Any) -> str | None:
    # Characters XML 1.0 forbids cannot be written back into the fresh workbook: stored
    # without them, so the next drop of that workbook does not look like a change.
    return None if _blank(value) else without_illegal(str(value)).strip() or None


#: How each stored field is made from its cell value (in the order changes are reported).
_CONVERT: dict[str, Any] = {
    "grade": _text_or_none,
    "ects_grade": _text_or_none,
    "grade_date": _stored_date,
    "points": _stored_points,
    "comment": _stored_comment,
}


def _stored_values(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """The values to store, column by column, in the frame's row order. Each distinct cell
    value is converted once (a column holds a few grades, dates and scores many times)."""
    blank = [None] * len(frame)
    out: dict[str, list[Any]] = {}
    for name, convert in _CONVERT.items():
        if name not in frame:
            out[name] = blank
            continue
        values = frame[name].tolist()
        # Keyed by type too: 1, 1.0 and True are equal keys but convert differently (and a
        # NaN, never equal to itself, is simply converted again).
        memo: dict[tuple[type, Any], Any] = {}
        column = []
        for v in values:
            key = (v.__class__, v)
            if key in memo:
                column.append(memo[key])
            else:
                column.append(memo.setdefault(key, convert(v)))
        out[name] = column
    return out


#: The columns of a ``list.results`` audit event's ``changes`` (rows, not objects: a
#: 20,000-row list makes some 60,000 changes, and rows serialise in a third of the time).
CHANGE_COLUMNS: Final = ("student_id", "field", "old", "new")

_STORED = ("grade", "ects_grade", "grade_date", "points", "comment", "removed")


def _plain(value: Any) -> Any:
    """A value as the audit log's JSON holds it (dates ISO, decimals as text)."""
    if value is None or value.__class__ is str:
        return value
    return str(value)  # a stored field is text, a date or a decimal


def _write_entries(session: Session, touched: list[EntryRow]) -> None:
    """One executemany by primary key for the changed rows only.

    On SQLite the parameters go to the driver as SQLAlchemy would bind them (dates as ISO
    text, numbers as floats, booleans as 0/1), without its per-row processing: 30 ms instead
    of 120 for 19,000 rows. Other databases take the Core statement."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            "UPDATE list_entries SET grade = ?, ects_grade = ?, grade_date = ?, points = ?,"
            " comment = ?, removed = ? WHERE id = ?",
            [
                (
                    e.grade,
                    e.ects_grade,
                    None if e.grade_date is None else e.grade_date.isoformat(),
                    None if e.points is None else float(e.points),
                    e.comment,
                    1 if e.removed else 0,
                    e.id,
                )
                for e in touched
            ],
        )
        return
    table = cast(Table, ListEntry.__table__)
    connection.execute(
        update(table)
        .where(table.c.id == bindparam("entry_id"))
        .values({name: bindparam(name) for name in _STORED}),
        [{"entry_id": e.id, **{name: getattr(e, name) for name in _STORED}} for e in touched],
    )


def _apply(
    session: Session,
    app: App,
    result_list: ResultList,
    all_entries: list[EntryRow],
    frame: pd.DataFrame,
    digits_by_row: dict[int, str],
    action: str,
    outcome: IntakeOutcome,
    wb: ResultWorkbook,
    latest: dict[str, dt.date] | None = None,
) -> None:
    latest = latest or {}
    entries = {e.student.pnr: e for e in all_entries if not e.removed}
    #: Every changed value as [student_id, field, old, new] (see CHANGE_COLUMNS).
    changes: list[list[Any]] = []
    removed: list[int] = []
    touched: list[EntryRow] = []
    columns = _stored_values(frame)  # column by column, not a frame lookup per row
    removes = frame["remove"].tolist() if "remove" in frame else [None] * len(frame)
    names = list(_CONVERT)
    for position, row in enumerate(frame.index.tolist()):
        digits = digits_by_row.get(row)
        if digits is None:
            continue
        entry = entries[digits]
        if not _blank(removes[position]):
            # "Ta bort": off the list from this save on (T34).
            entry.removed = True
            removed.append(entry.student_id)
            touched.append(entry)
            changes.append([entry.student_id, "removed", False, True])
            continue
        values = [columns[name][position] for name in names]
        if values[0] and values[2] is None and digits in latest:
            values[2] = latest[digits]  # a final grade's date defaults to the latest module's
        changed = False
        for name, new in zip(names, values, strict=True):
            old = getattr(entry, name)
            if old != new:
                changes.append([entry.student_id, name, _plain(old), _plain(new)])
                setattr(entry, name, new)
                changed = True
        if changed:
            touched.append(entry)
    if touched:
        _write_entries(session, touched)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, ListEntry):
                session.expire(obj)  # loaded before the bulk update: read it again
    was = result_list.state
    waiting = was in (ListState.SUBMITTED, ListState.AWAITING_APPROVAL)
    if removed:
        audit.record(
            session,
            actor=result_list.reporter,
            action="list.remove-students",
            listnr=result_list.listnr,
            details={"students": removed, "file": wb.path.name},
        )
    submit = action == ACTION_SUBMIT and (was == ListState.DRAFT or (waiting and bool(changes)))
    if submit and not any(e.grade for e in all_entries if not e.removed):
        # Nothing to approve: keep it a draft and say so in the receipt.
        submit = False
        outcome.notes.append("nothing-to-submit")
    if changes or submit:
        result_list.version += 1
        result_list.updated_at = utcnow()
    if changes:
        audit.record(
            session,
            actor=result_list.reporter,
            action="list.results",
            listnr=result_list.listnr,
            details={
                "version": result_list.version,
                "columns": list(CHANGE_COLUMNS),
                "changes": changes,
                "file": wb.path.name,
                "action": action,
            },
            plain=True,  # values made plain by _plain
        )
        if waiting:
            # Any change voids the examiner's code; the list is reviewed again from scratch.
            void_challenges(
                session, result_list.listnr, reason="list changed", actor=result_list.reporter
            )
            transition(result_list, ListState.DRAFT, role=Role.REPORTER)
    if submit:
        transition(result_list, ListState.SUBMITTED, role=Role.REPORTER)
        result_list.submitted_at = utcnow()
        audit.record(
            session,
            actor=result_list.reporter,
            action="list.submit",
            listnr=result_list.listnr,
            details={"version": result_list.version},
        )
        session.flush()
        outcome.routing = approval.request_approval(
            session, app, result_list, actor=result_list.reporter
        )
    session.flush()
    active = [e for e in all_entries if not e.removed]
    outcome.changed = len({c[0] for c in changes})
    outcome.graded = sum(1 for e in active if e.grade is not None)
    outcome.students = len(active)
    outcome.version = result_list.version
    outcome.state = result_list.state.value
