"""Examiner approval with a one-time code sent by SMS.

Owns the approval's course: when a list is submitted a code is issued for exactly the rows the
examiner will see (its content hash) and the list's current version, and sent with the review
files (:mod:`pipeline.lifecycle.review`); the code is single use, valid for a configurable
time (default 72 h) and voided by any change to the list; after ``max_attempts`` wrong tries,
counted for the list across all its codes, the list is locked
(:mod:`pipeline.lifecycle.tries`: only an administrator or the cool-down opens it).
Approving (:func:`approve_in`) and rejecting (:func:`reject_in`) are the same whatever the
channel (review workbook, CLI, SMS reply: :func:`sms_reply`). The code itself is
:mod:`pipeline.lifecycle.challenge`'s; the state change :mod:`pipeline.lists.state`'s; what
happens after approval (LADOK files, archive list, mails)
:mod:`pipeline.lifecycle.after_approval`'s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App
from pipeline.errors import InvalidRequest
from pipeline.lifecycle import after_approval, review, tries
from pipeline.lifecycle.challenge import (
    code_matches,
    issue,
    latest,
    mobile_of,
)
from pipeline.lists import state
from pipeline.lists.content import content_hash, content_rows, grade_counts, void_challenges
from pipeline.lists.query import get_list
from pipeline.lists.state import Role
from pipeline.messages import outbox
from pipeline.models import (
    ApprovalTries,
    ChallengeStatus,
    ListState,
    ResultList,
    Staff,
    utcnow,
)
from pipeline.people import delivery, roles
from pipeline.texts import t

#: States from which a list can be sent for approval.
SUBMITTABLE: Final = frozenset({ListState.DRAFT, ListState.SUBMITTED, ListState.AWAITING_APPROVAL})


def _language(staff: Staff | None, app: App) -> str:
    if staff is not None and staff.language in ("sv", "en"):
        return staff.language
    return app.settings.language


def request_approval(
    session: Session, app: App, result_list: ResultList, *, actor: str, resent: bool = False
) -> str:
    """Send ``result_list`` to its examiner: new code, review files, email and SMS queued.

    Runs in the caller's transaction. Returns ``"awaiting_approval"``, or a slug saying why it
    could not be sent (``no-examiner``, ``no-mobile``); then the list stays ``submitted``.
    """
    listnr = result_list.listnr
    void_challenges(session, listnr, reason="new code", actor=actor)
    examiner = (
        session.execute(
            select(Staff).where(Staff.username == result_list.examiner)
        ).scalar_one_or_none()
        if result_list.examiner
        else None
    )
    problem = "no-examiner" if examiner is None else ("" if mobile_of(examiner) else "no-mobile")
    if problem:
        state.transition(result_list, ListState.SUBMITTED, role=Role.SYSTEM)
        audit.record(
            session,
            actor=actor,
            action="approval.blocked",
            listnr=listnr,
            details={"reason": problem},
        )
        return problem
    assert examiner is not None and examiner.mobile
    chash = content_hash(result_list)
    challenge, code = issue(session, app, result_list, examiner, chash)
    expires = challenge.expires_at
    state.transition(result_list, ListState.AWAITING_APPROVAL, role=Role.SYSTEM)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="approval.requested",
        listnr=listnr,
        details={
            "version": result_list.version,
            "content_hash": chash,
            "examiner": examiner.username,
            "expires_at": expires.isoformat(),
        },
    )
    language = _language(examiner, app)
    files = review.review_files(app, result_list, chash, language=language)
    delivery.place(app, examiner.username, [(path, path.name) for path in files])
    counts = grade_counts(result_list)
    graded = sum(n for _, n in counts)
    context = review.list_context(session, result_list, language)
    expires_text = _local(expires)
    outbox.queue_email(
        session,
        kind="examiner_review",
        to=examiner.email,
        language=language,
        context={
            **context,
            "counts": counts,
            "total": len(content_rows(result_list)),
            "graded": graded,
            "expires_at": expires_text,
            "by_mail": app.settings.mailin.enabled,
        },
        attachments=files,
        listnr=listnr,
        dedupe_key=f"examiner_review:{listnr}:{challenge.id}",
        workspace=app.root,
    )
    outbox.queue_sms(
        session,
        kind="code_resent" if resent else "approval_code",
        to=mobile_of(examiner),
        language=language,
        context={
            "code": code,
            "listnr": listnr,
            "course_code": context["course_code"],
            "module_code": context["module_code"],
            "count": graded,
            "expires_at": expires_text,
        },
        listnr=listnr,
        dedupe_key=f"approval_code:{listnr}:{challenge.id}",
        workspace=app.root,
    )
    if result_list.reporter != examiner.username:
        reporter = session.execute(
            select(Staff).where(Staff.username == result_list.reporter)
        ).scalar_one_or_none()
        if reporter is not None:
            outbox.queue_email(
                session,
                kind="reporter_forwarded",
                to=reporter.email,
                language=_language(reporter, app),
                context={
                    **review.list_context(session, result_list, _language(reporter, app)),
                    "examiner_name": examiner.name,
                },
                listnr=listnr,
                dedupe_key=f"reporter_forwarded:{listnr}:{challenge.id}",
                workspace=app.root,
            )
    return ListState.AWAITING_APPROVAL.value


def _local(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")


@dataclass
class Decision:
    """The outcome of one approval attempt or rejection."""

    ok: bool
    slug: str
    listnr: int
    attempts_left: int | None = None
    files: list[Path] = field(default_factory=list)
    #: For a locked list: :func:`pipeline.lifecycle.tries.lock_params` (whom to ask, when).
    lock: dict[str, Any] | None = None


def approve_in(
    session: Session,
    app: App,
    listnr: int,
    code: str,
    *,
    via: str,
    actor: str,
    expect_hash: str | None = None,
    expect_version: int | None = None,
) -> Decision:
    """Check ``code`` for ``listnr`` and approve on success, in the caller's transaction.

    A wrong code is counted (and the count committed by the caller) — so never raise on one.
    ``expect_hash``/``expect_version`` bind the attempt to the rows the examiner saw (the
    review workbook carries them).
    """
    result_list = get_list(session, listnr, lock=True)
    if result_list.state != ListState.AWAITING_APPROVAL:
        return Decision(False, "approval-wrong-state", listnr)
    challenge = latest(session, listnr)
    if challenge is None or challenge.status == ChallengeStatus.VOIDED:
        return Decision(False, "approval-no-code", listnr)
    if challenge.status == ChallengeStatus.USED:
        return Decision(False, "approval-code-used", listnr)
    # Wrong codes count per list, across its codes: a new code does not open a lock.
    counted = tries.tries_of(session, listnr)
    if tries.is_locked(session, app, counted, via=via):
        return _locked(session, app, counted, via=via, actor=actor)
    current = content_hash(result_list)
    stale = (
        challenge.version != result_list.version
        or challenge.content_hash != current
        or (expect_hash is not None and expect_hash != challenge.content_hash)
        or (expect_version is not None and expect_version != challenge.version)
    )
    if stale:
        return Decision(False, "approval-stale", listnr)
    if utcnow() > challenge.expires_at:
        audit.record(
            session, actor=actor, action="approval.expired", listnr=listnr, details={"via": via}
        )
        return Decision(False, "approval-expired", listnr)
    if not code_matches(app, challenge, code):
        challenge.attempts += 1
        left = tries.count_wrong(app, counted)
        audit.record(
            session,
            actor=actor,
            action="approval.wrong-code",
            listnr=listnr,
            details={
                "via": via,
                "attempts": counted.wrong,
                "code_attempts": challenge.attempts,
                "locked": left == 0,
            },
        )
        if left == 0:
            return Decision(
                False, "approval-locked", listnr, 0, lock=tries.lock_params(app, counted)
            )
        return Decision(False, "approval-wrong-code", listnr, left)
    now = utcnow()
    challenge.status = ChallengeStatus.USED
    challenge.used_at = now
    challenge.used_via = via
    state.transition(result_list, ListState.APPROVED, role=Role.EXAMINER)
    result_list.approved_at = now
    result_list.approved_by = challenge.examiner
    result_list.content_hash = current
    audit.record(
        session,
        actor=actor,
        action="list.approve",
        listnr=listnr,
        details={
            "via": via,
            "version": result_list.version,
            "content_hash": current,
            "examiner": challenge.examiner,
        },
    )
    files = after_approval.after_approval(session, app, result_list)
    return Decision(True, "approved", listnr, files=files)


def _locked(
    session: Session, app: App, counted: ApprovalTries, *, via: str, actor: str
) -> Decision:
    """A try at a locked list: refused without looking at the code, and audited."""
    audit.record(
        session,
        actor=actor,
        action="approval.locked-try",
        listnr=counted.listnr,
        details={"via": via, "attempts": counted.wrong},
    )
    return Decision(
        False, "approval-locked", counted.listnr, 0, lock=tries.lock_params(app, counted)
    )


def approve(app: App, listnr: int, code: str, *, via: str = "cli") -> Decision:
    """Approve as ``app.username``: the list's examiner only (administration mode aside)."""
    with app.db.session() as session:
        roles.may_decide(session, app.username, get_list(session, listnr), admin=app.admin)
        return approve_in(session, app, listnr, code, via=via, actor=app.actor)


def reject_in(
    session: Session, app: App, listnr: int, reason: str, *, via: str, actor: str
) -> Decision:
    """Send the list back to its reporter: ``draft`` again, codes voided, reporter emailed."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise InvalidRequest(t("lifecycle.reason-required", app.settings.language, app.root))
    result_list = get_list(session, listnr, lock=True)
    if result_list.state not in (ListState.SUBMITTED, ListState.AWAITING_APPROVAL):
        return Decision(False, "approval-wrong-state", listnr)
    void_challenges(session, listnr, reason="rejected", actor=actor)
    state.transition(result_list, ListState.DRAFT, role=Role.EXAMINER)
    result_list.updated_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="list.reject",
        listnr=listnr,
        details={"via": via, "reason": reason},
    )
    reporter = session.execute(
        select(Staff).where(Staff.username == result_list.reporter)
    ).scalar_one_or_none()
    examiner = session.execute(
        select(Staff).where(Staff.username == result_list.examiner)
    ).scalar_one_or_none()
    if reporter is not None:
        language = _language(reporter, app)
        outbox.queue_email(
            session,
            kind="rejected",
            to=reporter.email,
            language=language,
            context={
                **review.list_context(session, result_list, language),
                "examiner_name": examiner.name if examiner else result_list.examiner,
                "reason": reason,
            },
            listnr=listnr,
            workspace=app.root,
        )
    return Decision(True, "rejected", listnr)


def reject(app: App, listnr: int, reason: str, *, via: str = "cli") -> Decision:
    """Reject as ``app.username``: the list's examiner only (administration mode aside)."""
    with app.db.session() as session:
        roles.may_decide(session, app.username, get_list(session, listnr), admin=app.admin)
        return reject_in(session, app, listnr, reason, via=via, actor=app.actor)


def resend_code(app: App, listnr: int) -> str:
    """A new code (and review mail) for a list waiting for approval, e.g. after a lock."""
    with app.db.session() as session:
        result_list = get_list(session, listnr, lock=True)
        roles.may_decide(session, app.username, result_list, admin=app.admin)
        if result_list.state not in (ListState.SUBMITTED, ListState.AWAITING_APPROVAL):
            raise InvalidRequest(
                t(
                    "lifecycle.not-waiting",
                    app.settings.language,
                    app.root,
                    listnr=listnr,
                    state=result_list.state.value,
                )
            )
        tries.refuse_if_locked(session, app, listnr, via="cli", language=app.settings.language)
        audit.record(
            session, actor=app.actor, action="approval.resend", listnr=listnr, admin=app.admin
        )
        return request_approval(session, app, result_list, actor=app.actor, resent=True)


def decision_text(decision: Decision, language: str, workspace: Path | None = None) -> str:
    """The sentence telling a person what came of ``decision``, in ``language``."""
    if decision.lock is not None:
        return tries.locked_text(decision.lock, language, workspace)
    return t(
        f"approval.{decision.slug}",
        language,
        workspace,
        listnr=decision.listnr,
        left=decision.attempts_left,
    )
