"""A workspace with years of history: thousands of result lists, made through the library.

Owns :func:`grow`, which adds lists to a workspace as the real flow leaves them in the
database — created (students in LADOK order, ``list.create``), filled (a new version with
grades, dates and points, ``list.results``), sent for approval (``list.submit``,
``approval.requested``), approved (``list.approve`` with the approved rows) and registered
(``list.registered``) — each state change through :mod:`pipeline.lists.state` and each event
through :func:`pipeline.audit.record`, so the audit chain and every content hash are what the
real commands would have written. What it leaves out, to make 20,000 lists in minutes: the
files (workbooks, review mail, archive PDFs, LADOK files) and the messages; many lists share
one transaction. Lists are spread over the terms up to the current one, oldest first; lists of
finished terms are mostly registered, the current term's are in every state.

:func:`build_template` makes such a workspace (registry from :mod:`bench.data`) once; the
benchmark copies it for each run.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from bench import data as bench_data
from pipeline import audit
from pipeline.app import App
from pipeline.lists import state
from pipeline.lists.create import FIRST_LISTNR
from pipeline.lists.digest import stored_content
from pipeline.lists.state import Role
from pipeline.models import (
    Course,
    ListEntry,
    ListKind,
    ListState,
    Module,
    ResultList,
    Student,
    utcnow,
)
from pipeline.settings import create_workspace

#: Terms the history covers, oldest first; the last is the current term.
TERMS: Final = tuple(f"{season}{year}" for year in range(2022, 2027) for season in ("VT", "HT"))
CURRENT_TERM: Final = TERMS[-1]
#: Lists per transaction while growing.
PER_TRANSACTION: Final = 200
STUDENTS: Final = 5000
MANIFEST: Final = "history.json"
GRADES: Final = ("U", "3", "4", "5")
_ENTRIES: Final = ListEntry.__table__
_RESULTS: Final = (
    update(_ENTRIES)
    .where(_ENTRIES.c.id == bindparam("entry_id"))
    .values(grade=bindparam("g"), grade_date=bindparam("d"), points=bindparam("p"))
)


@dataclass(frozen=True)
class Registry:
    course_id: int
    module_id: int
    student_ids: list[int]


def registry_of(session: Session) -> Registry:
    course = session.execute(select(Course).where(Course.code == bench_data.COURSE)).scalar_one()
    module = session.execute(select(Module).where(Module.course_id == course.id)).scalar_one()
    ids = list(
        session.execute(
            select(Student.id).order_by(Student.last_name, Student.first_name, Student.id)
        ).scalars()
    )
    return Registry(course.id, module.id, ids)


def final_state(term: str, rng: random.Random) -> ListState:
    """Where a list of ``term`` stands now: finished terms' lists mostly registered."""
    draw = rng.random()
    if term != CURRENT_TERM:
        if draw < 0.94:
            return ListState.REGISTERED
        return ListState.APPROVED if draw < 0.97 else ListState.DRAFT
    if draw < 0.35:
        return ListState.REGISTERED
    if draw < 0.6:
        return ListState.APPROVED
    return ListState.DRAFT if draw < 0.85 else ListState.AWAITING_APPROVAL


def _term_date(term: str) -> dt.date:
    year = int(term[2:])
    return dt.date(year, 10, 30) if term.startswith("HT") else dt.date(year, 3, 20)


def _one_list(session: Session, reg: Registry, listnr: int, term: str, rng: random.Random) -> None:
    size = rng.randint(50, 100)
    start = rng.randrange(0, len(reg.student_ids) - size)
    students = reg.student_ids[start : start + size]
    result_list = ResultList(
        listnr=listnr,
        kind=ListKind.T33,
        course_id=reg.course_id,
        module_id=reg.module_id,
        term=term,
        version=1,
        reporter=bench_data.REPORTER,
        examiner=bench_data.EXAMINER,
        due_date=_term_date(term) + dt.timedelta(days=21),
    )
    state.begin(result_list)
    session.add(result_list)
    session.flush()
    rows = [
        {"list_id": result_list.id, "student_id": sid, "position": n, "removed": False}
        for n, sid in enumerate(students, start=1)
    ]
    session.execute(insert(_ENTRIES), rows)
    details = {
        "kind": "t33",
        "course": bench_data.COURSE,
        "module": bench_data.MODULE,
        "term": term,
        "students": size,
        "reporter": bench_data.REPORTER,
        "examiner": bench_data.EXAMINER,
    }
    audit.record(
        session, actor=bench_data.REPORTER, action="list.create", listnr=listnr, details=details
    )
    target = final_state(term, rng)
    ids = session.execute(
        select(_ENTRIES.c.id).where(_ENTRIES.c.list_id == result_list.id)
    ).scalars()
    day = _term_date(term)
    changes = [
        {
            "entry_id": eid,
            "g": GRADES[(eid + listnr) % 4],
            "d": day,
            "p": Decimal(10 + eid % 30) + Decimal("0.5"),
        }
        for eid in ids
        if rng.random() >= 0.05
    ]
    session.execute(_RESULTS, changes)
    result_list.version = 2
    audit.record(
        session,
        actor=bench_data.REPORTER,
        action="list.results",
        listnr=listnr,
        details={"version": 2, "changes": len(changes)},
    )
    if target == ListState.DRAFT:
        return
    state.transition(result_list, ListState.SUBMITTED, role=Role.REPORTER)
    result_list.submitted_at = utcnow()
    audit.record(session, actor=bench_data.REPORTER, action="list.submit", listnr=listnr)
    state.transition(result_list, ListState.AWAITING_APPROVAL, role=Role.SYSTEM)
    audit.record(
        session,
        actor=bench_data.REPORTER,
        action="approval.requested",
        listnr=listnr,
        details={"version": 2, "examiner": bench_data.EXAMINER},
    )
    if target == ListState.AWAITING_APPROVAL:
        return
    state.transition(result_list, ListState.APPROVED, role=Role.EXAMINER)
    session.flush()
    stored = stored_content(session, listnr)
    assert stored is not None
    result_list.approved_at = utcnow()
    result_list.approved_by = bench_data.EXAMINER
    result_list.content_hash = stored.content_hash
    audit.record(
        session,
        actor=bench_data.EXAMINER,
        action="list.approve",
        listnr=listnr,
        details={"via": "sms", "version": 2, "examiner": bench_data.EXAMINER},
    )
    if target == ListState.APPROVED:
        return
    state.transition(result_list, ListState.REGISTERED, role=Role.OFFICE)
    result_list.registered_at = utcnow()
    audit.record(
        session,
        actor="bench_office",
        action="list.registered",
        listnr=listnr,
        details={"mailed": size},
    )


def grow(
    app: App,
    count: int,
    *,
    seed: int,
    term_list: tuple[str, ...] = TERMS,
    echo: Callable[[str], object] = print,
) -> int:
    """Add ``count`` lists, spread over ``term_list`` oldest first; returns the last listnr."""
    rng = random.Random(seed)
    with app.db.read_session() as session:
        reg = registry_of(session)
        last = session.execute(select(func.max(ResultList.listnr))).scalar_one_or_none()
    listnr = max(FIRST_LISTNR - 1, last or 0)
    done = 0
    while done < count:
        with app.db.session() as session:
            for _ in range(min(PER_TRANSACTION, count - done)):
                listnr += 1
                term = term_list[done * len(term_list) // count]
                _one_list(session, reg, listnr, term, rng)
                done += 1
        if done % 2000 == 0 or done == count:
            echo(f"    {done}/{count} lists")
    return listnr


def build_template(
    root: Path, lists: int, *, seed: int = 2026, echo: Callable[[str], object] = print
) -> Path:
    """A workspace under ``root`` with the bench registry and ``lists`` history lists; reused
    when ``root`` already holds one of the same size and seed."""
    wanted = {"lists": lists, "seed": seed, "students": STUDENTS}
    try:
        if json.loads((root / MANIFEST).read_text(encoding="utf-8")) == wanted:
            return root / "template"
    except (OSError, ValueError):
        pass
    if root.exists():
        shutil.rmtree(root)
    template = root / "template"
    create_workspace(template)
    app = App.open(template, actor="bench", admin=True)
    try:
        plan = bench_data.Plan(0, 100, 0, 100, STUDENTS, 0, seed=seed)
        bench_data.seed_registry(app, plan)
        grow(app, lists, seed=seed, echo=echo)
    finally:
        app.close()
    (root / MANIFEST).write_text(json.dumps(wanted), encoding="utf-8")
    return template


def copy_workspace(template: Path, target: Path) -> Path:
    """A fresh copy of ``template`` (database, keys, settings) at ``target``."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target)
    return target
