"""Exports made the way each platform's exporter makes them (tests/data/lms/make_exports.py,
following canvas-lms' gradebook_exporter.rb, Moodle's grade/export plugins and the rows
``ladok report -d,`` reads), the copies LibreOffice re-saves, identifiers masked by their
own rule, and the merge answering in the teacher's language."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline.app import App
from pipeline.lms import identifiers
from pipeline.lms.merge import MergeResult, merge_file, teacher_language
from tests.factories import EXAM_DATE, new_exam_list, seed
from tests.test_lms import EXAM_THRESHOLDS, grades_in, materialize, receipt

#: Tentamen 36, 22.5, EX, 29, 11, N/A, (Ebba absent), 31 points through U=0,3=20,4=28,5=34.
CANVAS_EXAM = ["5", "3", None, "4", "U", None, None, "4"]
#: The same points as TH letters of the percentage (85/70/50), Moodle's "-" for p3.
MOODLE_LETTERS = ["5", "3", "U", None, "4", "5", None, "4"]


def _merge(app: App, tmp_path: Path, name: str, **kwargs: object) -> tuple[MergeResult, list[str]]:
    s = seed(app)
    listnr = new_exam_list(app)
    export = materialize(name, s.pnrs, tmp_path)
    return merge_file(app, listnr, export, **kwargs), s.pnrs  # type: ignore[arg-type]


def _grades(result: MergeResult, pnrs: list[str]) -> list[str | None]:
    assert result.ok, result.problems
    assert result.workbook is not None
    cells = grades_in(result.workbook)
    return [cells[p][0] for p in pnrs]


def _skipped(result: MergeResult) -> list[tuple[int, str, str]]:
    return [(r.row, r.reason, r.name) for r in result.skipped]


# -- Canvas --------------------------------------------------------------------------------


def test_canvas_manual_posting_row_is_skipped_not_a_student(app: App, tmp_path: Path) -> None:
    result, pnrs = _merge(
        app,
        tmp_path,
        "canvas_manual_posting_row.csv",
        column="Tentamen",
        thresholds=EXAM_THRESHOLDS,
    )
    assert result.platform == "canvas" and result.column == "Tentamen (10501)"
    assert _grades(result, pnrs) == CANVAS_EXAM
    assert _skipped(result) == [
        (2, "manual-posting", ""),
        (3, "points-possible", ""),
        (12, "test-student", "Student, Test"),
    ]
    assert result.unknown == ["Okänd, Olle (196005**-****)"]
    assert result.missing == ["Ebba Nordqvist"] and result.problems == []
    sv = receipt(app, result, "sv")
    assert "Rader som inte är studenter, överhoppade (3):" in sv
    assert '  - rad 2: Canvas rad "Manual Posting" (uppgifter som publiceras manuellt)' in sv
    assert '  - rad 3: Canvas rad "Points Possible" (maxpoäng per uppgift)' in sv
    assert "  - rad 12: Canvas testelev från Studentvyn (Student, Test)" in sv
    en = receipt(app, result, "en")
    assert "Rows that are not students, skipped (3):" in en
    assert '  - row 2: Canvas\'s "Manual Posting" row (assignments posted manually)' in en
    assert "  - row 12: Canvas's Student View test student (Student, Test)" in en
    assert "Manual Posting" not in "".join(result.unknown)


def test_canvas_lastname_firstname_final_grade(app: App, tmp_path: Path) -> None:
    result, pnrs = _merge(app, tmp_path, "canvas_lastname_firstname.csv", column="Final Grade")
    assert result.platform == "canvas" and result.column == "Final Grade"
    # Final Grade of the grading standard: EX leaves the lab's 80 %, N/A counts as 0.
    assert _grades(result, pnrs) == ["5", "3", "4", "4", "U", "U", None, "4"]
    assert [r for _, r, _ in _skipped(result)] == [
        "manual-posting",
        "points-possible",
        "test-student",
    ]
    # Without SIS User ID the login id identifies; shown as what it is.
    assert result.unknown == ["Okänd, Olle (SIS Login ID olok99)"]


def test_canvas_grading_period_totals_are_offered_and_selectable(app: App, tmp_path: Path) -> None:
    ambiguous, _ = _merge(app, tmp_path, "canvas_grading_period_totals.csv")
    assert ambiguous.problems[0].slug == "lms-ambiguous-column"
    assert ambiguous.candidates[:2] == ["Tentamen (10501)", "Inlämningsuppgift (10502)"]
    for total in (
        "Tentor Current Score (HT 2026)",
        "Current Points (HT 2026)",
        "Final Score (HT 2026)",
        "Final Grade (HT 2026)",
        "Unposted Final Grade (HT 2026)",
    ):
        assert total in ambiguous.candidates
    assert "Anteckningar" not in ambiguous.candidates  # a custom column holds no results


@pytest.mark.parametrize("column", ["Final Grade (HT 2026)", "final grade"])
def test_canvas_grading_period_final_grade(app: App, tmp_path: Path, column: str) -> None:
    result, pnrs = _merge(app, tmp_path, "canvas_grading_period_totals.csv", column=column)
    assert result.column == "Final Grade (HT 2026)"
    assert _grades(result, pnrs) == ["5", "3", "4", "4", "U", "U", None, "4"]
    assert _skipped(result) == [(2, "points-possible", ""), (12, "test-student", "Student, Test")]
    assert result.unknown == [
        "Främling, Frida (SIS Login ID frfr01)",
        "Okänd, Olle (196005**-****)",
    ]


def test_canvas_swedish_locale_semicolons_bom_decimal_commas(app: App, tmp_path: Path) -> None:
    result, pnrs = _merge(
        app,
        tmp_path,
        "canvas_sv_locale_semicolon_bom.csv",
        column="tentamen",
        thresholds=EXAM_THRESHOLDS,
    )
    assert result.platform == "canvas"
    assert _grades(result, pnrs) == CANVAS_EXAM
    assert result.without_result == 2  # EX and N/A
    assert [r for _, r, _ in _skipped(result)] == [
        "manual-posting",
        "points-possible",
        "test-student",
    ]


# -- Moodle --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("moodle_txt_swedish_every_field_and_type.csv", "Uppgift: Tentamen (Bokstav)"),
        ("moodle_txt_english_tab.csv", "Assignment: Tentamen (Letter)"),
        ("moodle_xlsx_english.xlsx", "Assignment: Tentamen (Letter)"),
        ("moodle_xlsx_english_saved_by_libreoffice.xlsx", "Assignment: Tentamen (Letter)"),
        ("moodle_ods_swedish.ods", "Uppgift: Tentamen (Bokstav)"),
        ("moodle_ods_swedish_saved_by_libreoffice.ods", "Uppgift: Tentamen (Bokstav)"),
        ("moodle_ods_swedish_saved_by_libreoffice.xlsx", "Uppgift: Tentamen (Bokstav)"),
    ],
)
def test_moodle_exports_letter_column(app: App, tmp_path: Path, name: str, column: str) -> None:
    result, pnrs = _merge(app, tmp_path, name, column=column)
    assert result.platform == "moodle" and result.column == column
    # p1 has no ID number: matched by the custom Personnummer field, else by email.
    assert _grades(result, pnrs) == MOODLE_LETTERS
    assert result.without_result == 1  # "-"
    assert result.unknown == ["Olle Okänd (196005**-****)"]
    assert result.missing == ["Ebba Nordqvist"] and result.problems == []


def test_moodle_swedish_every_type_and_the_course_total(app: App, tmp_path: Path) -> None:
    name = "moodle_txt_swedish_every_field_and_type.csv"
    ambiguous, _ = _merge(app, tmp_path, name)
    assert ambiguous.candidates == [
        "Uppgift: Tentamen (Reell)",
        "Uppgift: Tentamen (Procenttal)",
        "Uppgift: Tentamen (Bokstav)",
        "Samlat resultat på kurs (Reell)",
        "Samlat resultat på kurs (Procenttal)",
        "Samlat resultat på kurs (Bokstav)",
    ]
    total = merge_file(
        app,
        new_exam_list(app),
        tmp_path / name,
        column="Samlat resultat på kurs (Procenttal)",
        thresholds=[("U", 0.0), ("3", 50.0), ("4", 70.0), ("5", 85.0)],
    )
    assert total.ok and total.merged == 6 and total.without_result == 1


# -- ladok3 --------------------------------------------------------------------------------


def test_ladok3_comma_separated_rows_with_a_ladok_uid(app: App, tmp_path: Path) -> None:
    result, pnrs = _merge(app, tmp_path, "ladok3_report_comma.csv")
    assert result.platform == "ladok3"
    assert result.workbook is not None
    cells = grades_in(result.workbook)
    assert cells[pnrs[0]] == ("5", dt.date(2026, 11, 20))
    assert cells[pnrs[1]] == ("3", dt.date(2026, 11, 20))
    assert cells[pnrs[3]] == ("U", dt.date(2026, 11, 21))
    assert result.unknown == ["LADOK UID 4b1e5c6a-…-9b7a"]
    assert "**-****" not in result.unknown[0]
    assert "LADOK UID 4b1e5c6a-…-9b7a" in receipt(app, result, "en")


# -- identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("19600505-1237", "SIS User ID", "196005**-****"),
        ("4b1e5c6a-9f0d-4c7e-8a55-0d3c2f1e9b7a", "", "LADOK UID 4b1e5c6a-…-9b7a"),
        ("4B1E5C6A-9F0D-4C7E-8A55-000000004561", "Integration ID", "LADOK UID 4b1e5c6a-…-4561"),
        ("olle.okand@example.se", "Email address", "Email address oll…d@example.se"),
        ("ol@example.se", "E-post", "E-post o…@example.se"),
        ("olok99", "SIS Login ID", "SIS Login ID olok99"),
        ("x196005051237", "Username", "Username x196005**-****"),
    ],
)
def test_each_identifier_is_masked_by_its_own_rule(text: str, label: str, expected: str) -> None:
    assert identifiers.shown(text, label) == expected


# -- the teacher's language ----------------------------------------------------------------


def test_merge_answers_in_the_teachers_language(
    app: App, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app as cli_app

    monkeypatch.delenv("RESULTAT_LANG", raising=False)
    s = seed(app, teacher_lang="en")
    listnr = new_exam_list(app)
    assert teacher_language(app, listnr) == "en"  # the reporter's
    assert teacher_language(app, listnr, s.examiner) == "sv"  # the one running it
    export = materialize("canvas_manual_posting_row.csv", s.pnrs, tmp_path)
    args = ["-w", str(workspace), "merge", str(listnr), str(export), "--column", "Tentamen"]
    english = CliRunner().invoke(cli_app, [*args, "--thresholds", "U=0,3=20,4=28,5=34"])
    assert english.exit_code == 0, english.output
    assert "RECEIPT – grades from a learning platform" in english.output
    assert "5 grade(s) entered in the workbook" in english.output
    assert "  - row 12: Canvas's Student View test student (Student, Test)" in english.output
    swedish = CliRunner().invoke(cli_app, [*args, "--lang", "sv", "--thresholds", "U=0,3=20"])
    assert swedish.exit_code == 0, swedish.output
    assert "KVITTO – betyg från lärplattform" in swedish.output
    bad = CliRunner().invoke(cli_app, [*args, "--thresholds", "5=0,U=50"])
    assert bad.exit_code == 1 and "NOTHING MERGED" in bad.output
    # the reason in the teacher's language too, not the workspace's
    assert "The thresholds cannot be used: a better grade needs a higher minimum" in bad.output
    assert EXAM_DATE  # the list's exam date is the merged grades' date
