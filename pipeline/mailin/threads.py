"""Which mail a claimed file came from, and the reply that answers it in its thread.

Owns the claim ids of attachments taken from a mail (``<time>-mail<id>n<k>@<username>``: the
:class:`~pipeline.models.MailinMail` row and the attachment's place in it), and building the
:class:`~pipeline.messages.queue.Reply` (``Re:`` subject, ``In-Reply-To``, ``References``)
for anything sent back about it. Reading mail is the rest of :mod:`pipeline.mailin`'s.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from sqlalchemy.orm import Session

from pipeline.intake.claim import OWNER_MARK
from pipeline.messages.queue import Reply
from pipeline.models import MailinMail

#: In a claim id: the mail row and the attachment (the ordinary claim's random part is hex,
#: so it can never look like this).
_MAIL_CLAIM: Final = re.compile(r"^\d{8}T\d{6}-mail(\d+)n(\d+)(?:@|$)")
_REPLY_PREFIX: Final = re.compile(r"^\s*(re|sv|aw|antw)\s*:", re.IGNORECASE)
#: A Message-ID as it may appear in References (anything else there is dropped).
_MSG_ID: Final = re.compile(r"<[^<>\s]{1,250}>")


def claim_id(mail_id: int, index: int, owner: str, when: dt.datetime) -> str:
    """The claim id of attachment ``index`` of mail row ``mail_id`` for ``owner``'s inbox."""
    return f"{when:%Y%m%dT%H%M%S}-mail{mail_id}n{index}{OWNER_MARK}{owner}"


def mail_of_claim(claim: str) -> int | None:
    """The mail row a claim id names, or ``None`` for a file dropped in a folder."""
    found = _MAIL_CLAIM.match(claim)
    return int(found.group(1)) if found else None


def is_mail_claim(claim: str) -> bool:
    return mail_of_claim(claim) is not None


def reply_subject(subject: str) -> str:
    """``Re: <subject>`` (once), on one line."""
    one_line = " ".join(subject.split())
    return one_line if _REPLY_PREFIX.match(one_line) else f"Re: {one_line}".strip()


def references(existing: str, message_id: str | None) -> str:
    """The ``References`` of a reply: the mail's own (well-formed ids only) and its id."""
    ids = _MSG_ID.findall(existing or "")[-10:]
    if message_id and message_id not in ids:
        ids.append(message_id)
    return " ".join(ids)


def reply_to(mail: MailinMail) -> Reply:
    """The reply to ``mail``, to the address it came from (without a Message-ID there is no
    thread to join: the subject and address only)."""
    return Reply(
        subject=reply_subject(mail.subject),
        in_reply_to=mail.message_id or "",
        references=references(mail.references, mail.message_id),
        to=mail.sender,
    )


def reply_to_claim(session: Session, claim: str) -> Reply | None:
    """The reply for anything sent back about the file claimed as ``claim`` (``None`` for a
    file dropped in a folder: no query then)."""
    mail_id = mail_of_claim(claim)
    if mail_id is None:
        return None
    mail = session.get(MailinMail, mail_id)
    return reply_to(mail) if mail is not None else None
