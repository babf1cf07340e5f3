"""Passes over the mailbox: one for ``resultat process``, a reader thread for ``watch``.

Owns taking every waiting mail in a pass (:func:`poll_once`), the administrators' daily digest
of refused mails after each pass, and the daemon's reader (:class:`MailReader`): a thread that
takes what is waiting, then waits ``poll_seconds`` — with IDLE where the server offers it, so a
new mail is taken at once — and reconnects after a lost connection. A failing server never
stops the daemon: the folders keep being read, the mail stays on the server.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

from pipeline.app import App
from pipeline.intake.inbox import Inbox
from pipeline.mailin import answers
from pipeline.mailin.mailbox import Mailbox, MailboxUnavailable, opened
from pipeline.mailin.take import MailResult, Taker

log = logging.getLogger("resultat.mailin")

#: Longest single IDLE (servers end IDLE after 30 minutes; a stop is seen within this).
IDLE_SLICE: Final = 5.0
#: Seconds before connecting again after the server was unreachable.
RECONNECT_DELAY: Final = 30.0


def take_waiting(app: App, box: Mailbox, inbox: Inbox | None = None) -> list[MailResult]:
    """Take every mail waiting in ``box``'s folder."""
    taker = Taker(app, box, inbox or Inbox(app))
    results = []
    for head in box.waiting():
        result = taker.take(head)
        if result is not None:
            results.append(result)
    try:
        answers.send_digest(app)
    except Exception:
        log.exception("the digest of refused mails failed; it is tried again after the next pass")
    return results


def poll_once(app: App, inbox: Inbox | None = None) -> list[MailResult]:
    """One pass over the ``[mailin]`` mailbox (nothing when it is not enabled)."""
    if not app.settings.mailin.enabled:
        return []
    with opened(app.settings.mailin) as box:
        return take_waiting(app, box, inbox)


class MailReader(threading.Thread):
    """The daemon's mailbox reader, beside the folder watcher, until ``stop`` is set."""

    def __init__(self, app: App, stop: threading.Event) -> None:
        super().__init__(name="resultat-mailin", daemon=True)
        self.app = app
        self.stop_event = stop
        self.passes = 0

    def run(self) -> None:
        settings = self.app.settings.mailin
        inbox = Inbox(self.app)
        while not self.stop_event.is_set():
            try:
                with opened(settings) as box:
                    log.info("reading mail for %s at %s", settings.user, settings.host)
                    while not self.stop_event.is_set():
                        take_waiting(self.app, box, inbox)
                        self.passes += 1
                        self._wait(box, settings.poll_seconds)
            except MailboxUnavailable as exc:
                log.warning("%s; trying again in %.0f s", exc, RECONNECT_DELAY)
                self.stop_event.wait(RECONNECT_DELAY)
            except Exception:
                log.exception("reading mail failed; connecting again")
                self.stop_event.wait(min(RECONNECT_DELAY, settings.poll_seconds))

    def _wait(self, box: Mailbox, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not box.idles:
                self.stop_event.wait(min(left, IDLE_SLICE))
            elif box.wait(min(left, IDLE_SLICE)):
                return
