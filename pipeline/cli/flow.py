"""Commands that move lists through intake and approval: ``process``, ``watch``,
``approve``, ``reject``, ``resend-code``, ``unlock``, ``registered``, ``signed``, ``verify``,
``merge``.

Library imports happen inside the commands (lazy, kept for start-up time).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline import texts
from pipeline.cli.core import app, echo_json, handle_errors, language, open_app, root, say, state
from pipeline.cli.lists import AdminOpt, JsonOpt, ListnrArg
from pipeline.settings import LANG_ENV
from pipeline.texts import LANGUAGES

if TYPE_CHECKING:
    from pipeline.app import App

LangOpt = Annotated[str, typer.Option("--lang", help="cli.help.opt-lang")]
PollOpt = Annotated[bool, typer.Option("--poll", help="cli.help.opt-poll")]


def progress_printer(*, as_json: bool) -> Callable[[Any], None]:
    """Print one line per processed file (nothing in JSON mode, which prints at the end)."""
    from pipeline.domain.personnummer import mask_text  # lazy, kept for start-up time
    from pipeline.shown import shown  # lazy, kept for start-up time

    lang = language()

    def show(result: Any) -> None:
        if not as_json:
            listnr = (
                texts.t("cli.process.on-list", lang, listnr=result.listnr) if result.listnr else ""
            )
            # A file may be named for a student; control and bidi characters shown escaped.
            name = shown(mask_text(result.original_name))
            typer.echo(f"{result.outcome.value:9} {name}{listnr}")

    return show


@app.command(help="cli.help.process", epilog="cli.help.process-example")
@handle_errors
def process(
    poll: PollOpt = False,
    as_json: JsonOpt = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="cli.help.opt-workers")] = 1,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.intake.allocator import keep_freed_memory
    from pipeline.intake.inbox import Inbox, process_in_workers
    from pipeline.intake.watcher import (
        dispatch_safely,
        overview_outdated,
        read_mail_safely,
        write_overview_safely,
    )

    keep_freed_memory()  # this process may take file after file (a process-wide setting)
    application = open_app()
    try:
        if workers > 1:
            results = process_in_workers(application, workers=workers, strict=poll)
            for result in results:
                progress_printer(as_json=as_json)(result)
        else:
            results = Inbox(application).process_once(
                strict=poll, progress=progress_printer(as_json=as_json)
            )
        for result in read_mail_safely(application):
            progress_printer(as_json=as_json)(result)
            results.append(result)
        if results or overview_outdated(application):
            write_overview_safely(application)
        # What the pass queued goes out now (the examiner's SMS with the code, receipts by
        # mail), as `watch` sends it: nobody has to run `dispatch` after `process`.
        dispatch_safely(application)
    finally:
        application.close()
    if as_json:
        echo_json(
            [
                {
                    "file": r.original_name,
                    "outcome": r.outcome.value,
                    "listnr": r.listnr,
                    "receipt": str(r.receipt) if r.receipt else None,
                    "problems": [p.slug for p in r.problems],
                }
                for r in results
            ]
        )
    else:
        say("process.done", count=len(results))


@app.command(help="cli.help.watch", epilog="cli.help.watch-example")
@handle_errors
def watch(poll: PollOpt = False) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.intake.allocator import keep_freed_memory
    from pipeline.intake.watcher import run_watch

    keep_freed_memory()  # the daemon takes file after file (a process-wide setting)
    application = open_app()
    try:
        say("watch.started", inbox=application.settings.inbox)
        run_watch(application, poll=poll, on_result=progress_printer(as_json=False))
    finally:
        application.close()


def _decide(act: Callable[[App], Any], *, admin: bool) -> None:
    """Run an examiner's decision (approve, reject) and print its outcome and files."""
    from pipeline.lifecycle import approval  # lazy, kept for start-up time

    application = open_app(admin=admin, person=True)
    try:
        decision = act(application)
        text = approval.decision_text(decision, application.settings.language, application.root)
    finally:
        application.close()
    typer.echo(text)
    for path in decision.files:
        typer.echo(f"  {path}")
    if not decision.ok:
        raise typer.Exit(1)


@app.command(help="cli.help.approve", epilog="cli.help.approve-example")
@handle_errors
def approve(
    listnr: ListnrArg,
    code: Annotated[str, typer.Argument(help="cli.help.arg-code")],
    admin: AdminOpt = False,
) -> None:
    from pipeline.lifecycle import approval  # lazy, kept for start-up time

    _decide(lambda application: approval.approve(application, listnr, code), admin=admin)


@app.command(help="cli.help.reject", epilog="cli.help.reject-example")
@handle_errors
def reject(
    listnr: ListnrArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="cli.help.opt-reason")],
    admin: AdminOpt = False,
) -> None:
    from pipeline.lifecycle import approval  # lazy, kept for start-up time

    _decide(lambda application: approval.reject(application, listnr, reason), admin=admin)


@app.command("resend-code", help="cli.help.resend-code", epilog="cli.help.resend-code-example")
@handle_errors
def resend_code(listnr: ListnrArg, admin: AdminOpt = False) -> None:
    from pipeline.lifecycle import approval  # lazy, kept for start-up time

    application = open_app(admin=admin, person=True)
    try:
        state_or_problem = approval.resend_code(application, listnr)
    finally:
        application.close()
    if state_or_problem != "awaiting_approval":
        say("resend-code.refused", err=True, problem=state_or_problem)
        raise typer.Exit(1)
    say("resend-code.queued", listnr=listnr)


@app.command(help="cli.help.unlock", epilog="cli.help.unlock-example")
@handle_errors
def unlock(
    listnr: ListnrArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="cli.help.opt-unlock-reason")],
    admin: AdminOpt = False,
) -> None:
    from pipeline.lifecycle import tries  # lazy, kept for start-up time

    application = open_app(admin=admin)
    try:
        before = tries.unlock(application, listnr, reason)
    finally:
        application.close()
    say("unlock.done", listnr=listnr, tries=before)


@app.command(help="cli.help.registered", epilog="cli.help.registered-example")
@handle_errors
def registered(listnr: ListnrArg, admin: AdminOpt = False) -> None:
    from pipeline.lifecycle import after_approval  # lazy, kept for start-up time

    application = open_app(admin=admin, person=True)
    try:
        queued = after_approval.registered(application, listnr)
    finally:
        application.close()
    say("registered.done", listnr=listnr, queued=queued)


@app.command(help="cli.help.signed", epilog="cli.help.signed-example")
@handle_errors
def signed(
    listnr: ListnrArg,
    scan: Annotated[
        Path | None, typer.Option("--scan", help="cli.help.opt-scan", exists=True)
    ] = None,
    admin: AdminOpt = False,
) -> None:
    from pipeline.lifecycle import after_approval  # lazy, kept for start-up time

    application = open_app(admin=admin, person=True)
    try:
        package = after_approval.signed(application, listnr, scan=scan)
    finally:
        application.close()
    say("signed.done", package=package)


@app.command(help="cli.help.verify", epilog="cli.help.verify-example")
@handle_errors
def verify(
    listnr: Annotated[int | None, typer.Argument(help="cli.help.arg-listnr")] = None,
    lang: LangOpt = "sv",
    as_json: JsonOpt = False,
    full: Annotated[bool, typer.Option("--full", help="cli.help.opt-verify-full")] = False,
) -> None:
    from pipeline.lifecycle import verify as archive_check  # lazy, kept for start-up time

    # Never a new empty database, never a migration: verify reads what is there.
    application = archive_check.open_existing(root(), actor=state.actor)
    try:
        report = archive_check.verify(application, listnr, language=lang, full=full)
    finally:
        application.close()
    if as_json:
        echo_json(report.as_dict())
    else:
        typer.echo(archive_check.format_report(report, lang, root=application.root))
    if not report.ok:
        raise typer.Exit(1)


@app.command(help="cli.help.merge", epilog="cli.help.merge-example")
@handle_errors
def merge(
    listnr: ListnrArg,
    file: Annotated[Path, typer.Argument(help="cli.help.arg-lms-export", exists=True)],
    column: Annotated[str | None, typer.Option("--column", help="cli.help.opt-column")] = None,
    thresholds: Annotated[
        str | None, typer.Option("--thresholds", help="cli.help.opt-thresholds")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="cli.help.opt-lang")] = None,
    as_json: JsonOpt = False,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.lms import merge as merging
    from pipeline.lms.grades import parse_thresholds_text

    limits = parse_thresholds_text(thresholds) if thresholds else None
    application = open_app()
    try:
        result = merging.merge_file(
            application, listnr, file, column=column, thresholds=limits, original_name=file.name
        )
        now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
        # The teacher's language unless asked for one (--lang, or RESULTAT_LANG for the run).
        language = lang or os.environ.get(LANG_ENV) or ""
        if language not in LANGUAGES:
            language = merging.teacher_language(application, listnr, application.username)
        text = merging.render_receipt(
            application,
            result,
            file_name=file.name,
            received=now,
            kept_at=str(file),
            language=language,
        )
    finally:
        application.close()
    if as_json:
        echo_json(result.as_dict())
    else:
        typer.echo(text)
    if not result.ok:
        raise typer.Exit(1)
