"""What the demo's people do, each only through their own folders, mail and SMS.

Owns the person-sized steps of ``resultat demo``: a teacher filling the workbook that arrived
in their outbox folder and dropping it in their inbox folder, an examiner reading the code
from the SMS on their phone (the SMS file sink, ``var/sms/``) and typing it into the review
workbook or answering the SMS, and the daemon's pass that takes the dropped files and sends
what they queued. The script that strings them together is :mod:`pipeline.demo.flow`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline import resources
from pipeline.app import App
from pipeline.intake.inbox import FileResult, Inbox
from pipeline.lifecycle import by_sms
from pipeline.lists.students import StudentSources
from pipeline.messages import outbox
from pipeline.models import FileOutcome, ListEntry, Message, ResultList
from pipeline.people import directory, folders
from pipeline.people.directory import OFFICE
from pipeline.xlsx.contract import CODE_CELL
from pipeline.xlsx.reader import META_SHEET
from pipeline.xlsx.workbook import IssuedWorkbook

Filler = Callable[[int, str], dict[str, Any]]


def fill_issued(path: Path, target: Path, filler: Filler, *, action: str) -> Path:
    """Write into the issued workbook's input cells, as a teacher in Excel would."""
    wb = load_workbook(path)
    meta_ws = wb[META_SHEET]
    meta = {
        str(meta_ws.cell(row=r, column=1).value): meta_ws.cell(row=r, column=2).value
        for r in range(1, meta_ws.max_row + 1)
        if meta_ws.cell(row=r, column=1).value
    }
    letters: dict[str, str] = json.loads(str(meta["columns"]))
    ws = wb[str(meta["sheet"])]
    row = int(str(meta["first_row"]))
    index = 0
    while ws[f"{letters['pnr']}{row}"].value:
        pnr = str(ws[f"{letters['pnr']}{row}"].value).replace("-", "")
        for field, value in filler(index, pnr).items():
            if field in letters:
                ws[f"{letters[field]}{row}"] = value
        row += 1
        index += 1
    ws[str(meta["action_cell"])] = action
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def from_outbox(app: App, person: str, name: str) -> Path:
    """The file ``name`` as it arrived in ``person``'s outbox folder."""
    path = folders.outbox_of(app.settings, person) / name
    if not path.is_file():
        raise LookupError(f"{name} is not in outbox/{person}/")
    return path


def newest_in_outbox(app: App, person: str, pattern: str) -> Path:
    """The newest file matching ``pattern`` in ``person``'s outbox folder."""
    found = list(folders.outbox_of(app.settings, person).glob(pattern))
    if not found:
        raise LookupError(f"nothing like {pattern} in outbox/{person}/")
    return max(found, key=lambda p: p.stat().st_mtime_ns)


def fill_and_drop(
    app: App, person: str, listnr: int, filler: Filler, *, action: str, name: str
) -> Path:
    """``person`` fills list ``listnr``'s workbook from their outbox and drops it as ``name``."""
    source = from_outbox(app, person, f"{listnr}.xlsx")
    return fill_issued(source, folders.inbox_of(app.settings, person) / name, filler, action=action)


def drop(app: App, person: str, source: Path, name: str) -> Path:
    """``person`` puts a copy of ``source`` in their inbox folder as ``name``."""
    target = folders.inbox_of(app.settings, person) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target


def daemon_pass(app: App) -> list[FileResult]:
    """What ``resultat process`` (or the daemon) does: take the dropped files, send what
    they queued (receipts by mail, the examiner's SMS)."""
    results = Inbox(app).process_once()
    outbox.drain(app)
    return results


def sms_code(app: App, mobile: str, listnr: int) -> str:
    """The newest approval code for ``listnr`` in the SMS to ``mobile`` (as their phone shows)."""
    outbox.drain(app)
    for path in sorted((app.settings.var / "sms").glob("*.json"), key=lambda p: -int(p.stem)):
        message = json.loads(path.read_text("utf-8"))
        if message.get("to") != mobile:
            continue
        match = re.search(rf"\b{listnr}\b.*?\b(\d{{6}})\b", message["body"], re.S)
        if match:
            return match.group(1)
    raise LookupError(f"no code for {listnr} in the SMS to {mobile[:5]}…")


def approve_in_review_workbook(app: App, examiner: str, mobile: str, listnr: int) -> Path:
    """The examiner types the code from the SMS into the review workbook from their outbox
    and drops it in their inbox folder."""
    review = newest_in_outbox(app, examiner, f"{listnr}_v*_granskning.xlsx")
    wb = load_workbook(review)
    wb.worksheets[0][CODE_CELL] = sms_code(app, mobile, listnr)
    target = folders.inbox_of(app.settings, examiner) / f"{listnr} attest.xlsx"
    wb.save(target)
    return target


def answer_sms(app: App, mobile: str, listnr: int) -> str:
    """The examiner answers the SMS with ``LISTNR CODE`` (what the webhook hands on)."""
    return by_sms.reply(app, mobile, f"{listnr} {sms_code(app, mobile, listnr)}")


def suggestions(path: Path) -> dict[str, str]:
    """The suggested final grade per personnummer, as the examiner reads it in the workbook."""
    wb = load_workbook(path, read_only=True)
    ws = wb.worksheets[0]
    rows = ws.iter_rows(min_row=15, values_only=True)
    headers = [str(h) for h in next(rows)]
    prefixes = ("Förslag", "Suggested")  # i18n: not people-facing: the workbook's headers
    column = next(i for i, h in enumerate(headers) if h.startswith(prefixes))
    found = {str(r[0]).replace("-", ""): str(r[column]) for r in rows if r[0] and r[column]}
    wb.close()
    return found


def _order(app: App, person: str, values: dict[str, Any]) -> IssuedWorkbook:
    """``person`` fills one row of the order workbook in their outbox and drops it in their
    inbox; the daemon's pass carries it out and the workbook arrives in their outbox."""
    look = resources.load_yaml("templates", "forms.yaml", app.root)["order"]
    form = from_outbox(app, person, str(look["file"]))
    wb = load_workbook(form)
    ws = wb.worksheets[0]
    row = int(look["header_row"]) + 1
    for name, value in values.items():
        ws[f"{look['columns'][name]['letter']}{row}"] = value
    target = folders.inbox_of(app.settings, person) / f"order {len(values)}.xlsx"
    wb.save(target)
    with app.db.read_session() as session:
        before = session.execute(select(func.max(ResultList.listnr))).scalar() or 0
    [done] = daemon_pass(app)
    if done.outcome is not FileOutcome.ACCEPTED:
        raise RuntimeError(f"the demo's order was refused: {done.receipt}")
    with app.db.read_session() as session:
        listnr = (
            values.get("listnr") or session.execute(select(func.max(ResultList.listnr))).scalar()
        )
        rows = session.execute(
            select(func.count(ListEntry.id))
            .join(ResultList, ResultList.id == ListEntry.list_id)
            .where(ResultList.listnr == listnr, ListEntry.removed.is_(False))
        ).scalar_one()
    assert int(listnr or 0) > 0 and (values.get("listnr") or int(listnr or 0) > before)
    path = from_outbox(app, person, f"{listnr}.xlsx")
    return IssuedWorkbook(int(listnr or 0), 0, path, int(rows))


def _action(app: App, person: str, key: str) -> str:
    """The order workbook's choice ``key`` in ``person``'s language (as their dropdown shows)."""
    look = resources.load_yaml("templates", "forms.yaml", app.root)["order"]
    with app.db.read_session() as session:
        found = directory.person(session, person)
    return str(look["actions"][key][found.language if found else "sv"])


def order_t33(
    app: App, teacher: str, course: str, module: str, term: str, sources: StudentSources
) -> IssuedWorkbook:
    """``teacher`` orders a new T33 list with the order workbook."""
    values: dict[str, Any] = {
        "action": _action(app, teacher, "new_t33"),
        "course": course,
        "module": module,
        "term": term,
    }
    if sources.exam_date:
        values["exam_date"] = sources.exam_date
    if sources.registered:
        values["registered"] = _yes(app, teacher)
    if sources.students:
        values["students"] = " ".join(sources.students)
    return _order(app, teacher, values)


def order_more(app: App, teacher: str, listnr: int, sources: StudentSources) -> IssuedWorkbook:
    """``teacher`` orders more students for their list with the order workbook."""
    values: dict[str, Any] = {
        "action": _action(app, teacher, "more_students"),
        "listnr": listnr,
        "students": " ".join(sources.students),
    }
    return _order(app, teacher, values)


def order_t34(app: App, examiner: str, course: str, term: str) -> IssuedWorkbook:
    """``examiner`` orders the final-grade (T34) list of a course with the order workbook."""
    values = {"action": _action(app, examiner, "new_t34"), "course": course, "term": term}
    return _order(app, examiner, values)


def _yes(app: App, person: str) -> str:
    look = resources.load_yaml("templates", "forms.yaml", app.root)
    with app.db.read_session() as session:
        found = directory.person(session, person)
    return str(look["yes_no"]["yes"][found.language if found else "sv"])


def confirm_registered(app: App, listnr: int) -> int:
    """The student office confirms the LADOK entry with its confirmation workbook; each
    student is mailed their result. Returns the mails the pass sent to students."""
    look = resources.load_yaml("templates", "forms.yaml", app.root)["confirmation"]
    wb = load_workbook(from_outbox(app, OFFICE, str(look["file"])))
    ws = wb.worksheets[0]
    row = int(look.get("header_row", 5)) + 1
    ws.cell(row, 1, listnr)
    ws.cell(row, 2, str(look["actions"]["registered"][app.settings.language]))
    wb.save(folders.inbox_of(app.settings, OFFICE) / f"confirmation {listnr}.xlsx")
    with app.db.read_session() as session:
        before = _student_mails(session, listnr)
    [done] = daemon_pass(app)
    if done.outcome is not FileOutcome.ACCEPTED:
        raise RuntimeError(f"the demo's confirmation was refused: {done.receipt}")
    with app.db.read_session() as session:
        return _student_mails(session, listnr) - before


def _student_mails(session: Session, listnr: int) -> int:
    return int(
        session.execute(
            select(func.count(Message.id)).where(
                Message.listnr == listnr, Message.kind == "student_result"
            )
        ).scalar_one()
    )


def return_signed(app: App, listnr: int) -> Path:
    """The student office scans the signed archive list and drops it as
    ``<listnr>_signerad.pdf``: the list is archived. (The demo's "scan" is the printed PDF.)"""
    printed = folders.office_outbox(app.settings) / "print" / f"{listnr}_arkivlista.pdf"
    drop(app, OFFICE, printed, f"{listnr}_signerad.pdf")
    [done] = daemon_pass(app)
    if done.outcome is not FileOutcome.ACCEPTED:
        raise RuntimeError(f"the demo's signed scan was refused: {done.receipt}")
    with app.db.read_session() as session:
        archived = session.execute(
            select(ResultList.archived_at).where(ResultList.listnr == listnr)
        ).scalar_one()
    return app.settings.archive / f"{(archived or dt.datetime.now()).year}" / str(listnr)
