"""The daemon: ``resultat watch`` keeps taking stable files from the inbox until stopped.

File-system events (watchdog) are only hints that wake the loop early; the loop also rescans
on start and every ``scan_interval`` seconds, so nothing is missed when events are lost (as on
network shares, where ``--poll`` uses watchdog's polling observer instead). A close-after-write
event shortens the stability wait. Queued mail and SMS are dispatched every few seconds.
SIGTERM and SIGINT stop it between files.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from watchdog.events import FileClosedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from pipeline import files
from pipeline.app import App
from pipeline.intake.claim import StabilityTracker, candidates
from pipeline.intake.inbox import FileResult, Inbox
from pipeline.messages import outbox, reminders
from pipeline.models import AuditEvent

log = logging.getLogger("resultat.watch")
#: Seconds between runs of the message dispatcher inside the daemon.
DISPATCH_INTERVAL = 5.0
#: Seconds between new attempts at files left in the processing area by a failure.
RECOVER_INTERVAL = 10.0
#: Seconds between rewrites of ``outbox/status.xlsx`` when no file came in.
OVERVIEW_INTERVAL = 600.0


class _Hints(FileSystemEventHandler):
    def __init__(self, wake: threading.Event, tracker: StabilityTracker) -> None:
        self.wake = wake
        self.tracker = tracker

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileClosedEvent):
            self.tracker.mark_closed(Path(str(event.src_path)))
        self.wake.set()


def run_watch(
    app: App,
    *,
    poll: bool = False,
    stop: threading.Event | None = None,
    on_result: Callable[[FileResult], Any] | None = None,
    install_signals: bool = True,
) -> None:
    """Watch until ``stop`` is set (or a signal arrives)."""
    stop = stop or threading.Event()
    if install_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    inbox = Inbox(app)
    settings = app.settings.inbox_settings
    tracker = StabilityTracker(settings.stable_seconds, strict=poll)
    wake = threading.Event()
    observer = PollingObserver(timeout=1.0) if poll else Observer()
    # Recursive: each person drops in their own folder inbox/<username>/.
    observer.schedule(_Hints(wake, tracker), str(inbox.dir), recursive=True)
    observer.start()
    log.info("watching %s", inbox.dir)
    mail_reader = start_mail_reader(app, stop)
    try:
        for result in inbox.recover():
            _report(on_result, result)
        last_scan = 0.0
        last_dispatch = 0.0
        last_overview = 0.0
        last_recover = time.monotonic()
        tick = max(0.05, min(0.25, settings.stable_seconds / 4))
        while not stop.is_set():
            if time.monotonic() - last_dispatch >= DISPATCH_INTERVAL:
                last_dispatch = time.monotonic()
                dispatch_safely(app)
                _remind(app)
            if time.monotonic() - last_recover >= RECOVER_INTERVAL:
                # Files left claimed after a passing failure (disk full, database away) are
                # tried again; a living worker's claims are locked and skipped.
                last_recover = time.monotonic()
                for result in inbox.recover():
                    _report(on_result, result)
            woken = wake.is_set()
            wake.clear()
            now = time.monotonic()
            if woken or tracker.pending or now - last_scan >= settings.scan_interval:
                last_scan = now
                took = False
                found = candidates(inbox.dir, shared=settings.shared)
                for path in tracker.observe(found):
                    if stop.is_set():
                        break
                    for result in inbox.take([path]):
                        took = True
                        _report(on_result, result)
                if took or now - last_overview >= OVERVIEW_INTERVAL:
                    last_overview = now
                    write_overview_safely(app)
            # Short waits so a stop request is seen quickly even without file events.
            wake.wait(tick if tracker.pending else min(0.5, settings.scan_interval))
    finally:
        observer.stop()
        observer.join(timeout=5)
        if mail_reader is not None:
            mail_reader.join(timeout=10)
        log.info("stopped watching %s", inbox.dir)


def start_mail_reader(app: App, stop: threading.Event) -> threading.Thread | None:
    """The ``[mailin]`` mailbox read beside the folders (a thread), when it is enabled."""
    if not app.settings.mailin.enabled:
        return None
    # Lazy for start-up time: the IMAP client is imported only where mail is read.
    from pipeline.mailin.poll import MailReader

    reader = MailReader(app, stop)
    reader.start()
    return reader


def read_mail_safely(app: App) -> list[FileResult]:
    """One pass over the ``[mailin]`` mailbox (for ``process``); a server that cannot be
    reached is logged, and the mail stays there for the next pass."""
    if not app.settings.mailin.enabled:
        return []
    # Lazy for start-up time (see start_mail_reader).
    from pipeline.mailin.poll import poll_once

    try:
        return [f for mail in poll_once(app) for f in mail.files]
    except Exception:
        log.exception("reading the mailbox failed; its mail is read on the next pass")
        return []


def dispatch_safely(app: App) -> None:
    """Send queued mail and SMS; a failing backend must not stop the inbox."""
    try:
        outbox.drain(app)
    except Exception:
        log.exception("dispatching messages failed; they stay queued")


def _remind(app: App) -> None:
    """The daily reminders (sent once a day from the configured hour)."""
    try:
        reminders.send_reminders(app, now=dt.datetime.now(dt.UTC))
    except Exception:
        log.exception("sending reminders failed; they are tried again later")


#: Beside ``outbox/status.xlsx``: the id of the last audit event it shows.
OVERVIEW_MARK = ".status.xlsx.last-event"


def _last_event_id(app: App) -> int:
    with app.db.read_session() as session:
        return int(session.execute(select(func.max(AuditEvent.id))).scalar() or 0)


def overview_outdated(app: App) -> bool:
    """Does ``outbox/status.xlsx`` miss a change? True when it is missing, was written on an
    earlier day (overdue days count on), or an audit event (every change of a list is one)
    was committed after the last one it shows. Lets a pass that took nothing skip rewriting
    it (and importing openpyxl). Event ids, not times: an event's time is taken before its
    commit, and appends to the chain commit in id order."""
    path = app.settings.office_outbox / "status.xlsx"
    try:
        written = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        shown = int((app.settings.var / OVERVIEW_MARK).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return True
    if written.astimezone().date() != dt.datetime.now().astimezone().date():
        return True
    return _last_event_id(app) > shown


def write_overview_safely(app: App) -> None:
    """Rewrite ``outbox/status.xlsx``; a refused rename (file share) must not stop the daemon."""
    # Lazy for start-up time: the overview workbook needs openpyxl, which a pass that
    # changed nothing never imports.
    from pipeline.messages import overview

    try:
        last = _last_event_id(app)  # before collecting: a later event makes it outdated
        overview.write_overview(app)
        files.write_text(app.settings.var / OVERVIEW_MARK, str(last))
    except Exception:
        log.exception("writing outbox/status.xlsx failed; the previous one stays")


def _report(callback: Callable[[FileResult], Any] | None, result: FileResult) -> None:
    if callback is not None:
        callback(result)
