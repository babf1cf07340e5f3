"""Email: building a :class:`~email.message.EmailMessage` from a queued message, and the
two mail backends (``file`` writes ``var/mail/<id>.eml``; ``smtp`` sends through yagmail).

Emails carry a ``Message-ID`` derived from the message, so the rare resend after a crash
between sending and recording can be recognised by the receiver.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import mimetypes
import ssl
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Final

from pipeline import files
from pipeline.messages.channels import ChannelUnavailable
from pipeline.models import Message
from pipeline.settings import Settings
from pipeline.settings_channels import MailSettings

log = logging.getLogger("resultat.outbox")

SMTP_TIMEOUT: Final = 60.0
#: The headers a reply carries (:attr:`Message.reply_headers`), and only these.
_THREAD_HEADERS: Final = ("In-Reply-To", "References")

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

# --------------------------------------------------------------------------- building


class _Headers(HeaderRegistry):
    """The standard header registry, but each header's class is made once: the standard one
    makes a new class (``type(...)``) for every header set, about a fifth of building a
    mail. The classes are the same, so the headers and the bytes are the same."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


#: ``email.policy.SMTP`` with the registry above (what the mail is built and sent with).
SMTP_POLICY: Final = SMTP.clone(header_factory=_Headers())
#: The same with plain newlines: how the file backend writes ``.eml`` files.
_FILE_POLICY: Final = SMTP_POLICY.clone(linesep="\n")


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
    for name, value in (message.reply_headers or {}).items():
        if name in _THREAD_HEADERS and value:
            # One line each: a newline in a header would be a header injection.
            mime[name] = " ".join(str(value).split())
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

    known = MIME_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class FileMail:
    """Writes each email as ``var/mail/<id>.eml``: nothing leaves the machine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> str:
        mime = build_email(message, self.settings)
        target = self.settings.var / "mail" / f"{message.id}.eml"
        files.write_bytes(target, mime.as_bytes(policy=_FILE_POLICY))
        return target.relative_to(self.settings.root).as_posix()

    def close(self) -> None:
        """A file sink holds no connection: nothing to close."""


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
    import yagmail  # lazy, kept for start-up time

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
