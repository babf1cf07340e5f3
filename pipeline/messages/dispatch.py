"""The dispatcher: sends due messages through the configured backends, each exactly once.

Each message is *claimed* before it is sent (a conditional ``UPDATE`` from ``queued`` to
``sending``), so two dispatchers never send the same one. A failed send goes back to
``queued`` with a growing delay; a message left in ``sending`` by a crashed dispatcher is
taken back after :data:`STALE_AFTER`. Nothing is ever deleted. Log lines never contain a
message body; personnummer in them are masked.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import Connection, CursorResult, Table, func, select, update

from pipeline.domain.personnummer import mask_text
from pipeline.models import Message, MessageStatus, utcnow
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.app import App
from pipeline.messages.channels import ChannelUnavailable, Transport
from pipeline.messages.mail import FileMail, SmtpMail
from pipeline.messages.queue import EMAIL, SMS
from pipeline.messages.sms import FileSms, TwilioSms

log = logging.getLogger("resultat.outbox")

BACKOFF_BASE: Final = dt.timedelta(seconds=30)
BACKOFF_MAX: Final = dt.timedelta(hours=1)
STALE_AFTER: Final = dt.timedelta(minutes=10)
MAX_ERROR_CHARS: Final = 2000


def transport(settings: Settings, channel: str) -> Transport:
    """The configured backend for ``channel`` ("email" or "sms")."""
    if channel == EMAIL:
        return SmtpMail(settings) if settings.mail.backend == "smtp" else FileMail(settings)
    if channel == SMS:
        return TwilioSms(settings) if settings.sms.backend == "twilio" else FileSms(settings)
    raise ValueError(f"unknown channel {channel!r}")


# --------------------------------------------------------------------------- dispatching


@dataclass(frozen=True)
class DispatchReport:
    """One dispatcher run: sent and failed now; ``pending`` still queued or being sent."""

    sent: int
    failed: int
    pending: int


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failed ones: 30 s, 1 min, 2 min, ... 1 h."""
    delay: dt.timedelta = BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 16)
    return min(delay, BACKOFF_MAX)


def dispatch(app: App, *, now: dt.datetime | None = None, limit: int = 100) -> DispatchReport:
    """Send up to ``limit`` due messages (queued, ``next_attempt_at <= now``), oldest first.

    ``now`` (naive UTC, or aware) fixes the clock for the whole run; tests pass it.
    """
    fixed = _naive_utc(now) if now is not None else None

    def clock() -> dt.datetime:
        return fixed if fixed is not None else utcnow()

    start = clock()
    recovered = recover_stale(app, now=start)
    with app.db.session() as session:
        due = session.execute(
            select(Message.id, Message.channel)
            .where(Message.status == MessageStatus.QUEUED, Message.next_attempt_at <= start)
            .order_by(Message.next_attempt_at, Message.id)
            .limit(limit)
        ).all()
    transports: dict[str, Transport] = {}
    unavailable: dict[str, str] = {}
    sent = failed = 0
    # The next message is claimed in the transaction that marks one sent (one commit less per
    # message); as before, at most one message is 'sending' by this dispatcher at a time.
    claimed_ahead: dict[int, Message | None] = {}
    try:
        for index, (message_id_, channel) in enumerate(due):
            if message_id_ in claimed_ahead:
                message = claimed_ahead.pop(message_id_)
            else:
                message = _claim(app, message_id_, clock())
            if message is None:
                continue  # another dispatcher has it
            try:
                if channel in unavailable:
                    raise ChannelUnavailable(unavailable[channel])
                if channel not in transports:
                    transports[channel] = transport(app.settings, channel)
                provider_id = transports[channel].send(message)
            except Exception as exc:
                error = _describe(exc)
                if isinstance(exc, ChannelUnavailable):
                    unavailable[channel] = str(exc)
                attempts = _fail(app, message, error, clock())
                failed += 1
                log.warning(
                    "%s #%d (%s) not sent, attempt %d, next try in %s: %s",
                    channel,
                    message.id,
                    message.kind,
                    attempts,
                    backoff(attempts),
                    error,
                )
            else:
                following = due[index + 1][0] if index + 1 < len(due) else None
                ahead = _mark_sent(app, message, provider_id, clock(), claim_next=following)
                if following is not None:
                    claimed_ahead[following] = ahead
                sent += 1
                log.info("%s #%d (%s) sent: %s", channel, message.id, message.kind, provider_id)
    finally:
        for used in transports.values():
            try:
                used.close()
            except Exception as exc:  # closing a dead connection must not hide the report
                log.debug("closing %s failed: %s", type(used).__name__, _describe(exc))
    with app.db.session() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING]))
        )
    if recovered:
        log.warning(
            "%d message(s) left in 'sending' by a stopped dispatcher were requeued", recovered
        )
    return DispatchReport(sent=sent, failed=failed, pending=int(pending or 0))


def recover_stale(app: App, *, now: dt.datetime | None = None) -> int:
    """Put messages that have been ``sending`` for longer than :data:`STALE_AFTER` back in the
    queue (their dispatcher stopped). They may have gone out: an email is sent again with the
    same ``Message-ID``. Returns how many were taken back."""
    current = _naive_utc(now) if now is not None else utcnow()
    with app.db.session() as session:
        result = cast(
            CursorResult[Any],
            session.execute(
                update(Message)
                .where(
                    Message.status == MessageStatus.SENDING,
                    Message.next_attempt_at < current - STALE_AFTER,
                )
                .values(
                    status=MessageStatus.QUEUED,
                    attempts=Message.attempts + 1,
                    last_error="dispatcher stopped while sending; requeued",
                    next_attempt_at=current,
                )
                .execution_options(synchronize_session=False)
            ),
        )
        return int(result.rowcount or 0)


def _claim(app: App, id_: int, now: dt.datetime) -> Message | None:
    """Take the message for this dispatcher, or ``None`` when another one was first.

    While ``sending``, ``next_attempt_at`` holds the time of the claim (the current attempt),
    which is what :func:`recover_stale` measures.
    """
    with app.db.engine.begin() as connection:
        return _claim_in(connection, id_, now)


_MESSAGES: Final = cast(Table, Message.__table__)


def _claim_in(connection: Connection, id_: int, now: dt.datetime) -> Message | None:
    # UPDATE ... RETURNING: the claimed message comes back with the claim (no second query);
    # no row when another dispatcher took it first. A Core statement on the transaction's
    # connection (no ORM session: one is a unit of work per message sent); the message is
    # made from the row as the ORM would load it, for reading only.
    row = (
        connection.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id == id_, _MESSAGES.c.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.SENDING, next_attempt_at=now)
            .returning(*_MESSAGES.c)
        )
        .mappings()
        .first()
    )
    return Message(**row) if row is not None else None


#: Messages that carry a one-time code: once sent, the stored text keeps no usable code.
CODE_KINDS = frozenset({"approval_code", "code_resent"})
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def scrub_code(body: str) -> str:
    return _CODE.sub("••••••", body)


def _mark_sent(
    app: App,
    message: Message,
    provider_id: str,
    now: dt.datetime,
    *,
    claim_next: int | None = None,
) -> Message | None:
    """Record ``message`` as sent; in the same transaction, claim message ``claim_next`` (if
    given) as :func:`_claim` does, and return it (``None``: another dispatcher has it)."""
    values: dict[str, Any] = {
        "status": MessageStatus.SENT,
        "sent_at": now,
        "provider_id": provider_id[:200],
    }
    if message.kind in CODE_KINDS:
        values["body"] = scrub_code(message.body)
    with app.db.engine.begin() as connection:
        connection.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id == message.id, _MESSAGES.c.status == MessageStatus.SENDING)
            .values(**values)
        )
        return _claim_in(connection, claim_next, now) if claim_next is not None else None


def _fail(app: App, message: Message, error: str, now: dt.datetime) -> int:
    attempts = message.attempts + 1
    with app.db.session() as session:
        session.execute(
            update(Message)
            .where(Message.id == message.id, Message.status == MessageStatus.SENDING)
            .values(
                status=MessageStatus.QUEUED,
                attempts=attempts,
                last_error=error,
                next_attempt_at=now + backoff(attempts),
            )
            .execution_options(synchronize_session=False)
        )
    return attempts


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return mask_text(text)[:MAX_ERROR_CHARS]


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def drain(app: App, *, now: dt.datetime | None = None, limit: int = 100) -> DispatchReport:
    """Dispatch in rounds of ``limit`` until nothing due is left (or a round sends nothing)."""
    sent = failed = 0
    while True:
        report = dispatch(app, now=now, limit=limit)
        sent += report.sent
        failed += report.failed
        if report.sent == 0 or report.pending == 0:
            return DispatchReport(sent=sent, failed=failed, pending=report.pending)
