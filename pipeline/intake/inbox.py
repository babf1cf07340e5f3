"""The inbox: taking stable files one by one through the stages of the intake.

Owns the passes over ``inbox/`` (recover what a stopped worker left in the processing area,
then take every stable file), one file's run through :data:`pipeline.intake.stages.STAGES`,
moving the original by its outcome (``inbox/.processed/`` or ``inbox/.rejected/``, never
deleted), strays (dot-files, symlinks) answered and set aside
(:mod:`pipeline.intake.set_aside`), and several worker processes on one inbox. Which files
are taken, and claiming them, is :mod:`pipeline.intake.claim`'s; what happens to a file is
the stages'. Every file gets one receipt.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.app import App
from pipeline.intake.allocator import keep_freed_memory
from pipeline.intake.claim import (
    PROCESSED,
    PROCESSING,
    REJECTED,
    SEPARATOR,
    Claimed,
    StabilityTracker,
    candidates,
    claim,
    destination,
    display_name,
    is_stray,
    parse_claimed,
    try_lock,
)
from pipeline.intake.outcomes import Outcome
from pipeline.intake.report import Problem
from pipeline.models import FileOutcome
from pipeline.shown import shown

if TYPE_CHECKING:
    from pipeline.intake.stages import Stage
    from pipeline.xlsx.reader import Limits

log = logging.getLogger("resultat.inbox")


@dataclass
class FileResult:
    """The outcome of one file, for progress output and tests."""

    original_name: str
    outcome: FileOutcome
    listnr: int | None = None
    receipt: Path | None = None
    kept_at: Path | None = None
    problems: list[Problem] = field(default_factory=list)
    #: What the stage that concluded the file found (``None`` when processing failed).
    concluded: Outcome | None = None


class Inbox:
    """The inbox of one workspace; one instance per worker process.

    ``stages`` replaces :data:`pipeline.intake.stages.STAGES` (for tests of the list)."""

    def __init__(self, app: App, *, stages: Sequence[Stage] | None = None) -> None:
        self.app = app
        self.dir = app.settings.inbox
        self._stages = stages
        for name in ("", PROCESSING, PROCESSED, REJECTED):
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        for name in (PROCESSING, PROCESSED, REJECTED):
            with contextlib.suppress(OSError):
                (self.dir / name).chmod(0o750)

    @functools.cached_property
    def limits(self) -> Limits:
        # Lazy for start-up time: reading workbooks needs pandas, pandera and openpyxl,
        # imported when a file is taken, so `resultat process` on an empty inbox (and the
        # daemon's start) stays quick.
        from pipeline.xlsx.reader import Limits

        settings = self.app.settings.inbox_settings
        return Limits(max_file_bytes=settings.max_file_bytes, max_rows=settings.max_rows)

    # -- one file -------------------------------------------------------------------------

    def process_claimed(self, claimed: Claimed) -> FileResult:
        """Take one claimed file through the stages, then move it by its outcome."""
        # Lazy for start-up time (see ``limits``): the stages import the workbook readers.
        from pipeline.intake import stages
        from pipeline.intake.dropped import DroppedFile

        ctx = DroppedFile(self.app, self.dir, claimed, self.limits)
        outcome = stages.run(ctx, self._stages if self._stages is not None else stages.STAGES)
        return self._finish(claimed, outcome)

    def _finish(self, claimed: Claimed, outcome: Outcome) -> FileResult:
        status = outcome.kept_as
        target = destination(self.dir, claimed, status)
        target.parent.mkdir(exist_ok=True, mode=0o750)
        # Kept originals hold personnummer and grades: not readable by other local users.
        # (Not for a hard link: its other name outside the inbox must stay untouched.)
        with contextlib.suppress(OSError):
            if os.stat(claimed.path, follow_symlinks=False).st_nlink == 1:
                os.chmod(claimed.path, 0o640, follow_symlinks=False)
        os.replace(claimed.path, target)
        claimed.release()
        return FileResult(
            claimed.original_name,
            status,
            outcome.listnr,
            outcome.receipt,
            target,
            list(outcome.problems),
            outcome,
        )

    # -- passes ---------------------------------------------------------------------------

    def recover(self) -> list[FileResult]:
        """Finish files left in the processing area by a worker that stopped mid-way."""
        results = []
        for path in sorted((self.dir / PROCESSING).iterdir()):
            if path.is_symlink() or not path.is_file() or SEPARATOR not in path.name:
                continue
            fd = try_lock(path)
            if fd is None:
                continue  # a living worker is on it
            if not path.exists():  # finished by its worker between listing and locking
                os.close(fd)
                continue
            claim_id, owner, original = parse_claimed(path.name)
            results.append(self._safe(Claimed(path, original, claim_id, fd, owner)))
        return results

    def _safe(self, claimed: Claimed) -> FileResult:
        try:
            with _no_gc_pauses():
                return self.process_claimed(claimed)
        except Exception:
            # Broken processing, not bad input: keep the file claimed for the next pass.
            log.exception(
                "processing %s failed; it stays in %s", shown(claimed.original_name), PROCESSING
            )
            claimed.release()
            return FileResult(claimed.original_name, FileOutcome.PROCESSING)

    def take(self, paths: Iterable[Path]) -> list[FileResult]:
        results = []
        for path in paths:
            if is_stray(path):
                stray = self._set_aside(path)
                if stray is not None:
                    results.append(stray)
                continue
            claimed = claim(self.dir, path)
            if claimed is not None:
                results.append(self._safe(claimed))
        return results

    def _set_aside(self, path: Path) -> FileResult | None:
        """A dot-file or a symlink: answered and moved aside, never taken."""
        # Lazy for start-up time (see ``limits``): receipts need jinja2 and openpyxl.
        from pipeline.intake.set_aside import set_aside

        try:
            done = set_aside(self.app, self.dir, path)
        except Exception:
            log.exception("setting aside %s failed", shown(display_name(path.name)))
            return None
        if done is None:
            return None
        return FileResult(
            done.original_name,
            FileOutcome.REJECTED,
            receipt=done.receipt,
            kept_at=done.kept_at,
            problems=[done.problem],
        )

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
        shared = self.app.settings.inbox_settings.shared
        pending = candidates(self.dir, shared=shared)
        deadline = time.monotonic() + 2 * delay + 0.5
        while pending:
            for path in tracker.observe(pending):
                for result in self.take([path]):
                    results.append(result)
                    if progress is not None:
                        progress(result)
            still = set(pending)
            pending = [p for p in candidates(self.dir, shared=shared) if p in still]
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
    if workers <= 1:
        return Inbox(app).process_once(strict=strict)
    Inbox(app)  # create the areas once, before the workers race for them
    # spawn, not fork: a forked child would inherit (and on exit close) our DB connections.
    context = multiprocessing.get_context("spawn")
    results: list[FileResult] = []
    # Each worker is a process that takes file after file: the same allocator setting as the
    # daemon's entry point gives its own process (pipeline.intake.allocator).
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=keep_freed_memory
    ) as pool:
        futures = [
            pool.submit(_worker_pass, str(app.root), app.actor, strict) for _ in range(workers)
        ]
        for future in futures:
            results.extend(future.result())
    return results
