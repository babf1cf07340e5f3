"""The audit log: append-only events chained by hash.

Every event stores the hash of the event before it, and its own hash over its content and
that link, so a changed or deleted row breaks the chain where it happened. Callers record events
inside the transaction of the change they describe; :func:`verify_chain` finds the first break.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Table, insert, select, text
from sqlalchemy.orm import Session

from pipeline.models import AuditEvent, utcnow

GENESIS: Final = "0" * 64
#: Advisory lock key (PostgreSQL) that serialises appends to the chain.
CHAIN_LOCK: Final = 0x7265_7375


def current_user() -> str:
    """The OS login name of whoever runs the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _canonical(
    at: dt.datetime, actor: str, action: str, listnr: int | None, admin: bool, details: Any
) -> bytes:
    body = {
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "listnr": listnr,
        "admin": admin,
        "details": details,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    payload = _canonical(
        event.at, event.actor, event.action, event.listnr, event.admin, event.details
    )
    return hashlib.sha256(prev_hash.encode("ascii") + payload).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    listnr: int | None = None,
    details: dict[str, Any] | None = None,
    admin: bool = False,
    plain: bool = False,
) -> AuditEvent:
    """Append one event in the caller's transaction.

    ``plain``: the caller vouches that ``details`` holds only what JSON gives back unchanged
    (str keys; str, int, float, bool, None, lists, dicts), so the round trip is skipped;
    a results event of a 20,000-row list holds tens of thousands of changes."""
    if session.get_bind().dialect.name == "postgresql":
        # One appender at a time until commit, so concurrent workers extend the chain in turn
        # (the unique prev_hash would refuse a fork anyway; this makes them wait, not fail).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    session.flush()  # what the caller changed first, as the event describes it
    last = session.execute(_LAST_HASH).scalar_one_or_none()
    prev = last or GENESIS
    # JSON round trip so what is hashed is exactly what the database will hand back.
    clean = (
        (details or {})
        if plain
        else json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    )
    # (the round trip also makes every value plain, so hashing below needs no default=str)
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        listnr=listnr,
        admin=admin,
        details=clean,
        prev_hash=prev,
    )
    event.hash = event_hash(prev, event)
    # A plain insert (no unit of work for one row); the event returned is not in the
    # session, with the id the database gave it.
    row = {key: getattr(event, key) for key in _COLUMNS}
    inserted = cast(CursorResult[Any], session.execute(insert(_EVENTS).values(row)))
    key = inserted.inserted_primary_key
    assert key is not None
    event.id = key[0]
    return event


_EVENTS: Final = cast(Table, AuditEvent.__table__)
_LAST_HASH: Final = select(_EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)
_COLUMNS: Final = ("at", "actor", "action", "listnr", "admin", "details", "prev_hash", "hash")


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    events: int
    first_broken_id: int | None = None
    reason: str = ""


def verify_chain(session: Session) -> ChainCheck:
    """Walk the log in order; report the first event whose link or content does not match."""
    prev = GENESIS
    count = 0
    for event in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        if event.prev_hash != prev:
            return ChainCheck(False, count, event.id, "link to the previous event is broken")
        if event_hash(prev, event) != event.hash:
            return ChainCheck(False, count, event.id, "content does not match its hash")
        prev = event.hash
    return ChainCheck(True, count)
