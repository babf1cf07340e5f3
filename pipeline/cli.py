"""The ``resultat`` command line: turns arguments into library calls and errors into messages.

The library never prints or exits; this module does both. Heavy imports happen inside the
commands so ``resultat --help`` stays quick. Every command's help ends with an example.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from pipeline.errors import ResultatError

if TYPE_CHECKING:
    from pipeline.app import App

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    help="resultat: resultatrapportering / result reporting (T33, T34) via arbetsböcker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
registry_app = typer.Typer(help="Registerdata (LADOK, BARD) / registry data.", no_args_is_help=True)
new_app = typer.Typer(help="Skapa en resultatlista / create a result list.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(new_app, name="new")


class State:
    workspace: Path | None = None
    actor: str | None = None
    verbose: bool = False


state = State()


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ResultatError as exc:
            typer.echo(f"resultat: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main_options(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="Arbetsyta / workspace folder (default: RESULTAT_HOME or .)"
        ),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Agera som användare / act as this user (default: OS login)"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More log output.")] = False,
) -> None:
    state.workspace = workspace
    state.actor = as_user
    state.verbose = verbose


def _root() -> Path:
    from pipeline.settings import workspace_root

    return workspace_root(state.workspace)


def open_app() -> App:
    from pipeline import logs
    from pipeline.app import App

    root = _root()
    application = App.open(root, actor=state.actor)
    logs.configure(application.settings.var / "log", verbose=state.verbose)
    return application


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@app.command(epilog="Exempel / example: resultat init ~/resultat-ws")
@handle_errors
def init(
    path: Annotated[Path | None, typer.Argument(help="Mapp / folder (default: workspace)")] = None,
) -> None:
    """Skapa en arbetsyta / create a workspace: resultat.toml, folders, key file, database."""
    from pipeline.app import App
    from pipeline.settings import create_workspace

    root = (path or _root()).resolve()
    created = create_workspace(root)
    application = App.open(root, actor=state.actor)
    application.close()
    for item in created:
        typer.echo(f"skapad / created: {item}")
    typer.echo(f"Arbetsyta klar / workspace ready: {root}")


@registry_app.command(
    "import", epilog="Exempel / example: resultat registry import --admin kurser.csv studenter.xlsx"
)
@handle_errors
def registry_import(
    files: Annotated[list[Path], typer.Argument(help="CSV- eller XLSX-filer / files", exists=True)],
    admin: Annotated[
        bool, typer.Option("--admin", help="Administrationsläge / admin mode")
    ] = False,
    language: Annotated[str, typer.Option("--lang", help="sv or en")] = "sv",
) -> None:
    """Importera registerdata / import registry data (courses, modules, staff, students, ...)."""
    from pipeline.app import require_admin
    from pipeline.registry import importer as registry

    require_admin(admin, "Registerimport / registry import")
    application = open_app()
    try:
        results = registry.import_files(application, files, admin=admin)
    finally:
        application.close()
    typer.echo(registry.format_results(results, language, workspace=_root()))
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _sources(student: list[str] | None, exam_date: str | None, registered: bool) -> Any:
    from pipeline.errors import InvalidRequest
    from pipeline.lists.students import StudentSources

    day = None
    if exam_date:
        try:
            day = dt.date.fromisoformat(exam_date)
        except ValueError:
            raise InvalidRequest(
                f"Ogiltigt datum {exam_date!r}: använd ÅÅÅÅ-MM-DD. / "
                f"Invalid date {exam_date!r}: use YYYY-MM-DD."
            ) from None
    return StudentSources(students=tuple(student or ()), exam_date=day, registered=registered)


StudentOpt = Annotated[
    list[str] | None,
    typer.Option("--student", "-s", help="Personnummer (upprepas / repeatable)"),
]
ExamDateOpt = Annotated[
    str | None, typer.Option("--exam-date", help="Anmälda på tentamen / signed up, YYYY-MM-DD")
]
RegisteredOpt = Annotated[
    bool, typer.Option("--registered", help="Registrerade på kursen terminen / registered")
]


@new_app.command(
    "t33",
    epilog="Exempel / example: resultat new t33 --course DV1599 --module 2010 --term HT2026 "
    "--exam-date 2026-10-30 --reporter anna",
)
@handle_errors
def new_t33(
    course: Annotated[str, typer.Option("--course", "-c", help="Kurskod, e.g. DV1599")],
    module: Annotated[str, typer.Option("--module", "-m", help="Provkod / module code")],
    term: Annotated[str, typer.Option("--term", "-t", help="Termin, e.g. HT2026")],
    student: StudentOpt = None,
    exam_date: ExamDateOpt = None,
    registered: RegisteredOpt = False,
    reporter: Annotated[
        str | None, typer.Option("--reporter", help="Rapportör (default: --as / login)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ny T33-lista (resultat per provkod) / new module result list, and issue its workbook."""
    from pipeline.lists.create import create_t33
    from pipeline.xlsx import workbook

    application = open_app()
    try:
        listnr = create_t33(
            application,
            course_code=course,
            module_code=module,
            term=term,
            sources=_sources(student, exam_date, registered),
            reporter=reporter,
        )
        issued = workbook.issue(application, listnr)
    finally:
        application.close()
    _report_new(listnr, issued, as_json, "studenter / students")


@new_app.command("t34", epilog="Exempel / example: resultat new t34 --course DV1599 --term HT2026")
@handle_errors
def new_t34(
    course: Annotated[str, typer.Option("--course", "-c", help="Kurskod, e.g. DV1599")],
    term: Annotated[str, typer.Option("--term", "-t", help="Termin, e.g. HT2026")],
    examiner: Annotated[
        str | None, typer.Option("--examiner", help="Examinator (default: from the registry)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ny T34-lista (slutbetyg på kurs) / new final-grade list, and issue its workbook."""
    from pipeline.lists.create import create_t34
    from pipeline.xlsx import workbook

    application = open_app()
    try:
        listnr = create_t34(application, course_code=course, term=term, examiner=examiner)
        issued = workbook.issue(application, listnr)
    finally:
        application.close()
    _report_new(listnr, issued, as_json, "studenter kan få slutbetyg / eligible students")


def _report_new(listnr: int, issued: Any, as_json: bool, counted: str) -> None:
    """What ``new t33`` and ``new t34`` print: the list, its students and its workbook."""
    if as_json:
        _echo_json({"listnr": listnr, "workbook": str(issued.path), "students": issued.rows})
        return
    typer.echo(f"listnr {listnr}: {issued.rows} {counted}")
    typer.echo(f"arbetsbok / workbook: {issued.path}")


@app.command(epilog="Exempel / example: resultat correct 1001 --admin --student 19900101-1239")
@handle_errors
def correct(
    listnr: Annotated[int, typer.Argument(help="Attesterad lista / an approved list")],
    student: StudentOpt = None,
    reporter: Annotated[
        str | None, typer.Option("--reporter", help="Rapportör (default: the original's)")
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="Administrationsläge / admin mode")
    ] = False,
) -> None:
    """Rättelse av attesterad lista / correct an approved list (a new list that references it)."""
    from pipeline.app import require_admin
    from pipeline.lists.create import create_correction
    from pipeline.xlsx import workbook

    require_admin(admin, "Rättelse / correction")
    application = open_app()
    try:
        new = create_correction(
            application, listnr, students=tuple(student or ()), reporter=reporter, admin=admin
        )
        issued = workbook.issue(application, new)
    finally:
        application.close()
    typer.echo(f"listnr {new} rättar / corrects {listnr}: {issued.rows} studenter / students")
    typer.echo(f"arbetsbok / workbook: {issued.path}")


@app.command(epilog="Exempel / example: resultat issue 1001")
@handle_errors
def issue(listnr: Annotated[int, typer.Argument(help="Listnummer / list number")]) -> None:
    """Utfärda listans arbetsbok igen / re-issue the current workbook of a list."""
    from pipeline.xlsx import workbook

    application = open_app()
    try:
        issued = workbook.issue(application, listnr)
    finally:
        application.close()
    typer.echo(f"{issued.path} (version {issued.version}, {issued.rows} studenter / students)")


@app.command(
    "add-students", epilog="Exempel / example: resultat add-students 1001 -s 19900101-1239"
)
@handle_errors
def add_students(
    listnr: Annotated[int, typer.Argument(help="Listnummer / list number")],
    student: StudentOpt = None,
    exam_date: ExamDateOpt = None,
    registered: RegisteredOpt = False,
) -> None:
    """Lägg till studenter / add students to a list, then re-issue its workbook."""
    from pipeline.lists.students import add_students
    from pipeline.xlsx import workbook

    application = open_app()
    try:
        added = add_students(application, listnr, _sources(student, exam_date, registered))
        issued = workbook.issue(application, listnr)
    finally:
        application.close()
    typer.echo(f"{added} tillagda / added; arbetsbok / workbook: {issued.path}")


def _progress_printer(as_json: bool) -> Callable[[Any], None]:
    from pipeline.domain.personnummer import mask_text

    def show(result: Any) -> None:
        if not as_json:
            listnr = f" (lista {result.listnr})" if result.listnr else ""
            name = mask_text(result.original_name)  # a file may be named for a student
            typer.echo(f"{result.outcome.value:9} {name}{listnr}")

    return show


@app.command(epilog="Exempel / example: resultat process --json")
@handle_errors
def process(
    poll: Annotated[
        bool, typer.Option("--poll", help="Nätverksdisk: lita inte på filtider / network share")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Parallella processer / worker processes")
    ] = 1,
) -> None:
    """Behandla inkorgen en gång / process the inbox once, then exit."""
    from pipeline.intake.inbox import Inbox, process_in_workers

    application = open_app()
    try:
        if workers > 1:
            results = process_in_workers(application, workers=workers, strict=poll)
            for result in results:
                _progress_printer(as_json)(result)
        else:
            results = Inbox(application).process_once(
                strict=poll, progress=_progress_printer(as_json)
            )
        from pipeline.intake.watcher import overview_outdated, write_overview_safely

        if results or overview_outdated(application):
            write_overview_safely(application)
    finally:
        application.close()
    if as_json:
        _echo_json(
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
        typer.echo(f"{len(results)} filer behandlade / files processed")


@app.command(epilog="Exempel / example: resultat watch --poll")
@handle_errors
def watch(
    poll: Annotated[
        bool,
        typer.Option("--poll", help="Avsök i stället för OS-händelser (nätverksdisk) / polling"),
    ] = False,
) -> None:
    """Bevaka inkorgen (tjänst) / watch the inbox as a daemon until stopped (Ctrl-C, SIGTERM)."""
    from pipeline.intake.watcher import run_watch

    application = open_app()
    try:
        typer.echo(f"Bevakar / watching {application.settings.inbox} (Ctrl-C avslutar / stops)")
        run_watch(application, poll=poll, on_result=_progress_printer(False))
    finally:
        application.close()


@app.command(epilog="Exempel / example: resultat status 1001 --json")
@handle_errors
def status(
    listnr: Annotated[int | None, typer.Argument(help="Listnummer / list number")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Listor och status / every list with its state, counts, reporter and examiner."""
    from pipeline.lists.query import summaries

    application = open_app()
    try:
        rows = summaries(application, listnr)
    finally:
        application.close()
    if as_json:
        _echo_json([r.as_dict() for r in rows])
        return
    _print_status(rows)


STATUS_HEADERS = (
    "listnr", "typ", "kurs", "modul", "termin", "status", "ver", "rapportör", "examinator",
    "studenter", "betygsatta",
)  # fmt: skip


def _print_status(rows: list[Any]) -> None:
    """A plain aligned table (readable in a terminal, a log and a pipe alike)."""
    table = [[str(v) if v is not None else "" for v in r.as_dict().values()] for r in rows]
    widths = [
        max(len(h), *(len(row[i]) for row in table)) if table else len(h)
        for i, h in enumerate(STATUS_HEADERS)
    ]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(STATUS_HEADERS, widths, strict=True)))
    typer.echo("  ".join("-" * w for w in widths))
    for row in table:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    for r in rows:
        if r.corrects:
            typer.echo(f"{r.listnr} rättar lista / corrects list {r.corrects}")
        for newer in r.corrected_by:
            typer.echo(f"{r.listnr} rättad av lista / corrected by list {newer}")


ListnrArg = Annotated[int, typer.Argument(help="Listnummer / list number")]


def _decide(act: Callable[[App], Any]) -> None:
    """Run an examiner's decision (approve, reject) and print its outcome and files."""
    from pipeline.lifecycle import approval

    application = open_app()
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


@app.command(epilog="Exempel / example: resultat approve 1001 123456")
@handle_errors
def approve(
    listnr: ListnrArg,
    code: Annotated[str, typer.Argument(help="Koden från SMS:et / the code from the SMS")],
) -> None:
    """Attestera med engångskoden / approve a list with the one-time code sent by SMS."""
    from pipeline.lifecycle import approval

    _decide(lambda application: approval.approve(application, listnr, code))


@app.command(epilog='Exempel / example: resultat reject 1001 --reason "Fel datum på rad 12"')
@handle_errors
def reject(
    listnr: ListnrArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Orsak / reason (to the reporter)")],
) -> None:
    """Skicka tillbaka listan till rapportören / send a list back to its reporter (draft)."""
    from pipeline.lifecycle import approval

    _decide(lambda application: approval.reject(application, listnr, reason))


@app.command("resend-code", epilog="Exempel / example: resultat resend-code 1001")
@handle_errors
def resend_code(listnr: ListnrArg) -> None:
    """Ny attesteringskod / a new approval code by SMS (after expiry or a lock)."""
    from pipeline.lifecycle import approval

    application = open_app()
    try:
        state_or_problem = approval.resend_code(application, listnr)
    finally:
        application.close()
    if state_or_problem != "awaiting_approval":
        typer.echo(
            f"resultat: kan inte skicka kod / cannot send a code: {state_or_problem}", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"Ny kod köad för lista {listnr} / new code queued (resultat dispatch skickar)")


@app.command(epilog="Exempel / example: resultat registered 1001")
@handle_errors
def registered(listnr: ListnrArg) -> None:
    """Utbildningsstöd: registrerad i LADOK / definitive entry done; students get their result."""
    from pipeline.lifecycle import after_approval as lifecycle

    application = open_app()
    try:
        queued = lifecycle.registered(application, listnr)
    finally:
        application.close()
    typer.echo(f"Lista {listnr} registrerad; {queued} studentmejl köade / student mails queued")


@app.command(epilog="Exempel / example: resultat signed 1001 --scan arkivlista-1001.pdf")
@handle_errors
def signed(
    listnr: ListnrArg,
    scan: Annotated[
        Path | None,
        typer.Option("--scan", help="Inskannad signerad arkivlista / signed scan", exists=True),
    ] = None,
) -> None:
    """Signerad arkivlista: arkivera listan som BagIt-paket / archive the signed list."""
    from pipeline.lifecycle import after_approval as lifecycle

    application = open_app()
    try:
        package = lifecycle.signed(application, listnr, scan=scan)
    finally:
        application.close()
    typer.echo(f"Arkiverad / archived: {package}")


@app.command(epilog="Exempel / example: resultat verify 1001")
@handle_errors
def verify(
    listnr: Annotated[int | None, typer.Argument(help="Listnummer / list number")] = None,
    language: Annotated[str, typer.Option("--lang", help="sv or en")] = "sv",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Kontrollera arkivpaket och granskningslogg / check archive packages and the audit log."""
    from pipeline.lifecycle import verify as archive_check

    application = open_app()
    try:
        report = archive_check.verify(application, listnr, language=language)
    finally:
        application.close()
    if as_json:
        _echo_json(report.as_dict())
    else:
        typer.echo(archive_check.format_report(report, language, root=application.root))
    if not report.ok:
        raise typer.Exit(1)


@app.command(
    epilog='Exempel / example: resultat merge 1001 Betyg.csv --column "Tenta (12345)" '
    '--thresholds "U=0,3=50,4=65,5=80"'
)
@handle_errors
def merge(
    listnr: ListnrArg,
    file: Annotated[
        Path, typer.Argument(help="Export från lärplattformen / LMS export", exists=True)
    ],
    column: Annotated[
        str | None, typer.Option("--column", help="Bedömningskolumn / assessment column")
    ] = None,
    thresholds: Annotated[
        str | None,
        typer.Option("--thresholds", help='Poänggränser / score limits, "U=0,3=50,4=65,5=80"'),
    ] = None,
    language: Annotated[str, typer.Option("--lang", help="sv or en")] = "sv",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Hämta betyg från lärplattformen / merge an ItsLearning, Canvas, Moodle or ladok3 export
    into a list's workbook (outbox/lists/LISTNR_lms.xlsx) for the teacher to check."""
    from pipeline.lms import exports as lms
    from pipeline.lms import merge as merging

    limits = lms.parse_thresholds_text(thresholds) if thresholds else None
    application = open_app()
    try:
        result = merging.merge_file(
            application,
            listnr,
            file,
            column=column,
            thresholds=limits,
            original_name=file.name,
        )
        now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
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
        _echo_json(result.as_dict())
    else:
        typer.echo(text)
    if not result.ok:
        raise typer.Exit(1)


@app.command(epilog="Exempel / example: resultat remind --date 2026-12-01")
@handle_errors
def remind(
    date: Annotated[
        str | None, typer.Option("--date", help="Som om det vore / as if it were YYYY-MM-DD")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Påminnelser / email reporters of overdue drafts and examiners of waiting lists."""
    from pipeline.errors import InvalidRequest
    from pipeline.messages import outbox, reminders

    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise InvalidRequest(f"Ogiltigt datum / invalid date {date!r} (YYYY-MM-DD)") from None
    application = open_app()
    try:
        report = reminders.send_reminders(application, today=day)
        outbox.drain(application)
    finally:
        application.close()
    if as_json:
        _echo_json(report.as_dict())
        return
    typer.echo(
        f"påminnelser / reminders: utkast / drafts {report.drafts}, "
        f"attestering / approvals {report.approvals}, redan skickade / already sent "
        f"{report.skipped}" + (f" ({report.reason})" if report.reason else "")
    )


@app.command(
    "settings",
    epilog="Exempel / example: resultat settings --language en --notify-email me@example.se",
)
@handle_errors
def settings_command(
    user: Annotated[
        str | None, typer.Option("--user", help="Annan användare / someone else (needs --admin)")
    ] = None,
    language: Annotated[str | None, typer.Option("--language", help="sv or en")] = None,
    notify_email: Annotated[
        str | None, typer.Option("--notify-email", help='Aviseringsadress ("" clears it)')
    ] = None,
    receipt_copies: Annotated[
        bool | None,
        typer.Option("--receipt-copies/--no-receipt-copies", help="Kopior av kvitton / copies"),
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="Administrationsläge / admin mode")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Dina inställningar / your own settings: language, notification email, receipt copies."""
    from pipeline.registry import personal

    application = open_app()
    try:
        username = user or application.actor
        if language is None and notify_email is None and receipt_copies is None:
            current = personal.show(application, username, admin=admin)
        else:
            current = personal.change(
                application,
                username,
                language=language,
                notify_email=notify_email,
                receipt_copies=receipt_copies,
                admin=admin,
            )
    finally:
        application.close()
    if as_json:
        _echo_json(current.as_dict())
        return
    for key, value in current.as_dict().items():
        typer.echo(f"{key}: {value if value is not None else ''}")


@app.command(epilog="Exempel / example: resultat dispatch")
@handle_errors
def dispatch() -> None:
    """Skicka köade mejl och SMS / send queued emails and SMS (each exactly once)."""
    from pipeline.messages import outbox

    application = open_app()
    try:
        report = outbox.drain(application)
    finally:
        application.close()
    typer.echo(
        f"skickade / sent {report.sent}, misslyckade / failed {report.failed}, "
        f"väntar / pending {report.pending}"
    )


@app.command(epilog="Exempel / example: resultat serve --port 8080")
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Adress / address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8080,
) -> None:
    """Ta emot SMS-svar från Twilio / receive SMS replies (Twilio webhook, WSGI)."""
    from functools import partial

    from pipeline.lifecycle import approval
    from pipeline.messages import sms_webhook

    application = open_app()
    try:
        typer.echo(f"Lyssnar / listening on http://{host}:{port}/")
        sms_webhook.serve(
            application, partial(approval.sms_reply, application), host=host, port=port
        )
    finally:
        application.close()


@app.command(epilog="Exempel / example: resultat demo --workspace /tmp/demo")
@handle_errors
def demo(
    seed: Annotated[int, typer.Option(help="Slumpfrö för demodata / seed")] = 2026,
) -> None:
    """Hela flödet på genererade data / the whole flow on generated data (no real people)."""
    from pipeline import logs
    from pipeline.demo.flow import run_demo

    root = _root()
    logs.configure(root / "var" / "log", verbose=state.verbose)
    summary = run_demo(root, seed=seed, actor=state.actor, echo=typer.echo)
    _print_status(summary.lists)
    typer.echo(f"Kvitton / receipts: {summary.receipts_dir}")
    typer.echo(f"Arbetsböcker / workbooks: {summary.lists_dir}")


def main() -> None:
    try:
        app()
    except ResultatError as exc:  # raised outside a command (e.g. in the callback)
        print(f"resultat: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
