"""The inbox: finding stable files, claiming them, and taking each through the pipeline.

Owns everything about files in ``inbox/``: which names are ignored (lock files, hidden and
temporary files), when a file is stable enough to take, claiming it by atomic rename into
``inbox/.processing/``, the SHA-256 idempotency key, and where the original ends up
(``inbox/.processed/`` or ``inbox/.rejected/``, never deleted). Every file gets one receipt.

The stages for one claimed file, top to bottom (:func:`process_claimed`):

1. hash the bytes; an earlier accepted file with the same hash makes this a duplicate;
2. read it (refusing what must not be parsed) and identify its kind;
3. check and apply it in one transaction, recording the file with its outcome;
4. after the commit: re-issue the list's workbook, write the receipt, move the original.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import fnmatch
import functools
import gc
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from pipeline import files
from pipeline.app import App
from pipeline.intake.allocator import keep_freed_memory
from pipeline.intake.report import Problem, messages
from pipeline.messages import outbox
from pipeline.models import FileOutcome, InboxFile, ResultList, Staff, utcnow

if TYPE_CHECKING:
    # Reading and checking workbooks needs pandas, pandera and openpyxl: imported when a file
    # is taken, so `resultat process` on an empty inbox (and the daemon's start) stays quick.
    from pipeline.intake.receipts import ReceiptData
    from pipeline.xlsx.reader import Limits, ResultWorkbook

log = logging.getLogger("resultat.inbox")

PROCESSING: Final = ".processing"
PROCESSED: Final = ".processed"
REJECTED: Final = ".rejected"
SEPARATOR: Final = "__"
#: Names never taken from the inbox: lock files of Excel and LibreOffice, OS litter, temporaries.
IGNORED_PATTERNS: Final = (
    "~$*",
    ".~lock.*#",
    "~*.tmp",
    "~*",
    "._*",
    ".*",
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.swp",
    "*~",
    "Thumbs.db",
    "desktop.ini",
)


def is_ignored(name: str) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in IGNORED_PATTERNS)


def candidates(inbox: Path) -> list[Path]:
    """Regular files directly in ``inbox`` that are not ignored (symlinks never followed)."""
    found: list[Path] = []
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return found
    for entry in entries:
        if is_ignored(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
        except OSError:
            continue
    found.sort(key=lambda p: p.name)
    return found


class StabilityTracker:
    """Decides when a file has stopped changing.

    A file is stable when its size and modification time have not changed for ``delay``
    seconds of observation, or (unless ``strict``, as on network shares with other clocks)
    when its modification time is already older than ``delay``. A close-after-write event
    from the OS shortens the wait to ``settle`` seconds.
    """

    def __init__(
        self,
        delay: float,
        *,
        strict: bool = False,
        settle: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delay = delay
        self.strict = strict
        self.settle = min(settle, delay)
        self.clock = clock
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}
        self._closed: set[Path] = set()

    def mark_closed(self, path: Path) -> None:
        self._closed.add(path)

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)
        self._closed.discard(path)

    @property
    def pending(self) -> int:
        return len(self._seen)

    def observe(self, paths: Iterable[Path]) -> list[Path]:
        now = self.clock()
        stable: list[Path] = []
        current = set()
        for path in paths:
            try:
                st = path.stat(follow_symlinks=False)
            except OSError:
                self.forget(path)
                continue
            current.add(path)
            signature = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(path)
            if previous is None or previous[0] != signature:
                self._seen[path] = (signature, now)
                if not self.strict and time.time() - st.st_mtime >= self.delay:
                    stable.append(path)
                continue
            wait = self.settle if path in self._closed else self.delay
            if now - previous[1] >= wait:
                stable.append(path)
        for gone in set(self._seen) - current:
            self.forget(gone)
        for path in stable:
            self.forget(path)
        return stable


@dataclass
class Claimed:
    """A file taken for processing. ``lock`` is an open descriptor holding an exclusive
    ``flock`` on the file until it is moved out of the processing area: other workers skip a
    locked file, and the kernel releases the lock when a worker dies (even by SIGKILL), so
    the next pass can finish what it left."""

    path: Path
    original_name: str
    claim_id: str
    lock: int | None = None

    def release(self) -> None:
        if self.lock is not None:
            with contextlib.suppress(OSError):
                os.close(self.lock)
            self.lock = None


@dataclass
class FileResult:
    """The outcome of one file, for progress output and tests."""

    original_name: str
    outcome: FileOutcome
    listnr: int | None = None
    receipt: Path | None = None
    kept_at: Path | None = None
    problems: list[Problem] = field(default_factory=list)


def _lock(path: Path) -> int | None:
    """An exclusive, non-blocking lock on ``path`` (never following a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim(inbox: Path, path: Path) -> Claimed | None:
    """Lock ``path`` and move it into the processing area; ``None`` if another worker got it
    first. The lock is taken before the rename, so a file in the processing area is never
    seen unlocked while its worker lives."""
    area = inbox / PROCESSING
    area.mkdir(exist_ok=True)
    fd = _lock(path)
    if fd is None:
        return None
    claim_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    target = area / f"{claim_id}{SEPARATOR}{_fitting(path.name, claim_id)}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        os.close(fd)
        return None
    except OSError:
        # Never let one odd file stop the daemon: it stays in the inbox, and is logged.
        os.close(fd)
        log.exception("cannot claim %s", display_name(path.name))
        return None
    return Claimed(target, path.name, claim_id, fd)


def _fitting(name: str, claim_id: str) -> str:
    """The name shortened (keeping its extension) so ``<claim>__<name>`` fits in 255 bytes."""
    room = 255 - len(claim_id.encode()) - len(SEPARATOR)
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= room:
        return name
    _stem, dot, ext = name.rpartition(".")
    ext_bytes = (dot + ext).encode("utf-8", "surrogateescape") if dot and len(ext) < 10 else b""
    keep = raw[: room - len(ext_bytes)]
    return (keep + ext_bytes).decode("utf-8", "ignore")


def display_name(name: str) -> str:
    """A file name as text that can be stored and shown (bytes that are not UTF-8 replaced)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _destination(inbox: Path, claimed: Claimed, outcome: FileOutcome) -> Path:
    area = REJECTED if outcome == FileOutcome.REJECTED else PROCESSED
    return inbox / area / claimed.path.name


_FILES: Final = InboxFile.__table__
# Looked up for every file taken: plain statements built once (no ORM objects loaded).
_EARLIER_ACCEPTED: Final = (
    select(_FILES.c.listnr, _FILES.c.original_name, _FILES.c.finished_at)
    .where(
        _FILES.c.sha256 == bindparam("sha"),
        _FILES.c.outcome == FileOutcome.ACCEPTED,
        _FILES.c.kind != "lms-export",
    )
    .order_by(_FILES.c.id)
    .limit(1)
)
_LISTS: Final = ResultList.__table__
_LOCK_LIST: Final = (
    select(_LISTS.c.id).where(_LISTS.c.listnr == bindparam("listnr")).with_for_update()
)
_LIST_VERSION: Final = select(_LISTS.c.version).where(_LISTS.c.listnr == bindparam("listnr"))
_STAFF: Final = Staff.__table__
_RECEIPT_COPIES: Final = select(
    _STAFF.c.receipt_copies, _STAFF.c.language, _STAFF.c.notify_email, _STAFF.c.email
).where(_STAFF.c.username == bindparam("username"))
_FINISHED_AT: Final = select(_FILES.c.outcome, _FILES.c.listnr, _FILES.c.kind).where(
    _FILES.c.stored_path.in_(bindparam("paths", expanding=True))
)


def _earlier_accepted(session: Session, sha: str) -> tuple[int | None, str] | None:
    """The list and a description (name, time) of an earlier accepted file with these bytes.

    Learning-platform exports don't count: one may be dropped again after a column was chosen."""
    earlier = session.execute(_EARLIER_ACCEPTED, {"sha": sha}).first()
    if earlier is None or earlier.finished_at is None:
        return None
    return earlier.listnr, f"{earlier.original_name}, {earlier.finished_at:%Y-%m-%d %H:%M}"


def _relative(app: App, path: Path) -> str:
    try:
        text = str(path.relative_to(app.root))
    except ValueError:
        text = str(path)
    return display_name(text)


class Inbox:
    """The inbox of one workspace; one instance per worker process."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.dir = app.settings.inbox
        keep_freed_memory()  # this process takes file after file
        for name in ("", PROCESSING, PROCESSED, REJECTED):
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        for name in (PROCESSING, PROCESSED, REJECTED):
            with contextlib.suppress(OSError):
                (self.dir / name).chmod(0o750)

    @functools.cached_property
    def limits(self) -> Limits:
        from pipeline.xlsx.reader import Limits

        settings = self.app.settings.inbox_settings
        return Limits(max_file_bytes=settings.max_file_bytes, max_rows=settings.max_rows)

    # -- one file -------------------------------------------------------------------------

    def process_claimed(self, claimed: Claimed) -> FileResult:
        from pipeline.lms import merge
        from pipeline.xlsx import workbook
        from pipeline.xlsx.reader import UnreadableFile, read_result_workbook

        app = self.app
        received = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
        claimed.original_name = display_name(claimed.original_name)
        sha = _sha256(claimed.path)

        with app.db.read_session() as session:
            destinations = [
                _relative(app, _destination(self.dir, claimed, status))
                for status in (FileOutcome.ACCEPTED, FileOutcome.REJECTED)
            ]
            finished = session.execute(_FINISHED_AT, {"paths": destinations}).one_or_none()
            done = tuple(finished) if finished is not None else None
            earlier_info = _earlier_accepted(session, sha)
        if done is not None:
            # Crash after the commit: write the fresh workbook again (idempotent), then move.
            outcome, listnr, kind = done
            if outcome == FileOutcome.ACCEPTED and kind == "results-workbook" and listnr:
                workbook.issue(app, listnr)
            return self._finish(claimed, outcome, listnr, None, [])
        if earlier_info is not None:
            listnr, when = earlier_info
            return self._duplicate(claimed, sha, received, listnr, when)

        try:
            wb = read_result_workbook(claimed.path, self.limits)
        except UnreadableFile as exc:
            return self._refuse(claimed, sha, received, Problem(exc.slug, exc.params), "unreadable")
        if wb is None:
            listnr = merge.listnr_from_name(claimed.original_name, self._list_exists)
            if listnr is not None:
                return self._lms_export(claimed, sha, listnr, received)
            return self._refuse(claimed, sha, received, Problem("unknown-kind"), "unknown")
        return self._result_workbook(claimed, sha, wb, received)

    def _list_exists(self, listnr: int) -> bool:
        with self.app.db.read_session() as session:
            found = session.execute(
                select(ResultList.id).where(ResultList.listnr == listnr)
            ).scalar_one_or_none()
        return found is not None

    def _lms_export(self, claimed: Claimed, sha: str, listnr: int, received: str) -> FileResult:
        """An export from the learning platform named for a list: merged into a workbook the
        teacher checks and drops again (nothing is applied to the list by a merge)."""
        from pipeline.lms import merge

        app = self.app
        result = merge.merge_file(app, listnr, claimed.path, original_name=claimed.original_name)
        status = FileOutcome.ACCEPTED if result.ok else FileOutcome.REJECTED
        kept_at = _relative(app, _destination(self.dir, claimed, status))
        with app.db.session() as session:
            reporter = session.execute(
                select(Staff)
                .join(ResultList, ResultList.reporter == Staff.username)
                .where(ResultList.listnr == listnr)
            ).scalar_one_or_none()
            language = (
                reporter.language
                if reporter is not None and reporter.language in ("sv", "en")
                else app.settings.language
            )
        text = merge.render_receipt(
            app,
            result,
            file_name=claimed.original_name,
            received=received,
            kept_at=kept_at,
            language=language,
        )
        receipt_path = app.settings.receipts_dir / f"{claimed.claim_id}_{listnr}.txt"
        files.write_text(receipt_path, text)
        with app.db.session() as session:
            session.add(
                InboxFile(
                    sha256=sha,
                    original_name=display_name(claimed.original_name)[:500],
                    stored_path=kept_at,
                    kind="lms-export",
                    listnr=listnr,
                    outcome=status,
                    receipt_path=_relative(app, receipt_path),
                    finished_at=utcnow(),
                )
            )
        log.info("list %s: LMS export %s, %d merged", listnr, status.value, result.merged)
        return self._finish(claimed, status, listnr, receipt_path, result.problems)

    def _refuse(
        self, claimed: Claimed, sha: str, received: str, problem: Problem, kind: str
    ) -> FileResult:
        """Reject a file that could not be read or identified (nothing to apply)."""
        from pipeline.intake.receipts import ReceiptData

        data = ReceiptData(
            status="rejected",
            file_name=claimed.original_name,
            received=received,
            kept_at="",
            language=self.app.settings.language,
            problems=[problem],
        )
        return self._conclude(claimed, sha, FileOutcome.REJECTED, data, None, kind)

    def _duplicate(
        self, claimed: Claimed, sha: str, received: str, listnr: int | None, earlier: str
    ) -> FileResult:
        """The same bytes were accepted before: a receipt saying so, nothing applied."""
        from pipeline.intake.receipts import ReceiptData

        data = ReceiptData(
            status="duplicate",
            file_name=claimed.original_name,
            received=received,
            kept_at="",
            language=self.app.settings.language,
            listnr=listnr,
            earlier=earlier,
        )
        return self._conclude(claimed, sha, FileOutcome.DUPLICATE, data, None, "duplicate")

    def _result_workbook(
        self, claimed: Claimed, sha: str, wb: ResultWorkbook, received: str
    ) -> FileResult:
        from pipeline.intake import handlers as intake
        from pipeline.intake.receipts import ReceiptData, mark_workbook, write_receipt
        from pipeline.xlsx import workbook

        app = self.app
        stem = f"{claimed.claim_id}_{wb.listnr or 'okand'}"
        receipt_path: Path | None = None
        marked: Path | None = None
        checked = None
        if wb.purpose != "review":
            # Checked without the write lock (other workers apply meanwhile), applied below.
            with app.db.read_session() as session:
                checked = intake.check(session, app, wb)
        with app.db.session() as session:
            earlier = self._accepted_copy(session, sha, wb.listnr)
            if earlier is not None:
                # Another worker applied the same bytes while this copy waited for the lock.
                session.rollback()
                return self._duplicate(claimed, sha, received, wb.listnr, earlier)
            if checked is None:
                outcome = intake.check_review(session, app, wb)
            elif checked.prepared is not None:
                outcome = intake.apply_checked(session, app, wb, checked)
            else:
                # Refused: checked again under the lock, so the receipt is the final word.
                outcome = intake.check_and_apply(session, app, wb)
            status = FileOutcome.ACCEPTED if outcome.accepted else FileOutcome.REJECTED
            # The list as applied is at hand (the same object a query would give).
            result_list = outcome.applied_to or self._list_head(session, outcome.listnr)
            status_text = "accepted" if outcome.accepted else "rejected"
            if outcome.accepted and outcome.decision in ("approved", "rejected"):
                status_text = "approved" if outcome.decision == "approved" else "sent_back"
            data = ReceiptData(
                status=status_text,
                file_name=claimed.original_name,
                received=received,
                kept_at=_relative(app, _destination(self.dir, claimed, status)),
                language=outcome.language,
                listnr=outcome.listnr,
                course=result_list.course.code if result_list else None,
                module=result_list.module.code if result_list and result_list.module else None,
                problems=outcome.report.sorted_problems(),
                graded=outcome.graded,
                students=outcome.students,
                changed=outcome.changed,
                version=outcome.version,
                submitted=outcome.state in ("submitted", "awaiting_approval") and outcome.accepted,
                examiner=result_list.examiner if result_list else None,
                notes=[
                    str(messages(outcome.language, app.root)["notes"].get(n, n))
                    for n in outcome.notes
                ],
                fresh_workbook=(
                    _relative(app, app.settings.lists_dir / f"{outcome.listnr}.xlsx")
                    if outcome.reissue
                    else None
                ),
            )
            if not outcome.accepted:
                marked = mark_workbook(
                    app.settings,
                    claimed.path,
                    wb.file_format,
                    data.problems,
                    app.settings.receipts_dir / f"{stem}_fel.xlsx",
                    language=outcome.language,
                    sheet_rows={wb.sheet: wb.sheet_rows},
                )
                data.marked_workbook = _relative(app, marked) if marked else None
            receipt_path = write_receipt(app.settings, stem, data)
            # The fresh workbook is built after the commit, from the list as applied here.
            reissue = result_list if outcome.reissue else None
            if result_list is not None:
                self._copy_receipt(session, result_list.reporter, data, receipt_path, marked)
            try:
                session.add(
                    InboxFile(
                        sha256=sha,
                        original_name=display_name(claimed.original_name)[:500],
                        stored_path=_relative(app, _destination(self.dir, claimed, status)),
                        kind=f"{wb.purpose}-workbook",
                        listnr=outcome.listnr,
                        outcome=status,
                        receipt_path=_relative(app, receipt_path),
                        finished_at=utcnow(),
                    )
                )
                session.flush()
            except BaseException:
                receipt_path.unlink(missing_ok=True)
                if marked is not None:
                    marked.unlink(missing_ok=True)
                raise
        if reissue is not None:
            # Outside the write transaction: other workers apply meanwhile. The list's head and
            # rows are what this transaction committed; the session only looks up names.
            with app.db.read_session() as names:
                names.add(reissue)
                now = names.execute(_LIST_VERSION, {"listnr": reissue.listnr}).scalar_one()
                # Another worker committed a newer version meanwhile: its workbook wins.
                fresh = (
                    workbook.build_current(app, reissue, outcome.entries)[0]
                    if now == reissue.version
                    else None
                )
            if fresh is not None:
                files.save(fresh, app.settings.lists_dir / f"{reissue.listnr}.xlsx")
        log.info(
            "list %s: %s from %s (%d problems)",
            outcome.listnr,
            status.value,
            claimed.original_name,
            len(outcome.report.problems),
        )
        return self._finish(claimed, status, outcome.listnr, receipt_path, data.problems)

    @staticmethod
    def _list_head(session: Session, listnr: int | None) -> ResultList | None:
        """The list with its course and module (one query), or ``None``."""
        from pipeline.errors import NotFound
        from pipeline.lists.query import get_list_head

        if not listnr:
            return None
        try:
            return get_list_head(session, listnr)
        except NotFound:
            return None

    def _copy_receipt(
        self,
        session: Session,
        username: str,
        data: ReceiptData,
        receipt_path: Path,
        marked: Path | None,
    ) -> None:
        """Staff who asked for copies of their receipts get one by email (their settings)."""
        staff = session.execute(_RECEIPT_COPIES, {"username": username}).one_or_none()
        if staff is None or not staff.receipt_copies:
            return
        language = staff.language if staff.language in ("sv", "en") else data.language
        outbox.queue_email(
            session,
            kind="receipt_copy",
            to=staff.notify_email or staff.email,
            language=language,
            context={
                "file_name": data.file_name,
                "listnr": data.listnr,
                "receipt": receipt_path.read_text(encoding="utf-8"),
            },
            attachments=[marked] if marked else [],
            listnr=data.listnr,
            dedupe_key=f"receipt_copy:{receipt_path.name}",
            workspace=self.app.root,
        )

    def _accepted_copy(self, session: Session, sha: str, listnr: int | None) -> str | None:
        """Under the list's row lock (held to the commit by whoever applies it): has a copy of
        these bytes been accepted meanwhile? Serialises two workers holding two copies."""
        if listnr is None:
            return None
        session.execute(_LOCK_LIST, {"listnr": listnr}).first()
        found = _earlier_accepted(session, sha)
        return found[1] if found is not None else None

    def _conclude(
        self,
        claimed: Claimed,
        sha: str,
        status: FileOutcome,
        data: ReceiptData,
        listnr: int | None,
        kind: str,
    ) -> FileResult:
        """Receipt and record for a file that changes nothing but its own record."""
        app = self.app
        data.kept_at = _relative(app, _destination(self.dir, claimed, status))
        listnr = listnr if listnr is not None else data.listnr
        stem = f"{claimed.claim_id}_{listnr or 'okand'}"
        from pipeline.intake.receipts import write_receipt

        receipt_path = write_receipt(app.settings, stem, data)
        with app.db.session() as session:
            session.add(
                InboxFile(
                    sha256=sha,
                    original_name=display_name(claimed.original_name)[:500],
                    stored_path=data.kept_at,
                    kind=kind,
                    listnr=listnr,
                    outcome=status,
                    receipt_path=_relative(app, receipt_path),
                    finished_at=utcnow(),
                )
            )
        log.info("%s: %s", claimed.original_name, status.value)
        return self._finish(claimed, status, listnr, receipt_path, data.problems)

    def _finish(
        self,
        claimed: Claimed,
        status: FileOutcome,
        listnr: int | None,
        receipt: Path | None,
        problems: list[Problem],
    ) -> FileResult:
        target = _destination(self.dir, claimed, status)
        target.parent.mkdir(exist_ok=True, mode=0o750)
        # Kept originals hold personnummer and grades: not readable by other local users.
        # (Not for a hard link: its other name outside the inbox must stay untouched.)
        with contextlib.suppress(OSError):
            if os.stat(claimed.path, follow_symlinks=False).st_nlink == 1:
                os.chmod(claimed.path, 0o640, follow_symlinks=False)
        os.replace(claimed.path, target)
        claimed.release()
        return FileResult(claimed.original_name, status, listnr, receipt, target, problems)

    # -- passes ---------------------------------------------------------------------------

    def recover(self) -> list[FileResult]:
        """Finish files left in the processing area by a worker that stopped mid-way."""
        results = []
        for path in sorted((self.dir / PROCESSING).iterdir()):
            if path.is_symlink() or not path.is_file() or SEPARATOR not in path.name:
                continue
            fd = _lock(path)
            if fd is None:
                continue  # a living worker is on it
            if not path.exists():  # finished by its worker between listing and locking
                os.close(fd)
                continue
            claim_id, original = path.name.split(SEPARATOR, 1)
            results.append(self._safe(Claimed(path, original, claim_id, fd)))
        return results

    def _safe(self, claimed: Claimed) -> FileResult:
        try:
            with _no_gc_pauses():
                return self.process_claimed(claimed)
        except Exception:
            # Broken processing, not bad input: keep the file claimed for the next pass.
            log.exception("processing %s failed; it stays in %s", claimed.original_name, PROCESSING)
            claimed.release()
            return FileResult(claimed.original_name, FileOutcome.PROCESSING)

    def take(self, paths: Iterable[Path]) -> list[FileResult]:
        results = []
        for path in paths:
            claimed = claim(self.dir, path)
            if claimed is not None:
                results.append(self._safe(claimed))
        return results

    def process_once(
        self,
        *,
        strict: bool = False,
        progress: Callable[[FileResult], None] | None = None,
    ) -> list[FileResult]:
        """One pass: recover, then take every file that is (or within a short wait becomes)
        stable. Files still being written are left for the next pass."""
        results = self.recover()
        delay = self.app.settings.inbox_settings.stable_seconds
        tracker = StabilityTracker(delay, strict=strict)
        pending = candidates(self.dir)
        deadline = time.monotonic() + 2 * delay + 0.5
        while pending:
            for path in tracker.observe(pending):
                for result in self.take([path]):
                    results.append(result)
                    if progress is not None:
                        progress(result)
            still = set(pending)
            pending = [p for p in candidates(self.dir) if p in still]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(min(0.1, delay / 4 or 0.05))
        return results


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Run one file without the cyclic garbage collector.

    Reading and applying a list allocates hundreds of thousands of short-lived objects; with
    the collector on, its repeated passes over everything the process holds took as long as
    the work itself (a 20,000-row list: 120 ms of 170 to load its rows). What one file
    leaves behind is collected by the collector's next passes, so memory stays bounded."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _worker_pass(root: str, actor: str | None, strict: bool) -> list[FileResult]:
    app = App.open(Path(root), actor=actor, migrate=False)
    try:
        return Inbox(app).process_once(strict=strict)
    finally:
        app.close()


def process_in_workers(app: App, *, workers: int, strict: bool = False) -> list[FileResult]:
    """One pass with ``workers`` processes on the same inbox. Each file is still taken by
    exactly one of them (lock and atomic rename); the database serialises what must be."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if workers <= 1:
        return Inbox(app).process_once(strict=strict)
    Inbox(app)  # create the areas once, before the workers race for them
    # spawn, not fork: a forked child would inherit (and on exit close) our DB connections.
    context = multiprocessing.get_context("spawn")
    results: list[FileResult] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(_worker_pass, str(app.root), app.actor, strict) for _ in range(workers)
        ]
        for future in futures:
            results.extend(future.result())
    return results
