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

The work is done in :mod:`~pipeline.messages.queue` (render, queue),
:mod:`~pipeline.messages.mail` and :mod:`~pipeline.messages.sms` (the backends, behind
:mod:`~pipeline.messages.channels`) and :mod:`~pipeline.messages.dispatch`; this module is
the outbox's one public face, so callers write ``outbox.queue_email`` and ``outbox.drain``.

Left to callers: deciding who gets what, choosing the language, writing the attachments
before queueing, committing the session, and calling :func:`dispatch` (``resultat dispatch``
or the daemon). Log lines never contain a message body; personnummer in them are masked.
"""

from __future__ import annotations

from pipeline.messages.channels import ChannelUnavailable, SendError, Transport
from pipeline.messages.dispatch import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    CODE_KINDS,
    STALE_AFTER,
    DispatchReport,
    backoff,
    dispatch,
    drain,
    recover_stale,
    scrub_code,
    transport,
)
from pipeline.messages.mail import FileMail, SmtpMail, build_email, message_id, yagmail_client
from pipeline.messages.queue import EMAIL, LANGUAGES, SMS, e164, queue_email, queue_sms, render
from pipeline.messages.sms import FileSms, TwilioSms, twilio_client

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "CODE_KINDS",
    "EMAIL",
    "LANGUAGES",
    "SMS",
    "STALE_AFTER",
    "ChannelUnavailable",
    "DispatchReport",
    "FileMail",
    "FileSms",
    "SendError",
    "SmtpMail",
    "Transport",
    "TwilioSms",
    "backoff",
    "build_email",
    "dispatch",
    "drain",
    "e164",
    "message_id",
    "queue_email",
    "queue_sms",
    "recover_stale",
    "render",
    "scrub_code",
    "transport",
    "twilio_client",
    "yagmail_client",
]
