"""Strays in an inbox — a dot-file, a symlink — answered and set aside, never taken.

Owns what happens to a drop :func:`pipeline.intake.claim.is_stray` names: it is moved (the
link itself, never what it points to: ``rename`` works on the name) into
``inbox/.set-aside/`` under a claim id, kept there, and gets a receipt like any refused
file — in the folder's person's outbox (and by mail unless they opted out), and always the
administrators' copy under the receipts folder — plus its record
(:class:`~pipeline.models.InboxFile`, kind ``set-aside``) and an audit event. Nothing in it is
read: a symlink's target is read as a name only, a dot-file's bytes only hashed (opened with
``O_NOFOLLOW``). Editors' lock and temporary files never get here (they are ignored).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline import audit
from pipeline.app import App
from pipeline.intake.claim import OWNER_MARK, display_name, move_aside, owner_of
from pipeline.intake.receipts import ReceiptData, write_receipt
from pipeline.intake.report import Problem
from pipeline.models import FileOutcome, InboxFile, utcnow
from pipeline.people import directory
from pipeline.people.delivery import Delivery, deliver
from pipeline.shown import shown
from pipeline.texts import t

log = logging.getLogger("resultat.inbox")

KIND: Final = "set-aside"


@dataclass
class SetAside:
    """A stray after it was moved: where it is kept, its receipt and why."""

    original_name: str
    kept_at: Path
    receipt: Path
    problem: Problem


def set_aside(app: App, inbox: Path, path: Path) -> SetAside | None:
    """Move the stray ``path`` aside and answer it; ``None`` when it is gone (another worker
    took it) or is neither a regular file nor a symlink (left alone)."""
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        return None
    if not (stat.S_ISLNK(before.st_mode) or stat.S_ISREG(before.st_mode)):
        return None
    owner = owner_of(inbox, path)
    moved = move_aside(inbox, path)  # the name moves; a link's target is never touched
    if moved is None:
        return None
    target, claim_id = moved
    name = display_name(path.name)
    problem, sha = _inspect(target)
    with contextlib.suppress(OSError):
        if not target.is_symlink() and os.stat(target, follow_symlinks=False).st_nlink == 1:
            os.chmod(target, 0o640, follow_symlinks=False)
    kept = _relative(app, target)
    with app.db.session() as session:
        person = directory.person(session, owner) if owner else None
        language = person.language if person and person.language in ("sv", "en") else None
        data = ReceiptData(
            status="rejected",
            file_name=name,
            received=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
            kept_at=kept,
            language=language or app.settings.language,
            problems=[problem],
        )
        no_list = t("intake.no-list", app.settings.language, app.root)
        receipt = write_receipt(app.settings, f"{claim_id.split(OWNER_MARK, 1)[0]}_{no_list}", data)
        session.add(
            InboxFile(
                sha256=sha,
                original_name=name[:500],
                stored_path=kept,
                kind=KIND,
                listnr=None,
                outcome=FileOutcome.REJECTED,
                receipt_path=_relative(app, receipt),
                finished_at=utcnow(),
            )
        )
        audit.record(
            session,
            actor=owner or app.actor,
            action="inbox.set-aside",
            details={"file": shown(name), "why": problem.slug, "kept_at": shown(kept)},
        )
        deliver(
            session,
            app,
            owner,
            Delivery(
                "receipt_copy",
                {
                    "file_name": shown(name),
                    "listnr": None,
                    "receipt": receipt.read_text(encoding="utf-8"),
                },
                files=[(receipt, receipt.name)],
                listnr=None,
                dedupe_key=f"receipt:{receipt.name}",
            ),
        )
    log.warning("%s set aside (%s): %s", shown(name), problem.slug, shown(kept))
    return SetAside(name, target, receipt, problem)


def _inspect(target: Path) -> tuple[Problem, str]:
    """Why ``target`` was set aside, and the SHA-256 its record keeps: of the link's target
    (as a name) for a symlink, of the bytes for a dot-file (never through a link)."""
    if target.is_symlink():
        pointed = os.readlink(target)
        of_link = hashlib.sha256(b"symlink:" + os.fsencode(pointed)).hexdigest()
        return Problem("symlink", {"target": shown(display_name(pointed))}), of_link
    digest = hashlib.sha256()
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return Problem("hidden-file"), digest.hexdigest()
    with os.fdopen(fd, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return Problem("hidden-file"), digest.hexdigest()


def _relative(app: App, path: Path) -> str:
    try:
        return display_name(str(path.relative_to(app.root)))
    except ValueError:
        return display_name(str(path))
