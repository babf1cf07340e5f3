"""``python -m bench --profile DIR``: where the time goes on the hot paths.

Owns two views of the same work, both in one warm process on a fresh copy of the template:

* cProfile dumps (``.prof``, plus ``.txt`` sorted by cumulative and own time) of one
  batch-size file, a batch of files and the large file through ``Inbox.process_once``, and of
  the CLI start-up (``resultat process`` on an empty inbox, under ``python -m cProfile``);
* stage timings without a profiler's overhead (``stages.txt``): the pipeline's stage
  functions are wrapped with a timer for the run, wherever a module holds a reference to
  them, and restored afterwards. Stages nest (``issue`` includes its ``get_list``).
"""

from __future__ import annotations

import cProfile
import functools
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import data as bench_data
from bench import measure

#: (module, function) pairs timed as stages, in the order they run for one file.
STAGES: tuple[tuple[str, str], ...] = (
    ("pipeline.intake.inbox", "process_claimed"),
    ("pipeline.intake.stages", "_sha256"),
    ("pipeline.xlsx.reader", "read_result_workbook"),
    ("pipeline.intake.handlers", "check_and_apply"),
    ("pipeline.lists.query", "get_list"),
    ("pipeline.lists.query", "get_list_head"),
    ("pipeline.lists.query", "load_entries"),
    ("pipeline.intake.handlers", "_normalized"),
    ("pipeline.intake.checks", "load_schema"),
    ("pipeline.intake.checks", "run_schema"),
    ("pipeline.intake.handlers", "_roster_checks"),
    ("pipeline.intake.apply", "_apply"),
    ("pipeline.audit", "record"),
    ("pipeline.intake.dropped", "accepted_copy"),
    ("pipeline.intake.workbook_receipt", "_copy_receipt"),
    ("pipeline.intake.inbox", "_finish"),
    ("pipeline.intake.receipts", "write_receipt"),
    ("pipeline.xlsx.workbook", "issue"),
    ("pipeline.xlsx.workbook", "build_current"),
    ("pipeline.xlsx.workbook", "build"),
    ("pipeline.files", "save"),
    # Handing the receipt (and the fresh workbook) to the person, and the chain's signed head.
    ("pipeline.people.delivery", "deliver"),
    ("pipeline.people.delivery", "place"),
    ("pipeline.messages.queue", "queue_email"),
    ("pipeline.audit", "_content_details"),
    ("pipeline.seal", "write_head"),
    # What `resultat process` sends after the pass (timed apart: see ``dispatch_timing``).
    ("pipeline.messages.dispatch", "_claim"),
    ("pipeline.messages.mail", "build_email"),
    ("pipeline.messages.dispatch", "_mark_sent"),
)


class StageTimer:
    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.total[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed

    def report(self, title: str, files: int) -> str:
        lines = [f"== {title}: per file (mean of {files}), wall time, stages nest =="]
        for module, func in STAGES:
            name = f"{module.rsplit('.', 1)[1]}.{func}"
            if name in self.total:
                per_file = self.total[name] / files * 1000
                lines.append(f"{name:32} {per_file:10.2f} ms  ({self.calls[name]} calls)")
        return "\n".join(lines)


@contextmanager
def stage_timing() -> Iterator[StageTimer]:
    """Wrap every stage function (in its module and wherever it was imported by name)."""
    import importlib

    timer = StageTimer()
    restore: list[tuple[Any, str, Any]] = []
    for module_name, func_name in STAGES:
        module = importlib.import_module(module_name)
        name = f"{module_name.rsplit('.', 1)[1]}.{func_name}"
        if func_name == "process_claimed":  # a method of Inbox
            cls = module.Inbox
            restore.append((cls, func_name, cls.process_claimed))
            cls.process_claimed = timer.wrap(name, cls.process_claimed)
            continue
        original = getattr(module, func_name, None)
        if original is None:
            continue
        wrapped = timer.wrap(name, original)
        for holder in list(sys.modules.values()):
            if getattr(holder, "__name__", "").startswith("pipeline") and (
                getattr(holder, func_name, None) is original
            ):
                restore.append((holder, func_name, original))
                setattr(holder, func_name, wrapped)
    try:
        yield timer
    finally:
        for holder, func_name, original in reversed(restore):
            setattr(holder, func_name, original)


def _write_profile(profile: cProfile.Profile | None, prof_path: Path, out: Path) -> Path:
    if profile is not None:
        profile.dump_stats(prof_path)
    text_path = prof_path.with_suffix(".txt")
    name = prof_path.stem
    with text_path.open("w", encoding="utf-8") as fh:
        stats = pstats.Stats(str(prof_path), stream=fh)
        stats.strip_dirs()
        fh.write(f"== {name}: by cumulative time ==\n")
        stats.sort_stats("cumulative").print_stats(60)
        fh.write(f"\n== {name}: by own time ==\n")
        stats.sort_stats("tottime").print_stats(30)
    return text_path


def profile_hot_paths(
    data: bench_data.Dataset,
    workdir: Path,
    out: Path,
    *,
    batch_rows: int,
    large_rows: int,
    echo: Callable[[str], Any],
) -> list[Path]:
    from pipeline.intake.inbox import Inbox
    from pipeline.messages.dispatch import drain

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    count = min(len(data.batch) - 2, 200)
    assert data.large is not None

    # Stage timings first, without a profiler.
    ws = bench_data.fresh_workspace(data, workdir / "stages")
    stage_lines: list[str] = []
    with measure.opened(ws) as app:
        inbox = Inbox(app)
        bench_data.drop(data.batch[:1], ws)
        inbox.process_once()  # warm-up: imports and first-use caches
        drain(app)
        with stage_timing() as timer:
            bench_data.drop(data.batch[2 : 2 + count], ws)
            started = time.perf_counter()
            inbox.process_once()
            taken = time.perf_counter()
            drain(app)  # as `resultat process` sends what the pass queued
            sent = time.perf_counter()
        stage_lines.append(
            timer.report(f"batch, {count} files x {batch_rows} rows", count)
            + f"\n{'(the pass)':32} {(taken - started) / count * 1000:10.2f} ms"
            + f"\n{'(sending what it queued)':32} {(sent - taken) / count * 1000:10.2f} ms"
        )
        with stage_timing() as timer:
            bench_data.drop([data.large], ws)
            inbox.process_once()
        stage_lines.append(timer.report(f"large list, {large_rows} rows", 1))
    stages = out / "stages.txt"
    stages.write_text("\n\n".join(stage_lines) + "\n", encoding="utf-8")
    written.append(stages)

    ws = bench_data.fresh_workspace(data, workdir / "profile")
    with measure.opened(ws) as app:
        inbox = Inbox(app)
        bench_data.drop(data.batch[:1], ws)
        inbox.process_once()
        for name, files in (
            (f"one_file_{batch_rows}_rows", data.batch[1:2]),
            (f"batch_{count}_files_in_process", data.batch[2 : 2 + count]),
            (f"large_{large_rows}_rows", [data.large]),
        ):
            bench_data.drop(files, ws)
            profile = cProfile.Profile()
            profile.runcall(inbox.process_once)
            written.append(_write_profile(profile, out / f"{name}.prof", out))

    script = measure.resultat_command()
    if len(script) == 1:
        empty = bench_data.fresh_workspace(data, workdir / "profile-startup")
        prof = out / "cli_startup.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(prof), script[0]]
        measure.run_child([*command, "-w", str(empty), "process"])
        if prof.exists():
            written.append(_write_profile(None, prof, out))
    for path in written:
        echo(f"  {path}")
    return written
