"""One mail, read into what the intake needs: who sent it, its thread, its attachments.

Owns turning a fetched message (imap-tools' :class:`~imap_tools.MailMessage`, parsed by the
standard library's email package) into a :class:`Letter`. Everything in a mail is untrusted
text: the subject and names come out on one line, bounded, without control characters; an
attachment's name is a bare file name (no folders, not hidden). Which attachments count
(not signature parts, inline images or forwarded mails) is decided here; whether a file is
safe to read is the intake stages' (the same checks as for a dropped file).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Final

from imap_tools import MailMessage

from pipeline.mailin import authresults

#: Parts that are never a file for the intake: signatures, forwarded mails, calendar items.
SKIPPED_TYPES: Final = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
        "application/pgp-keys",
        "message/rfc822",
        "message/delivery-status",
        "text/calendar",
        "text/x-vcard",
        "text/vcard",
    }
)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_NAME_LIMIT: Final = 150
_TEXT_LIMIT: Final = 300


def one_line(text: object, limit: int = _TEXT_LIMIT) -> str:
    """Untrusted text as one bounded line without control or format characters."""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(text)
    )
    squeezed = " ".join(cleaned.split())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 1] + "…"


def safe_name(name: str, index: int) -> str:
    """A bare, visible file name for attachment ``index`` (``attachment-<n>`` when it has none)."""
    base = _CONTROL.sub("", name.replace("\\", "/")).rsplit("/", 1)[-1]
    base = one_line(base, _NAME_LIMIT).lstrip(". ~$").rstrip(" .")
    return base or f"attachment-{index}"


@dataclass(frozen=True)
class Attachment:
    name: str
    payload: bytes
    content_type: str


@dataclass
class Letter:
    """A mail as the intake sees it."""

    uid: str
    size: int
    message_id: str | None
    sender: str | None
    subject: str
    in_reply_to: str
    references: str
    auth_results: list[str]
    return_path: str
    #: Sent by a machine (an out-of-office reply, a bounce, a list): never given a short
    #: answer, so two robots cannot answer each other for ever (RFC 3834).
    automatic: bool = False
    first_line: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    #: Parts left out (their content types), for the log.
    skipped: list[str] = field(default_factory=list)

    def vouched(self, authserv_id: str) -> bool:
        if self.sender is None:
            return False
        return authresults.vouched(
            self.auth_results, authserv_id, self.sender, return_path=self.return_path
        )


def _headers(msg: MailMessage, name: str) -> list[str]:
    return [str(v) for v in msg.obj.get_all(name) or []]


def _header(msg: MailMessage, name: str) -> str:
    values = _headers(msg, name)
    return values[0] if values else ""


def _sender(msg: MailMessage) -> str | None:
    """The one From address (``None`` for none or several: nobody's then)."""
    raw = msg.obj.get_all("From") or []
    found = [addr for _, addr in getaddresses([str(v) for v in raw]) if "@" in addr]
    if len(raw) != 1 or len(found) != 1:
        return None
    return found[0].strip().lower()[:320]


def _message_id(msg: MailMessage) -> str | None:
    found = re.search(r"<[^<>\s]{1,250}>", _header(msg, "Message-ID"))
    return found.group(0) if found else None


def _automatic(msg: MailMessage) -> bool:
    submitted = _header(msg, "Auto-Submitted").strip().lower()
    precedence = _header(msg, "Precedence").strip().lower()
    robots = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id")
    return (
        (bool(submitted) and submitted != "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or any(_header(msg, name) for name in robots)
        or (_sender(msg) or "").startswith(("mailer-daemon@", "postmaster@"))
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return one_line(line, 100)
    return ""


def read(msg: MailMessage, *, headers_only: bool = False) -> Letter:
    """The :class:`Letter` of ``msg``; with ``headers_only`` no body or attachments."""
    letter = Letter(
        uid=str(msg.uid),
        size=msg.size_rfc822 or len(msg.obj.as_bytes()),
        message_id=_message_id(msg),
        sender=_sender(msg),
        subject=one_line(msg.subject or ""),
        in_reply_to=one_line(_header(msg, "In-Reply-To"), 1000),
        references=one_line(_header(msg, "References"), 4000),
        auth_results=_headers(msg, "Authentication-Results"),
        return_path=one_line(_header(msg, "Return-Path"), 320),
        automatic=_automatic(msg),
    )
    if headers_only:
        return letter
    letter.first_line = _first_line(msg.text or "")
    for index, part in enumerate(msg.attachments, start=1):
        content_type = part.content_type.lower()
        inline_image = (
            content_type.startswith("image/") and part.content_disposition != "attachment"
        )
        if content_type in SKIPPED_TYPES or inline_image or not part.payload:
            letter.skipped.append(content_type)
            continue
        letter.attachments.append(
            Attachment(safe_name(part.filename or "", index), part.payload, content_type)
        )
    return letter
