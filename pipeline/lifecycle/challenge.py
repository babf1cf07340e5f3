"""The approval code itself (the ``ApprovalChallenge``): issuing, finding and checking it.

A 6-digit code from ``secrets``, stored only as a keyed hash bound to the list number, its
version and its content hash; valid for ``[approval] code_valid_hours``. Owns the code's
hash, the record's creation, the lookup of a list's latest code, the check of a typed or
texted code, and the mobile numbers codes go to and come from. What a right or wrong code
leads to is :mod:`pipeline.lifecycle.approval`'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.messages import outbox
from pipeline.models import ApprovalChallenge, ChallengeStatus, ResultList, Staff, utcnow

CODE_DIGITS: Final = 6
_REPLY: Final = re.compile(r"^\s*(\d{3,9})\s+(\d[\d ]*)\s*$")


def code_hash(key: bytes, challenge: ApprovalChallenge | None, code: str, **kw: Any) -> str:
    """The keyed hash of ``code`` for ``challenge`` (or for ``listnr``/``version``/
    ``content_hash`` given as keywords, before the record exists)."""
    listnr = challenge.listnr if challenge else kw["listnr"]
    version = challenge.version if challenge else kw["version"]
    chash = challenge.content_hash if challenge else kw["content_hash"]
    message = f"approval:{listnr}:{version}:{chash}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue(
    session: Session, app: App, result_list: ResultList, examiner: Staff, chash: str
) -> tuple[ApprovalChallenge, str]:
    """A new active code for the list's current version; returns the record and the code."""
    listnr = result_list.listnr
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    now = utcnow()
    expires = now + dt.timedelta(hours=app.settings.approval.code_valid_hours)
    challenge = ApprovalChallenge(
        listnr=listnr,
        version=result_list.version,
        content_hash=chash,
        code_hash=code_hash(
            app.settings.hmac_key(),
            None,
            code,
            listnr=listnr,
            version=result_list.version,
            content_hash=chash,
        ),
        examiner=examiner.username,
        status=ChallengeStatus.ACTIVE,
        attempts=0,
        created_at=now,
        expires_at=expires,
    )
    session.add(challenge)
    return challenge, code


def latest(session: Session, listnr: int) -> ApprovalChallenge | None:
    """The list's most recent code, locked for the caller's transaction."""
    return session.execute(
        select(ApprovalChallenge)
        .where(ApprovalChallenge.listnr == listnr)
        .order_by(ApprovalChallenge.id.desc())
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()


def code_matches(app: App, challenge: ApprovalChallenge, code: str | None) -> bool:
    """Whether ``code`` (spaces ignored) is the code of ``challenge``."""
    clean = re.sub(r"\s+", "", str(code or ""))
    given = code_hash(app.settings.hmac_key(), challenge, clean)
    return bool(
        re.fullmatch(rf"\d{{{CODE_DIGITS}}}", clean)
        and hmac.compare_digest(given, challenge.code_hash)
    )


#: An SMS asking for a new code: ``NY 1001`` (``NEW 1001``).
_NEW_CODE: Final = re.compile(r"^\s*(?:NY|NEW)\s+(\d{3,9})\s*$", re.IGNORECASE)


def parse_new_code(body: str | None) -> int | None:
    """The list number of an SMS asking for a new code (``NY LISTNR``), or ``None``."""
    match = _NEW_CODE.match(body or "")
    return None if match is None else int(match.group(1))


def parse_reply(body: str | None) -> tuple[int, str] | None:
    """``(listnr, code)`` of an SMS reply ``LISTNR CODE``, or ``None``."""
    match = _REPLY.match(body or "")
    return None if match is None else (int(match.group(1)), match.group(2))


def normalize_number(number: str) -> str:
    """International form of a number, or ``""`` when it is not a mobile number."""
    try:
        return outbox.e164(number or "")
    except ValueError:
        return ""


def mobile_of(staff: Staff) -> str:
    """The staff member's mobile number in international form (``""`` when none)."""
    return normalize_number(staff.mobile or "")
