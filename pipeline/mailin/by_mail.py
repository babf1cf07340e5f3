"""Approval by mail: the examiner answers the review mail with the code on the first line.

Owns finding the review mail a reply answers (its ``In-Reply-To``/``References`` name our
``Message-ID``, else its subject is the review mail's own with ``Re:``), checking that the
sender is the list's examiner, and handing the code to
:func:`pipeline.lifecycle.approval.approve_in` exactly as the review workbook's code cell is
handed (the same checks, the same count of tries, bound to the version the mail showed). The
answer is a reply with approval's own sentence.
"""

from __future__ import annotations

import re
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.lifecycle import approval
from pipeline.mailin import answers
from pipeline.mailin.letter import Letter
from pipeline.mailin.threads import reply_subject
from pipeline.messages.mail import message_id
from pipeline.models import ApprovalChallenge, MailinMail, Message, ResultList
from pipeline.people.directory import Person
from pipeline.texts import t

REVIEW_KIND: Final = "examiner_review"
_OUR_ID: Final = re.compile(r"<resultat\.(\d{1,12})\.[0-9a-f]{20}@[^<>\s]+>")
_CODE: Final = re.compile(r"\d{4,10}")


def review_mail(session: Session, app: App, letter: Letter, person: Person) -> Message | None:
    """The review mail sent to ``person`` that ``letter`` answers, or ``None``."""
    for found in _OUR_ID.finditer(f"{letter.in_reply_to} {letter.references}"):
        sent = session.get(Message, int(found.group(1)))
        if (
            sent is not None
            and sent.kind == REVIEW_KIND
            and message_id(sent, app.settings) == found.group(0)
        ):
            return sent
    if not letter.subject:
        return None
    # A mail client that dropped the thread headers: the review mail's own subject, answered.
    candidates = session.execute(
        select(Message)
        .where(
            Message.kind == REVIEW_KIND,
            Message.recipient.in_([person.email, person.mail_to]),
        )
        .order_by(Message.id.desc())
        .limit(50)
    ).scalars()
    for sent in candidates:
        if sent.subject and reply_subject(sent.subject).lower() == letter.subject.lower():
            return sent
    return None


def approve_by_mail(
    session: Session,
    app: App,
    mail: MailinMail,
    letter: Letter,
    person: Person,
    review: Message,
) -> str:
    """The code on ``letter``'s first line for the list of ``review``; the answer is queued
    (a reply) in ``session``. Returns approval's slug (or ``not-examiner``/``code-format``)."""
    listnr = review.listnr
    result_list = (
        session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one_or_none()
        if listnr is not None
        else None
    )
    if result_list is None or result_list.examiner != person.username:
        text = t(
            "people.rule.examiner-only",
            person.language,
            app.root,
            listnr=listnr or "—",
            examiner=(result_list.examiner if result_list else None) or "—",
            actor=person.username,
        )
        answers.answer_text(session, app, mail, person, text, "not-examiner")
        return "not-examiner"
    code = "".join(letter.first_line.split())
    if not _CODE.fullmatch(code):
        answers.answer(session, app, mail, person, "code-format", listnr=listnr)
        return "code-format"
    challenge = _challenge_of(session, review)
    decision = approval.approve_in(
        session,
        app.acting(person.username),
        result_list.listnr,
        code,
        via="mail",
        actor=person.username,
        expect_hash=challenge.content_hash if challenge else None,
        expect_version=challenge.version if challenge else None,
    )
    text = approval.decision_text(decision, person.language, app.root)
    answers.answer_text(session, app, mail, person, text, f"approval-{decision.slug}")
    return decision.slug


def _challenge_of(session: Session, review: Message) -> ApprovalChallenge | None:
    """The challenge the review mail was sent for (its dedupe key names it)."""
    found = re.fullmatch(r"examiner_review:\d+:(\d+)", review.dedupe_key or "")
    return session.get(ApprovalChallenge, int(found.group(1))) if found else None
