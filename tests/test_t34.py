"""T34: final grades on a whole course — eligibility, the workbook, validation, lifecycle."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from pipeline.app import App
from pipeline.intake.checked import WorkbookCheck
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import after_approval as lifecycle
from pipeline.lifecycle import approval
from pipeline.lifecycle import verify as archive_check
from pipeline.lists import t34
from pipeline.lists.create import create_t33, create_t34
from pipeline.lists.students import StudentSources
from pipeline.models import (
    AuditEvent,
    Course,
    FileOutcome,
    ListEntry,
    ListState,
    Module,
    PriorResult,
    ResultList,
)
from pipeline.xlsx import workbook
from tests.factories import TERM, fill, seed, sent_code

D1 = dt.date(2026, 10, 30)
D2 = dt.date(2026, 11, 5)


def _approved_t33(app: App, module: str, grades: dict[str, tuple[str, dt.date]]) -> int:
    """A T33 list through intake and SMS approval, the way its results come to count."""
    listnr = create_t33(
        app,
        course_code="DV1599",
        module_code=module,
        term=TERM,
        sources=StudentSources(students=list(grades)),
        reporter="exam1",
    )
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {p: {"grade": g, "grade_date": d} for p, (g, d) in grades.items()},
        action="Skicka till examinator",
        target=app.settings.inbox / f"{listnr}.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    return listnr


def _prior(app: App, pnr: str, module: str, grade: str, day: dt.date) -> None:
    with app.db.session() as session:
        from pipeline.models import Student

        student = session.execute(select(Student).where(Student.pnr == pnr)).scalar_one()
        mod = session.execute(select(Module).where(Module.code == module)).scalar_one()
        session.add(
            PriorResult(student_id=student.id, module_id=mod.id, grade=grade, grade_date=day)
        )


def _course_setup(app: App) -> list[str]:
    """Five registered students:
    p0: 2010 "5" (approved T33) + 2020 G (prior)   → eligible
    p1: 2010 "3" (approved T33), no 2020            → not eligible (2020)
    p2: 2010 "U" (approved T33) + 2020 G (prior)   → not eligible (2010)
    p3: 2010 "4" (prior) + 2020 G (prior)          → eligible (prior results count)
    p4: nothing                                     → not eligible (2010, 2020)
    """
    s = seed(app, students=5)
    p = s.pnrs
    _approved_t33(app, "2010", {p[0]: ("5", D1), p[1]: ("3", D1), p[2]: ("U", D1)})
    for pnr in (p[0], p[2], p[3]):
        _prior(app, pnr, "2020", "G", D2 if pnr == p[0] else D1)
    _prior(app, p[3], "2010", "4", D1)
    return p


def _rows(path: Path, sheet: int = 0, header_row: int = 15) -> dict[str, dict[str, object]]:
    ws = load_workbook(path).worksheets[sheet]
    headers = [c.value for c in ws[header_row]]
    out = {}
    for row in ws.iter_rows(min_row=header_row + 1, values_only=True):
        if row[0]:
            out[str(row[0]).replace("-", "")] = dict(zip(headers, row, strict=False))
    return out


def test_eligibility_counts_t33_and_prior_results(app: App) -> None:
    p = _course_setup(app)
    listnr = create_t34(app, course_code="DV1599", term=TERM)
    issued = workbook.issue(app, listnr)
    rows = _rows(issued.path)
    assert set(rows) == {p[0], p[3]}
    r0 = rows[p[0]]
    assert (r0["2010 betyg"], r0["2020 betyg"]) == ("5", "G")
    assert r0["2010 datum"] == dt.datetime(2026, 10, 30) and r0["2020 datum"] == dt.datetime(
        2026, 11, 5
    )
    assert (r0["2010 hp"], r0["2020 hp"], r0["hp summa"]) == (4.5, 3.0, 7.5)
    assert rows[p[3]]["2010 betyg"] == "4"
    # Read-only: the module columns are locked, the inputs are not.
    ws = load_workbook(issued.path).worksheets[0]
    headers = {c.value: c.column_letter for c in ws[15]}
    assert ws[f"{headers['2010 betyg']}16"].protection.locked
    assert not ws[f"{headers['Betyg']}16"].protection.locked
    # The separate read-only sheet names what each non-eligible student lacks.
    sheet = load_workbook(issued.path)["Ej behöriga"]
    reasons = {
        str(r[0]).replace("-", ""): r[3]
        for r in sheet.iter_rows(min_row=4, values_only=True)
        if r[0]
    }
    assert reasons == {
        p[1]: "saknar godkänt resultat på 2020",
        p[2]: "saknar godkänt resultat på 2010",
        p[4]: "saknar godkänt resultat på 2010, 2020",
    }
    assert sheet.protection.sheet


def test_suggestion_rules(app: App) -> None:
    seed(app, students=1)
    with app.db.session() as session:
        course = Course(
            code="ME1111",
            name_sv="Mek",
            name_en="Mech",
            credits=Decimal("7.5"),
            scale="TH",
            start_date=dt.date(2026, 8, 31),
        )
        session.add(course)
        session.flush()
        session.add_all(
            [
                Module(
                    course_id=course.id,
                    code="A1",
                    name_sv="A",
                    name_en="A",
                    credits=Decimal("5"),
                    scale="TH",
                ),
                Module(
                    course_id=course.id,
                    code="A2",
                    name_sv="B",
                    name_en="B",
                    credits=Decimal("2.5"),
                    scale="AF",
                ),
                Module(
                    course_id=course.id,
                    code="L1",
                    name_sv="L",
                    name_en="L",
                    credits=Decimal("0"),
                    scale="UG",
                ),
            ]
        )
        session.flush()
        session.refresh(course)
        results = {
            "A1": t34.ModuleResult("A1", "3", D1, Decimal("5")),
            "A2": t34.ModuleResult("A2", "A", D1, Decimal("2.5")),
            "L1": t34.ModuleResult("L1", "G", D1, Decimal("0")),
        }
        # (3 × 5 + 5 × 2.5) / 7.5 = 3.67 → 4 on TH; a pass/fail module carries no level.
        assert t34.suggest(course, results, {"rule": "weighted"}) == "4"
        assert t34.suggest(course, results, {"rule": "module", "module": "A1"}) == "3"
        # An AF module named onto a TH course: its level (A = 5) mapped to the nearest grade.
        assert t34.suggest(course, results, {"rule": "module", "module": "A2"}) == "5"
        assert t34.suggest(course, results, {"rule": "none"}) is None


def test_suggestion_column_uses_the_course_rule_from_config(app: App) -> None:
    p = _course_setup(app)
    config = app.root / "resultat.toml"
    config.write_text(
        config.read_text("utf-8") + '\n[final_grade.DV1599]\nrule = "module"\nmodule = "2010"\n',
        encoding="utf-8",
    )
    reopened = App.open(app.root, actor="exam1")
    try:
        listnr = create_t34(reopened, course_code="DV1599", term=TERM)
        rows = _rows(workbook.issue(reopened, listnr).path)
    finally:
        reopened.close()
    assert rows[p[0]]["Förslag (slutbetyg)"] == "5"
    assert rows[p[3]]["Förslag (slutbetyg)"] == "4"


def test_marked_students_are_removed_on_draft_save(app: App) -> None:
    p = _course_setup(app)
    listnr = create_t34(app, course_code="DV1599", term=TERM)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {p[3]: {"remove": "x"}, p[0]: {"grade": "5"}},
        action="Spara utkast",
        target=app.settings.inbox / "t34.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED, [x.slug for x in result.problems]
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        state = {e.student.pnr: (e.removed, e.grade, e.grade_date) for e in rl.entries}
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == "list.remove-students")
        ).scalar_one()
    assert state[p[3]][0] is True
    # A blank grade date is the latest module date (2020 on 2026-11-05).
    assert state[p[0]] == (False, "5", D2)
    assert event.listnr == listnr and event.details["students"] == [event.details["students"][0]]  # type: ignore[index]
    assert set(_rows(issued.path)) == {p[0]}  # the re-issued workbook no longer has them


def test_final_grade_validation(app: App) -> None:
    p = _course_setup(app)
    listnr = create_t34(app, course_code="DV1599", term=TERM)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {
            p[0]: {"grade": "U", "ects_grade": "F", "grade_date": "2026-11-10"},
            p[3]: {"grade": "4", "grade_date": "2026-10-01", "remove": "nej"},
        },
        target=app.settings.inbox / "fel.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED
    got = sorted((x.slug, x.field) for x in result.problems)
    assert got == [
        ("bad-remove-mark", "remove"),
        ("date-before-modules", "grade_date"),
        ("final-grade-fail", "ects_grade"),
        ("final-grade-fail", "grade"),
    ]


def test_no_ects_column_without_an_ects_scale_and_incomplete_credits_warn(app: App) -> None:
    p = _course_setup(app)
    with app.db.session() as session:
        course = session.execute(select(Course)).scalar_one()
        course.ects_scale = None
        course.credits = Decimal("9")
    listnr = create_t34(app, course_code="DV1599", term=TERM)
    issued = workbook.issue(app, listnr)
    assert "ECTS-betyg" not in _rows(issued.path)[p[0]]
    fill(issued.path, {p[0]: {"grade": "5"}}, target=app.settings.inbox / "ok.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    text = result.receipt.read_text("utf-8") if result.receipt else ""
    assert "Observera: Kursens moduler summerar inte" in text


def test_whole_t34_lifecycle_to_archived(app: App) -> None:
    p = _course_setup(app)
    with app.db.session() as session:
        session.execute(select(Course)).scalar_one().department = "DIDA"
    config = app.root / "resultat.toml"
    config.write_text(
        config.read_text("utf-8").replace("[offices]\n", '[offices]\nDIDA = "dida@example.se"\n'),
        encoding="utf-8",
    )
    app = App.open(app.root, actor="exam1")
    listnr = create_t34(app, course_code="DV1599", term=TERM)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {
            p[0]: {"grade": "5", "ects_grade": "A"},
            p[3]: {"grade": "4", "ects_grade": "B", "grade_date": "2026-11-20"},
        },
        action="Skicka till examinator",
        target=app.settings.inbox / "slutbetyg.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    # The LADOK row of a final grade has the course code as its component.
    tsv = (app.settings.office_outbox / "ladok" / f"{listnr}.tsv").read_text("utf-8").splitlines()
    with app.db.session() as session:
        names = {
            e.student.pnr: e.student.last_name for e in session.execute(select(ListEntry)).scalars()
        }
    first = sorted([p[0], p[3]], key=lambda x: names[x].casefold())
    expected_lines = {
        p[0]: f"DV1599\tDV1599\t{p[0][:8]}-{p[0][8:]}\t5\t2026-11-05\t"
        "Eva Examinatorsson <exam1@example.se>",
        p[3]: f"DV1599\tDV1599\t{p[3][:8]}-{p[3][8:]}\t4\t2026-11-20\t"
        "Eva Examinatorsson <exam1@example.se>",
    }
    assert tsv == [expected_lines[x] for x in first]
    from pipeline.messages import outbox
    from tests.test_approval import _mails

    outbox.dispatch(app)
    approved_to = {m["To"] for m in _mails(app) if f"{listnr}" in str(m["Subject"])}
    assert "dida@example.se" in approved_to and "utbildningsstod@example.se" not in approved_to
    app.admin = True  # the student office's steps, here in administration mode
    assert lifecycle.registered(app, listnr) == 2
    package = lifecycle.signed(app, listnr)
    assert (package / "data" / "ladok" / f"{listnr}.tsv").is_file()
    # A student with an approved final grade is not eligible again.
    again = create_t34(app, course_code="DV1599", term=TERM)
    issued_again = workbook.issue(app, again)
    assert _rows(issued_again.path) == {}
    sheet = load_workbook(issued_again.path)["Ej behöriga"]
    reasons = {
        str(r[0]).replace("-", ""): r[3] for r in sheet.iter_rows(min_row=4, values_only=True)
    }
    assert reasons[p[0]] == f"har redan slutbetyg (lista {listnr})"
    report = archive_check.verify(app, listnr)
    assert report.ok, archive_check.format_report(report)
    with app.db.session() as session:
        state = session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one()
    assert state == ListState.ARCHIVED
    app.close()


def test_a_final_grade_workbook_checked_earlier_is_checked_again_under_the_lock(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its date checks read other lists' results, which change without this list's version:
    a check made outside the lock is never applied as it is."""
    from pipeline.intake import handlers as intake
    from pipeline.xlsx.reader import Limits, read_result_workbook

    p = _course_setup(app)
    listnr = create_t34(app, course_code="DV1599", term=TERM)
    issued = workbook.issue(app, listnr)
    dropped = fill(issued.path, {p[0]: {"grade": "5"}}, action="Spara utkast")
    wb = read_result_workbook(dropped, Limits())
    assert wb is not None
    with app.db.read_session() as session:
        checked = intake.check(session, app, wb)
    assert checked.prepared is not None and checked.report.valid
    again: list[int] = []
    real = intake.check_and_apply

    def spy(*args: Any, **kwargs: Any) -> WorkbookCheck:
        again.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(intake, "check_and_apply", spy)
    with app.db.session() as session:
        outcome = intake.apply_checked(session, app, wb, checked)
    assert again == [1] and outcome.accepted
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        assert {e.student.pnr: e.grade for e in rl.entries}[p[0]] == "5"
