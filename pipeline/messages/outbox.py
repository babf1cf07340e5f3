"""The message outbox: emails and SMS queued in the database, sent exactly once.

Owns rendering message texts from ``templates/mail/<kind>.<lang>.txt``, queueing them as
:class:`~pipeline.models.Message` rows in the caller's session (so a message exists if and only
if the state change that causes it is committed: a transactional outbox), and the dispatcher
that sends due messages through the configured backends:

- mail ``file`` writes ``var/mail/<id>.eml``; ``smtp`` sends through yagmail;
- SMS ``file`` writes ``var/sms/<id>.json``; ``twilio`` uses the twilio client.

Each message is *claimed* before it is sent (a conditional ``UPDATE`` from ``queued`` to
``sending``), so two dispatchers never send the same one. A failed send goes back to ``queued``
with a growing delay; a message left in ``sending`` by a crashed dispatcher is taken back after
:data:`STALE_AFTER`. Nothing is ever deleted. Emails carry a ``Message-ID`` derived from the
message, so the rare resend after a crash between sending and recording can be recognised by
the receiver.

Left to callers: deciding who gets what, choosing the language, writing the attachments
before queueing, committing the session, and calling :func:`dispatch` (``resultat dispatch``
or the daemon). Log lines never contain a message body; personnummer in them are masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import jinja2
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline import files, resources
from pipeline.domain.personnummer import mask_text
from pipeline.models import Message, MessageStatus, utcnow
from pipeline.settings import MailSettings, Settings, SmsSettings

if TYPE_CHECKING:
    from pipeline.app import App

log = logging.getLogger("resultat.outbox")

EMAIL: Final = "email"
SMS: Final = "sms"
LANGUAGES: Final = ("sv", "en")
TEMPLATE_DIR: Final = "mail"

BACKOFF_BASE: Final = dt.timedelta(seconds=30)
BACKOFF_MAX: Final = dt.timedelta(hours=1)
STALE_AFTER: Final = dt.timedelta(minutes=10)
SMTP_TIMEOUT: Final = 60.0
TWILIO_TIMEOUT: Final = 30.0
MAX_ERROR_CHARS: Final = 2000

# MIME types for what we attach; mimetypes' answer depends on the machine's /etc/mime.types.
MIME_TYPES: Final = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".tsv": "text/tab-separated-values",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".json": "application/json",
}

_SUBJECT_PREFIX: Final = "Subject:"
_EMAIL_ADDRESS: Final = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_E164: Final = re.compile(r"^\+[1-9]\d{6,14}$")
# Twilio's client falls back to TWILIO_* environment variables for what it is not given; empty
# values keep it from reading the environment (settings are the only place that does).
_TWILIO_ENVIRONMENT: Final = {
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_EDGE": "",
    "TWILIO_REGION": "",
}


# --------------------------------------------------------------------------- rendering


def render(
    kind: str, language: str, context: dict[str, Any], workspace: Path | None = None
) -> tuple[str | None, str]:
    """``(subject, body)`` of template ``templates/mail/<kind>.<language>.txt``.

    An email template starts with a ``Subject: ...`` line; an SMS template has no subject and
    ``None`` is returned for it. A missing context key is an error (``jinja2.UndefinedError``),
    so a caller's mistake shows when the message is queued, not when someone reads it.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
        raise ValueError(f"not a message kind: {kind!r}")
    source = resources.read_text("templates", f"{TEMPLATE_DIR}/{kind}.{language}.txt", workspace)
    text = _environment().from_string(source).render(**context)
    first, _, rest = text.partition("\n")
    if first.startswith(_SUBJECT_PREFIX):
        # One line only: a newline in a subject would be a header injection.
        subject = " ".join(first[len(_SUBJECT_PREFIX) :].split())
        return subject, rest.strip("\n").rstrip() + "\n"
    return None, text.strip()


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


# --------------------------------------------------------------------------- queueing


def queue_email(
    session: Session,
    *,
    kind: str,
    to: str,
    language: str,
    context: dict[str, Any],
    attachments: Sequence[Path] = (),
    listnr: int | None = None,
    dedupe_key: str | None = None,
    workspace: Path | None = None,
) -> Message:
    """Queue an email in ``session`` (committed with the caller's transaction).

    Attachments must exist now; they are stored relative to ``workspace`` when under it and are
    read when the message is sent, so keep them in place. A ``dedupe_key`` already queued
    returns the existing message and adds nothing.
    """
    to = to.strip()
    if not _EMAIL_ADDRESS.match(to):
        raise ValueError(f"not an email address: {to!r}")
    subject, body = render(kind, language, context, workspace)
    if subject is None:
        raise ValueError(f"templates/mail/{kind}.{language}.txt has no Subject line (SMS?)")
    stored: list[str] = []
    for path in attachments:
        if not Path(path).is_file():
            raise FileNotFoundError(f"attachment {path} does not exist")
        stored.append(_stored_path(Path(path), workspace))
    message = Message(
        channel=EMAIL,
        kind=kind,
        recipient=to,
        subject=subject,
        body=body,
        attachments=stored,
        listnr=listnr,
        dedupe_key=dedupe_key,
    )
    return _add(session, message)


def queue_sms(
    session: Session,
    *,
    kind: str,
    to: str,
    language: str,
    context: dict[str, Any],
    listnr: int | None = None,
    dedupe_key: str | None = None,
    workspace: Path | None = None,
) -> Message:
    """Queue an SMS to ``to`` (normalised with :func:`e164`) in ``session``.

    A ``dedupe_key`` already queued returns the existing message and adds nothing.
    """
    number = e164(to)
    subject, body = render(kind, language, context, workspace)
    if subject is not None:
        raise ValueError(f"templates/mail/{kind}.{language}.txt has a Subject line (email?)")
    message = Message(
        channel=SMS,
        kind=kind,
        recipient=number,
        subject=None,
        body=body,
        attachments=[],
        listnr=listnr,
        dedupe_key=dedupe_key,
    )
    return _add(session, message)


def e164(number: str) -> str:
    """A mobile number in the international form Twilio wants (``+46701234567``).

    Accepts what staff directories hold: spaces, dashes, parentheses, ``00`` for ``+`` and a
    Swedish leading ``0`` (``070-123 45 67``). Raises ``ValueError`` for anything else.
    """
    digits = re.sub(r"[\s\-().]", "", number)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+46" + digits[1:]
    if not _E164.match(digits):
        raise ValueError(f"not a mobile number: {number!r}")
    return digits


def _stored_path(path: Path, workspace: Path | None) -> str:
    resolved = path.resolve()
    if workspace is not None:
        try:
            return resolved.relative_to(workspace.resolve()).as_posix()
        except ValueError:
            pass
    return str(resolved)


def _add(session: Session, message: Message) -> Message:
    if message.dedupe_key is not None:
        existing = _by_dedupe_key(session, message.dedupe_key)
        if existing is not None:
            return existing
    try:
        # A savepoint, so a concurrent insert of the same key fails only this insert and the
        # caller's transaction goes on with the message the other one queued.
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        if message.dedupe_key is None:
            raise
        existing = _by_dedupe_key(session, message.dedupe_key)
        if existing is None:
            raise
        return existing
    return message


def _by_dedupe_key(session: Session, key: str) -> Message | None:
    return session.scalars(select(Message).where(Message.dedupe_key == key)).first()


# --------------------------------------------------------------------------- building


def message_id(message: Message, settings: Settings) -> str:
    """A ``Message-ID`` that is the same every time this message is sent, and differs between
    workspaces and between databases (a reset database reuses ids, not creation times)."""
    seed = f"{settings.root.resolve()}|{message.id}|{message.created_at.isoformat()}"
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:20]
    domain = settings.mail.sender.rpartition("@")[2] or "resultat.invalid"
    return f"<resultat.{message.id}.{digest}@{domain}>"


def build_email(message: Message, settings: Settings) -> EmailMessage:
    """The MIME message: plain UTF-8 text and each attachment with its type and file name."""
    mime = EmailMessage(policy=SMTP_POLICY)
    mime["From"] = settings.mail.sender
    mime["To"] = message.recipient
    mime["Subject"] = message.subject or ""
    mime["Date"] = format_datetime(message.created_at.replace(tzinfo=dt.UTC))
    mime["Message-ID"] = message_id(message, settings)
    # RFC 3834: tells mail servers and people's autoresponders not to answer.
    mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(message.body, subtype="plain", charset="utf-8", cte="quoted-printable")
    for stored in message.attachments or []:
        path = _attachment_path(stored, settings)
        maintype, subtype = _mime_type(path).split("/", 1)
        mime.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return mime


def _attachment_path(stored: str, settings: Settings) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else settings.root / path


def _mime_type(path: Path) -> str:
    import mimetypes

    known = MIME_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


# --------------------------------------------------------------------------- backends


class Transport(Protocol):
    """Sends one message and returns the provider's id for it (or where it was written)."""

    def send(self, message: Message) -> str: ...

    def close(self) -> None: ...


class ChannelUnavailable(Exception):
    """The backend cannot be reached at all (connection, login): the rest of this run's
    messages on the channel are failed with the same error rather than tried one by one."""


class SendError(Exception):
    """The provider refused this one message."""


class FileMail:
    """Writes each email as ``var/mail/<id>.eml``: nothing leaves the machine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> str:
        mime = build_email(message, self.settings)
        target = self.settings.var / "mail" / f"{message.id}.eml"
        files.write_bytes(target, mime.as_bytes(policy=SMTP_POLICY.clone(linesep="\n")))
        return target.relative_to(self.settings.root).as_posix()

    def close(self) -> None:
        pass


class SmtpMail:
    """Sends through yagmail over one connection per dispatch run.

    yagmail makes the connection (SSL, STARTTLS with certificate checks, login); the MIME
    message is ours, because yagmail's own ``send`` turns text into HTML and sets ``From`` to
    the login user.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None

    def send(self, message: Message) -> str:
        mime = build_email(message, self.settings)
        client = self._connect()
        try:
            client.smtp.send_message(
                mime, from_addr=self.settings.mail.sender, to_addrs=[message.recipient]
            )
        except BaseException:
            # The session state after an SMTP error is unknown; start the next one afresh.
            self.close()
            raise
        return str(mime["Message-ID"])

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            client = yagmail_client(self.settings.mail)
            client.login()
        except ChannelUnavailable:
            raise
        except Exception as exc:
            where = f"{self.settings.mail.host}:{self.settings.mail.port}"
            raise ChannelUnavailable(f"SMTP {where}: {type(exc).__name__}: {exc}") from exc
        self._client = client
        return client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def yagmail_client(mail: MailSettings) -> Any:
    """A yagmail client for the ``[mail]`` settings (not yet connected).

    ``security`` "ssl" connects with TLS from the start, "starttls" upgrades the connection,
    "none" sends in clear text (only for a relay on the same host or network). Without
    ``user`` there is no login: yagmail then needs ``smtp_skip_login=True``.
    """
    import yagmail

    context = ssl.create_default_context()
    extra: dict[str, Any] = {"timeout": SMTP_TIMEOUT}
    starttls: bool | dict[str, Any]
    if mail.security == "ssl":
        use_ssl, starttls = True, False
        extra["context"] = context
    elif mail.security == "starttls":
        # smtplib's own STARTTLS default does not check the server's certificate.
        use_ssl, starttls = False, {"context": context}
    elif mail.security == "none":
        use_ssl, starttls = False, False
    else:
        raise ChannelUnavailable(f"mail.security must be ssl, starttls or none: {mail.security!r}")
    if mail.user and not mail.password:
        # yagmail would otherwise ask the keyring or prompt on the terminal.
        raise ChannelUnavailable("mail.user is set but RESULTAT_SMTP_PASSWORD is not")
    # yagmail appends "@gmail.com" to a user name without "@"; a {login: address} mapping is
    # taken as it is.
    user = {mail.user or mail.sender: mail.sender}
    client = yagmail.SMTP(
        user,
        mail.password,
        host=mail.host,
        port=mail.port,
        smtp_ssl=use_ssl,
        smtp_starttls=starttls,
        smtp_skip_login=not mail.user,
        soft_email_validation=False,
        **extra,
    )
    client.set_logging(None)
    return client


class FileSms:
    """Writes each SMS as ``var/sms/<id>.json`` (``to``, ``from``, ``body``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> str:
        target = self.settings.var / "sms" / f"{message.id}.json"
        record = {
            "id": message.id,
            "to": message.recipient,
            "from": self.settings.sms.from_number,
            "body": message.body,
        }
        data = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
        files.write_bytes(target, data.encode("utf-8"))
        return target.relative_to(self.settings.root).as_posix()

    def close(self) -> None:
        pass


class TwilioSms:
    """Sends through Twilio's Messages API; the message's SID is the provider id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None

    def send(self, message: Message) -> str:
        from twilio.base.exceptions import TwilioRestException

        client = self._connect()
        try:
            created = client.messages.create(
                to=message.recipient, from_=self.settings.sms.from_number, body=message.body
            )
        except TwilioRestException as exc:
            # An answer about this message (bad number, ...): the next may well go through.
            raise SendError(f"Twilio HTTP {exc.status}, error {exc.code}: {exc.msg}") from exc
        except Exception as exc:
            raise ChannelUnavailable(f"Twilio: {type(exc).__name__}: {exc}") from exc
        return str(created.sid)

    def _connect(self) -> Any:
        if self._client is None:
            self._client = twilio_client(self.settings.sms)
        return self._client

    def close(self) -> None:
        self._client = None


def twilio_client(sms: SmsSettings) -> Any:
    """A twilio REST client for the ``[sms]`` settings.

    ``api_base_url`` replaces ``https://api.twilio.com`` for the API domain that holds the
    Messages resource (``client.api.base_url``); the tests point it at a local server.
    """
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    if not sms.account_sid or not sms.auth_token:
        raise ChannelUnavailable("RESULTAT_TWILIO_SID and RESULTAT_TWILIO_TOKEN must be set")
    client = Client(
        sms.account_sid,
        sms.auth_token,
        http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT),
        environment=dict(_TWILIO_ENVIRONMENT),
    )
    if sms.api_base_url:
        client.api.base_url = sms.api_base_url.rstrip("/")
    return client


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
    try:
        for message_id_, channel in due:
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
                _mark_sent(app, message, provider_id, clock())
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
    with app.db.session() as session:
        result = cast(
            CursorResult[Any],
            session.execute(
                update(Message)
                .where(Message.id == id_, Message.status == MessageStatus.QUEUED)
                .values(status=MessageStatus.SENDING, next_attempt_at=now)
                .execution_options(synchronize_session=False)
            ),
        )
        if result.rowcount != 1:
            return None
        return session.get(Message, id_)


#: Messages that carry a one-time code: once sent, the stored text keeps no usable code.
CODE_KINDS = frozenset({"approval_code", "code_resent"})
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def scrub_code(body: str) -> str:
    return _CODE.sub("••••••", body)


def _mark_sent(app: App, message: Message, provider_id: str, now: dt.datetime) -> None:
    values: dict[str, Any] = {
        "status": MessageStatus.SENT,
        "sent_at": now,
        "provider_id": provider_id[:200],
    }
    if message.kind in CODE_KINDS:
        values["body"] = scrub_code(message.body)
    with app.db.session() as session:
        session.execute(
            update(Message)
            .where(Message.id == message.id, Message.status == MessageStatus.SENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


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
