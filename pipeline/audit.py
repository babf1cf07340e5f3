"""The audit log: append-only events chained by hash.

Every event stores the hash of the event before it, and its own hash over its content and
that link, so a changed or deleted row breaks the chain where it happened. Callers record events
inside the transaction of the change they describe; :func:`verify_chain` finds the first break.

Records are bound to the chain: an event whose action makes or seals a list version
(:data:`CONTENT_ACTIONS`) carries that list's content hash as the database holds it at that
moment (``details["content_hash"]``, :mod:`pipeline.lists.digest`), and the approval event
also the approved rows (``details["rows"]``), so ``verify`` can say which row and field
changed. After a commit, the chain's new head (id, hash) is handed to the session's
``info["resultat.head_sink"]`` (set by :class:`pipeline.db.Database`), which signs it and
writes it outside the database (:mod:`pipeline.seal`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from sqlalchemy import CursorResult, Select, Table, insert, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.orm import ORMExecuteState, Session

from pipeline.db import JsonText, stores_json_text
from pipeline.lists.digest import ROW_FIELDS, stored_content, stored_rows
from pipeline.models import AuditEvent, utcnow

GENESIS: Final = "0" * 64
#: Advisory lock key (PostgreSQL) that serialises appends to the chain.
CHAIN_LOCK: Final = 0x7265_7375
#: Actions that make a list version or act on one: their event records the content hash.
CONTENT_ACTIONS: Final = frozenset(
    {
        "list.create",
        "list.correct",
        "list.add-students",
        "list.remove-students",
        "list.results",
        "list.submit",
        "list.approve",
        "list.registered",
        "list.archive",
    }
)
#: Actions whose event also holds every row (the version that was approved).
SNAPSHOT_ACTIONS: Final = frozenset({"list.approve"})
PENDING_HEAD: Final = "resultat.pending_head"
#: The events recorded in the session's transaction and not yet in the chain.
PENDING_EVENTS: Final = "resultat.pending_events"
HEAD_SINK: Final = "resultat.head_sink"


def current_user() -> str:
    """The OS login name of whoever runs the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _details_text(details: Any) -> str:
    """The canonical JSON text of an event's details: sorted keys, UTF-8 as it is."""
    return json.dumps(details, sort_keys=True, ensure_ascii=False, default=str)


def _canonical(
    at: dt.datetime, actor: str, action: str, listnr: int | None, admin: bool, details: str
) -> bytes:
    """The bytes an event's hash is over: the JSON object of its six fields with sorted keys,
    as ``json.dumps(..., sort_keys=True, ensure_ascii=False)`` writes it, with ``details``
    (:func:`_details_text`) placed between ``at`` and ``listnr`` as text made once."""
    head = {
        "action": action,
        "actor": actor,
        "admin": admin,
        "at": at.isoformat(timespec="microseconds"),
    }
    fields = json.dumps(head, sort_keys=True, ensure_ascii=False, default=str)[:-1]
    tail = json.dumps(listnr, default=str)
    return f'{fields}, "details": {details}, "listnr": {tail}}}'.encode()


def event_hash(prev_hash: str, event: ChainEvent | AuditEvent) -> str:
    details = _details_text(event.details)
    return _hash(prev_hash, event.at, event.actor, event.action, event.listnr, event.admin, details)


def _hash(
    prev_hash: str,
    at: dt.datetime,
    actor: str,
    action: str,
    listnr: int | None,
    admin: bool,
    details: str,
) -> str:
    payload = _canonical(at, actor, action, listnr, admin, details)
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
    content_hash: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction.

    ``plain``: the caller vouches that ``details`` holds only what JSON gives back unchanged
    (str keys; str, int, float, bool, None, lists, dicts), so the round trip is skipped;
    a results event of a 20,000-row list holds tens of thousands of changes.

    ``content_hash``: the list's content hash as this transaction leaves it, computed by the
    caller from the rows it has just written (:func:`pipeline.lists.digest.hash_at_hand`, the
    same bytes); without it the list is read back from the database and hashed.

    The event joins the chain when the transaction commits (:func:`_append_pending`), or
    sooner if the transaction reads the log first: the chain's lock (PostgreSQL) is held
    from there to the commit only, not while the caller goes on with its work. The event
    returned gets its id, time and hash then."""
    session.flush()  # what the caller changed first, as the event describes it
    # JSON round trip so what is hashed is exactly what the database will hand back.
    clean = (
        (details or {})
        if plain
        else json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    )
    # (the round trip also makes every value plain, so hashing below needs no default=str)
    if listnr is not None and action in CONTENT_ACTIONS:
        snapshot = action in SNAPSHOT_ACTIONS
        if content_hash is not None and not snapshot:
            clean = {**clean, "content_hash": content_hash}
        else:
            clean = {**clean, **_content_details(session, listnr, snapshot=snapshot)}
    event = AuditEvent(actor=actor, action=action, listnr=listnr, admin=admin, details=clean)
    # The details' canonical text is made once, here, outside the chain's lock: hashed, and
    # stored as the JSON column's text (the stored details are the very bytes hashed).
    session.info.setdefault(PENDING_EVENTS, []).append((event, _details_text(clean)))
    return event


def _append_pending(session: Session) -> None:
    """Append the transaction's recorded events to the chain, in the order recorded."""
    pending = session.info.pop(PENDING_EVENTS, None)
    if not pending:
        return
    if session.get_bind().dialect.name == "postgresql":
        # One appender at a time until commit, so concurrent workers extend the chain in turn
        # (the unique prev_hash would refuse a fork anyway; this makes them wait, not fail).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    prev = session.execute(_LAST_HASH).scalar_one_or_none() or GENESIS
    as_text = stores_json_text(session)
    for event, details_text in pending:
        event.at = utcnow()
        event.prev_hash = prev
        event.hash = _hash(
            prev, event.at, event.actor, event.action, event.listnr, event.admin, details_text
        )
        # A plain insert (no unit of work for one row); the event is not in the session.
        row = {key: getattr(event, key) for key in _COLUMNS}
        if as_text:
            row["details"] = JsonText(details_text)
        inserted = cast(CursorResult[Any], session.execute(insert(_EVENTS).values(row)))
        key = inserted.inserted_primary_key
        assert key is not None
        event.id = key[0]
        prev = event.hash
    session.info[PENDING_HEAD] = (pending[-1][0].id, prev)


@sa_event.listens_for(Session, "before_commit")
def _append_at_commit(session: Session) -> None:
    _append_pending(session)


@sa_event.listens_for(Session, "do_orm_execute")
def _append_before_reading(state: ORMExecuteState) -> None:
    # A transaction that reads the log sees its own events in it, as it would without the
    # deferral (the approval event read back by the step after an approval, for instance).
    # (What the selected columns come from: cheap to tell, where the final FROM list costs a
    # compilation of the statement, about 2 ms, for every query after a record.)
    if PENDING_EVENTS in state.session.info and state.is_select:
        statement = cast(Select[Any], state.statement)
        if any(getattr(f, "name", None) == _EVENTS.name for f in statement.columns_clause_froms):
            _append_pending(state.session)


def _content_details(session: Session, listnr: int, *, snapshot: bool) -> dict[str, Any]:
    stored = stored_content(session, listnr)
    if stored is None:
        return {}
    details: dict[str, Any] = {"content_hash": stored.content_hash}
    if snapshot:
        # Rows as lists in ROW_FIELDS order: a third of the size of one object per row.
        rows = stored_rows(session, stored.list_id)
        details["rows"] = {
            "columns": list(ROW_FIELDS),
            "values": [[row[name] for name in ROW_FIELDS] for row in rows],
        }
    return details


@sa_event.listens_for(Session, "after_commit")
def _hand_over_head(session: Session) -> None:
    head = session.info.pop(PENDING_HEAD, None)
    sink = session.info.get(HEAD_SINK)
    if head is not None and sink is not None:
        sink(*head)


@sa_event.listens_for(Session, "after_rollback")
def _forget_head(session: Session) -> None:
    session.info.pop(PENDING_HEAD, None)
    session.info.pop(PENDING_EVENTS, None)


_EVENTS: Final = cast(Table, AuditEvent.__table__)
_LAST_HASH: Final = select(_EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)
_COLUMNS: Final = ("at", "actor", "action", "listnr", "admin", "details", "prev_hash", "hash")


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    events: int
    first_broken_id: int | None = None
    reason: str = ""
    last_id: int | None = None
    last_hash: str = GENESIS


class ChainEvent(Protocol):
    """What hashing and visiting an event reads: an :class:`AuditEvent` or a row of its table."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def listnr(self) -> int | None: ...
    @property
    def admin(self) -> bool: ...
    @property
    def details(self) -> Any: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


#: Events fetched per round trip while walking the chain.
WALK_BATCH: Final = 1000


def verify_chain(
    session: Session,
    *,
    visit: Callable[[ChainEvent], None] | None = None,
    after: tuple[int, str] | None = None,
) -> ChainCheck:
    """Walk the log in order, streamed (plain rows, a server-side cursor on PostgreSQL: never
    the whole table in memory); report the first event whose link or content does not match.
    ``after``: (id, hash) of an event already checked, where the walk starts. ``visit`` sees
    every event that checks out, in order. ``events`` counts the events walked."""
    _append_pending(session)  # read below through the connection, past the session's hook
    prev = after[1] if after is not None else GENESIS
    count = 0
    last_id: int | None = after[0] if after is not None else None
    query = select(*[_EVENTS.c[name] for name in ("id", *_COLUMNS)]).order_by(_EVENTS.c.id)
    if after is not None:
        query = query.where(_EVENTS.c.id > after[0])
    query = query.execution_options(yield_per=WALK_BATCH, stream_results=True)
    for event in session.connection().execute(query):
        count += 1
        if event.prev_hash != prev:
            return ChainCheck(False, count, event.id, "link to the previous event is broken")
        if event_hash(prev, event) != event.hash:
            return ChainCheck(False, count, event.id, "content does not match its hash")
        prev = event.hash
        last_id = event.id
        if visit is not None:
            visit(event)
    return ChainCheck(True, count, last_id=last_id, last_hash=prev)
