"""Commands that make and show result lists: ``init``, ``registry import``, ``new t33``,
``new t34``, ``correct``, ``issue``, ``add-students`` and ``status``.

Library imports happen inside the commands (lazy, kept for start-up time).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from pipeline import settings as settings_mod
from pipeline import texts
from pipeline.cli.core import (
    app,
    echo_json,
    handle_errors,
    language,
    new_app,
    open_app,
    registry_app,
    root,
    say,
    state,
)
from pipeline.errors import InvalidRequest, NotFound

StudentOpt = Annotated[
    list[str] | None, typer.Option("--student", "-s", help="cli.help.opt-student")
]
ExamDateOpt = Annotated[str | None, typer.Option("--exam-date", help="cli.help.opt-exam-date")]
RegisteredOpt = Annotated[bool, typer.Option("--registered", help="cli.help.opt-registered")]
AdminOpt = Annotated[bool, typer.Option("--admin", help="cli.help.opt-admin")]
JsonOpt = Annotated[bool, typer.Option("--json", help="cli.help.opt-json")]
ListnrArg = Annotated[int, typer.Argument(help="cli.help.arg-listnr")]
CourseOpt = Annotated[str, typer.Option("--course", "-c", help="cli.help.opt-course")]
TermOpt = Annotated[str, typer.Option("--term", "-t", help="cli.help.opt-term")]

STATUS_COLUMNS: Final = (
    "listnr", "type", "course", "module", "term", "state", "version", "reporter", "examiner",
    "students", "graded",
)  # fmt: skip


@app.command(help="cli.help.init", epilog="cli.help.init-example")
@handle_errors
def init(
    path: Annotated[Path | None, typer.Argument(help="cli.help.arg-folder")] = None,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.app import App
    from pipeline.settings import create_workspace

    folder = (path or root()).resolve()
    created = create_workspace(folder)
    from pipeline.people.furnish import furnish  # lazy, kept for start-up time

    application = App.open(folder, actor=state.actor)
    try:
        created.extend(furnish(application))
    finally:
        application.close()
    for item in created:
        say("init.created", item=item)
    say("init.ready", root=folder)


@registry_app.command(
    "import", help="cli.help.registry-import", epilog="cli.help.registry-import-example"
)
@handle_errors
def registry_import(
    files: Annotated[list[Path], typer.Argument(help="cli.help.arg-files", exists=True)],
    admin: AdminOpt = False,
    lang: Annotated[str, typer.Option("--lang", help="cli.help.opt-lang")] = "sv",
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.app import require_admin
    from pipeline.registry import importer

    require_admin(admin, texts.Key("cli.registry-import.what"))
    application = open_app(admin=admin)
    try:
        results = importer.import_files(application, files, admin=admin)
    finally:
        application.close()
    typer.echo(importer.format_results(results, lang, workspace=root()))
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def sources(student: list[str] | None, exam_date: str | None, *, registered: bool) -> Any:
    """The students to put on a list, from the command's options."""
    from pipeline.lists.students import StudentSources  # lazy, kept for start-up time

    day = None
    if exam_date:
        try:
            day = dt.date.fromisoformat(exam_date)
        except ValueError:
            raise InvalidRequest(texts.t("cli.bad-date", language(), value=exam_date)) from None
    return StudentSources(students=tuple(student or ()), exam_date=day, registered=registered)


@new_app.command("t33", help="cli.help.new-t33", epilog="cli.help.new-t33-example")
@handle_errors
def new_t33(
    course: CourseOpt,
    module: Annotated[str, typer.Option("--module", "-m", help="cli.help.opt-module")],
    term: TermOpt,
    student: StudentOpt = None,
    exam_date: ExamDateOpt = None,
    registered: RegisteredOpt = False,
    reporter: Annotated[
        str | None, typer.Option("--reporter", help="cli.help.opt-reporter")
    ] = None,
    admin: AdminOpt = False,
    as_json: JsonOpt = False,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.lists import orders
    from pipeline.lists.create import create_t33

    application = open_app(admin=admin, person=True)
    try:
        listnr = create_t33(
            application,
            course_code=course,
            module_code=module,
            term=term,
            sources=sources(student, exam_date, registered=registered),
            reporter=reporter,
        )
        issued = orders.deliver_workbook(
            application, listnr, reporter or application.username, reason="created"
        )
    finally:
        application.close()
    _report_new(listnr, issued, "new.t33-students", as_json=as_json)


@new_app.command("t34", help="cli.help.new-t34", epilog="cli.help.new-t34-example")
@handle_errors
def new_t34(
    course: CourseOpt,
    term: TermOpt,
    examiner: Annotated[
        str | None, typer.Option("--examiner", help="cli.help.opt-examiner")
    ] = None,
    admin: AdminOpt = False,
    as_json: JsonOpt = False,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.lists import orders
    from pipeline.lists.create import create_t34

    application = open_app(admin=admin, person=True)
    try:
        listnr = create_t34(application, course_code=course, term=term, examiner=examiner)
        issued = orders.deliver_workbook(
            application, listnr, examiner or application.username, reason="created"
        )
    finally:
        application.close()
    _report_new(listnr, issued, "new.t34-students", as_json=as_json)


def _report_new(listnr: int, issued: Any, counted: str, *, as_json: bool) -> None:
    """What ``new t33`` and ``new t34`` print: the list, its students and its workbook."""
    if as_json:
        echo_json({"listnr": listnr, "workbook": str(issued.path), "students": issued.rows})
        return
    say(counted, listnr=listnr, rows=issued.rows)
    say("workbook", path=issued.path)


@app.command(help="cli.help.correct", epilog="cli.help.correct-example")
@handle_errors
def correct(
    listnr: Annotated[int, typer.Argument(help="cli.help.arg-approved-listnr")],
    student: StudentOpt = None,
    reporter: Annotated[
        str | None, typer.Option("--reporter", help="cli.help.opt-original-reporter")
    ] = None,
    admin: AdminOpt = False,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.app import require_admin
    from pipeline.lists.create import create_correction
    from pipeline.xlsx import workbook

    require_admin(admin, texts.Key("cli.correct.what"))
    application = open_app(admin=admin)
    try:
        new = create_correction(
            application, listnr, students=tuple(student or ()), reporter=reporter, admin=admin
        )
        issued = workbook.issue(application, new)
    finally:
        application.close()
    say("correct.done", new=new, listnr=listnr, rows=issued.rows)
    say("workbook", path=issued.path)


@app.command(help="cli.help.issue", epilog="cli.help.issue-example")
@handle_errors
def issue(listnr: ListnrArg, admin: AdminOpt = False) -> None:
    from pipeline.lists import orders  # lazy, kept for start-up time

    application = open_app(admin=admin, person=True)
    try:
        issued = orders.open_list(application, listnr)
    finally:
        application.close()
    say("issue.done", path=issued.path, version=issued.version, rows=issued.rows)


@app.command("add-students", help="cli.help.add-students", epilog="cli.help.add-students-example")
@handle_errors
def add_students(
    listnr: ListnrArg,
    student: StudentOpt = None,
    exam_date: ExamDateOpt = None,
    registered: RegisteredOpt = False,
    admin: AdminOpt = False,
) -> None:
    # Lazy imports, kept for start-up time.
    from pipeline.lists import orders
    from pipeline.lists.students import add_students

    application = open_app(admin=admin, person=True)
    try:
        added = add_students(
            application, listnr, sources(student, exam_date, registered=registered)
        )
        issued = orders.deliver_workbook(
            application, listnr, application.username, reason="students-added"
        )
    finally:
        application.close()
    say("add-students.done", added=added, path=issued.path)


@app.command(help="cli.help.status-open", epilog="cli.help.status-example")
@handle_errors
def status(
    listnr: Annotated[int | None, typer.Argument(help="cli.help.arg-listnr")] = None,
    as_json: JsonOpt = False,
    every: Annotated[bool, typer.Option("--all", help="cli.help.opt-all")] = False,
) -> None:
    rows = _summaries_direct(listnr, every)
    if rows is None:
        from pipeline.lists.query import summaries  # lazy, kept for start-up time

        application = open_app()
        try:
            rows = summaries(application, listnr, every=every)
        finally:
            application.close()
    if as_json:
        echo_json([r.as_dict() for r in rows])
        return
    print_status(rows)


def _summaries_direct(listnr: int | None, every: bool) -> list[Any] | None:
    """``status`` without the database layer (:func:`pipeline.lists.summary.read_direct`),
    where it reads what the full path would; ``None`` sends it the full way. ``--as`` takes
    the full way, which checks it."""
    if state.actor is not None:
        return None
    from pipeline.lists import summary  # lazy, kept for start-up time

    workspace = root()
    settings = settings_mod.load(workspace)
    rows = summary.read_direct(settings.database_url, listnr, every)
    if rows is not None and listnr is not None and not rows:
        raise NotFound(texts.t("lists.list-not-found", settings.language, workspace, listnr=listnr))
    return rows


def print_status(rows: list[Any]) -> None:
    """A plain aligned table (readable in a terminal, a log and a pipe alike)."""
    lang = language()
    headers = [texts.t(f"cli.status.column.{name}", lang) for name in STATUS_COLUMNS]
    table = [[str(v) if v is not None else "" for v in r.as_dict().values()] for r in rows]
    widths = [
        max(len(h), *(len(row[i]) for row in table)) if table else len(h)
        for i, h in enumerate(headers)
    ]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    typer.echo("  ".join("-" * w for w in widths))
    for row in table:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    for r in rows:
        if r.corrects:
            say("status.corrects", listnr=r.listnr, other=r.corrects)
        for newer in r.corrected_by:
            say("status.corrected-by", listnr=r.listnr, other=newer)
