"""``resultat demo``: the whole loop on generated data, as the people involved would do it.

Initialises the workspace, imports a generated registry (no real people), creates T33 lists by
each student source, fills the issued workbooks as teachers would (one of them with mistakes),
drops them in ``inbox/`` and processes them. Returns a summary for the CLI to print.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from pipeline import texts
from pipeline.app import App
from pipeline.demo import data as demodata
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import after_approval, approval
from pipeline.lifecycle import verify as archive_check
from pipeline.lists.create import create_t33, create_t34
from pipeline.lists.query import ListSummary, get_course, get_module, get_staff, summaries
from pipeline.lists.students import StudentSources, add_students, select_students
from pipeline.messages import outbox
from pipeline.models import Student
from pipeline.registry import importer
from pipeline.settings import create_workspace
from pipeline.xlsx import workbook
from pipeline.xlsx.contract import CODE_CELL
from pipeline.xlsx.reader import META_SHEET


@dataclass
class DemoSummary:
    lists: list[ListSummary]
    receipts_dir: Path
    lists_dir: Path
    files: dict[str, str]


Filler = Callable[[int, str], dict[str, Any]]


def fill_issued(path: Path, target: Path, filler: Filler, *, action: str) -> Path:
    """Write into the issued workbook's input cells, as a teacher in Excel would."""
    wb = load_workbook(path)
    meta_ws = wb[META_SHEET]
    meta = {
        str(meta_ws.cell(row=r, column=1).value): meta_ws.cell(row=r, column=2).value
        for r in range(1, meta_ws.max_row + 1)
        if meta_ws.cell(row=r, column=1).value
    }
    letters: dict[str, str] = json.loads(str(meta["columns"]))
    ws = wb[str(meta["sheet"])]
    row = int(str(meta["first_row"]))
    index = 0
    while ws[f"{letters['pnr']}{row}"].value:
        pnr = str(ws[f"{letters['pnr']}{row}"].value).replace("-", "")
        for field, value in filler(index, pnr).items():
            if field in letters:
                ws[f"{letters[field]}{row}"] = value
        row += 1
        index += 1
    ws[str(meta["action_cell"])] = action
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def suggestions(path: Path) -> dict[str, str]:
    """The suggested final grade per personnummer, as the examiner reads it in the workbook."""
    wb = load_workbook(path, read_only=True)
    ws = wb.worksheets[0]
    rows = ws.iter_rows(min_row=15, values_only=True)
    headers = [str(h) for h in next(rows)]
    prefixes = ("Förslag", "Suggested")  # i18n: not people-facing: the workbook's headers
    column = next(i for i, h in enumerate(headers) if h.startswith(prefixes))
    found = {str(r[0]).replace("-", ""): str(r[column]) for r in rows if r[0] and r[column]}
    wb.close()
    return found


def sms_code(app: App, listnr: int) -> str:
    """The newest approval code for ``listnr`` from the SMS file sink (as a phone shows it)."""
    outbox.drain(app)
    for path in sorted((app.settings.var / "sms").glob("*.json"), key=lambda p: -int(p.stem)):
        body = json.loads(path.read_text("utf-8"))["body"]
        match = re.search(rf"\b{listnr}\b.*?\b(\d{{6}})\b", body, re.S)
        if match:
            return match.group(1)
    raise LookupError(f"no code for {listnr} in var/sms")


def run_demo(
    root: Path,
    *,
    seed: int = 2026,
    actor: str | None = None,
    echo: Callable[[str], Any] = print,
) -> DemoSummary:
    create_workspace(root)
    app = App.open(root, actor=actor or "demo")
    try:
        return _run(app, seed, echo)
    finally:
        app.close()


def _run(app: App, seed: int, echo: Callable[[str], Any]) -> DemoSummary:
    lang = app.settings.language

    def t(key: str, **params: Any) -> str:
        return texts.t(f"demo.{key}", lang, app.root, **params)

    def say(key: str, **params: Any) -> None:
        echo(t(key, **params))

    rng = random.Random(seed)
    cal = demodata.demo_calendar()
    registry_dir = app.settings.var / "demo" / "registry"
    files = demodata.write_registry(registry_dir, seed=seed, today=cal.today)
    say("registry", count=len(files), folder=registry_dir)
    results = importer.import_files(app, list(files.values()), admin=True)
    for result in results:
        say(
            "registry-file",
            kind=result.kind,
            added=result.added,
            changed=result.changed,
            unchanged=result.unchanged,
            rejected=result.rejected_rows,
        )

    say("new-lists")
    term = cal.term
    dv_exam = create_t33(
        app,
        course_code="DV1599",
        module_code="2010",
        term=term,
        sources=StudentSources(exam_date=cal.exam_date),
        reporter=demodata.TEACHER,
    )
    dv_lab = create_t33(
        app,
        course_code="DV1599",
        module_code="2020",
        term=term,
        sources=StudentSources(registered=True),
        reporter=demodata.TEACHER,
    )
    pa_exam = create_t33(
        app,
        course_code="PA1414",
        module_code="TEN1",
        term=term,
        sources=StudentSources(exam_date=cal.exam_date),
        reporter=demodata.EXAMINERS["PA1414"],
    )
    with app.db.session() as session:
        course = get_course(session, "ME1003")
        module = get_module(session, course, "0010")
        some = select_students(
            session, course, module, term, StudentSources(registered=True)
        ).student_ids[:12]

        pnrs = [session.get(Student, i).pnr for i in some]  # type: ignore[union-attr]
    me_exam = create_t33(
        app,
        course_code="ME1003",
        module_code="0010",
        term=term,
        sources=StudentSources(students=pnrs[:10]),
        reporter=demodata.EXAMINERS["ME1003"],
    )
    add_students(app, me_exam, StudentSources(students=pnrs[10:12]))
    issued = {n: workbook.issue(app, n) for n in (dv_exam, dv_lab, pa_exam, me_exam)}
    for n, wb in issued.items():
        say("new-list", listnr=n, rows=wb.rows, path=wb.path.relative_to(app.root))

    say("fill-in")
    exam_day = cal.exam_date.isoformat()
    lab_day = cal.lab_date

    def th_grades(i: int, pnr: str) -> dict[str, Any]:
        grade = rng.choice(["U", "3", "3", "4", "4", "5"])
        return {"grade": grade, "grade_date": cal.exam_date, "points": rng.randint(8, 50)}

    def lab_grades(i: int, pnr: str) -> dict[str, Any]:
        if i % 7 == 6:
            return {}  # not finished yet: blank means no result
        return {"grade": "G" if i % 9 else "U", "grade_date": lab_day}

    def uv_grades(i: int, pnr: str) -> dict[str, Any]:
        return {"grade": rng.choice(["u", "G", "g ", "VG"]), "grade_date": exam_day}

    def with_mistakes(i: int, pnr: str) -> dict[str, Any]:
        future = (dt.date.today() + dt.timedelta(days=10)).isoformat()
        mistakes = {
            0: {"grade": "G", "grade_date": exam_day},  # G is not on the AF scale
            1: {"grade": "B", "grade_date": future},  # in the future
            2: {"grade": "C"},  # no date
            3: {"grade": "D", "grade_date": "30/10/2026"},  # not ISO
        }
        return mistakes.get(i, {"grade": rng.choice("ABCDEF"), "grade_date": exam_day})

    inbox = app.settings.inbox
    # What a teacher picks in the workbook's action cell (its Swedish choices).
    submit_sv, draft_sv = "Skicka till examinator", "Spara utkast"  # i18n: not people-facing
    fill_issued(
        issued[dv_exam].path, inbox / f"{dv_exam}_tentamen.xlsx", th_grades, action=submit_sv
    )
    fill_issued(issued[dv_lab].path, inbox / f"Labbar {dv_lab}.xlsx", lab_grades, action=submit_sv)
    fill_issued(issued[pa_exam].path, inbox / f"{pa_exam}.xlsx", uv_grades, action=submit_sv)
    fill_issued(
        issued[me_exam].path,
        inbox / f"{me_exam}-grades.xlsx",
        with_mistakes,
        action="Send to examiner",
    )
    shutil.copy(inbox / f"{pa_exam}.xlsx", app.settings.var / "demo" / "copy.xlsx")
    (inbox / "~$betyg.xlsx").write_bytes(b"lock file of an open Excel window: ignored")

    say("process")
    outcomes: dict[str, str] = {}
    for done in Inbox(app).process_once():
        outcomes[done.original_name] = done.outcome.value
        extra = t("problems", count=len(done.problems)) if done.problems else ""
        echo(f"   {done.outcome.value:9} {done.original_name}{extra}")
    # The same bytes again: a duplicate receipt, nothing applied twice.
    shutil.copy(app.settings.var / "demo" / "copy.xlsx", inbox / f"{pa_exam} igen.xlsx")
    for done in Inbox(app).process_once():
        outcomes[done.original_name] = done.outcome.value
        echo(f"   {done.outcome.value:9} {done.original_name}")
    (inbox / "~$betyg.xlsx").unlink(missing_ok=True)

    say("approve")
    sent = outbox.drain(app)
    say("messages-written", count=sent.sent)
    code = sms_code(app, dv_exam)
    review = app.settings.review_dir
    review_book = max(review.glob(f"{dv_exam}_v*_granskning.xlsx"), key=lambda p: p.stat().st_mtime)
    wb = load_workbook(review_book)
    wb.worksheets[0][CODE_CELL] = code
    wb.save(inbox / f"{dv_exam} attest.xlsx")
    for done in Inbox(app).process_once():
        echo(f"   {done.outcome.value:9} {done.original_name}{t('review-workbook')}")
    with app.db.session() as session:
        examiner = get_staff(session, demodata.EXAMINERS["PA1414"])
        mobile = examiner.mobile or ""
    answer = approval.sms_reply(app, mobile, f"{pa_exam} {sms_code(app, pa_exam)}")
    say("sms-reply", listnr=pa_exam, answer=answer)
    decision = approval.approve(app, dv_lab, sms_code(app, dv_lab))
    echo(f"   resultat approve {dv_lab}: {approval.decision_text(decision, lang, app.root)}")
    outbox.drain(app)

    say("registered")
    ladok_dir = app.settings.office_outbox / "ladok"
    say(
        "ladok-files",
        ladok=ladok_dir / f"{dv_exam}.tsv",
        archive_list=app.settings.office_outbox / "print" / f"{dv_exam}_arkivlista.pdf",
    )
    mails = after_approval.registered(app, dv_exam)
    outbox.drain(app)
    say("students-mailed", count=mails)
    package = after_approval.signed(app, dv_exam)
    say("archived", path=package.relative_to(app.root))

    say("final-grades")
    final = create_t34(app, course_code="DV1599", term=term)
    issued_final = workbook.issue(app, final)
    say(
        "final-list",
        listnr=final,
        rows=issued_final.rows,
        path=issued_final.path.relative_to(app.root),
    )
    suggested = suggestions(issued_final.path)
    ects = {"5": "A", "4": "C", "3": "E"}

    def final_grades(i: int, pnr: str) -> dict[str, Any]:
        if i == 0:
            return {"remove": "X"}  # not to be graded now: off the list on this save
        grade = suggested.get(pnr)
        return {"grade": grade, "ects_grade": ects.get(grade or "")} if grade else {}

    fill_issued(issued_final.path, inbox / f"{final} slutbetyg.xlsx", final_grades, action=draft_sv)
    for done in Inbox(app).process_once():
        echo(f"   {done.outcome.value:9} {done.original_name}{t('draft-one-removed')}")
    fill_issued(
        app.settings.lists_dir / f"{final}.xlsx",
        inbox / f"{final} skicka.xlsx",
        lambda i, pnr: {},
        action=submit_sv,
    )
    for done in Inbox(app).process_once():
        echo(f"   {done.outcome.value:9} {done.original_name}{t('submitted')}")
    if issued_final.rows:
        decision = approval.approve(app, final, sms_code(app, final))
        echo(f"   {approval.decision_text(decision, lang, app.root)}")
        after_approval.registered(app, final)
        outbox.drain(app)
        package = after_approval.signed(app, final)
        say("archived", path=package.relative_to(app.root))
    else:
        say("everyone-graded")

    report = archive_check.verify(app)
    echo("8. " + archive_check.format_report(report, lang, root=app.root).replace("\n", "\n   "))
    return DemoSummary(
        lists=summaries(app),
        receipts_dir=app.settings.receipts_dir,
        lists_dir=app.settings.lists_dir,
        files=outcomes,
    )
