"""The IMAP side of drop by mail, through imap-tools (no protocol code of ours).

Owns connecting (``ssl``, ``starttls`` with certificate checks, or ``none`` on loopback),
logging in as ``[mailin] user`` with ``RESULTAT_IMAP_PASSWORD``, making the folders
``resultat/done`` and ``resultat/refused`` when missing, listing the mails still to take
(headers and size only), fetching one whole, putting a finished one away (moved, or flagged
where moving is not allowed) and waiting for new mail (IDLE where the server offers it).
What a mail means is :mod:`pipeline.mailin.take`'s.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from collections.abc import Iterator
from typing import Final

from imap_tools import AND, NOT, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError

from pipeline.mailin.letter import Letter, read
from pipeline.settings_channels import MailinSettings

log = logging.getLogger("resultat.mailin")

#: Set on a finished mail where ``after = "flag"`` (and as a fallback where a move fails).
DONE_KEYWORD: Final = "resultat-done"
TIMEOUT: Final = 60.0


class MailboxUnavailable(Exception):
    """The IMAP server cannot be reached or refuses the login: nothing was taken."""


class Mailbox:
    """One logged-in connection to the ``[mailin]`` folder."""

    def __init__(self, settings: MailinSettings) -> None:
        self.settings = settings
        self.box: BaseMailBox = _connect(settings)
        self.uidvalidity = ""
        self.idle = False
        try:
            self.box.login(settings.user, settings.password or "", initial_folder=None)
            self.idle = "IDLE" in self.box.client.capabilities
            if settings.after == "move":
                for folder in (settings.done_folder, settings.refused_folder):
                    if not self.box.folder.exists(folder):
                        self.box.folder.create(folder)
            self.box.folder.set(settings.folder)
            status = self.box.folder.status(settings.folder, ["UIDVALIDITY"])
            self.uidvalidity = str(status.get("UIDVALIDITY", ""))
        except Exception as exc:
            self.close()
            raise MailboxUnavailable(f"IMAP {settings.host}:{settings.port}: {exc}") from exc

    def key(self, uid: str) -> str:
        """What a mail is known by across passes: folder, UIDVALIDITY and UID."""
        return f"{self.settings.folder}:{self.uidvalidity}:{uid}"[:300]

    def waiting(self, limit: int = 100) -> list[Letter]:
        """The mails still in the folder (headers and size only), oldest first."""
        criteria = NOT(keyword=DONE_KEYWORD) if self.settings.after == "flag" else AND(all=True)
        found = self.box.fetch(criteria, mark_seen=False, headers_only=True, bulk=True, limit=limit)
        return [read(msg, headers_only=True) for msg in found]

    def fetch(self, uid: str) -> Letter | None:
        """The whole mail ``uid`` (``None`` when it is gone: taken by another reader)."""
        for msg in self.box.fetch(AND(uid=uid), mark_seen=False, bulk=False):
            return read(msg)
        return None

    def put_away(self, uid: str, *, refused: bool) -> None:
        """A finished mail out of the way: moved to the done or refused folder, or flagged
        (``after = "flag"``, or when the move is not allowed)."""
        if self.settings.after == "move":
            target = self.settings.refused_folder if refused else self.settings.done_folder
            try:
                self.box.move(uid, target)
                return
            except (ImapToolsError, imaplib.IMAP4.error) as exc:
                log.warning("mail %s not moved to %s (%s): flagged instead", uid, target, exc)
        self.box.flag(uid, ("\\Seen", DONE_KEYWORD), True)

    @property
    def idles(self) -> bool:
        return self.idle and self.settings.idle

    def wait(self, seconds: float) -> bool:
        """IDLE for up to ``seconds``: ``True`` when the server told of a change."""
        try:
            return bool(self.box.idle.wait(timeout=seconds))
        except (ImapToolsError, imaplib.IMAP4.error, OSError) as exc:
            log.info("IDLE ended: %s", exc)
            return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.box.logout()


def _connect(settings: MailinSettings) -> BaseMailBox:
    try:
        if settings.security == "ssl":
            return MailBox(
                settings.host,
                settings.port,
                timeout=TIMEOUT,
                ssl_context=ssl.create_default_context(),
            )
        if settings.security == "starttls":
            return MailBoxStartTls(
                settings.host,
                settings.port,
                timeout=TIMEOUT,
                ssl_context=ssl.create_default_context(),
            )
        return MailBoxUnencrypted(settings.host, settings.port, timeout=TIMEOUT)
    except (OSError, ImapToolsError) as exc:
        raise MailboxUnavailable(f"IMAP {settings.host}:{settings.port}: {exc}") from exc


@contextlib.contextmanager
def opened(settings: MailinSettings) -> Iterator[Mailbox]:
    box = Mailbox(settings)
    try:
        yield box
    finally:
        box.close()
