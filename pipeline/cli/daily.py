"""Everyday service commands: ``remind``, ``settings``, ``dispatch``, ``serve``, ``demo``.

Library imports happen inside the commands (lazy, kept for start-up time).
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated

import typer

from pipeline import texts
from pipeline.cli.core import app, echo_json, handle_errors, language, open_app, root, say, state
from pipeline.cli.lists import AdminOpt, JsonOpt, print_status
from pipeline.errors import InvalidRequest


@app.command(help="cli.help.remind", epilog="cli.help.remind-example")
@handle_errors
def remind(
    date: Annotated[str | None, typer.Option("--date", help="cli.help.opt-date")] = None,
    as_json: JsonOpt = False,
) -> None:
    from pipeline.messages import outbox, reminders  # lazy, kept for start-up time

    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise InvalidRequest(texts.t("cli.bad-date", language(), value=date)) from None
    application = open_app()
    try:
        report = reminders.send_reminders(application, today=day)
        outbox.drain(application)
    finally:
        application.close()
    if as_json:
        echo_json(report.as_dict())
        return
    reason = texts.t("cli.remind.reason", language(), reason=report.reason) if report.reason else ""
    say(
        "remind.done",
        drafts=report.drafts,
        approvals=report.approvals,
        skipped=report.skipped,
        reason=reason,
    )


@app.command("settings", help="cli.help.settings", epilog="cli.help.settings-example")
@handle_errors
def settings_command(
    user: Annotated[str | None, typer.Option("--user", help="cli.help.opt-user")] = None,
    lang: Annotated[str | None, typer.Option("--language", help="cli.help.opt-lang")] = None,
    notify_email: Annotated[
        str | None, typer.Option("--notify-email", help="cli.help.opt-notify-email")
    ] = None,
    mail_copies: Annotated[
        bool | None,
        typer.Option("--mail-copies/--no-mail-copies", help="cli.help.opt-mail-copies"),
    ] = None,
    admin: AdminOpt = False,
    as_json: JsonOpt = False,
) -> None:
    from pipeline.registry import personal  # lazy, kept for start-up time

    application = open_app()
    try:
        username = user or application.username
        if lang is None and notify_email is None and mail_copies is None:
            current = personal.show(application, username, admin=admin)
        else:
            current = personal.change(
                application,
                username,
                language=lang,
                notify_email=notify_email,
                mail_copies=mail_copies,
                admin=admin,
            )
    finally:
        application.close()
    if as_json:
        echo_json(current.as_dict())
        return
    for key, value in current.as_dict().items():
        typer.echo(f"{key}: {value if value is not None else ''}")


@app.command(help="cli.help.dispatch", epilog="cli.help.dispatch-example")
@handle_errors
def dispatch() -> None:
    from pipeline.messages import outbox  # lazy, kept for start-up time

    application = open_app()
    try:
        report = outbox.drain(application)
    finally:
        application.close()
    say("dispatch.done", sent=report.sent, failed=report.failed, pending=report.pending)


@app.command(help="cli.help.serve", epilog="cli.help.serve-example")
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="cli.help.opt-host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="cli.help.opt-port")] = 8080,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.lifecycle import by_sms
    from pipeline.messages import sms_webhook

    application = open_app()
    try:
        say("serve.listening", host=host, port=port)
        sms_webhook.serve(application, partial(by_sms.reply, application), host=host, port=port)
    finally:
        application.close()


@app.command(help="cli.help.demo", epilog="cli.help.demo-example")
@handle_errors
def demo(
    seed: Annotated[int, typer.Option(help="cli.help.opt-seed")] = 2026,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline import logs
    from pipeline.demo.flow import run_demo

    folder = root()
    logs.configure(folder / "var" / "log", verbose=state.verbose)
    summary = run_demo(folder, seed=seed, actor=state.actor, echo=typer.echo)
    print_status(summary.lists)
    say("demo.folders")
    for person, folder in summary.folders.items():
        say("demo.folder", person=person, path=folder)
