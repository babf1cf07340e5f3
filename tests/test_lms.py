"""Grades from learning platforms: Canvas, Moodle, ItsLearning exports and ladok3 rows merged
into a list's workbook, and a merged workbook dropped again going on to approval.

The fixtures under tests/data/lms/ are built to each platform's layout; personnummer in them
are tokens (``{{pnr3}}``, ``{{pnr3:long}}``, ``{{pnr3:short}}``) replaced with the seeded
students' numbers, in text files and inside the xlsx/ods XML alike."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from pipeline.app import App
from pipeline.domain.personnummer import generate
from pipeline.domain.scales import get_scale
from pipeline.intake import report
from pipeline.intake.inbox import Inbox
from pipeline.lists.create import create_t33
from pipeline.lists.query import get_list
from pipeline.lists.students import StudentSources
from pipeline.lms import exports as lms
from pipeline.lms.merge import Conflict, MergeResult, listnr_from_name, merge_file, render_receipt
from pipeline.models import FileOutcome, ListState
from pipeline.xlsx import contract, workbook
from pipeline.xlsx.reader import Limits
from tests.factories import EXAM_DATE, TERM, fill, new_exam_list, seed

DATA = Path(__file__).parent / "data" / "lms"
TOKEN = re.compile(r"\{\{pnr(\d+)(?::(long|short))?\}\}")
EXAM_THRESHOLDS = [("U", 0.0), ("3", 20.0), ("4", 28.0), ("5", 34.0)]


def _form(digits: str, form: str | None) -> str:
    if form == "long":
        return f"{digits[:8]}-{digits[8:]}"
    if form == "short":
        return f"{digits[2:8]}-{digits[8:]}"
    return digits


def materialize(name: str, pnrs: list[str], folder: Path) -> Path:
    """The fixture ``name`` with its personnummer tokens replaced, written to ``folder``."""
    source = DATA / name
    target = folder / name
    folder.mkdir(parents=True, exist_ok=True)

    def fill_in(text: str) -> str:
        return TOKEN.sub(lambda m: _form(pnrs[int(m.group(1))], m.group(2)), text)

    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename.endswith(".xml"):
                    data = fill_in(data.decode("utf-8")).encode("utf-8")
                zout.writestr(info, data)
    else:
        target.write_bytes(fill_in(source.read_bytes().decode("utf-8")).encode("utf-8"))
    return target


def grades_in(path: Path) -> dict[str, tuple[Any, Any]]:
    """Grade and grade date per personnummer (12 digits) in a result workbook."""
    ws = load_workbook(path).worksheets[0]
    headers = {ws.cell(contract.HEADER_ROW, c).value: c for c in range(1, ws.max_column + 1)}
    grade = headers.get("Betyg") or headers["Grade"]
    date = headers.get("Betygsdatum") or headers["Grade date"]
    out = {}
    for row in range(contract.FIRST_ROW, ws.max_row + 1):
        pnr = ws.cell(row, 1).value
        if pnr:
            value = ws.cell(row, date).value
            out[str(pnr).replace("-", "")] = (
                ws.cell(row, grade).value,
                value.date() if isinstance(value, dt.datetime) else value,
            )
    return out


def row_of(path: Path, pnr: str) -> int:
    ws = load_workbook(path).worksheets[0]
    return next(
        r
        for r in range(contract.FIRST_ROW, ws.max_row + 1)
        if str(ws.cell(r, 1).value).replace("-", "") == pnr
    )


def set_grade(app: App, listnr: int, pnr: str, grade: str, date: dt.date) -> None:
    with app.db.session() as session:
        entry = next(e for e in get_list(session, listnr).entries if e.student.pnr == pnr)
        entry.grade, entry.grade_date = grade, date


def set_options(app: App, listnr: int, options: dict[str, object]) -> None:
    with app.db.session() as session:
        get_list(session, listnr).options = options


def slugs(result: MergeResult) -> list[str]:
    return [p.slug for p in result.problems]


def receipt(app: App, result: MergeResult, language: str = "sv") -> str:
    return render_receipt(
        app,
        result,
        file_name="export",
        received="2026-11-28 10:00",
        kept_at="inbox/.processed/x",
        language=language,
    )


# -- Canvas --------------------------------------------------------------------------------


def test_canvas_semicolon_bom_decimal_comma_through_thresholds(app: App, tmp_path: Path) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    set_grade(app, listnr, s.pnrs[7], "3", EXAM_DATE)
    export = materialize("canvas_semicolon_bom_decimal_comma.csv", s.pnrs, tmp_path)

    result = merge_file(app, listnr, export, column="tentamen", thresholds=EXAM_THRESHOLDS)

    assert result.ok and result.platform == "canvas"
    assert result.column == "Tentamen (10501)"
    assert result.workbook == app.settings.lists_dir / f"{listnr}_lms.xlsx"
    cells = grades_in(result.workbook)
    p = s.pnrs
    # 34,50 (wrapped ="..."), 27,50 (quoted wrapper), 28 (login STUD3), 12,0 (login = email)
    assert cells[p[0]] == ("5", EXAM_DATE)
    assert cells[p[1]] == ("3", EXAM_DATE)
    assert cells[p[3]] == ("4", EXAM_DATE)
    assert cells[p[4]] == ("U", EXAM_DATE)
    assert cells[p[2]] == (None, None)  # EX (apostrophe-escaped personnummer)
    assert cells[p[5]] == (None, None)  # N/A
    assert cells[p[7]] == ("3", EXAM_DATE)  # the list's grade is kept
    assert result.merged == 4 and result.without_result == 2
    assert result.conflicts == [Conflict(row_of(result.workbook, p[7]), "Tove Hägg", "3", "4")]
    assert result.missing == ["Ebba Nordqvist"]
    assert result.unknown == ["Okänd, Olle (196005**-****)"]
    assert [(r.row, r.reason, r.name) for r in result.skipped] == [
        (2, "points-possible", ""),
        (3, "manual-posting", ""),
        (12, "test-student", "Student, Test"),
    ]
    assert result.problems == []

    text = receipt(app, result)
    assert "Tove Hägg: 3 i listan, 4 i exporten" in text
    assert "Ebba Nordqvist" in text and "196005**-****" in text
    assert "19600505" not in text and "4 betyg är införda" in text
    with app.db.session() as session:  # nothing applied to the list
        assert sum(e.grade is not None for e in get_list(session, listnr).entries) == 1


def test_canvas_column_must_be_chosen_and_scores_need_thresholds(app: App, tmp_path: Path) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    export = materialize("canvas_semicolon_bom_decimal_comma.csv", s.pnrs, tmp_path)

    ambiguous = merge_file(app, listnr, export)
    assert not ambiguous.ok and ambiguous.workbook is None
    assert slugs(ambiguous) == ["lms-ambiguous-column"]
    assert ambiguous.candidates[:2] == ["Tentamen (10501)", "Inlämningsuppgift (10502)"]
    assert "Final Grade" in ambiguous.candidates
    assert not (app.settings.lists_dir / f"{listnr}_lms.xlsx").exists()
    text = receipt(app, ambiguous, "en")
    assert "NOTHING MERGED" in text and 'e.g. "Tentamen (10501)", in the cell' in text
    assert "  - Inlämningsuppgift (10502)" in text

    wrong = merge_file(app, listnr, export, column="Labb 3")
    assert slugs(wrong) == ["lms-column-not-found"] and "Tentamen (10501)" in wrong.candidates

    unscaled = merge_file(app, listnr, export, column="Tentamen (10501)")
    assert unscaled.ok and unscaled.merged == 0
    # every score of a student on the list; EX, N/A and unknown students are not flagged
    assert set(slugs(unscaled)) == {"lms-number-without-thresholds"}
    assert [(p.row, p.column) for p in unscaled.problems] == [(r, "F") for r in (4, 5, 7, 8, 10)]
    assert unscaled.workbook is not None
    assert all(v == (None, None) for v in grades_in(unscaled.workbook).values())


def test_canvas_pass_fail_on_ug_module(app: App, tmp_path: Path) -> None:
    s = seed(app)
    listnr = create_t33(
        app,
        course_code="DV1599",
        module_code="2020",
        term=TERM,
        sources=StudentSources(registered=True),
        reporter=s.teacher,
    )
    export = materialize("canvas_comma_pass_fail.csv", s.pnrs, tmp_path)

    result = merge_file(app, listnr, export)

    assert result.ok and result.column == "Laborationer (20001)"
    assert result.workbook is not None
    cells = grades_in(result.workbook)
    # P, F, " p ", complete; the list has no exam date, so no grade date is guessed
    assert [cells[p] for p in s.pnrs[:4]] == [("G", None), ("U", None), ("G", None), ("G", None)]
    assert result.merged == 4 and result.undated == 4
    assert slugs(result) == ["lms-no-grade-date"]
    assert len(result.missing) == 4 and "Tove Hägg" in result.missing
    assert "4 införda betyg saknar betygsdatum" in receipt(app, result)


# -- Moodle --------------------------------------------------------------------------------


def test_moodle_swedish_headers_ods_letter_column(app: App, tmp_path: Path) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    export = materialize("moodle_swedish_headers.ods", s.pnrs, tmp_path)

    result = merge_file(app, listnr, export)

    assert result.ok and result.platform == "moodle"
    assert result.column == "Uppgift: Tentamen (Bokstav)"
    assert result.workbook is not None
    cells = grades_in(result.workbook)
    p = s.pnrs
    assert cells[p[0]] == ("5", EXAM_DATE)  # a number cell in a Letter column is a grade
    assert cells[p[1]] == ("4", EXAM_DATE)  # no ID number: email, case-insensitive
    assert cells[p[2]] == ("U", EXAM_DATE)
    assert cells[p[3]] == (None, None)  # "-"
    assert cells[p[4]] == ("U", EXAM_DATE)  # " f " on TH
    assert result.merged == 4
    assert result.unknown == ["Olle Okänd (196212**-****)"]
    assert sorted(result.missing) == ["Ebba Nordqvist", "Kåre Lindén", "Tove Hägg"]


def test_moodle_english_surname_thresholds_from_list_options(app: App, tmp_path: Path) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    set_options(app, listnr, {"thresholds": [list(t) for t in EXAM_THRESHOLDS]})
    export = materialize("moodle_english_surname.xlsx", s.pnrs, tmp_path)

    result = merge_file(app, listnr, export)

    assert result.ok and result.column == "Assignment: Tentamen (Real)"
    assert result.workbook is not None
    cells = grades_in(result.workbook)
    assert [cells[p][0] for p in s.pnrs[:4]] == ["5", "U", None, "4"]
    assert result.merged == 3 and result.without_result == 1 and result.unknown == []


# -- ItsLearning ---------------------------------------------------------------------------


def test_itslearning_swedish_status_texts_column_from_list_options(
    app: App, tmp_path: Path
) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    set_options(app, listnr, {"lms_column": "Tentamen"})
    export = materialize("itslearning_swedish_status_texts.xlsx", s.pnrs, tmp_path)

    result = merge_file(app, listnr, export)

    assert result.ok and result.platform == "itslearning" and result.column == "Tentamen"
    assert result.workbook is not None
    cells = grades_in(result.workbook)
    p = s.pnrs
    assert cells[p[0]][0] == "4"
    assert [cells[p[i]][0] for i in (1, 2, 3)] == [None, None, None]  # status texts
    assert cells[p[4]][0] == "U" and cells[p[5]][0] == "5"
    assert cells[p[7]][0] is None  # VG is not on TH
    assert result.merged == 3 and result.without_result == 3
    assert result.missing == ["Ebba Nordqvist"] and result.unknown == []
    [problem] = result.problems
    assert problem.slug == "lms-grade-not-in-scale" and problem.value == "VG"
    assert (problem.sheet, problem.row, problem.column) == ("Bedömningsprotokoll", 11, "G")
    text = receipt(app, result)
    assert 'blad Bedömningsprotokoll, rad 11, kolumn G: "VG" kan inte översättas' in text


# -- ladok3 --------------------------------------------------------------------------------


def test_ladok3_rows_with_their_dates(app: App, tmp_path: Path) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    export = materialize("ladok3_report_rows.tsv", s.pnrs, tmp_path)

    result = merge_file(app, listnr, export)

    assert result.ok and result.platform == "ladok3"
    assert result.workbook is not None
    cells = grades_in(result.workbook)
    p = s.pnrs
    assert cells[p[0]] == ("4", dt.date(2026, 11, 2))
    assert cells[p[1]] == ("3", dt.date(2026, 11, 3))
    assert cells[p[2]] == ("U", dt.date(2026, 11, 2))
    assert cells[p[3]] == (None, None) and cells[p[4]] == (None, None)
    assert result.merged == 3
    assert [(x.slug, x.row) for x in result.problems] == [
        ("lms-other-component", 4),
        ("lms-grade-not-in-scale", 6),
        ("lms-bad-date", 7),
    ]
    assert result.unknown == ["LADOK UID 4b1e5c6a-…-9b7a"]


# -- the whole way: merge, check, submit ---------------------------------------------------


def test_merged_then_submitted_goes_to_approval(app: App, tmp_path: Path) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    export = materialize("canvas_semicolon_bom_decimal_comma.csv", s.pnrs, tmp_path)
    result = merge_file(app, listnr, export, column="Tentamen", thresholds=EXAM_THRESHOLDS)
    assert result.workbook is not None and result.merged == 5

    fill(
        result.workbook,
        {},
        action="Skicka till examinator",
        target=app.settings.inbox / f"{listnr}_kontrollerad.xlsx",
    )
    [dropped] = Inbox(app).process_once()

    assert dropped.outcome == FileOutcome.ACCEPTED, dropped.problems
    with app.db.session() as session:
        result_list = get_list(session, listnr)
        assert result_list.state == ListState.AWAITING_APPROVAL
        stored = {e.student.pnr: (e.grade, e.grade_date) for e in result_list.entries}
    assert stored[s.pnrs[0]] == ("5", EXAM_DATE)
    assert stored[s.pnrs[7]] == ("4", EXAM_DATE)
    assert stored[s.pnrs[2]] == (None, None)


def test_what_is_not_an_export_is_refused(app: App, tmp_path: Path) -> None:
    seed(app)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    refused = merge_file(app, listnr, issued.path)
    assert not refused.ok and slugs(refused) == ["lms-result-workbook"]

    other = tmp_path / "kursplan.csv"
    other.write_text("Kurskod,Namn\nDV1599,Programmering\n", encoding="utf-8")
    unknown = merge_file(app, listnr, other)
    assert not unknown.ok and slugs(unknown) == ["lms-unknown-platform"]
    assert "känns inte igen" in receipt(app, unknown)

    missing_list = merge_file(app, 999999, other)
    assert slugs(missing_list) == ["list-not-found"]


# -- without a database --------------------------------------------------------------------


def test_listnr_from_file_name() -> None:
    known = {1234, 1001}.__contains__
    assert listnr_from_name("1234_itslearning.xlsx", known) == 1234
    assert listnr_from_name("Betyg 1234.csv", known) == 1234
    assert listnr_from_name("2026-11-02 DV1599 betyg 1001.csv", known) == 1001
    assert listnr_from_name("Betyg 4321.csv", known) is None
    assert listnr_from_name("1001 och 1234.csv", known) is None
    known_too = {1001, 1599, 2026}.__contains__
    assert listnr_from_name("2026-11-28T1015_Betyg-DV1599_HT2026 (1001).csv", known_too) == 1001


@pytest.mark.parametrize(
    ("value", "scale", "kind", "expected"),
    [
        (" vg ", "UV", "auto", "VG"),
        ("P", "UG", "auto", "G"),
        ("f", "UG", "grade", "U"),
        ("Godkänd", "UG", "auto", "G"),
        ("Underkänd", "AF", "auto", "F"),
        ("fx", "AF", "grade", "Fx"),
        ("B", "AF", "grade", "B"),
        (4.0, "TH", "grade", "4"),
        ("4,0", "TH", "grade", "4"),
        ("Klar", "TH", "grade", None),
        ("", "TH", "grade", None),
        ("17,5", "TH", "points", "3"),
        ("85,00 %", "TH", "grade", "5"),
        (14.99, "TH", "auto", "U"),
        ("A-", "AF", "grade", "lms-grade-not-in-scale"),
        ("P", "TH", "grade", "lms-grade-not-in-scale"),
        ("-3", "TH", "points", "lms-below-thresholds"),
    ],
)
def test_grade_mapping(value: Any, scale: str, kind: str, expected: str | None) -> None:
    on = get_scale(scale)
    thresholds = lms.parse_thresholds("U=0,3=15,4=50,5=80", on) if scale == "TH" else None
    outcome = lms.map_grade(
        value, scale=on, kind=kind, thresholds=thresholds, no_result=frozenset({"klar"})
    )
    assert (outcome.slug or outcome.grade) == expected


def test_scores_are_never_guessed_and_thresholds_are_checked() -> None:
    th = get_scale("TH")
    outcome = lms.map_grade("4", scale=th, kind="points", thresholds=None)
    assert outcome.slug == "lms-number-without-thresholds"
    assert lms.parse_thresholds({"5": 80, "U": 0, "3": 50, "4": 65}, th).steps == (
        ("U", 0.0),
        ("3", 50.0),
        ("4", 65.0),
        ("5", 80.0),
    )
    af = lms.parse_thresholds([("F", 0), ("E", 50), ("A", 90)], get_scale("AF"))
    assert af.grade_for(89.5) == "E" and af.grade_for(90) == "A"
    for bad in ("U=0,3=50,5=40", "U=0,VG=50", "U=0,3=0", "3", "U=x", ""):
        with pytest.raises(lms.ThresholdError):
            lms.parse_thresholds(bad, th)


def test_each_layout_is_recognised(tmp_path: Path) -> None:
    import random

    rng = random.Random(1)
    pnrs = [generate(rng).digits for _ in range(8)]
    expected = {
        "canvas_semicolon_bom_decimal_comma.csv": ("canvas", 1, ";"),
        "canvas_comma_pass_fail.csv": ("canvas", 1, ","),
        "moodle_swedish_headers.ods": ("moodle", 1, None),
        "moodle_english_surname.xlsx": ("moodle", 1, None),
        "itslearning_swedish_status_texts.xlsx": ("itslearning", 4, None),
        "ladok3_report_rows.tsv": ("ladok3", None, "\t"),
    }
    for name, (platform, header_row, delimiter) in expected.items():
        table = lms.read_table(materialize(name, pnrs, tmp_path), Limits())
        export = lms.parse_export(table)
        assert export is not None, name
        assert (export.platform, export.header_row, table.delimiter) == (
            platform,
            header_row,
            delimiter,
        ), name
    its = lms.parse_export(
        lms.read_table(
            materialize("itslearning_swedish_status_texts.xlsx", pnrs, tmp_path), Limits()
        )
    )
    assert its is not None and lms.choose_column(its, None).candidates == [
        "Laboration 1",
        "Tentamen",
    ]


def test_every_problem_slug_has_a_text_in_both_languages() -> None:
    root = Path(__file__).parents[1]
    source = "".join(p.read_text("utf-8") for p in sorted((root / "pipeline" / "lms").glob("*.py")))
    assert "lms-unknown-platform" in source  # the scan reads the modules that raise them
    used = set(re.findall(r'"(lms-[a-z-]+)"', source)) | {"lms-encoding", "lms-empty-file"}
    for language in ("sv", "en"):
        texts = report.messages(language)["problems"]
        assert used <= set(texts), (language, used - set(texts))
    sv = set(report.messages("sv")["problems"])
    en = set(report.messages("en")["problems"])
    assert {s for s in sv if s.startswith("lms-")} == {s for s in en if s.startswith("lms-")}


def test_export_dropped_in_the_inbox_uses_the_columns_set_in_the_workbook(
    app: App, tmp_path: Path
) -> None:
    """The teacher names the column and score limits in the list's workbook, drops it, then
    drops the Canvas export named for the list: the merged workbook comes back."""
    s = seed(app)
    listnr = new_exam_list(app)
    export = materialize("canvas_semicolon_bom_decimal_comma.csv", s.pnrs, tmp_path)
    import shutil

    shutil.copy(export, app.settings.inbox / f"Betyg {listnr}.csv")
    [first] = Inbox(app).process_once()
    assert first.outcome == FileOutcome.REJECTED  # which column? not chosen yet
    text = first.receipt.read_text("utf-8") if first.receipt else ""
    assert "Tentamen (10501)" in text
    issued = workbook.issue(app, listnr)
    wb = load_workbook(issued.path)
    ws = wb.worksheets[0]
    assert ws["A12"].value.startswith("Kolumn") and not ws["B12"].protection.locked
    ws["B12"] = "Tentamen (10501)"
    ws["B14"] = "U=0, 3=20, 4=28, 5=34"
    wb.save(app.settings.inbox / "inst.xlsx")
    [saved] = Inbox(app).process_once()
    assert saved.outcome == FileOutcome.ACCEPTED
    with app.db.session() as session:
        options = get_list(session, listnr).options
    assert options == {
        "lms_column": "Tentamen (10501)",
        "thresholds": [["U", 0.0], ["3", 20.0], ["4", 28.0], ["5", 34.0]],
    }
    assert (
        workbook.issue(app, listnr)
        and load_workbook(issued.path).worksheets[0]["B14"].value == "U=0,3=20,4=28,5=34"
    )
    shutil.copy(export, app.settings.inbox / f"Betyg {listnr} igen.csv")
    [merged] = Inbox(app).process_once()
    assert merged.outcome == FileOutcome.ACCEPTED, [p.slug for p in merged.problems]
    cells = grades_in(app.settings.lists_dir / f"{listnr}_lms.xlsx")
    assert cells[s.pnrs[0]] == ("5", EXAM_DATE) and cells[s.pnrs[4]] == ("U", EXAM_DATE)
    assert "5 betyg är införda" in (merged.receipt.read_text("utf-8") if merged.receipt else "")


def test_bad_score_limits_in_the_workbook_are_reported_at_their_cell(app: App) -> None:
    seed(app)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    wb = load_workbook(issued.path)
    wb.worksheets[0]["B14"] = "U=0, 3=50, 4=40"
    wb.save(app.settings.inbox / "limits.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED
    assert [(p.slug, p.row, p.column) for p in result.problems] == [("lms-bad-thresholds", 14, "B")]


def test_merge_command(app: App, workspace: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from pipeline.cli import app as cli_app

    s = seed(app)
    listnr = new_exam_list(app)
    export = materialize("canvas_semicolon_bom_decimal_comma.csv", s.pnrs, tmp_path)
    result = CliRunner().invoke(
        cli_app,
        [
            "-w",
            str(workspace),
            "merge",
            str(listnr),
            str(export),
            "--column",
            "tentamen",
            "--thresholds",
            "U=0,3=20,4=28,5=34",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["merged"] == 5 and data["platform"] == "canvas"
    ambiguous = CliRunner().invoke(
        cli_app, ["-w", str(workspace), "merge", str(listnr), str(export)]
    )
    assert ambiguous.exit_code == 1 and "Tentamen (10501)" in ambiguous.output
