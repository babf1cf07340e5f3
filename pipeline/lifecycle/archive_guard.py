"""The guard before a list's records are acted on: its content must be what was approved.

Owns :func:`approval_event` (the newest ``list.approve`` event of a list, with the content
hash it recorded) and :func:`require_approved_content`: ``registered`` (the student mails),
``signed`` (the archive step) call it before they act. It recomputes the list's content hash
from the database (:func:`pipeline.lists.digest.stored_content`) and compares it with the
approval event of the audit chain; on a mismatch it records ``list.tampered``, queues a mail
to the administrators (``[contacts] maintainers``) and refuses with :class:`TamperedRecords`.
The comparison row by row is :mod:`pipeline.lifecycle.verify`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App
from pipeline.errors import ResultatError
from pipeline.lists.digest import stored_content
from pipeline.messages import outbox
from pipeline.models import AuditEvent


class TamperedRecords(ResultatError):
    """A list's stored content differs from what its examiner approved."""

    exit_code = 4


@dataclass(frozen=True)
class ApprovalRecord:
    event_id: int
    content_hash: str | None
    details: dict[str, Any]


def approval_event(session: Session, listnr: int) -> ApprovalRecord | None:
    """The newest ``list.approve`` event of ``listnr`` (None: never approved)."""
    row = session.execute(
        select(AuditEvent.id, AuditEvent.details)
        .where(AuditEvent.listnr == listnr, AuditEvent.action == "list.approve")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    details = row[1] if isinstance(row[1], dict) else {}
    chash = details.get("content_hash")
    return ApprovalRecord(int(row[0]), str(chash) if chash else None, details)


def require_approved_content(app: App, listnr: int, *, step: str) -> str:
    """The approved content hash of ``listnr``, after checking the stored rows still hash to
    it. Refuses (after committing the audit event and the administrators' mail) otherwise."""
    with app.db.session() as session:
        stored = stored_content(session, listnr)
        approved = approval_event(session, listnr)
        if stored is None or approved is None:
            return ""  # not a list, or never approved: the caller's own checks refuse it
        if approved.content_hash == stored.content_hash:
            return stored.content_hash
        details = {
            "step": step,
            "approval_event": approved.event_id,
            "approved_hash": approved.content_hash,
            "stored_hash": stored.content_hash,
        }
        audit.record(
            session, actor=app.actor, action="list.tampered", listnr=listnr, details=details
        )
        outbox.queue_email(
            session,
            kind="tampered",
            to=app.settings.contacts.maintainers,
            language=app.settings.language,
            context={"listnr": listnr, "step": step, **details},
            listnr=listnr,
            dedupe_key=f"tampered:{listnr}:{step}:{stored.content_hash}",
            workspace=app.root,
        )
    raise TamperedRecords.text(
        "lifecycle.tampered", listnr=listnr, step=step, event=approved.event_id
    )
