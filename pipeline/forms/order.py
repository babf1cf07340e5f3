"""The order workbook (``bestallning.xlsx``): a person orders lists without a shell.

One order a row: a new T33 list (course, module, term and students by exam date, by term
registration, by personnummer, any mix), a new T34 list (course, term), more students for
list N, or "open list N". Owns writing the form in its person's language, checking a dropped
one against ``schemas/forms/order.yaml`` — every problem at once, each located — and, when it
passes, carrying out each order with the form's person acting: creating lists
(:mod:`pipeline.lists.create`), adding students (:mod:`pipeline.lists.students`), opening a
list (:func:`pipeline.lists.orders.open_list`), each of which checks the person's role. The
new workbooks go to the person by :func:`pipeline.lists.orders.deliver_workbook`; the receipt
lists what was done and, for an order that was not, why (a refusal names who may).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.domain import personnummer
from pipeline.errors import ResultatError
from pipeline.forms import book
from pipeline.intake.dropped import DroppedFile, Kind
from pipeline.intake.outcomes import Accepted, Refused
from pipeline.intake.report import Problem
from pipeline.lists import create, orders
from pipeline.lists.students import StudentSources, add_students
from pipeline.models import Course, Module, ResultList
from pipeline.people import directory
from pipeline.people.directory import Person
from pipeline.xlsx.reader import ResultWorkbook

log = logging.getLogger("resultat.forms")

PURPOSE = "order"
FIELDS = ("course", "module", "term", "listnr", "exam_date", "registered", "students")


@dataclass(frozen=True)
class Order:
    """One checked row of the form."""

    row: int
    action: str
    course: str | None = None
    module: str | None = None
    term: str | None = None
    listnr: int | None = None
    sources: StudentSources = field(default_factory=StudentSources)


def write(app: App, person: Person, target: Path) -> Path:
    """An empty order form for ``person``, in their language."""
    shape = book.look(app.root)["order"]
    form = book.new_form(
        app,
        "order",
        person=person.username,
        person_label=f"{person.name} ({person.username})",
        language=person.language,
        purpose=PURPOSE,
    )
    header = int(shape["header_row"])
    book.table(form, shape["columns"], header)
    columns = shape["columns"]
    last = header + int(shape["rows"])
    for number in range(header + 1, last + 1):
        for name, column in columns.items():
            form.input_cell(f"{column['letter']}{number}", text=name in ("students", "module"))
    action = columns["action"]["letter"]
    form.dropdown(
        f"{action}{header + 1}:{action}{last}",
        [book.label(a, person.language) for a in shape["actions"].values()],
    )
    registered = columns["registered"]["letter"]
    form.dropdown(
        f"{registered}{header + 1}:{registered}{last}",
        [book.label(v, person.language) for v in book.look(app.root)["yes_no"].values()],
    )
    return book.save(app, form, target)


def _value(row: pd.Series, name: str) -> Any:
    value = row.get(name)
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def check(
    session: Session, app: App, wb: ResultWorkbook, language: str
) -> tuple[list[Order], list[Problem]]:
    """Every row of the form checked: the orders, and every problem found (all at once)."""
    shape = book.look(app.root)["order"]
    schema = book.rules("order", app.root)
    found: list[Order] = []
    problems: list[Problem] = []
    if len(wb.frame) > int(schema["max_orders"]):
        problems.append(
            Problem(
                "form-too-many",
                {"rows": len(wb.frame), "limit": schema["max_orders"]},
                sheet=wb.sheet,
            )
        )
        return found, problems
    for number, row in wb.frame.iterrows():
        order, wrong = _check_row(session, app, wb, int(str(number)), row, shape, schema, language)
        problems.extend(wrong)
        if order is not None and not wrong:
            found.append(order)
    if not found and not problems:
        problems.append(Problem("form-empty", sheet=wb.sheet))
    return found, problems


def _check_row(
    session: Session,
    app: App,
    wb: ResultWorkbook,
    number: int,
    row: pd.Series,
    shape: dict[str, Any],
    schema: dict[str, Any],
    language: str,
) -> tuple[Order | None, list[Problem]]:
    problems: list[Problem] = []
    raw_action = _value(row, "action")
    action = book.choice(shape["actions"], raw_action)
    choices = ", ".join(book.label(a, language) for a in shape["actions"].values())
    if action is None:
        slug = "form-missing-value" if raw_action is None else "form-action-unknown"
        problems.append(
            book.located(wb, slug, "action", number, value=raw_action, choices=choices, action="—")
        )
        return None, problems
    rule = schema["actions"][action]
    action_label = book.label(shape["actions"][action], language)
    values: dict[str, Any] = {}
    for name in FIELDS:
        value = _value(row, name)
        if value is None:
            if name in rule["needs"]:
                problems.append(
                    book.located(wb, "form-missing-value", name, number, action=action_label)
                )
            continue
        if name in rule["ignores"]:
            problems.append(
                book.located(wb, "form-not-used", name, number, value=value, action=action_label)
            )
            continue
        parsed, problem = _parse(app, wb, schema["fields"][name], schema, name, number, value)
        if problem is not None:
            problems.append(problem)
        else:
            values[name] = parsed
    sources = StudentSources(
        students=tuple(values.get("students", ())),
        exam_date=values.get("exam_date"),
        registered=bool(values.get("registered")),
    )
    if rule["sources"] and sources.empty and not problems:
        problems.append(book.located(wb, "form-no-students", "students", number))
    if not problems:
        problems.extend(_exists(session, wb, number, values))
    order = Order(
        number,
        action,
        course=values.get("course"),
        module=values.get("module"),
        term=values.get("term"),
        listnr=values.get("listnr"),
        sources=sources,
    )
    return order, problems


def _parse(
    app: App,
    wb: ResultWorkbook,
    rule: dict[str, Any],
    schema: dict[str, Any],
    name: str,
    number: int,
    value: Any,
) -> tuple[Any, Problem | None]:
    """A cell's value as its rule reads it, or the problem with it."""
    kind = rule.get("type", "text")
    slug = rule["slug"]
    parsed: Any = None
    if kind == "integer":
        shown = book.text(value)
        parsed = int(shown) if shown and shown.isdigit() else None
    elif kind == "date":
        parsed = book.as_date(value)
    elif kind == "yes_no":
        parsed = book.yes_no(value, app.root)
    elif kind == "personnummer_list":
        return _numbers(wb, schema, number, value)
    else:
        shown = book.text(value)
        pattern = rule.get("pattern")
        parsed = shown.upper() if name in ("course", "term") and shown else shown
        if pattern and (parsed is None or not re.fullmatch(pattern, parsed, re.IGNORECASE)):
            parsed = None
    if parsed is None:
        return None, book.located(wb, slug, name, number, value=value)
    return parsed, None


def _numbers(
    wb: ResultWorkbook, schema: dict[str, Any], number: int, value: Any
) -> tuple[Any, Problem | None]:
    """Personnummer in one cell, separated by white space or the schema's separators; the
    first bad one is the problem (its own slug: a number Excel made a number, a check digit)."""
    if not isinstance(value, str):
        parts: list[Any] = [value]
    else:
        parts = re.split(rf"[\s{re.escape(schema['separators'])}]+", value.strip())
    digits: list[str] = []
    for part in parts:
        if part in ("", None):
            continue
        try:
            digits.append(personnummer.normalize(part))
        except personnummer.PersonnummerError as exc:
            return None, book.located(wb, exc.slug, "students", number, value=part)
    return digits, None


def _exists(
    session: Session, wb: ResultWorkbook, number: int, values: dict[str, Any]
) -> list[Problem]:
    """The course, module and list a row names are in the registry."""
    problems: list[Problem] = []
    code = values.get("course")
    if code:
        course = session.execute(
            select(Course).where(func.upper(Course.code) == code)
        ).scalar_one_or_none()
        if course is None:
            problems.append(book.located(wb, "form-course-unknown", "course", number, value=code))
        elif values.get("module"):
            module = session.execute(
                select(Module.id).where(
                    Module.course_id == course.id, Module.code == values["module"]
                )
            ).scalar_one_or_none()
            if module is None:
                problems.append(
                    book.located(
                        wb,
                        "form-module-unknown",
                        "module",
                        number,
                        value=values["module"],
                        course=course.code,
                    )
                )
    listnr = values.get("listnr")
    if listnr is not None:
        found = session.execute(
            select(ResultList.id).where(ResultList.listnr == listnr)
        ).scalar_one_or_none()
        if found is None:
            problems.append(book.located(wb, "form-list-unknown", "listnr", number, value=listnr))
    return problems


def carry_out(
    app: App, wb: ResultWorkbook, order: Order, result: book.FormResult, sha: str = ""
) -> None:
    """One order with the form's person acting; what was done (or why not) into ``result``.

    ``sha`` (the form's SHA-256) with the row names the order, so a form taken again after a
    stop makes no list twice (:func:`pipeline.lists.create.made_for`).
    """
    language = result.language
    ref = f"{sha}:{order.row}" if sha else None
    folder = f"outbox/{app.username}/"
    try:
        if order.action == "new_t33":
            listnr = create.create_t33(
                app,
                course_code=order.course or "",
                module_code=order.module or "",
                term=order.term or "",
                sources=order.sources,
                order=ref,
            )
            orders.deliver_workbook(app, listnr, app.username, reason="created")
            line = book.done_line(
                app,
                wb,
                order.row,
                "created-t33",
                language,
                listnr=listnr,
                course=order.course,
                module=order.module,
                term=order.term,
                folder=folder,
            )
        elif order.action == "new_t34":
            listnr = create.create_t34(
                app, course_code=order.course or "", term=order.term or "", order=ref
            )
            orders.deliver_workbook(app, listnr, app.username, reason="created")
            line = book.done_line(
                app,
                wb,
                order.row,
                "created-t34",
                language,
                listnr=listnr,
                course=order.course,
                term=order.term,
                folder=folder,
            )
        elif order.action == "more_students":
            listnr = order.listnr or 0
            added = add_students(app, listnr, order.sources)
            orders.deliver_workbook(app, listnr, app.username, reason="students-added")
            line = book.done_line(
                app,
                wb,
                order.row,
                "students-added",
                language,
                listnr=listnr,
                added=added,
                folder=folder,
            )
        else:
            listnr = order.listnr or 0
            orders.open_list(app, listnr)
            line = book.done_line(
                app, wb, order.row, "opened", language, listnr=listnr, folder=folder
            )
    except ResultatError as exc:
        log.info("order on row %d of %s not done: %s", order.row, wb.path.name, type(exc).__name__)
        result.problems.append(
            book.located(
                wb, "form-not-done", "action", order.row, detail=exc.render(language, app.root)
            )
        )
        return
    result.done.append(line)
    result.listnr = result.listnr or listnr


def person_app(app: App, username: str, language: str) -> App:
    """The App the orders run with: ``username`` acting, messages in their language."""
    acting = app if app.username == username else app.acting(username)
    settings = dataclasses.replace(acting.settings, language=language)
    return dataclasses.replace(acting, settings=settings)


def order_form(ctx: DroppedFile) -> Accepted | Refused | None:
    """Check a dropped order form and carry out its orders; ``None`` for any other file."""
    wb = ctx.workbook
    if ctx.kind is not Kind.ORDER_FORM or wb is None:
        return None
    app = ctx.app
    person = book.signed_person(app, wb)
    with app.db.read_session() as session:
        named = directory.person(session, person) if person else None
        acting = ctx.owner or person
        me = directory.person(session, acting) if acting else None
        language = book.reader_language(wb, me, named)
        found, problems = check(session, app, wb, language) if named else ([], [])
    result = book.FormResult(language)
    if named is None:
        file_name = book.look(app.root)["order"]["file"]
        result.problems.append(Problem("form-signature", {"file": file_name}, sheet=wb.sheet))
        return book.conclude(ctx, wb, result, Kind.ORDER_FORM)
    ctx.named = named.username
    result.problems.extend(problems)
    if not problems:
        # The folder proves who is acting; through the shared inbox, the form's person.
        runner = person_app(app, ctx.owner or named.username, language)
        for order in found:
            carry_out(runner, wb, order, result, ctx.sha)
    return book.conclude(ctx, wb, result, Kind.ORDER_FORM)
