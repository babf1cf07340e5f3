"""The settings workbook (``installningar.xlsx``): a person's own settings without a shell.

Owns writing the form filled with the person's current settings (language, copies by mail,
reminders, the address for notices) and applying a dropped one to that person's own settings
through :func:`pipeline.registry.personal.change` (audited there). Administration mode is
not a setting of the form and never passed: a form whose metadata carries anything beyond
the form's own entries is refused, and so is a form of another person than the folder's
owner. After a change the form in the outbox is written again with the new values.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from pipeline.app import App
from pipeline.errors import ResultatError
from pipeline.forms import book
from pipeline.intake.dropped import DroppedFile, Kind
from pipeline.intake.outcomes import Accepted, Refused
from pipeline.intake.report import Problem
from pipeline.people import directory, folders
from pipeline.people.directory import Person
from pipeline.registry import personal
from pipeline.texts import t
from pipeline.xlsx.reader import ResultWorkbook

log = logging.getLogger("resultat.forms")

PURPOSE = "settings"
FIELDS = ("language", "mail_copies", "reminders", "notify_email")


def write(app: App, person: Person, target: Path) -> Path:
    """``person``'s settings form, filled with their settings as they are now."""
    shape = book.look(app.root)
    entry = shape["settings"]
    language = person.language
    form = book.new_form(
        app,
        "settings",
        person=person.username,
        person_label=f"{person.name} ({person.username})",
        language=language,
        purpose=PURPOSE,
    )
    yes, no = (book.label(shape["yes_no"][k], language) for k in ("yes", "no"))
    languages = {k: book.label(v, language) for k, v in entry["languages"].items()}
    values: dict[str, Any] = {
        "language": languages[person.language],
        "mail_copies": yes if person.mail_copies else no,
        "reminders": yes if person.reminders else no,
        "notify_email": person.notify_email or "",
    }
    form.sheet.column_dimensions["A"].width = 42
    form.sheet.column_dimensions["B"].width = 36
    for name, cell in entry["cells"].items():
        ref = cell["ref"]
        form.sheet[f"A{ref[1:]}"] = book.label(cell, language)
        form.input_cell(ref, values[name] or None, text=name == "notify_email")
        form.meta[f"{name}_cell"] = ref
    form.dropdown(entry["cells"]["language"]["ref"], list(languages.values()))
    form.dropdown(entry["cells"]["mail_copies"]["ref"], [yes, no])
    form.dropdown(entry["cells"]["reminders"]["ref"], [yes, no])
    return book.save(app, form, target)


def read(app: App, wb: ResultWorkbook) -> tuple[dict[str, Any], list[Problem]]:
    """The settings the form asks for (a blank address: the directory's), and its problems."""
    schema = book.rules("settings", app.root)
    languages = book.look(app.root)["settings"]["languages"]
    wanted: dict[str, Any] = {}
    problems: list[Problem] = []
    extra = sorted(set(wb.meta) - set(schema["meta_keys"]))
    if extra:
        problems.append(Problem("form-meta-unknown", {"key": ", ".join(extra)}, sheet="_resultat"))
        return wanted, problems
    for name in FIELDS:
        rule = schema["fields"][name]
        value = wb.cells.get(f"{name}_cell")
        if rule["type"] == "email":
            address = book.text(value) or ""
            if address and not re.fullmatch(rule["pattern"], address):
                problems.append(book.located(wb, rule["slug"], name, None, value=value))
            wanted[name] = address
            continue
        if value is None:
            continue
        parsed: Any = (
            book.choice(languages, value)
            if rule["type"] == "language"
            else book.yes_no(value, app.root)
        )
        if parsed is None:
            problems.append(book.located(wb, rule["slug"], name, None, value=value))
        else:
            wanted[name] = parsed
    return wanted, problems


def _changes(
    app: App, before: Person, after: personal.PersonalSettings, language: str
) -> list[str]:
    shape = book.look(app.root)
    yes, no = (book.label(shape["yes_no"][k], language) for k in ("yes", "no"))
    shown: list[str] = []
    for name in FIELDS:
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        if isinstance(new, bool):
            value = yes if new else no
        elif name == "language":
            value = book.label(shape["settings"]["languages"][new], language)
        else:
            value = new or t("forms.setting.directory-address", language, app.root)
        shown.append(t(f"forms.setting.{name}", language, app.root, value=value))
    return shown


def settings_form(ctx: DroppedFile) -> Accepted | Refused | None:
    """Apply a dropped settings form to its person's own settings; ``None`` for other files."""
    wb = ctx.workbook
    if ctx.kind is not Kind.SETTINGS_FORM or wb is None:
        return None
    app = ctx.app
    person = book.signed_person(app, wb)
    with app.db.read_session() as session:
        named = directory.person(session, person) if person else None
        owner = directory.person(session, ctx.owner) if ctx.owner else None
    language = book.reader_language(wb, owner, named)
    result = book.FormResult(language)
    if named is None:
        result.problems.append(
            Problem(
                "form-signature", {"file": book.look(app.root)["settings"]["file"]}, sheet=wb.sheet
            )
        )
        return book.conclude(ctx, wb, result, Kind.SETTINGS_FORM)
    if ctx.owner is not None and ctx.owner != named.username:
        result.problems.append(
            Problem(
                "form-other-person", {"person": named.username, "owner": ctx.owner}, sheet=wb.sheet
            )
        )
        return book.conclude(ctx, wb, result, Kind.SETTINGS_FORM)
    ctx.named = named.username
    wanted, problems = read(app, wb)
    result.problems.extend(problems)
    if not problems:
        acting = app if app.username == named.username else app.acting(named.username)
        try:
            # Never administration mode: a person changes their own settings only.
            after = personal.change(acting, named.username, admin=False, **wanted)
        except ResultatError as exc:
            result.problems.append(
                book.located(wb, "form-not-done", None, None, detail=exc.render(language, app.root))
            )
        else:
            changed = _changes(app, named, after, after.language)
            result.language = after.language
            key = "settings-changed" if changed else "settings-unchanged"
            result.done.append(
                book.done_line(app, None, None, key, after.language, changes=", ".join(changed))
            )
            with app.db.read_session() as session:
                fresh = directory.person(session, named.username)
            if fresh is not None:
                target = (
                    folders.outbox_of(app.settings, fresh.username)
                    / book.look(app.root)["settings"]["file"]
                )
                write(app, fresh, target)
    return book.conclude(ctx, wb, result, Kind.SETTINGS_FORM)
