"""The stage for whose folder a file came from: ``inbox/<username>/`` makes it that person's.

Owns refusing a file in a folder that is nobody's (a name not in the staff directory), and,
with ``[inbox] check_owner``, one whose owner on disk is not the folder's person (their
``os_login``): a receipt to the folder's owner and a mail to the administrators. A file that
passes is the person's from here on: they are the acting user of its audit events and get its
answer. The student office's ``inbox/utbildningsstod/`` acts as the office member owning the
file when that can be told, else as the office.
"""

from __future__ import annotations

import logging
import os
import pwd

from pipeline.intake.dropped import DroppedFile, Kind, refuse
from pipeline.intake.outcomes import Refused
from pipeline.intake.report import Problem
from pipeline.mailin.threads import is_mail_claim
from pipeline.models import FileOutcome
from pipeline.people import directory
from pipeline.people.directory import OFFICE, Person
from pipeline.shown import shown

log = logging.getLogger("resultat.inbox")


def _login_of(path: os.PathLike[str]) -> str:
    uid = os.stat(path, follow_symlinks=False).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def folder(ctx: DroppedFile) -> Refused | None:
    """Tie a file in a person's folder to that person; ``None`` lets the stages go on."""
    owner = ctx.owner
    if owner is None:
        return None
    app = ctx.app
    with app.db.read_session() as session:
        person = directory.person(session, owner) if owner != OFFICE else None
        office = directory.office_members(session) if owner == OFFICE else []
        login = _login_of(ctx.claimed.path)
        by_login = directory.by_login(session, login)
    if owner != OFFICE and person is None:
        return refuse(ctx, Problem("folder-unknown", {"folder": owner}), Kind.UNKNOWN)
    expected: list[Person] = office if owner == OFFICE else [person] if person else []
    # An attachment of a mail is written by the daemon: the sender was checked instead.
    by_mail = is_mail_claim(ctx.claimed.claim_id)
    check_owner = app.settings.inbox_settings.check_owner and not by_mail
    if check_owner and login not in {p.login for p in expected}:
        log.warning(
            "%s in inbox/%s/ is owned by %s: refused",
            shown(ctx.claimed.original_name),
            owner,
            login,
        )
        refused = refuse(
            ctx, Problem("folder-not-owner", {"folder": owner, "login": login}), Kind.UNKNOWN
        )
        _tell_administrators(ctx, owner, login)
        return refused
    acting = owner
    if owner == OFFICE and by_login is not None and by_login.office:
        acting = by_login.username
    ctx.app = app.acting(acting)
    return None


def _tell_administrators(ctx: DroppedFile, folder_name: str, login: str) -> None:
    """A mail to the administrators: someone put a file in another person's folder."""
    # Lazy: the mail queue is needed only for this rare refusal.
    from pipeline.messages import queue

    app = ctx.app
    with app.db.session() as session:
        queue.queue_email(
            session,
            kind="admin_owner_mismatch",
            to=app.settings.contacts.maintainers,
            language=app.settings.language,
            context={
                "file_name": shown(ctx.claimed.original_name),
                "folder": f"inbox/{folder_name}/",
                "login": login,
                "kept_at": ctx.kept_at(FileOutcome.REJECTED),
            },
            dedupe_key=f"owner-mismatch:{ctx.claimed.claim_id}",
            workspace=app.root,
        )
