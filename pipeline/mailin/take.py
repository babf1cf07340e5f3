"""One mail from the mailbox, taken exactly once.

Owns deciding what a mail is and carrying it out so that a crash anywhere neither loses nor
doubles it. A mail is known by its UID (with the folder's UIDVALIDITY) and its Message-ID:

1. a :class:`~pipeline.models.MailinMail` row is committed first: with its final status and
   its answer queued in the same transaction (refused, duplicate, bad mail, an approval code),
   or as ``taken`` (each attachment's claim id follows from the row, the same in every pass);
2. each attachment of a taken mail is claimed into ``inbox/.processing/`` under its claim id
   (locked before it is visible) and goes through the intake stages as a file dropped in the
   sender's ``inbox/<username>/`` would; its receipt is a reply in the mail's thread;
3. once every attachment is concluded the row becomes ``done``; only then is the mail moved
   (``resultat/done`` or ``resultat/refused``) or flagged.

A pass after a crash finds the row: a finished one is only put away; a ``taken`` one is
fetched again and only its attachments not yet concluded are taken (a claimed file left in
the processing area is finished as the inbox's recovery would). The same mail arriving twice
(another UID, the same Message-ID) is answered as a duplicate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline import files
from pipeline.app import App
from pipeline.intake.claim import PROCESSED, PROCESSING, REJECTED, SEPARATOR, Claimed, try_lock
from pipeline.intake.inbox import FileResult, Inbox
from pipeline.mailin import answers, by_mail
from pipeline.mailin.letter import Letter
from pipeline.mailin.mailbox import Mailbox
from pipeline.mailin.threads import claim_id
from pipeline.models import FileOutcome, MailinMail, utcnow
from pipeline.people import directory
from pipeline.people.directory import Person

log = logging.getLogger("resultat.mailin")

TAKEN: Final = "taken"
DONE: Final = "done"
DUPLICATE: Final = "duplicate"
TOO_LARGE: Final = "too-large"
TOO_MANY: Final = "too-many"
NO_ATTACHMENT: Final = "no-attachment"
APPROVAL: Final = "approval"
#: A machine's mail (out-of-office, bounce) that is no drop: put away unanswered.
AUTOMATIC: Final = "automatic"
#: Written when a crash test's pause begins (``[mailin] pause_at``).
PAUSE_MARK: Final = "mailin-paused"


@dataclass
class MailResult:
    """What came of one mail: its status, whose it was, and each attachment's result."""

    uid: str
    status: str
    username: str | None = None
    files: list[FileResult] = field(default_factory=list)
    #: Finished in an earlier pass (only put away now).
    earlier: bool = False


class Taker:
    """Takes mails from one logged-in mailbox into one workspace's inbox."""

    def __init__(self, app: App, box: Mailbox, inbox: Inbox) -> None:
        self.app = app
        self.box = box
        self.inbox = inbox
        self.settings = app.settings.mailin

    def take(self, head: Letter) -> MailResult | None:
        """Take the mail whose headers are ``head``; ``None`` when it is gone or another
        reader has it."""
        key = self.box.key(head.uid)
        with self.app.db.read_session() as session:
            row = session.execute(
                select(MailinMail.id, MailinMail.status, MailinMail.sender).where(
                    MailinMail.uid_key == key
                )
            ).one_or_none()
            username = _username(session, row.sender) if row is not None else None
        if row is not None and row.status != TAKEN:
            self.box.put_away(head.uid, refused=row.status in answers.REFUSED)
            return MailResult(head.uid, row.status, username, earlier=True)
        letter = head if head.size > self.settings.max_message_bytes else self.box.fetch(head.uid)
        if letter is None:
            return None
        self._pause("fetched")
        if row is None:
            decided = self._decide(key, letter)
            if decided is None:
                return None
            mail_id, status, username = decided
        else:
            mail_id, status = row.id, row.status
        result = MailResult(head.uid, status, username)
        if status == TAKEN:
            result.files = self._drop(mail_id, letter)
            if any(f.outcome == FileOutcome.PROCESSING for f in result.files):
                return result  # broken processing: the next pass finishes it
            with self.app.db.session() as session:
                mail = session.get(MailinMail, mail_id)
                assert mail is not None
                mail.status = DONE
            result.status = DONE
        self.box.put_away(head.uid, refused=result.status in answers.REFUSED)
        log.info("mail %s from %s: %s", head.uid, username or "an unknown sender", result.status)
        return result

    # -- deciding -------------------------------------------------------------------------

    def _decide(self, key: str, letter: Letter) -> tuple[int, str, str | None] | None:
        """Commit the mail's row (with its answer, or as taken); ``None`` if another reader
        recorded it first."""
        try:
            with self.app.db.session() as session:
                person = directory.by_email(session, letter.sender) if letter.sender else None
                mail = MailinMail(
                    uid_key=key,
                    message_id=letter.message_id,
                    sender=letter.sender or "",
                    subject=letter.subject[:500],
                    references=letter.references,
                    status=TAKEN,
                    received_at=utcnow(),
                )
                session.add(mail)
                session.flush()
                mail.status = self._conclude(session, mail, letter, person)
                return mail.id, mail.status, person.username if person else None
        except IntegrityError:
            return None

    def _conclude(
        self, session: Session, mail: MailinMail, letter: Letter, person: Person | None
    ) -> str:
        app, limits = self.app, self.settings
        if person is None:
            return answers.UNKNOWN_SENDER  # never answered: no backscatter to forged senders
        if limits.require_auth and not letter.vouched(limits.require_auth):
            answers.in_your_name(session, app, mail, person)
            return answers.NOT_VOUCHED
        if letter.automatic and (not letter.attachments or letter.size > limits.max_message_bytes):
            return AUTOMATIC
        earlier = self._same_mail(session, mail)
        if earlier is not None:
            answers.answer(session, app, mail, person, DUPLICATE, when=_local(earlier))
            return DUPLICATE
        if letter.size > limits.max_message_bytes:
            mb = f"{round(limits.max_message_bytes / (1024 * 1024), 2):g}"
            answers.answer(session, app, mail, person, TOO_LARGE, limit=mb)
            return TOO_LARGE
        if len(letter.attachments) > limits.max_attachments:
            answers.answer(session, app, mail, person, TOO_MANY, limit=limits.max_attachments)
            return TOO_MANY
        if not letter.attachments:
            review = by_mail.review_mail(session, app, letter, person)
            if review is not None:
                by_mail.approve_by_mail(session, app, mail, letter, person, review)
                return APPROVAL
            answers.answer(
                session, app, mail, person, NO_ATTACHMENT, address=app.settings.mail.sender
            )
            return NO_ATTACHMENT
        return TAKEN

    @staticmethod
    def _same_mail(session: Session, mail: MailinMail) -> dt.datetime | None:
        """When the same mail (its Message-ID) was taken before, under another UID."""
        if not mail.message_id:
            return None
        return session.execute(
            select(MailinMail.received_at)
            .where(
                MailinMail.message_id == mail.message_id,
                MailinMail.id != mail.id,
                MailinMail.status.not_in(sorted(answers.REFUSED)),
            )
            .order_by(MailinMail.id)
            .limit(1)
        ).scalar_one_or_none()

    # -- attachments ----------------------------------------------------------------------

    def _drop(self, mail_id: int, letter: Letter) -> list[FileResult]:
        with self.app.db.read_session() as session:
            mail = session.get(MailinMail, mail_id)
            assert mail is not None
            owner, received = _username(session, mail.sender), mail.received_at
        if owner is None:
            log.warning("mail row %s: its sender left the staff directory; not taken", mail_id)
            return []
        # The same claim ids in every pass over this mail (after a crash too).
        claims = [claim_id(mail_id, n, owner, received) for n in range(len(letter.attachments))]
        results = []
        area = self.inbox.dir / PROCESSING
        for index, (claim, attachment) in enumerate(zip(claims, letter.attachments, strict=False)):
            name = _fitting(claim, attachment.name)
            stored = f"{claim}{SEPARATOR}{name}"
            if any((self.inbox.dir / kept / stored).exists() for kept in (PROCESSED, REJECTED)):
                continue  # concluded before a crash
            path = area / stored
            if path.exists():
                fd = try_lock(path)
                if fd is None:
                    continue  # a living worker has it
            else:
                fd = _place(area, path, attachment.payload, f".mail-{mail_id}-{index}.part")
            claimed = Claimed(path, name, claim, fd, owner)
            self._pause("claimed")
            results.append(self._process(claimed))
        return results

    def _process(self, claimed: Claimed) -> FileResult:
        try:
            return self.inbox.process_claimed(claimed)
        except Exception:
            # Broken processing, not bad input: the file stays claimed for the next pass.
            log.exception("processing %s failed; it stays in %s", claimed.original_name, PROCESSING)
            claimed.release()
            return FileResult(claimed.original_name, FileOutcome.PROCESSING)

    def _pause(self, point: str) -> None:
        if self.settings.pause_at != point or self.settings.pause_seconds <= 0:
            return
        files.write_text(self.app.settings.var / PAUSE_MARK, point)
        time.sleep(self.settings.pause_seconds)


def _username(session: Session, sender: str) -> str | None:
    person = directory.by_email(session, sender) if sender else None
    return person.username if person else None


def _place(area: Path, path: Path, payload: bytes, temporary: str) -> int:
    """Write ``payload`` under a hidden name, lock it, then rename it to ``path``: the claimed
    file is never seen unlocked (as :func:`pipeline.intake.claim.claim` promises)."""
    area.mkdir(parents=True, exist_ok=True)
    tmp = files.write_bytes(area / temporary, payload, mode=0o640)
    fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(tmp, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return fd


def _fitting(claim: str, name: str) -> str:
    """``name`` shortened (keeping its extension) so ``<claim>__<name>`` fits in 255 bytes."""
    room = 255 - len(claim.encode()) - len(SEPARATOR)
    if len(name.encode()) <= room:
        return name
    stem, dot, ext = name.rpartition(".")
    tail = (dot + ext) if dot and len(ext) < 10 else ""
    keep = (stem if tail else name).encode()[: room - len(tail.encode())]
    return keep.decode("utf-8", "ignore") + tail


def _local(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")
