"""The stage for a review workbook back from the examiner: the code approves, a reason
sends the list back to its reporter.

Owns checking the review workbook (signed, for this list, one of the two filled in) and
handing the decision to :mod:`pipeline.lifecycle.approval` in the transaction that records
the file. Approving, rejecting and what follows are approval's.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App
from pipeline.errors import NotFound
from pipeline.intake.checked import WorkbookCheck, as_int, staff_language
from pipeline.intake.dropped import DroppedFile, Kind, accepted_copy, duplicate
from pipeline.intake.outcomes import Accepted, Approved, Duplicate, Refused, SentBack
from pipeline.intake.report import Problem, Report
from pipeline.intake.workbook_receipt import conclude
from pipeline.lifecycle import approval, tries
from pipeline.lifecycle.challenge import CODE_DIGITS
from pipeline.lists.query import get_list_head
from pipeline.models import ListState
from pipeline.shown import shown
from pipeline.texts import has
from pipeline.xlsx.contract import verify
from pipeline.xlsx.reader import ResultWorkbook

log = logging.getLogger("resultat.inbox")


def code_text(value: object) -> str:
    """The code as typed: a spreadsheet stores ``012345`` typed into a cell as the number
    12345, so a number is read back as its digits with the leading zeros restored."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):0{CODE_DIGITS}d}"
    return str(value).strip()


def check_review(
    session: Session, app: App, wb: ResultWorkbook
) -> tuple[WorkbookCheck, str | None]:
    """A review workbook back from the examiner: the code approves, a reason rejects.

    Returns the check and the slug of approval's decision (``None`` when none was made)."""
    listnr = wb.listnr
    report = Report()
    outcome = WorkbookCheck(False, listnr, wb.meta.get("language") or app.settings.language, report)
    if not verify(app.settings.hmac_key(), wb.meta, wb.roster) or listnr is None:
        report.add(Problem("tampered-signature", {"listnr": listnr or ""}, sheet=wb.sheet))
        return outcome, None
    if as_int(wb.identity_listnr) != listnr:
        report.add(
            Problem(
                "tampered-listnr",
                {"listnr": listnr},
                sheet=wb.sheet,
                row=4,
                column="B",
                value=wb.identity_listnr,
            )
        )
        return outcome, None
    try:
        result_list = get_list_head(session, listnr)
    except NotFound:
        report.add(Problem("list-not-found", {"listnr": listnr}, sheet=wb.sheet))
        return outcome, None
    examiner = result_list.examiner
    outcome.language = staff_language(session, examiner, outcome.language)
    code = wb.cells.get("code_cell")
    reason = wb.cells.get("reason_cell")
    code_ref = wb.meta.get("code_cell", "B13")
    if app.in_person and app.username != examiner:
        # From someone's own folder: only the list's examiner decides (the rule, named).
        report.add(
            Problem(
                "review-not-examiner",
                {"listnr": listnr, "examiner": examiner or "—", "actor": app.username},
                sheet=wb.sheet,
            )
        )
        return outcome, None
    if code not in (None, ""):
        decision = approval.approve_in(
            session,
            app,
            listnr,
            code_text(code),
            via="workbook",
            actor=examiner or app.actor,
            expect_hash=wb.meta.get("content_hash"),
            expect_version=wb.version,
        )
    elif reason not in (None, ""):
        decision = approval.reject_in(
            session, app, listnr, str(reason), via="workbook", actor=examiner or app.actor
        )
    elif result_list.state in (ListState.SUBMITTED, ListState.AWAITING_APPROVAL) and (
        locked := tries.locked_now(session, app, listnr, via="workbook")
    ):
        # Both cells empty while the list is locked: a new code would not open it.
        lock = tries.lock_params(app, locked)
        report.add(
            Problem(
                "approval-list-locked",
                {"detail": tries.locked_text(lock, outcome.language, app.root)},
                sheet=wb.sheet,
                row=int(code_ref[1:]),
                column=code_ref[0],
            )
        )
        return outcome, "approval-locked"
    elif result_list.state in (ListState.SUBMITTED, ListState.AWAITING_APPROVAL):
        # Both cells empty: the examiner asks for a new code (wrong tries are not reset).
        audit.record(
            session,
            actor=examiner or app.actor,
            action="approval.resend",
            listnr=listnr,
            details={"via": "workbook"},
        )
        approval.request_approval(
            session, app, result_list, actor=examiner or app.actor, resent=True
        )
        outcome.state = result_list.state
        outcome.version = result_list.version
        outcome.notes.append("new-code-sent")
        outcome.accepted = True
        return outcome, "new-code"
    else:
        report.add(
            Problem("review-empty", sheet=wb.sheet, row=int(code_ref[1:]), column=code_ref[0])
        )
        return outcome, None
    outcome.state = result_list.state
    outcome.version = result_list.version
    if not decision.ok:
        # Each reason approval gives has its own slug; one without a text of ours is named
        # in approval's words.
        slug = decision.slug
        params: dict[str, Any] = {"listnr": listnr, "left": decision.attempts_left}
        if decision.lock is not None:
            # Locked across codes: whom to ask and when it opens (approval's words).
            slug = "approval-list-locked"
            params = {"detail": approval.decision_text(decision, outcome.language, app.root)}
        elif not has(f"problems.{slug}", outcome.language, app.root):
            slug = "approval-failed"
            params = {"detail": approval.decision_text(decision, outcome.language, app.root)}
        report.add(
            Problem(
                slug,
                params,
                sheet=wb.sheet,
                row=int(code_ref[1:]),
                column=code_ref[0],
            )
        )
        return outcome, decision.slug
    outcome.accepted = True
    return outcome, decision.slug


def review_workbook(
    ctx: DroppedFile,
) -> Approved | SentBack | Accepted | Refused | Duplicate | None:
    """Hand a review workbook's decision to approval; ``None`` for any other kind of file."""
    wb = ctx.workbook
    if ctx.kind is not Kind.REVIEW_WORKBOOK or wb is None:
        return None
    app = ctx.app
    with app.db.session() as session:
        earlier = accepted_copy(session, ctx.sha, wb.listnr)
        if earlier is not None:
            # Another worker took the same bytes while this copy waited for the lock.
            session.rollback()
            return duplicate(ctx, wb.listnr, earlier)
        outcome, decision = check_review(session, app, wb)
        concluded_as: type[Approved | SentBack | Accepted | Refused] = Refused
        if outcome.accepted:
            if decision == "approved":
                concluded_as = Approved
            elif decision == "new-code":
                concluded_as = Accepted
            else:
                concluded_as = SentBack
        concluded = conclude(
            session,
            ctx,
            wb,
            outcome,
            receipt_status=concluded_as.receipt_status,
            kind=Kind.REVIEW_WORKBOOK,
        )
    log.info(
        "list %s: review %s from %s (%d problems)",
        outcome.listnr,
        concluded_as.receipt_status,
        shown(ctx.claimed.original_name),
        len(outcome.report.problems),
    )
    return concluded_as(outcome.listnr, concluded.receipt, tuple(concluded.data.problems))
