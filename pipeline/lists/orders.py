"""A list's workbook handed to a person: on creation, on "open list N", after more students.

Owns writing the current workbook (:func:`pipeline.xlsx.workbook.issue`) and delivering it to
the person's outbox folder and mail (:mod:`pipeline.people.delivery`), and opening a list by
its number — any member of staff may, as in the old portal, and it is audited
(``list.opened``). Creating lists and adding students are :mod:`pipeline.lists.create`'s and
:mod:`pipeline.lists.students`'.
"""

from __future__ import annotations

from pipeline import audit
from pipeline.app import App
from pipeline.lists.query import get_list_head
from pipeline.people import roles
from pipeline.people.delivery import Delivery, deliver
from pipeline.xlsx import workbook
from pipeline.xlsx.workbook import IssuedWorkbook


def deliver_workbook(app: App, listnr: int, to: str, *, reason: str) -> IssuedWorkbook:
    """Write ``listnr``'s current workbook and give it to ``to`` (``reason``: "created",
    "opened", "students-added": what the mail says)."""
    issued = workbook.issue(app, listnr)
    with app.db.session() as session:
        result_list = get_list_head(session, listnr)
        deliver(
            session,
            app,
            to,
            Delivery(
                "workbook_issued",
                {
                    "listnr": listnr,
                    "course_code": result_list.course.code,
                    "module_code": result_list.module.code
                    if result_list.module
                    else result_list.course.code,
                    "term": result_list.term,
                    "version": result_list.version,
                    "rows": issued.rows,
                    "reason": reason,
                },
                files=[(issued.path, issued.path.name)],
                listnr=listnr,
            ),
        )
    return issued


def open_list(app: App, listnr: int) -> IssuedWorkbook:
    """The current workbook of list ``listnr`` for the acting person (audited)."""
    with app.db.session() as session:
        roles.may_open(session, app.username, admin=app.admin)
        get_list_head(session, listnr)
        audit.record(
            session,
            actor=app.actor,
            action="list.opened",
            listnr=listnr,
            admin=app.admin,
            details={"by": app.username},
        )
    return deliver_workbook(app, listnr, app.username, reason="opened")
