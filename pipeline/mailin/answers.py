"""What drop by mail sends on its own: short answers, the "in your name" mail, the digest.

Owns the one short answer a directory sender gets when a mail cannot be taken as a drop (no
usable attachment, too large, too many attachments, a duplicate, an approval code by mail),
always as a reply in the mail's thread and in the person's language; the mail to a person
whose address a refused mail claimed (to their directory address, never to the From); and the
administrators' daily digest of refused mails. Nothing here answers an unknown sender.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.domain import deadlines
from pipeline.mailin.letter import one_line
from pipeline.mailin.threads import reply_to
from pipeline.messages import queue
from pipeline.models import MailinMail, Message
from pipeline.people.directory import Person
from pipeline.texts import t

#: Statuses of a refused mail (moved to ``resultat/refused``, named in the digest).
UNKNOWN_SENDER: Final = "unknown-sender"
NOT_VOUCHED: Final = "not-vouched"
REFUSED: Final = frozenset({UNKNOWN_SENDER, NOT_VOUCHED})


def answer(
    session: Session, app: App, mail: MailinMail, person: Person, key: str, **params: Any
) -> None:
    """The short answer ``mailin.answer.<key>`` to ``person``'s ``mail``, as a reply."""
    text = t(f"mailin.answer.{key}", person.language, app.root, **params)
    answer_text(session, app, mail, person, text, key)


def answer_text(
    session: Session, app: App, mail: MailinMail, person: Person, text: str, key: str
) -> None:
    """``text`` (already in ``person``'s language) as the reply to ``mail``."""
    queue.queue_email(
        session,
        kind="mailin_answer",
        to=mail.sender,
        language=person.language,
        context={"text": text},
        dedupe_key=f"mailin:{mail.id}:{key}"[:200],
        workspace=app.root,
        reply=reply_to(mail),
    )


def in_your_name(session: Session, app: App, mail: MailinMail, person: Person) -> None:
    """Tell ``person`` (at their directory address) that a mail claimed to be theirs."""
    queue.queue_email(
        session,
        kind="mailin_in_your_name",
        to=person.email,
        language=person.language,
        context={
            "sender": one_line(mail.sender),
            "subject": one_line(mail.subject),
            "received": _local(mail.received_at),
            "maintainers": app.settings.contacts.maintainers,
        },
        dedupe_key=f"mailin-in-your-name:{mail.id}",
        workspace=app.root,
    )


def _local(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")


DIGEST: Final = "mailin_refused_digest"
_DIGEST_KEY: Final = "mailin-digest:"


def _day_start(day: dt.date) -> dt.datetime:
    """The start of a Swedish day, as the naive UTC the database holds."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=deadlines.SWEDISH_TIME)
    return start.astimezone(dt.UTC).replace(tzinfo=None)


def send_digest(app: App, *, today: dt.date | None = None) -> int:
    """Queue the administrators' digest of the mails refused since the last digest and
    before ``today`` (a Swedish date; default today): at most one a day, each refused mail in
    one digest. Returns how many mails it names."""
    day = today or deadlines.swedish_date()
    until = _day_start(day)
    with app.db.session() as session:
        last = session.execute(
            select(Message.dedupe_key)
            .where(Message.kind == DIGEST)
            .order_by(Message.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        since = _day_start(dt.date.fromisoformat(last[len(_DIGEST_KEY) :])) if last else None
        if since is not None and since >= until:
            return 0  # today's digest is queued already
        wanted = select(MailinMail).where(
            MailinMail.status.in_(sorted(REFUSED)), MailinMail.received_at < until
        )
        if since is not None:
            wanted = wanted.where(MailinMail.received_at >= since)
        rows = list(session.execute(wanted.order_by(MailinMail.id).limit(500)).scalars())
        if not rows:
            return 0
        language = app.settings.language
        why = {s: t(f"mailin.why.{s}", language, app.root) for s in REFUSED}
        queue.queue_email(
            session,
            kind=DIGEST,
            to=app.settings.contacts.maintainers,
            language=language,
            context={
                "count": len(rows),
                "day": day.isoformat(),
                "folder": app.settings.mailin.refused_folder,
                "authserv": app.settings.mailin.require_auth or "—",
                "mails": [
                    {
                        "received": _local(row.received_at),
                        "why": why[row.status],
                        "sender": one_line(row.sender, 100),
                        "subject": one_line(row.subject, 100),
                    }
                    for row in rows
                ],
            },
            dedupe_key=f"{_DIGEST_KEY}{day.isoformat()}",
            workspace=app.root,
        )
    return len(rows)
