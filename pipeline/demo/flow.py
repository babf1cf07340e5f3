"""``resultat demo``: the whole loop on generated data, each person acting as they would.

The administrator initialises the workspace and imports a generated registry (no real people):
everyone's folders are made. Then nobody uses a command: teachers get their workbooks in
their outbox folder (and by mail), fill them and drop them in their inbox folder; the daemon's
passes take them; examiners approve by typing the code from the SMS into the review workbook
or by answering the SMS; the student office confirms LADOK registration and drops the signed
archive list. The demo can run again on the same workspace: it adds new lists. Returns a
summary for the CLI to print.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipeline import texts
from pipeline.app import App
from pipeline.demo import data as demodata
from pipeline.demo import people
from pipeline.demo.people import daemon_pass, drop, fill_and_drop
from pipeline.intake.watcher import write_overview_safely
from pipeline.lifecycle import verify as archive_check
from pipeline.lists.query import get_course, get_module, summaries
from pipeline.lists.students import StudentSources, select_students
from pipeline.lists.summary import ListSummary
from pipeline.models import Staff, Student
from pipeline.people import folders
from pipeline.people.directory import OFFICE
from pipeline.registry import importer
from pipeline.settings import create_workspace


@dataclass
class DemoSummary:
    lists: list[ListSummary]
    #: Each person of the demo (and the office) with their outbox folder.
    folders: dict[str, Path]
    files: dict[str, str]


def run_demo(
    root: Path,
    *,
    seed: int = 2026,
    actor: str | None = None,
    echo: Callable[[str], Any] = print,
) -> DemoSummary:
    create_workspace(root)
    app = App.open(root, actor=actor or "demo", admin=True)
    try:
        return _Demo(app, seed, echo).run()
    finally:
        app.close()


class _Demo:
    def __init__(self, app: App, seed: int, echo: Callable[[str], Any]) -> None:
        self.app = app
        self.echo = echo
        self.rng = random.Random(seed)
        self.seed = seed
        self.cal = demodata.demo_calendar()
        self.outcomes: dict[str, str] = {}

    def t(self, key: str, **params: Any) -> str:
        return texts.t(f"demo.{key}", self.app.settings.language, self.app.root, **params)

    def say(self, key: str, **params: Any) -> None:
        self.echo(self.t(key, **params))

    def mobile(self, username: str) -> str:
        with self.app.db.read_session() as session:
            return (
                session.execute(select(Staff.mobile).where(Staff.username == username)).scalar_one()
                or ""
            )

    def daemon(self, note: str = "") -> None:
        """A pass of the daemon over everyone's inbox folders."""
        for done in daemon_pass(self.app):
            self.outcomes[done.original_name] = done.outcome.value
            extra = self.t("problems", count=len(done.problems)) if done.problems else note
            where = (
                f"inbox/{done.kept_at.name.split('@', 1)[1].split('__', 1)[0]}/"
                if (done.kept_at and "@" in done.kept_at.name)
                else "inbox/"
            )
            self.echo(f"   {done.outcome.value:9} {where}{done.original_name}{extra}")

    # -- the steps ------------------------------------------------------------------------

    def run(self) -> DemoSummary:
        self.registry()
        lists = self.order_lists()
        self.fill_in(lists)
        self.approve(lists)
        self.office(lists["dv_exam"])
        self.final_grades()
        write_overview_safely(self.app)
        report = archive_check.verify(self.app)
        text = archive_check.format_report(report, self.app.settings.language, root=self.app.root)
        self.echo("8. " + text.replace("\n", "\n   "))
        return DemoSummary(
            lists=summaries(self.app),
            folders={
                person: folders.outbox_of(self.app.settings, person)
                for person in (demodata.TEACHER, *demodata.EXAMINERS.values(), OFFICE)
            },
            files=self.outcomes,
        )

    def registry(self) -> None:
        """The administrator imports the registry: everyone's folders are made."""
        registry_dir = self.app.settings.var / "demo" / "registry"
        files = demodata.write_registry(registry_dir, seed=self.seed, today=self.cal.today)
        self.say("registry", count=len(files), folder=registry_dir)
        for result in importer.import_files(self.app, list(files.values()), admin=True):
            self.say(
                "registry-file",
                kind=result.kind,
                added=result.added,
                changed=result.changed,
                unchanged=result.unchanged,
                rejected=result.rejected_rows,
            )

    def order_lists(self) -> dict[str, int]:
        """Teachers order their lists; each workbook arrives in the teacher's outbox."""
        self.say("new-lists")
        app, cal, term = self.app, self.cal, self.cal.term
        with app.db.read_session() as session:
            course = get_course(session, "ME1003")
            module = get_module(session, course, "0010")
            some = select_students(
                session, course, module, term, StudentSources(registered=True)
            ).student_ids[:12]
            pnrs = [session.get(Student, i).pnr for i in some]  # type: ignore[union-attr]
        teacher, pa, me = (
            demodata.TEACHER,
            demodata.EXAMINERS["PA1414"],
            demodata.EXAMINERS["ME1003"],
        )
        issued = {
            "dv_exam": people.order_t33(
                app, teacher, "DV1599", "2010", term, StudentSources(exam_date=cal.exam_date)
            ),
            "dv_lab": people.order_t33(
                app, teacher, "DV1599", "2020", term, StudentSources(registered=True)
            ),
            "pa_exam": people.order_t33(
                app, pa, "PA1414", "TEN1", term, StudentSources(exam_date=cal.exam_date)
            ),
            "me_exam": people.order_t33(
                app, me, "ME1003", "0010", term, StudentSources(students=pnrs[:10])
            ),
        }
        more = StudentSources(students=pnrs[10:12])
        issued["me_exam"] = people.order_more(app, me, issued["me_exam"].listnr, more)
        owners = {"dv_exam": teacher, "dv_lab": teacher, "pa_exam": pa, "me_exam": me}
        for key, wb in issued.items():
            path = people.from_outbox(app, owners[key], f"{wb.listnr}.xlsx")
            self.say("new-list", listnr=wb.listnr, rows=wb.rows, path=path.relative_to(app.root))
        return {key: wb.listnr for key, wb in issued.items()}

    def fill_in(self, lists: dict[str, int]) -> None:
        """Teachers fill the workbooks and drop them in their own inbox folder."""
        self.say("fill-in")
        app, rng, cal = self.app, self.rng, self.cal
        exam_day = cal.exam_date.isoformat()

        def th_grades(i: int, pnr: str) -> dict[str, Any]:
            grade = rng.choice(["U", "3", "3", "4", "4", "5"])
            return {"grade": grade, "grade_date": cal.exam_date, "points": rng.randint(8, 50)}

        def lab_grades(i: int, pnr: str) -> dict[str, Any]:
            if i % 7 == 6:
                return {}  # not finished yet: blank means no result
            return {"grade": "G" if i % 9 else "U", "grade_date": cal.lab_date}

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

        # What a teacher picks in the workbook's action cell (its choices in their language).
        submit_sv = "Skicka till examinator"  # i18n: not people-facing
        teacher, pa = demodata.TEACHER, demodata.EXAMINERS["PA1414"]
        me = demodata.EXAMINERS["ME1003"]
        dv_exam, dv_lab = lists["dv_exam"], lists["dv_lab"]
        fill_and_drop(app, teacher, dv_exam, th_grades, action=submit_sv, name=f"{dv_exam}.xlsx")
        fill_and_drop(
            app, teacher, dv_lab, lab_grades, action=submit_sv, name=f"Labb {dv_lab}.xlsx"
        )
        pa_file = fill_and_drop(
            app, pa, lists["pa_exam"], uv_grades, action=submit_sv, name=f"{lists['pa_exam']}.xlsx"
        )
        copy = app.settings.var / "demo" / "copy.xlsx"
        copy.write_bytes(pa_file.read_bytes())
        fill_and_drop(
            app, me, lists["me_exam"], with_mistakes, action="Send to examiner", name="grades.xlsx"
        )
        lock = folders.inbox_of(app.settings, teacher) / "~$betyg.xlsx"
        lock.write_bytes(b"lock file of an open Excel window: ignored")
        self.say("process")
        self.daemon()
        # The same bytes again: a duplicate receipt, nothing applied twice.
        drop(app, pa, copy, f"{lists['pa_exam']} igen.xlsx")
        self.daemon()
        lock.unlink(missing_ok=True)

    def approve(self, lists: dict[str, int]) -> None:
        """Examiners approve: the review workbook with the code, or an answer to the SMS."""
        self.say("approve")
        app = self.app
        dv_examiner, pa = demodata.EXAMINERS["DV1599"], demodata.EXAMINERS["PA1414"]
        people.approve_in_review_workbook(
            app, dv_examiner, self.mobile(dv_examiner), lists["dv_exam"]
        )
        self.daemon(self.t("review-workbook"))
        for listnr, examiner in ((lists["pa_exam"], pa), (lists["dv_lab"], dv_examiner)):
            answer = people.answer_sms(app, self.mobile(examiner), listnr)
            self.say("sms-reply", listnr=listnr, answer=answer)
        daemon_pass(app)

    def office(self, listnr: int) -> None:
        """The student office registers in LADOK and the signed archive list comes back."""
        self.say("registered")
        office = folders.office_outbox(self.app.settings)
        self.say(
            "ladok-files",
            ladok=office / "ladok" / f"{listnr}.tsv",
            archive_list=office / "print" / f"{listnr}_arkivlista.pdf",
        )
        mails = people.confirm_registered(self.app, listnr)
        self.say("students-mailed", count=mails)
        package = people.return_signed(self.app, listnr)
        self.say("archived", path=package.relative_to(self.app.root))

    def final_grades(self) -> None:
        """The examiner's T34 list of final grades, through the same folders."""
        self.say("final-grades")
        app, examiner = self.app, demodata.EXAMINERS["DV1599"]
        ordered = people.order_t34(app, examiner, "DV1599", self.cal.term)
        final = ordered.listnr
        issued = people.from_outbox(app, examiner, f"{final}.xlsx")
        self.say("final-list", listnr=final, rows=ordered.rows, path=issued.relative_to(app.root))
        suggested = people.suggestions(issued)
        ects = {"5": "A", "4": "C", "3": "E"}

        def final_grades(i: int, pnr: str) -> dict[str, Any]:
            if i == 0:
                return {"remove": "X"}  # not to be graded now: off the list on this save
            grade = suggested.get(pnr)
            return {"grade": grade, "ects_grade": ects.get(grade or "")} if grade else {}

        draft_sv, submit_sv = "Spara utkast", "Skicka till examinator"  # i18n: not people-facing
        fill_and_drop(
            app, examiner, final, final_grades, action=draft_sv, name=f"{final} slutbetyg.xlsx"
        )
        self.daemon(self.t("draft-one-removed"))
        # The fresh workbook after the draft arrived in the examiner's outbox: submit it.
        fill_and_drop(
            app, examiner, final, lambda i, pnr: {}, action=submit_sv, name=f"{final} skicka.xlsx"
        )
        self.daemon(self.t("submitted"))
        if ordered.rows > 1:  # someone is left once the first student is off the list
            answer = people.answer_sms(app, self.mobile(examiner), final)
            self.echo(f"   {answer}")
            daemon_pass(app)
            people.confirm_registered(app, final)
            package = people.return_signed(app, final)
            self.say("archived", path=package.relative_to(app.root))
        else:
            self.say("everyone-graded")
