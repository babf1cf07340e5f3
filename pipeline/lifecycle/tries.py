"""Wrong approval codes, counted per list across all its codes, and the lock they lead to.

Owns the list's count of wrong codes (:class:`~pipeline.models.ApprovalTries`): a new code —
``resultat resend-code``, ``NY LISTNR`` by SMS, a blank review workbook, a changed workbook
from the reporter — never resets it. At ``[approval] max_attempts`` the list is locked for
every channel and every code, until an administrator unlocks it (:func:`unlock`, audited, with
a reason) or, with ``[approval] lock_cooldown_hours`` above 0, the cool-down has passed (the
next attempt opens it, audited). Unlocking restarts the count. The text telling the examiner
the list is locked — whom to ask, when it opens — is :func:`locked_text`. Checking a code is
:mod:`pipeline.lifecycle.challenge`'s; what a right or wrong one leads to,
:mod:`pipeline.lifecycle.approval`'s.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App, require_admin
from pipeline.errors import InvalidRequest
from pipeline.lists.query import get_list
from pipeline.models import ApprovalTries, utcnow
from pipeline.texts import t

#: The audit actor of an unlock by the cool-down.
COOLDOWN_ACTOR = "system"


def tries_of(session: Session, listnr: int) -> ApprovalTries:
    """The list's count (created at zero), locked for the caller's transaction. Callers hold
    the list's row lock first, so two workers never create it twice."""
    found = session.execute(
        select(ApprovalTries).where(ApprovalTries.listnr == listnr).with_for_update()
    ).scalar_one_or_none()
    if found is None:
        found = ApprovalTries(listnr=listnr, wrong=0)
        session.add(found)
        session.flush()
    return found


def opens_at(app: App, tries: ApprovalTries) -> dt.datetime | None:
    """When a locked list opens by itself (``None``: only an administrator opens it)."""
    hours = app.settings.approval.lock_cooldown_hours
    if tries.locked_at is None or hours <= 0:
        return None
    return tries.locked_at + dt.timedelta(hours=hours)


def is_locked(session: Session, app: App, tries: ApprovalTries, *, via: str) -> bool:
    """Whether the list is locked now. A lock whose cool-down has passed is lifted here (an
    audit event; the count restarts)."""
    if tries.locked_at is None:
        return False
    opening = opens_at(app, tries)
    if opening is None or utcnow() < opening:
        return True
    _restart(session, tries)
    audit.record(
        session,
        actor=COOLDOWN_ACTOR,
        action="approval.unlocked",
        listnr=tries.listnr,
        details={"by": "cool-down", "via": via, "hours": app.settings.approval.lock_cooldown_hours},
    )
    return False


def count_wrong(app: App, tries: ApprovalTries) -> int:
    """One more wrong code; returns the tries left (0: the list is locked now)."""
    tries.wrong += 1
    left = max(0, app.settings.approval.max_attempts - tries.wrong)
    if left == 0 and tries.locked_at is None:
        tries.locked_at = utcnow()
    return left


def _restart(session: Session, tries: ApprovalTries) -> None:
    """The count starts again (who and why: the caller's audit event)."""
    tries.wrong = 0
    tries.locked_at = None
    session.flush()


def unlock(app: App, listnr: int, reason: str) -> int:
    """Unlock a list locked by wrong codes (administration mode, a reason required): the
    count restarts at 0. Returns the wrong tries it had. Audited ``approval.unlocked``."""
    require_admin(app.admin, f"unlock {listnr}")
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise InvalidRequest(t("approval-lock.reason-required", app.settings.language, app.root))
    with app.db.session() as session:
        get_list(session, listnr, lock=True)
        tries = tries_of(session, listnr)
        if tries.locked_at is None:
            raise InvalidRequest(
                t("approval-lock.not-locked", app.settings.language, app.root, listnr=listnr)
            )
        before = tries.wrong
        _restart(session, tries)
        audit.record(
            session,
            actor=app.actor,
            action="approval.unlocked",
            listnr=listnr,
            details={"by": "administrator", "reason": reason, "wrong_before": before},
            admin=True,
        )
        return before


def lock_params(app: App, tries: ApprovalTries) -> dict[str, Any]:
    """What the text telling the examiner the list is locked needs: its catalogue key and
    parameters (whom to ask and, with a cool-down, when it opens by itself)."""
    opening = opens_at(app, tries)
    params: dict[str, Any] = {
        "listnr": tries.listnr,
        "tries": tries.wrong,
        "contact": app.settings.contacts.maintainers,
    }
    if opening is None:
        return {"key": "approval-lock.locked", "params": params}
    local = opening.replace(tzinfo=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    return {"key": "approval-lock.locked-until", "params": {**params, "opens_at": local}}


def locked_text(lock: dict[str, Any], language: str, workspace: Path | None = None) -> str:
    """The sentence of :func:`lock_params` in ``language``."""
    return t(lock["key"], language, workspace, **lock["params"])


def locked_now(session: Session, app: App, listnr: int, *, via: str) -> ApprovalTries | None:
    """The list's count when the list is locked now (``None`` when it is open). Creates no
    count: a list without one has had no wrong code."""
    tries = session.execute(
        select(ApprovalTries).where(ApprovalTries.listnr == listnr).with_for_update()
    ).scalar_one_or_none()
    return tries if tries is not None and is_locked(session, app, tries, via=via) else None


class ListLocked(InvalidRequest):
    """A new code was asked for a list locked by wrong codes: a new code would not open it."""


def refuse_if_locked(session: Session, app: App, listnr: int, *, via: str, language: str) -> None:
    """Raise :class:`ListLocked` (saying whom to ask, when it opens) when the list is locked:
    asking for a new code does not reset the wrong tries, so it is refused until unlocked."""
    counted = locked_now(session, app, listnr, via=via)
    if counted is not None:
        raise ListLocked(locked_text(lock_params(app, counted), language, app.root))
