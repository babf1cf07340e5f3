"""Putting each person's forms in their outbox folder (see :mod:`pipeline.forms`).

Owns which forms each outbox holds: the order and settings workbooks in every person's, the
confirmation workbook in the student office's. A form that is there is left alone (the person
may be filling it in); one that is missing is written again. Writing a form is its own
module's."""

from __future__ import annotations

from pathlib import Path

from pipeline.app import App
from pipeline.forms import book, confirmation, order, settings_form
from pipeline.people import folders
from pipeline.people.directory import OFFICE, Person


def stock_outboxes(app: App, people: list[Person]) -> list[Path]:
    """Write the forms missing from each person's and the office's outbox; returns them."""
    shape = book.look(app.root)
    written: list[Path] = []
    for person in people:
        if not folders.is_owner_name(person.username):
            continue
        outbox = folders.outbox_of(app.settings, person.username)
        for name, writer in (("order", order.write), ("settings", settings_form.write)):
            target = outbox / shape[name]["file"]
            if not target.exists():
                written.append(writer(app, person, target))
    target = folders.outbox_of(app.settings, OFFICE) / shape["confirmation"]["file"]
    if not target.exists():
        written.append(confirmation.write(app, target, language=app.settings.language))
    return written
