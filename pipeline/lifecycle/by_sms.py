"""An SMS reply from an examiner's phone: ``LISTNR CODE`` approves, ``NY LISTNR`` asks for a
new code.

Owns telling who sent it (only the examiner's registered mobile number counts; anyone else is
refused without revealing whether the list exists) and handing the reply to
:mod:`pipeline.lifecycle.approval`. The HTTP side (Twilio's signed webhook) is
:mod:`pipeline.messages.sms_webhook`'s.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App
from pipeline.lifecycle import tries
from pipeline.lifecycle.approval import _language, approve_in, decision_text, request_approval
from pipeline.lifecycle.challenge import mobile_of, normalize_number, parse_new_code, parse_reply
from pipeline.models import ListState, ResultList, Staff
from pipeline.texts import t


def reply(app: App, sender: str, body: str) -> str:
    """Handle an SMS reply ``LISTNR CODE`` from ``sender``; returns the text to answer with.

    Only the examiner's registered mobile number may approve; anything else is refused
    without revealing whether the list exists.
    """
    reply = parse_reply(body)
    with app.db.session() as session:
        staff = [
            s
            for s in session.execute(select(Staff).where(Staff.mobile.is_not(None))).scalars()
            if mobile_of(s) and mobile_of(s) == normalize_number(sender)
        ]
        language = _language(staff[0], app) if staff else app.settings.language
        wanted = parse_new_code(body)
        if wanted is not None:
            return _new_code_by_sms(session, app, staff, wanted, language)
        if reply is None:
            return t("approval.sms-format", language, app.root)
        listnr, code = reply
        result_list = session.execute(
            select(ResultList).where(ResultList.listnr == listnr)
        ).scalar_one_or_none()
        if result_list is None or not any(s.username == result_list.examiner for s in staff):
            audit.record(
                session,
                actor="sms",
                action="approval.refused-sender",
                listnr=listnr if result_list else None,
                details={"sender": sender[:4] + "…"},
            )
            return t("approval.sms-refused", language, app.root)
        examiner = next(s for s in staff if s.username == result_list.examiner)
        decision = approve_in(session, app, listnr, code, via="sms", actor=examiner.username)
        return decision_text(decision, language, app.root)


def _new_code_by_sms(
    session: Session, app: App, staff: list[Staff], listnr: int, language: str
) -> str:
    """``NY LISTNR`` from the examiner's registered number: a new code for the list (its wrong
    tries are not reset by it; a locked list stays locked); anyone else is refused as any
    other reply."""
    result_list = session.execute(
        select(ResultList).where(ResultList.listnr == listnr).with_for_update()
    ).scalar_one_or_none()
    examiner = next(
        (s for s in staff if result_list is not None and s.username == result_list.examiner),
        None,
    )
    if result_list is None or examiner is None:
        return t("approval.sms-refused", language, app.root)
    if result_list.state not in (ListState.SUBMITTED, ListState.AWAITING_APPROVAL):
        return t("approval.approval-wrong-state", language, app.root, listnr=listnr)
    locked = tries.locked_now(session, app, listnr, via="sms")
    if locked is not None:
        # A new code would not open the lock: say whom to ask and when it opens.
        return tries.locked_text(tries.lock_params(app, locked), language, app.root)
    audit.record(
        session,
        actor=examiner.username,
        action="approval.resend",
        listnr=listnr,
        details={"via": "sms"},
    )
    request_approval(session, app, result_list, actor=examiner.username, resent=True)
    return t("people.new-code-sent", language, app.root, listnr=listnr)
