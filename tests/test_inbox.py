"""Inbox mechanics: stability, claiming, the watch daemon, crash recovery."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

from pipeline.app import App
from pipeline.intake.claim import PROCESSING, StabilityTracker, claim
from pipeline.intake.inbox import FileResult, Inbox
from pipeline.intake.watcher import run_watch
from pipeline.lists.create import create_t33
from pipeline.lists.students import StudentSources
from pipeline.models import FileOutcome
from pipeline.xlsx import workbook
from tests.factories import TERM, fill, new_exam_list, seed


def _filled(app: App, tmp: Path) -> tuple[Path, list[str]]:
    s = seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    return fill(
        issued.path,
        {s.pnrs[0]: {"grade": "4", "grade_date": "2026-11-02"}},
        target=tmp / "filled.xlsx",
    ), s.pnrs


def test_tracker_waits_for_unchanged_size_and_mtime(tmp_path: Path) -> None:
    now = [100.0]
    tracker = StabilityTracker(1.0, strict=True, clock=lambda: now[0])
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"abc")
    assert tracker.observe([path]) == []
    now[0] += 0.5
    assert tracker.observe([path]) == []
    with path.open("ab") as fh:
        fh.write(b"more")
    now[0] += 0.9
    assert tracker.observe([path]) == []  # changed: the clock starts again
    now[0] += 0.9
    assert tracker.observe([path]) == []
    now[0] += 0.2
    assert tracker.observe([path]) == [path]


def test_slowly_written_file_not_taken_before_complete(app: App, tmp_path: Path) -> None:
    source, _ = _filled(app, tmp_path)
    data = source.read_bytes()
    target = app.settings.inbox / "slow.xlsx"
    chunks = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]
    results: list[FileResult] = []
    stop = threading.Event()
    # A chunk every 0.12 s through one handle; stable means 0.3 s without change.
    app.settings = replace(
        app.settings, inbox_settings=replace(app.settings.inbox_settings, stable_seconds=0.3)
    )

    def writer() -> None:
        with target.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                fh.flush()
                time.sleep(0.12)

    thread = threading.Thread(target=writer)
    watcher = threading.Thread(
        target=run_watch,
        kwargs={"app": app, "stop": stop, "on_result": results.append, "install_signals": False},
    )
    thread.start()
    watcher.start()
    thread.join()
    deadline = time.monotonic() + 10
    while not results and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join(timeout=10)
    assert [r.outcome for r in results] == [FileOutcome.ACCEPTED]
    assert results[0].kept_at is not None and results[0].kept_at.read_bytes() == data


def test_watch_takes_a_dropped_file_and_keeps_running(app: App, tmp_path: Path) -> None:
    source, _ = _filled(app, tmp_path)
    results: list[FileResult] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=run_watch,
        kwargs={"app": app, "stop": stop, "on_result": results.append, "install_signals": False},
    )
    watcher.start()
    try:
        (app.settings.inbox / "junk.xlsx").write_bytes(b"not a workbook")
        tmp = app.settings.inbox / ".copying"
        shutil.copy(source, tmp)
        tmp.rename(app.settings.inbox / "betyg.xlsx")
        deadline = time.monotonic() + 15
        while len(results) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.join(timeout=10)
    outcomes = {r.original_name: r.outcome for r in results}
    assert outcomes == {"junk.xlsx": FileOutcome.REJECTED, "betyg.xlsx": FileOutcome.ACCEPTED}


def test_claimed_file_left_by_a_crash_is_recovered(app: App, tmp_path: Path) -> None:
    source, _ = _filled(app, tmp_path)
    dropped = app.settings.inbox / "betyg.xlsx"
    shutil.copy(source, dropped)
    claimed = claim(app.settings.inbox, dropped)
    assert claimed is not None and claimed.path.parent.name == PROCESSING
    # While its worker lives (holds the lock), nobody else takes it.
    assert Inbox(app).process_once() == []
    # The worker died here (the kernel drops its lock); the next pass finishes it, once.
    claimed.release()
    results = Inbox(app).process_once()
    assert [(r.original_name, r.outcome) for r in results] == [("betyg.xlsx", FileOutcome.ACCEPTED)]
    assert list((app.settings.inbox / PROCESSING).iterdir()) == []
    assert len(list(app.settings.receipts_dir.glob("*.txt"))) == 1


def test_process_with_several_workers_takes_each_file_once(
    app: App, workspace: Path, tmp_path: Path
) -> None:
    import json

    from sqlalchemy import select
    from typer.testing import CliRunner

    from pipeline.cli import app as cli_app
    from pipeline.models import InboxFile

    s = seed(app, students=2)
    for _ in range(6):
        listnr = create_t33(
            app,
            course_code="DV1599",
            module_code="2010",
            term=TERM,
            sources=StudentSources(students=s.pnrs),
            reporter="lärare1",
        )
        issued = workbook.issue(app, listnr)
        fill(
            issued.path,
            {s.pnrs[0]: {"grade": "4", "grade_date": "2026-11-02"}},
            target=app.settings.inbox / f"{listnr}.xlsx",
        )
    (app.settings.inbox / "junk.xlsx").write_bytes(b"junk")
    result = CliRunner().invoke(
        cli_app, ["-w", str(workspace), "process", "--workers", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    outcomes = sorted((r["file"], r["outcome"]) for r in json.loads(result.output))
    assert outcomes == sorted(
        [(f"{n}.xlsx", "accepted") for n in range(1001, 1007)] + [("junk.xlsx", "rejected")]
    )
    with app.db.session() as session:
        assert len(session.execute(select(InboxFile)).scalars().all()) == 7
    assert len(list(app.settings.receipts_dir.glob("*.txt"))) == 7
