"""The measurements: each scenario of issue 8, timed as a user would feel it.

Owns running ``resultat`` as a child process (wall time, and peak RSS from ``os.wait4``, which
reports the resources of exactly that child), the watch-latency loop, and the in-process
timings (workbook issue, archive PDF, read+validate side by side with pandas/openpyxl +
pandera and with frictionless, the bare python-calamine parse). Data comes from
:mod:`bench.data`; the table is :mod:`bench.run`'s.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import data as bench_data
from bench.data import Dataset

#: Seconds a watch latency drop may take before the benchmark gives up on it.
LATENCY_TIMEOUT = 60.0


# -- child processes ------------------------------------------------------------------------


def resultat_command() -> list[str]:
    """The ``resultat`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "resultat"
    if script.is_file():
        return [str(script)]
    found = shutil.which("resultat")
    if found:
        return [found]
    return [sys.executable, "-c", "from pipeline.cli import main; main()"]


def child_env() -> dict[str, str]:
    """The environment without ``RESULTAT_*`` overrides, so the workspace's settings count."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RESULTAT_")}


@dataclass
class ChildRun:
    wall: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    #: User + system CPU seconds of the child (and of the children it waited for).
    cpu: float = float("nan")


def run_child(args: list[str], *, cwd: Path | None = None) -> ChildRun:
    """Run ``args`` to completion through :mod:`bench.launch`: its wall time and the peak RSS
    of exactly that process (and any worker processes it waited for)."""
    launcher = Path(__file__).with_name("launch.py")
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report = Path(tmp) / "usage.json"
        proc = subprocess.run(
            [sys.executable, "-S", str(launcher), str(report), *args],
            cwd=cwd,
            env=child_env(),
            stdout=out,
            stderr=err,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        usage = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
        return ChildRun(
            wall=float(usage.get("wall", "nan")),
            cpu=float(usage.get("cpu", "nan")),
            peak_rss_mb=float(usage.get("peak_rss_mb", "nan")),
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def process_cli(workspace: Path, *, workers: int | None = None) -> tuple[ChildRun, list[dict]]:
    """``resultat -w WS process --json`` (optionally ``--workers N``); its parsed results."""
    args = [*resultat_command(), "-w", str(workspace), "process", "--json"]
    if workers:
        args += ["--workers", str(workers)]
    run = run_child(args)
    if run.returncode != 0:
        raise RuntimeError(f"resultat process failed ({run.returncode}):\n{run.stderr[-3000:]}")
    text = run.stdout
    start = text.find("[")
    results = json.loads(text[start:]) if start >= 0 else []
    return run, results


def supports_workers() -> bool:
    """Whether ``resultat process`` has a ``--workers`` option (several worker processes)."""
    run = run_child([*resultat_command(), "process", "--help"])
    return "--workers" in run.stdout


def require_accepted(results: list[dict], expected: int, what: str) -> None:
    accepted = sum(1 for r in results if r.get("outcome") == "accepted")
    if accepted != expected:
        outcomes = sorted({str(r.get("outcome")) for r in results})
        raise RuntimeError(
            f"{what}: {accepted} of {expected} files accepted (outcomes {outcomes}); "
            "the benchmark data or the pipeline is broken"
        )


# -- scenarios through the CLI --------------------------------------------------------------


@dataclass
class BatchRun:
    files: int
    rows: int
    wall: float
    peak_rss_mb: float
    cpu: float = float("nan")

    @property
    def lists_per_s(self) -> float:
        return self.files / self.wall

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall


def batch_intake(
    data: Dataset, workdir: Path, rows_per_list: int, *, workers: int | None = None
) -> BatchRun:
    """Every batch workbook dropped (a minute ago) into a fresh workspace, then one
    ``resultat process``; wall time from start to exit."""
    ws = bench_data.fresh_workspace(data, workdir / "batch")
    bench_data.drop(data.batch, ws)
    run, results = process_cli(ws, workers=workers)
    require_accepted(results, len(data.batch), "batch intake")
    return BatchRun(
        len(data.batch), len(data.batch) * rows_per_list, run.wall, run.peak_rss_mb, run.cpu
    )


@dataclass
class StartupTimes:
    """Wall seconds per run of each start-up command (issue 19, item 7)."""

    interpreter: list[float]
    help: list[float]
    status: list[float]
    process_empty: list[float]
    peak_rss_mb: list[float]
    #: CPU seconds per command (median over the runs), by the same names.
    cpu: dict[str, float]


def startup_table(data: Dataset, workdir: Path, runs: int) -> StartupTimes:
    """``python -c pass`` (the reference), ``resultat --help``, ``resultat status`` and
    ``resultat process`` on an empty inbox, each as a child process, ``runs`` times after one
    untimed round (which warms the file cache and writes ``outbox/status.xlsx``)."""
    ws = bench_data.fresh_workspace(data, workdir / "startup")
    commands = {
        "interpreter": [sys.executable, "-c", "pass"],
        "help": [*resultat_command(), "--help"],
        "status": [*resultat_command(), "-w", str(ws), "status"],
        "process_empty": [*resultat_command(), "-w", str(ws), "process", "--json"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    rss: list[float] = []
    for round_ in range(runs + 1):
        for name, args in commands.items():
            run = run_child(args)
            if run.returncode != 0:
                raise RuntimeError(f"{' '.join(args[-3:])} failed:\n{run.stderr[-2000:]}")
            if round_:
                times[name].append(run.wall)
                cpu[name].append(run.cpu)
                if name == "process_empty":
                    rss.append(run.peak_rss_mb)
    medians = {name: statistics.median(values) for name, values in cpu.items()}
    return StartupTimes(peak_rss_mb=rss, cpu=medians, **times)


def large_list(data: Dataset, workdir: Path) -> ChildRun:
    """The large workbook alone through ``resultat process``: wall time and peak RSS."""
    assert data.large is not None
    ws = bench_data.fresh_workspace(data, workdir / "large")
    bench_data.drop([data.large], ws)
    run, results = process_cli(ws)
    require_accepted(results, 1, "large list")
    return run


def _receipt_for(receipts: Path, listnr: str) -> bool:
    suffix = f"_{listnr}.txt"
    try:
        return any(e.name.endswith(suffix) for e in os.scandir(receipts))
    except FileNotFoundError:
        return False


def _idle(ws: Path) -> bool:
    inbox = ws / "inbox"
    try:
        waiting = [e for e in os.scandir(inbox) if e.is_file()]
        working = list(os.scandir(inbox / ".processing"))
    except FileNotFoundError:
        return False
    return not waiting and not working


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.002)


@dataclass
class LatencyResult:
    samples: list[float]
    first: float

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def watch_latency(data: Dataset, workdir: Path, drops: int) -> LatencyResult:
    """Start ``resultat watch`` (default settings), drop workbooks one at a time (a plain
    copy into ``inbox/``, as a file manager does) and time each until its receipt exists.

    The first drop only warms the daemon up (reported apart); each next drop waits until the
    daemon is idle again, then a random pause of 0.2-0.7 s so drops don't line up with its
    polling tick."""
    import random

    files = data.latency
    if len(files) < drops + 1:
        raise ValueError(f"need {drops + 1} latency workbooks, have {len(files)}")
    ws = bench_data.fresh_workspace(data, workdir / "watch")
    receipts = ws / "var" / "receipts"  # the administrators' copy of every receipt
    proc = subprocess.Popen(
        [*resultat_command(), "-w", str(ws), "watch"],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    rng = random.Random(8)
    samples: list[float] = []
    first = float("nan")
    try:
        for i, source in enumerate(files[: drops + 1]):
            listnr = source.stem
            started = time.perf_counter()
            shutil.copyfile(source, ws / "inbox" / source.name)
            timeout = LATENCY_TIMEOUT * (3 if i == 0 else 1)
            _wait(lambda n=listnr: _receipt_for(receipts, n), timeout, f"receipt for {listnr}")
            elapsed = time.perf_counter() - started
            if proc.poll() is not None:
                raise RuntimeError(f"watch exited: {proc.stderr.read().decode()[-2000:]}")
            if i == 0:
                first = elapsed
            else:
                samples.append(elapsed)
            _wait(lambda: _idle(ws), LATENCY_TIMEOUT, "watch to finish the file")
            time.sleep(0.2 + rng.random() * 0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return LatencyResult(samples, first)


# -- in-process timings ---------------------------------------------------------------------


@contextmanager
def opened(ws: Path) -> Iterator[Any]:
    from pipeline.app import App

    app = App.open(ws, actor="bench", admin=True)
    try:
        yield app
    finally:
        app.close()


def timed(func: Callable[[], Any]) -> float:
    """Seconds ``func`` takes with the cyclic garbage collector off while it runs, as
    :mod:`timeit` does (and as the inbox processes each file): the same for every contender.
    (No full collection before each call: walking the whole heap leaves the caches cold.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        func()
        return time.perf_counter() - started
    finally:
        if was_enabled:
            gc.enable()


def issue_rate(data: Dataset, workdir: Path) -> tuple[float, float]:
    """Lists/s for issuing the unfilled batch-size lists (warm process; one warm-up issue),
    and seconds to issue the large list's workbook."""
    from pipeline.xlsx import workbook

    ws = bench_data.fresh_workspace(data, workdir / "issue")
    target = workdir / "issued"
    target.mkdir(parents=True, exist_ok=True)
    with opened(ws) as app:
        listnrs = data.issue_listnrs
        workbook.issue(app, listnrs[0], target=target / "warmup.xlsx")
        started = time.perf_counter()
        for listnr in listnrs:
            workbook.issue(app, listnr, target=target / f"{listnr}.xlsx")
        rate = len(listnrs) / (time.perf_counter() - started)
        assert data.large_listnr is not None
        large = timed(
            lambda: workbook.issue(app, data.large_listnr, target=target / "large.xlsx")  # type: ignore[arg-type]
        )
    shutil.rmtree(target, ignore_errors=True)
    return rate, large


def count_pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", path.read_bytes()))


def archive_pdf(data: Dataset, workdir: Path, runs: int) -> dict[str, tuple[list[float], int]]:
    """Seconds (one per run) and pages for the archive PDF of a filled batch list and of the
    large list (after intake, so every row has a grade), rendered as for an approved list."""
    from pipeline.lifecycle import after_approval as lifecycle
    from pipeline.lists.query import get_list
    from pipeline.models import utcnow

    assert data.large is not None and data.large_listnr is not None
    ws = bench_data.fresh_workspace(data, workdir / "pdf")
    small = data.batch[0]
    bench_data.drop([small, data.large], ws)
    out: dict[str, tuple[list[float], int]] = {}
    with opened(ws) as app:
        from pipeline.intake.inbox import Inbox

        results = Inbox(app).process_once()
        require_accepted(
            [{"outcome": r.outcome.value} for r in results], 2, "archive PDF preparation"
        )
        # The first render of a process loads the fonts: render the small list once untimed.
        jobs = [("warm-up", int(small.stem))]
        jobs += [("small", int(small.stem))] * runs + [("large", data.large_listnr)] * runs
        for name, listnr in jobs:
            target = workdir / f"{listnr}_arkivlista.pdf"
            with app.db.session() as session:
                result_list = get_list(session, listnr)
                result_list.approved_at = utcnow()
                result_list.approved_by = bench_data.EXAMINER
                seconds = timed(
                    lambda rl=result_list, t=target: lifecycle.render_pdf(
                        app, rl, "0" * 64, target=t, language="sv", approved_via="workbook"
                    )
                )
                session.rollback()
            times, _ = out.get(name, ([], 0))
            out[name] = ([*times, seconds], count_pdf_pages(target))
        out.pop("warm-up")
    return out


def inprocess_e2e(
    data: Dataset, workdir: Path, repeats: int, large_repeats: int
) -> tuple[list[float], list[float]]:
    """One file at a time through ``Inbox.process_once`` in a warm process: seconds per
    batch-size file (``repeats`` files after a warm-up), and per large file (``large_repeats``
    times, each into a fresh copy of the workspace after one batch-size file there)."""
    from pipeline.intake.inbox import Inbox

    assert data.large is not None
    ws = bench_data.fresh_workspace(data, workdir / "e2e")
    files = data.batch[: repeats + 1]
    small: list[float] = []
    with opened(ws) as app:
        inbox = Inbox(app)
        for i, path in enumerate(files):
            bench_data.drop([path], ws)
            seconds = timed(functools.partial(_take_one, inbox))
            if i:
                small.append(seconds)
    large: list[float] = []
    for _ in range(large_repeats):
        ws = bench_data.fresh_workspace(data, workdir / "e2e-large")
        with opened(ws) as app:
            inbox = Inbox(app)
            bench_data.drop(files[:1], ws)
            _take_one(inbox)
            bench_data.drop([data.large], ws)
            large.append(timed(functools.partial(_take_one, inbox)))
    return small, large


def _take_one(inbox: Any) -> None:
    """One pass of ``inbox``; the one file it takes must be accepted (a refusal is faster)."""
    results = inbox.process_once()
    require_accepted([{"outcome": r.outcome.value} for r in results], 1, "in-process e2e")


# -- read + validate, side by side ----------------------------------------------------------


def our_read_validate(app: Any, path: Path) -> int:
    """Our read + validate stage: :func:`pipeline.xlsx.reader.read_result_workbook`, then
    :func:`pipeline.intake.handlers.check` (every check of the intake, nothing applied) in a
    read-only
    session, as the inbox does before applying. Returns the number of problems found."""
    from pipeline.intake import handlers as intake
    from pipeline.xlsx.reader import Limits, read_result_workbook

    wb = read_result_workbook(path, Limits())
    assert wb is not None
    with app.db.read_session() as session:
        return len(intake.check(session, app, wb).report.problems)


def our_read(path: Path) -> Any:
    from pipeline.xlsx.reader import Limits, read_result_workbook

    return read_result_workbook(path, Limits())


class PandasBaseline:
    """(a): ``pandas.read_excel(engine="openpyxl")`` of both sheets, then the same pandera
    schema (:func:`pipeline.intake.checks.load_schema`, loaded once, as a long-running naive
    pipeline would hold it) validated by pandera itself (lazily, as a naive pipeline runs
    it: ``run_schema(..., force_pandera=True)``, so our fast path is not lent to it)."""

    def __init__(self, app: Any, listnr: int) -> None:
        from pipeline.intake import handlers as intake
        from pipeline.lists.query import get_list_head

        with app.db.read_session() as session:
            rules = intake.list_rules(app, get_list_head(session, listnr))
        self.loaded, self.message_params = rules.schema, rules.message_params

    def __call__(self, path: Path) -> int:
        import pandas as pd

        from pipeline.intake import checks
        from pipeline.xlsx.reader import META_SHEET

        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", header=None, dtype=object)
        meta_rows = sheets.pop(META_SHEET)
        pairs = zip(meta_rows[0], meta_rows[1], strict=False)
        meta = {str(k): v for k, v in pairs if isinstance(k, str)}
        letters: dict[str, str] = json.loads(str(meta["columns"]))
        first_row = int(float(meta["first_row"]))
        rows = sheets[str(meta["sheet"])]
        from openpyxl.utils import column_index_from_string

        fields = list(letters)
        positions = [column_index_from_string(letters[f]) - 1 for f in fields]
        frame = rows.iloc[first_row - 1 :, positions]
        frame.columns = fields
        frame.index = frame.index + 1
        frame = frame.dropna(how="all").astype(object)
        frame = frame.where(frame.notna(), None)
        sheet = str(meta["sheet"])
        problems = checks.run_schema(
            self.loaded,
            frame,
            sheet=sheet,
            letters=letters,
            params=self.message_params,
            force_pandera=True,
        )
        return len(problems)


def frictionless_validate(path: Path) -> int | None:
    """(b): ``frictionless.validate(path)`` as it is; ``None`` when frictionless is missing."""
    try:
        import frictionless
    except ImportError:
        return None
    # frictionless refuses absolute paths unless the context is trusted ("path is not safe").
    with frictionless.system.use_context(trusted=True):
        report = frictionless.validate(str(path))
    if report.tasks and report.tasks[0].stats.get("rows", 0) == 0:
        raise RuntimeError(f"frictionless did not read {path.name}: {report.flatten(['message'])}")
    return len(report.flatten(["type"]))


def calamine_floor(path: Path, sheet: str) -> int:
    """The floor: the bare python-calamine parse of the input sheet."""
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    return len(rows)


@dataclass
class SideBySide:
    rows: int
    floor: float
    ours_read: float
    ours: float
    pandas_openpyxl: float
    frictionless: float | None
    ours_problems: int
    pandas_problems: int


def _median_time(func: Callable[[], Any], repeats: int) -> float:
    return statistics.median(timed(func) for _ in range(repeats))


def side_by_side(
    data: Dataset, workdir: Path, repeats_small: int, repeats_large: int
) -> dict[str, SideBySide]:
    """Read+validate of the same files four ways, in this process, median of repeats
    (after one untimed call of each, so imports and first-use caches are not counted)."""
    from pipeline.intake.allocator import keep_freed_memory
    from pipeline.xlsx.reader import read_result_workbook

    assert data.large is not None and data.small_sample is not None
    # As the inbox runs (``Inbox`` applies it to its process): freed memory is kept for the
    # next file. Process-wide, so every contender below runs with it too.
    keep_freed_memory()
    ws = bench_data.fresh_workspace(data, workdir / "compare")
    out: dict[str, SideBySide] = {}
    with opened(ws) as app:
        for name, path, repeats in (
            ("small", data.small_sample, repeats_small),
            ("large", data.large, repeats_large),
        ):
            from pipeline.xlsx.reader import Limits

            wb = read_result_workbook(path, Limits())
            assert wb is not None and wb.listnr is not None
            sheet = wb.sheet
            rows = len(wb.frame)
            pandas_way = PandasBaseline(app, wb.listnr)
            ours_problems = our_read_validate(app, path)
            pandas_problems = pandas_way(path)
            calamine_floor(path, sheet)
            has_frictionless = frictionless_validate(path) is not None
            out[name] = SideBySide(
                rows=rows,
                floor=_median_time(lambda p=path, s=sheet: calamine_floor(p, s), repeats),
                ours_read=_median_time(lambda p=path: our_read(p), repeats),
                ours=_median_time(lambda p=path: our_read_validate(app, p), repeats),
                pandas_openpyxl=_median_time(lambda p=path, f=pandas_way: f(p), repeats),
                frictionless=(
                    _median_time(lambda p=path: frictionless_validate(p), repeats)
                    if has_frictionless
                    else None
                ),
                ours_problems=ours_problems,
                pandas_problems=pandas_problems,
            )
    return out
