"""``python -m bench --history N``: the same operations on a small and on a long history.

Owns the history benchmark of issue 19: two workspaces made by :mod:`bench.history_data` — a
small one (5 lists) and a large one (``N`` lists, default 20,000, 50–100 rows each, audit
chain valid) — and, on a fresh copy of each, in one run: ``process`` of one 100-row drop,
``status --json``, the ``status.xlsx`` rewrite and a pass with nothing on it changed (in
process), ``verify --full``, ``verify`` from its checkpoint, ``verify`` after one day's new
events (40 lists' worth), its peak memory (RSS of exactly that child, :mod:`bench.launch`),
``approve`` and ``registered`` of one list, and the database's size; then the table with the
ratio large/small. Commands run as child processes (:func:`bench.measure.run_child`). The
generated workspaces are cached under ``--workdir`` and reused with ``--reuse``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench import data as bench_data
from bench import history_data
from bench.measure import ChildRun, resultat_command, run_child, timed
from bench.run import code_version, load_average, machine_line

SMALL: Final = 5
DEFAULT_LISTS: Final = 20_000
#: Lists one working day adds (3,000–5,000 a term over about 100 working days).
DAY_LISTS: Final = 40
OVERVIEW_RUNS: Final = 3


@dataclass
class Figures:
    """One workspace's measurements: seconds, or MB for memory and size."""

    lists: int
    values: dict[str, float] = field(default_factory=dict)


#: (key, label, unit, target ratio large/small or None)
ROWS: Final = (
    ("process", "`process`, one 100-row drop", "s", 1.2),
    ("status", "`status --json`", "s", 1.2),
    ("overview", "`status.xlsx` rewrite (in process)", "s", 1.2),
    ("overview_same", "`status.xlsx` pass, nothing on it changed (in process)", "s", None),
    ("verify_full", "`verify --full`", "s", None),
    ("verify_full_mb", "`verify --full` peak memory", "MB", None),
    ("verify", "`verify` (from its checkpoint)", "s", None),
    ("verify_day", "`verify` after one day's new events", "s", 1.5),
    ("verify_day_mb", "`verify` after one day, peak memory", "MB", None),
    ("approve", "`approve`", "s", 1.2),
    ("registered", "`registered`", "s", 1.2),
    ("db_mb", "database size", "MB", None),
    ("overview_rows", "lists in `status.xlsx`", "", None),
)
#: Absolute targets at the large history.
PEAK_MB: Final = 150.0


def _cli(ws: Path, *args: str) -> ChildRun:
    run = run_child([*resultat_command(), "-w", str(ws), *args])
    if run.returncode != 0:
        raise RuntimeError(
            f"resultat {' '.join(args)} failed ({run.returncode}):\n"
            f"{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        )
    return run


def _prepare(ws: Path, echo: Callable[[str], object]) -> tuple[int, Path]:
    """One 100-row list made by the real code (create, issue, fill), its filled workbook."""
    # Lazy: the benchmark's own process imports the library only to make data.
    from pipeline import seal
    from pipeline.app import App
    from pipeline.messages import overview
    from pipeline.xlsx import workbook

    app = App.open(ws, actor="bench", admin=True)
    try:
        # The public half beside the archive, as the first archived list leaves it, so the
        # signed chain head and the checkpoint check out from the start.
        seal.export_public(seal.load_key(app.settings.seal_path("key")), app.settings.archive)
        with app.db.read_session() as session:
            students = history_data.registry_of(session)
        pnrs = _pnrs(app, students.student_ids[:100])
        listnr = bench_data._create(app, pnrs)
        issued = workbook.issue(app, listnr, target=ws.parent / f"issued-{ws.name}.xlsx")
        filled = bench_data.fill_workbook(issued.path, ws.parent / f"{listnr}.xlsx", seed=7)
        # The finished terms' files exist, as in a workspace that has been running: each is
        # written once in its life, not by the pass measured here.
        overview.write_overview(app)
    finally:
        app.close()
    echo(f"    list {listnr} issued and filled")
    return listnr, filled


def _pnrs(app: Any, ids: Sequence[int]) -> list[str]:
    from sqlalchemy import select

    from pipeline.models import Student

    with app.db.read_session() as session:
        rows = session.execute(select(Student.id, Student.pnr).where(Student.id.in_(ids)))
        found = {row[0]: row[1] for row in rows}
    return [found[i] for i in ids]


def _request_approval(ws: Path, listnr: int) -> str:
    """Send the list for approval through the library; the code from the SMS file."""
    from pipeline import audit
    from pipeline.app import App
    from pipeline.lifecycle.approval import request_approval
    from pipeline.lists import state
    from pipeline.lists.query import get_list
    from pipeline.messages import outbox
    from pipeline.models import ListState

    app = App.open(ws, actor="bench", admin=True)
    try:
        with app.db.session() as session:
            result_list = get_list(session, listnr)
            state.transition(result_list, ListState.SUBMITTED, role=state.Role.REPORTER)
            audit.record(session, actor="bench", action="list.submit", listnr=listnr)
            result = request_approval(session, app, result_list, actor="bench")
        if result != "awaiting_approval":
            raise RuntimeError(f"list {listnr} not sent for approval: {result}")
        outbox.drain(app)
        for path in sorted((app.settings.var / "sms").glob("*.json"), key=lambda p: -int(p.stem)):
            body = json.loads(path.read_text("utf-8"))["body"]
            match = re.search(r"(?<!\d)(\d{6})(?!\d)", body)
            if str(listnr) in body and match:
                return match.group(1)
    finally:
        app.close()
    raise RuntimeError(f"no approval code for {listnr}")


def _overview_seconds(ws: Path) -> tuple[float, float]:
    """The rewrite (its fingerprint forgotten first, so it is written) and a pass whose rows
    are what the file already shows (not rewritten): medians of a few runs, in process."""
    from pipeline.app import App
    from pipeline.messages import overview, overview_marks

    app = App.open(ws, actor="bench", admin=True)
    marks = app.settings.var / overview_marks.ROWS_MARK

    def rewrite() -> None:
        marks.unlink(missing_ok=True)
        overview.write_overview(app)

    try:
        rewrite()  # warm: imports, templates
        written = statistics.median(timed(rewrite) for _ in range(OVERVIEW_RUNS))
        same = statistics.median(
            timed(lambda: overview.write_overview(app)) for _ in range(OVERVIEW_RUNS)
        )
        return written, same
    finally:
        app.close()


def _shown_lists(ws: Path) -> float:
    from pipeline.app import App
    from pipeline.messages import overview

    app = App.open(ws, actor="bench", admin=True)
    try:
        return float(len(overview.collect(app)))
    finally:
        app.close()


def _one_day(ws: Path) -> None:
    from pipeline.app import App

    app = App.open(ws, actor="bench", admin=True)
    try:
        history_data.grow(
            app, DAY_LISTS, seed=99, term_list=(history_data.CURRENT_TERM,), echo=lambda _text: None
        )
    finally:
        app.close()


def measure(template: Path, ws: Path, lists: int, echo: Callable[[str], object]) -> Figures:
    figures = Figures(lists)
    values = figures.values
    history_data.copy_workspace(template, ws)
    listnr, filled = _prepare(ws, echo)
    bench_data.drop([filled], ws)
    run = _cli(ws, "process", "--json")
    if '"accepted"' not in run.stdout:
        raise RuntimeError(f"the drop was not accepted:\n{run.stdout[-2000:]}")
    values["process"] = run.wall
    values["status"] = _cli(ws, "status", "--json").wall
    values["overview"], values["overview_same"] = _overview_seconds(ws)
    run = _cli(ws, "verify", "--full")
    values["verify_full"], values["verify_full_mb"] = run.wall, run.peak_rss_mb
    values["verify"] = _cli(ws, "verify").wall
    code = _request_approval(ws, listnr)
    values["approve"] = _cli(ws, "approve", str(listnr), code, "--admin").wall
    values["registered"] = _cli(ws, "registered", str(listnr), "--admin").wall
    _one_day(ws)
    run = _cli(ws, "verify")
    values["verify_day"], values["verify_day_mb"] = run.wall, run.peak_rss_mb
    values["db_mb"] = sum(p.stat().st_size for p in (ws / "var").glob("*.db*")) / 1e6
    values["overview_rows"] = _shown_lists(ws)
    echo("    " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
    return figures


def _fmt(value: float, unit: str) -> str:
    if not unit:
        return f"{value:,.0f}"
    if unit == "MB":
        return f"{value:.0f} MB" if value >= 10 else f"{value:.2f} MB"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(small: Figures, large: Figures) -> list[str]:
    lines = [
        f"| figure | {small.lists} lists | {large.lists:,} lists | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for key, label, unit, target in ROWS:
        a, b = small.values[key], large.values[key]
        ratio = b / a if a else float("nan")
        goal = ""
        if target is not None:
            goal = f"≤ {target}× {'met' if ratio <= target else 'missed'}"
        elif key.endswith("_mb") and key != "db_mb":
            goal = f"≤ {PEAK_MB:.0f} MB {'met' if b <= PEAK_MB else 'missed'}"
        lines.append(f"| {label} | {_fmt(a, unit)} | {_fmt(b, unit)} | {ratio:.1f}× | {goal} |")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench --history",
        description="Cost against the length of history (issue 19).",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=DEFAULT_LISTS,
        metavar="N",
        help="lists of the large history (default 20000)",
    )
    parser.add_argument("--workdir", type=Path, help="keep the generated workspaces here")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: reuse workspaces an earlier run made there",
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def echo(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_before = load_average()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="resultat-history-"))
    try:
        results = []
        for lists in (SMALL, args.history):
            root = workdir / f"history-{lists}"
            if not args.reuse and root.exists():
                shutil.rmtree(root)
            echo(f"history of {lists} lists in {root}")
            built = time.perf_counter()
            template = history_data.build_template(root, lists, echo=echo)
            echo(f"  ready in {time.perf_counter() - built:.0f} s; measuring")
            results.append(measure(template, workdir / f"run-{lists}", lists, echo))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = [
        f"resultat history benchmark, {dt.date.today().isoformat()}",
        "",
        f"Machine: {machine_line()}",
        "",
        f"Code: {code_version()}",
        "",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_average()}",
        "",
        *table(*results),
        "",
        f"benchmark took {time.perf_counter() - started:.0f} s.",
    ]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0
