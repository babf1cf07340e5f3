"""Twilio's incoming-SMS webhook: a small WSGI app, and the server behind ``resultat serve``.

Owns the HTTP side of an SMS reply: only ``POST``, a body of bounded size, the
``X-Twilio-Signature`` check (HMAC with the account's auth token over the public URL and the
form fields) and the TwiML answer. What a reply means — approving a list when the sender is the
examiner's registered number — is the ``handler``'s: it gets ``(from_number, body)`` and returns
the text to answer with ("" for no answer). Nothing reaches it without a valid signature.

TLS is the reverse proxy's job: run ``resultat serve`` on loopback behind it and set
``[sms] webhook_url`` to the public URL Twilio calls, because the signature covers that URL.

Replays (issue 16). A captured, correctly signed request stays correctly signed: Twilio's
signature covers the URL and the form fields but no time, and Twilio sends no timestamp header
(``I-Twilio-Idempotency-Token`` only marks its own retries). So each request's ``MessageSid``
is kept in the database (``sms_received``) and a SID seen before is answered with an empty
TwiML and handed to nobody: a replay costs no try. And "older than ``[sms]
webhook_max_age_seconds``" is measured by Twilio's own clock: the message's ``date_sent`` as
Twilio's REST API gives it for that SID (``GET .../Messages/{MessageSid}.json``, the account's
credentials) — a SID Twilio does not know is refused too. Set the window to 0 to skip that
look-up (the seen-SID check stays).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import request_uri

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from pipeline import audit
from pipeline.domain.personnummer import mask_text
from pipeline.messages.sms import twilio_client
from pipeline.models import SmsReceived, utcnow

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from pipeline.app import App

log = logging.getLogger("resultat.sms")

MAX_BODY_BYTES: Final = 64 * 1024
SIGNATURE_HEADER: Final = "HTTP_X_TWILIO_SIGNATURE"
TWIML_TYPE: Final = "text/xml; charset=utf-8"

Handler = Callable[[str, str], str]
#: When Twilio says the message with this SID was sent (``None``: Twilio does not know it).
SentAt = Callable[[str], "dt.datetime | None"]
#: A message's SID as Twilio makes them: SM (SMS) or MM (MMS) and 32 hex digits.
_SID: Final = re.compile(r"(SM|MM)[0-9a-f]{32}")


class _Form(dict[str, str]):
    """POST fields; ``getlist`` gives the validator every value of a repeated field."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__({name: values[-1] for name, values in fields.items()})
        self._lists = fields

    def getlist(self, name: str) -> list[str]:
        return self._lists.get(name, [])


def twiml(reply: str) -> bytes:
    """``<Response><Message>reply</Message></Response>``, XML-escaped; empty when no reply."""
    from twilio.twiml.messaging_response import MessagingResponse  # lazy, kept for start-up time

    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response.to_xml()).encode("utf-8")


def make_app(
    app: App, handler: Handler, *, url: str | None = None, sent_at: SentAt | None = None
) -> WSGIApplication:
    """The WSGI callable for Twilio's incoming-message webhook.

    The signature is checked against ``url``, else ``[sms] webhook_url``, else the URL of the
    request as this server saw it (right only without a proxy in front). ``sent_at`` replaces
    the look-up of a message's time at Twilio (:func:`twilio_sent_at`).
    """
    from twilio.request_validator import RequestValidator  # lazy, kept for start-up time

    token = app.settings.sms.auth_token
    validator = RequestValidator(token) if token else None
    public_url = url or app.settings.sms.webhook_url
    max_age = app.settings.sms.webhook_max_age_seconds
    sent = sent_at or (lambda sid: twilio_sent_at(app, sid))

    def respond(
        start_response: StartResponse,
        status: str,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra: Iterable[tuple[str, str]] = (),
    ) -> list[bytes]:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
        start_response(status, headers)
        return [body]

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD", "GET") != "POST":
            return respond(start_response, "405 Method Not Allowed", b"", extra=[("Allow", "POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            return respond(start_response, "413 Content Too Large", b"")
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return respond(start_response, "400 Bad Request", b"")
        form = _Form(fields)
        signature = environ.get(SIGNATURE_HEADER, "")
        target = public_url or request_uri(environ, include_query=True)
        if validator is None or not signature or not validator.validate(target, form, signature):
            log.warning(
                "SMS webhook: refused a request with a %s signature from %s",
                "missing" if not signature else "bad",
                environ.get("REMOTE_ADDR", "?"),
            )
            return respond(start_response, "403 Forbidden", b"")
        sid = form.get("MessageSid", "")
        if not _SID.fullmatch(sid):
            return respond(start_response, "400 Bad Request", b"")
        if not _first_time(app, sid):
            return respond(start_response, "200 OK", twiml(""), TWIML_TYPE)
        if max_age > 0:
            try:
                when = sent(sid)
            except Exception as exc:
                # Twilio could not be asked: not this request's fault; it may come again.
                _forget(app, sid)
                log.error("SMS webhook: cannot ask Twilio for %s: %s", sid, type(exc).__name__)
                return respond(start_response, "503 Service Unavailable", b"")
            age = None if when is None else (dt.datetime.now(dt.UTC) - when).total_seconds()
            if age is None or age > max_age:
                _refuse_old(app, sid, age, max_age)
                return respond(start_response, "200 OK", twiml(""), TWIML_TYPE)
        sender = form.get("From", "")
        try:
            reply = handler(sender, form.get("Body", ""))
        except Exception as exc:
            _forget(app, sid)
            # Never the body in a log line: it holds an approval code.
            log.error("SMS webhook: handler failed: %s", mask_text(f"{type(exc).__name__}: {exc}"))
            return respond(start_response, "500 Internal Server Error", b"")
        log.info("SMS webhook: reply from %s handled", mask_text(sender))
        return respond(start_response, "200 OK", twiml(reply), TWIML_TYPE)

    return application


def _first_time(app: App, sid: str) -> bool:
    """Record ``sid`` as seen; ``False`` (audited) when it was seen before: a replay."""
    try:
        with app.db.session() as session:
            session.add(SmsReceived(message_sid=sid, received_at=utcnow()))
            session.flush()
    except IntegrityError:
        with app.db.session() as session:
            audit.record(
                session, actor="sms", action="sms.replay-refused", details={"message_sid": sid}
            )
        log.warning("SMS webhook: %s was seen before: refused as a replay", sid)
        return False
    return True


def _forget(app: App, sid: str) -> None:
    """Not handled after all (Twilio away, a failure of ours): the same SID may come again."""
    with app.db.session() as session:
        session.execute(delete(SmsReceived).where(SmsReceived.message_sid == sid))


def _refuse_old(app: App, sid: str, age: float | None, max_age: float) -> None:
    with app.db.session() as session:
        audit.record(
            session,
            actor="sms",
            action="sms.too-old",
            details={
                "message_sid": sid,
                "age_seconds": None if age is None else round(age),
                "max_age_seconds": max_age,
            },
        )
    log.warning(
        "SMS webhook: %s refused: %s",
        sid,
        "unknown to Twilio" if age is None else f"sent {age:.0f} s ago (window {max_age:.0f} s)",
    )


def twilio_sent_at(app: App, sid: str) -> dt.datetime | None:
    """When Twilio's REST API says message ``sid`` was sent (received, for an incoming SMS);
    ``None`` when Twilio does not know the SID. Other failures raise."""
    from twilio.base.exceptions import TwilioRestException  # lazy, kept for start-up time

    try:
        found = twilio_client(app.settings.sms).messages(sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return None
        raise
    when = found.date_sent or found.date_created
    if not isinstance(when, dt.datetime):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to our log, not to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("SMS webhook: %s %s", self.address_string(), mask_text(format % args))


def make_server_for(
    app: App, handler: Handler, *, host: str = "127.0.0.1", port: int = 8080
) -> WSGIServer:
    """A bound wsgiref server for the webhook (``port`` 0 picks a free one)."""
    return make_server(host, port, make_app(app, handler), handler_class=_QuietHandler)


def serve(app: App, handler: Handler, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the webhook until interrupted (``resultat serve``)."""
    server = make_server_for(app, handler, host=host, port=port)
    if app.settings.sms.auth_token is None:
        log.warning("SMS webhook: RESULTAT_TWILIO_TOKEN is not set; every request is refused")
    elif app.settings.sms.webhook_max_age_seconds > 0 and not app.settings.sms.account_sid:
        log.warning(
            "SMS webhook: RESULTAT_TWILIO_SID is not set, so no message's age can be asked of "
            "Twilio; every request is refused (or set [sms] webhook_max_age_seconds = 0)"
        )
    log.info("SMS webhook: listening on http://%s:%d/", host, server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
