"""Handing a person a file: into their outbox folder, and by mail unless they opted out.

Owns :func:`deliver`: the files are copied (atomically) into ``outbox/<username>/`` — or the
student office's ``outbox/utbildningsstod/`` — and a mail with them attached is queued in the
caller's transaction (sent exactly once by the dispatcher). Nothing for one person is put where
another reads. What the files are, and their mail's words, are the caller's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from pipeline import files
from pipeline.app import App
from pipeline.messages import queue
from pipeline.people import directory, folders
from pipeline.people.directory import OFFICE

log = logging.getLogger("resultat.people")


@dataclass(frozen=True)
class Delivery:
    """What a person is handed: files (a source and the name it gets in their outbox), and
    the mail that goes with them (template ``templates/mail/<mail_kind>.<lang>.txt``)."""

    mail_kind: str
    context: dict[str, Any] = field(default_factory=dict)
    files: Sequence[tuple[Path, str]] = ()
    listnr: int | None = None
    #: Once per key: a delivery repeated after a crash queues no second mail.
    dedupe_key: str | None = None
    #: The answer to a mail the person sent (drop by mail): mailed as a reply in its
    #: thread, to the address it came from, even to one who opted out of copies.
    reply: queue.Reply | None = None


@dataclass(frozen=True)
class Delivered:
    """Where the files went and whether a mail was queued (to which address)."""

    to: str
    paths: list[Path]
    mailed_to: str | None


def deliver(session: Session, app: App, to: str | None, delivery: Delivery) -> Delivered | None:
    """Give ``to`` (a username, or :data:`~pipeline.people.directory.OFFICE`) ``delivery``.

    ``None`` when nobody is named or the name is not in the staff directory: nothing is
    written then (the administrators' copy the caller keeps is all there is)."""
    if not to:
        return None
    if to == OFFICE:
        address: str | None = app.settings.contacts.student_office
        language = app.settings.language
    else:
        found = directory.person(session, to)
        if found is None:
            log.warning("no outbox for %s: not in the staff directory", to)
            return None
        address = found.mail_to if found.mail_copies or delivery.reply else None
        if delivery.reply is not None and delivery.reply.to:
            address = delivery.reply.to
        language = found.language
    paths = place(app, to, delivery.files)
    if address:
        queue.queue_email(
            session,
            kind=delivery.mail_kind,
            to=address,
            language=language,
            context={**delivery.context, "folder": f"outbox/{to}/"},
            attachments=paths,
            listnr=delivery.listnr,
            dedupe_key=delivery.dedupe_key and f"{delivery.dedupe_key}:{to}",
            workspace=app.root,
            reply=delivery.reply,
        )
    return Delivered(to, paths, address)


def place(app: App, to: str, items: Sequence[tuple[Path, str]]) -> list[Path]:
    """Copy ``items`` (a source and its name there) into ``to``'s outbox folder, no mail
    (for files whose mail is sent on its own, such as the examiner's review mail)."""
    return place_bytes(app, to, [(source.read_bytes(), name) for source, name in items])


def place_bytes(app: App, to: str, items: Sequence[tuple[bytes, str]]) -> list[Path]:
    """As :func:`place`, for files whose bytes the caller holds (just written elsewhere):
    the same files, without reading them back."""
    target = folders.outbox_of(app.settings, to)
    folders.make(app.settings, [to] if to != OFFICE else [])
    return [files.write_bytes(target / name, data) for data, name in items]
