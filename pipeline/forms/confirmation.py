"""The student office's confirmation workbook (``bekraftelse.xlsx``): "registered in LADOK"
for lists, without a shell.

Owns writing the form into ``outbox/utbildningsstod/`` and, for a dropped one, checking its
rows (a list number and the action) against ``schemas/forms/confirmation.yaml`` and calling
:func:`pipeline.lifecycle.after_approval.registered` for each with the dropper acting: the
office's folder, or an office member's own. The role check (:func:`pipeline.people.roles.
may_confirm`) is registered's; a list that is not approved is refused here, in the reader's
language. Mailing each student is registered's too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipeline.app import App
from pipeline.errors import ResultatError
from pipeline.forms import book
from pipeline.intake.dropped import DroppedFile, Kind
from pipeline.intake.outcomes import Accepted, Refused
from pipeline.intake.report import Problem
from pipeline.lifecycle import after_approval
from pipeline.models import ListState, ResultList
from pipeline.people import directory, roles
from pipeline.people.directory import OFFICE
from pipeline.texts import t
from pipeline.xlsx.reader import ResultWorkbook

log = logging.getLogger("resultat.forms")

PURPOSE = "confirmation"


def write(app: App, target: Path, *, language: str) -> Path:
    """An empty confirmation form for the office."""
    shape = book.look(app.root)["confirmation"]
    form = book.new_form(
        app,
        "confirmation",
        person=OFFICE,
        person_label=f"{t('forms.office', language, app.root)} ({OFFICE})",
        language=language,
        purpose=PURPOSE,
    )
    header = int(shape["header_row"])
    book.table(form, shape["columns"], header)
    last = header + int(shape["rows"])
    for number in range(header + 1, last + 1):
        for column in shape["columns"].values():
            form.input_cell(f"{column['letter']}{number}")
    action = shape["columns"]["action"]["letter"]
    form.dropdown(
        f"{action}{header + 1}:{action}{last}",
        [book.label(a, language) for a in shape["actions"].values()],
    )
    return book.save(app, form, target)


def state_problem(
    app: App,
    wb: ResultWorkbook | None,
    row: int | None,
    listnr: int,
    needed: ListState,
    language: str,
) -> Problem | None:
    """``None`` when list ``listnr`` is in ``needed``; else the problem saying its state."""
    with app.db.read_session() as session:
        found = session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one_or_none()
    params: dict[str, Any] = {"listnr": listnr}
    if found is None:
        slug = "form-list-unknown"
        params["value"] = listnr
    elif found == needed:
        return None
    else:
        slug = "form-list-state"
        params["state"] = t(f"intake.states.{ListState(found).value}", language, app.root)
        params["needed"] = t(f"forms.choice-of-state.{needed.value}", language, app.root)
    value = params.pop("value", None)
    if wb is None:
        return Problem(slug, params, value=value)
    return book.located(wb, slug, "listnr", row, value=value, **params)


def confirmation_form(ctx: DroppedFile) -> Accepted | Refused | None:
    """Mark each listed list registered in LADOK; ``None`` for any other file."""
    wb = ctx.workbook
    if ctx.kind is not Kind.CONFIRMATION_FORM or wb is None:
        return None
    app = ctx.app
    schema = book.rules("confirmation", app.root)
    actions = book.look(app.root)["confirmation"]["actions"]
    with app.db.read_session() as session:
        me = directory.person(session, app.username)
        language = me.language if me else app.settings.language
        result = book.FormResult(language)
        try:
            roles.may_confirm(session, app.username, admin=app.admin)
        except roles.NotPermitted as exc:
            result.problems.append(
                Problem("form-not-done", {"detail": exc.render(language, app.root)}, sheet=wb.sheet)
            )
    if result.problems:
        ctx.named = ctx.named or OFFICE
        return book.conclude(ctx, wb, result, Kind.CONFIRMATION_FORM)
    if book.signed_person(app, wb) != OFFICE:
        result.problems.append(
            Problem(
                "form-signature",
                {"file": book.look(app.root)["confirmation"]["file"]},
                sheet=wb.sheet,
            )
        )
        return book.conclude(ctx, wb, result, Kind.CONFIRMATION_FORM)
    ctx.named = ctx.named or OFFICE
    rows: list[tuple[int, int]] = []
    for number, row in wb.frame.iterrows():
        line = int(str(number))
        shown = book.text(row.get("listnr"))
        listnr = int(shown) if shown and shown.isdigit() else None
        if listnr is None:
            slug = "form-missing-value" if shown is None else schema["fields"]["listnr"]["slug"]
            result.problems.append(
                book.located(wb, slug, "listnr", line, value=row.get("listnr"), action="—")
            )
        if book.choice(actions, row.get("action")) is None:
            choices = ", ".join(book.label(a, language) for a in actions.values())
            raw = row.get("action")
            slug = "form-missing-value" if raw is None else schema["fields"]["action"]["slug"]
            result.problems.append(
                book.located(wb, slug, "action", line, value=raw, choices=choices, action="—")
            )
        elif listnr is not None:
            rows.append((line, listnr))
    if len(wb.frame) > int(schema["max_rows"]):
        result.problems.append(
            Problem(
                "form-too-many",
                {"rows": len(wb.frame), "limit": schema["max_rows"]},
                sheet=wb.sheet,
            )
        )
    if not rows and not result.problems:
        result.problems.append(Problem("form-empty", sheet=wb.sheet))
    if result.problems:
        return book.conclude(ctx, wb, result, Kind.CONFIRMATION_FORM)
    for line, listnr in rows:
        wrong = state_problem(app, wb, line, listnr, ListState.APPROVED, language)
        if wrong is not None:
            result.problems.append(wrong)
            continue
        try:
            mails = after_approval.registered(app, listnr)
        except ResultatError as exc:
            log.info("list %d not marked registered: %s", listnr, type(exc).__name__)
            result.problems.append(
                book.located(
                    wb, "form-not-done", "listnr", line, detail=exc.render(language, app.root)
                )
            )
            continue
        result.done.append(
            book.done_line(app, wb, line, "registered", language, listnr=listnr, mails=mails)
        )
        result.listnr = result.listnr or listnr
    return book.conclude(ctx, wb, result, Kind.CONFIRMATION_FORM)
