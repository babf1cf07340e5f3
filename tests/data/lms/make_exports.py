"""Regenerate the exports in this folder that are made the way each platform's exporter
makes them (canvas_exporter.py, moodle_exporter.py; ladok3 rows as ``ladok report -d,``
reads them), and the copies a teacher re-saves in LibreOffice. Run from the repository root:

    python tests/data/lms/make_exports.py

Personnummer of the test registry (tests.factories.seed) are written as tokens
(``{{pnr3}}``), replaced by tests/test_lms.py. The LibreOffice copies need ``soffice``
(Debian: libreoffice-calc-nogui); the files are committed, tests don't need LibreOffice.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from canvas_exporter import (  # noqa: E402
    Assignment,
    CanvasOptions,
    CanvasStudent,
    test_student,
    write_canvas,
)
from moodle_exporter import (  # noqa: E402
    GradeItem,
    MoodleOptions,
    MoodleUser,
    table,
    write_ods,
    write_txt,
    write_xlsx,
)

#: Not on any list: a valid personnummer (generated) and a LADOK UID unknown to the registry.
UNKNOWN_PNR = "19600505-1237"
UNKNOWN_UID = "4b1e5c6a-9f0d-4c7e-8a55-0d3c2f1e9b7a"
NAMES = ["Öberg, Åsa", "Ängström, Märta", "Åkesson, Björn", "Sjöström, Linnéa"]
NAMES += ["Bäckström, Örjan", "Lindén, Kåre", "Nordqvist, Ebba", "Hägg, Tove"]

EXAM = Assignment("Tentamen", 10501, 40.0, "Tentor")
LAB = Assignment("Inlämningsuppgift", 10502, 10.0, "Uppgifter", post_manually=True)
TH = {0.0: "U", 50.0: "3", 70.0: "4", 85.0: "5"}
#: Tentamen points per student (None ungraded, "EX" excused, absent N/A).
EXAM_POINTS: dict[int, object] = {0: 36.0, 1: 22.5, 2: "EX", 3: 29.0, 4: 11.0, 7: 31.0}


def _canvas_students(*, sis: bool = True) -> list[CanvasStudent]:
    out = []
    for i, name in enumerate(NAMES):
        if i == 6:
            continue  # Ebba is not in the export
        scores: dict[int, object] = {LAB.id: 8.0}
        if i in EXAM_POINTS:
            scores[EXAM.id] = EXAM_POINTS[i]
        out.append(
            CanvasStudent(
                name,
                2000 + i,
                f"{{{{pnr{i}}}}}" if sis and i % 2 == 0 else None,
                f"stud{i}",
                integration_id=None,
                scores=scores,
            )
        )
    out.append(
        CanvasStudent(
            "Okänd, Olle", 2090, UNKNOWN_PNR, "olok99", scores={EXAM.id: 38.0, LAB.id: 10.0}
        )
    )
    out.append(test_student(2099))
    return out


def canvas() -> None:
    write_canvas(
        HERE / "canvas_manual_posting_row.csv",
        [EXAM, LAB],
        _canvas_students(),
        CanvasOptions(grading_standard=TH),
    )
    write_canvas(
        HERE / "canvas_lastname_firstname.csv",
        [EXAM, LAB],
        _canvas_students(sis=False),
        CanvasOptions(show_student_first_last_name=True, include_sis_id=False, grading_standard=TH),
    )
    period_students = _canvas_students()
    period_students.insert(
        -1,
        CanvasStudent(
            "Främling, Frida",
            2091,
            None,
            "frfr01",
            integration_id=UNKNOWN_UID,
            scores={EXAM.id: 30.0},
        ),
    )
    write_canvas(
        HERE / "canvas_grading_period_totals.csv",
        [EXAM, Assignment("Inlämningsuppgift", 10502, 10.0, "Uppgifter")],
        period_students,
        CanvasOptions(
            show_integration_id=True,
            include_root_account=True,
            grading_standard=TH,
            grading_period="HT 2026",
            custom_columns=(("Anteckningar", False),),
        ),
    )
    write_canvas(
        HERE / "canvas_sv_locale_semicolon_bom.csv",
        [EXAM, LAB],
        _canvas_students(),
        CanvasOptions(
            col_sep=";",
            include_bom=True,
            decimal=",",
            read_only="(skrivskyddad)",
            apply_group_weights=True,
        ),
    )


def _moodle_users() -> list[MoodleUser]:
    points = {0: 36.0, 1: 22.5, 2: 9.0, 3: None, 4: 29.0, 5: 35.0, 7: 31.0}
    out = []
    for i, name in enumerate(NAMES):
        if i == 6:
            continue
        last, first = name.split(", ")
        profile = {
            "firstname": first,
            "lastname": last,
            "idnumber": f"{{{{pnr{i}}}}}" if i != 1 else "",
            "institution": "BTH",
            "department": "DIDA",
            "email": f"student{i}@example.se",
            "username": f"stud{i}",
            "phone1": "",
            "phone2": "",
            "city": "Karlskrona",
            "country": "SE",
            "address": "",
            "Personnummer": "{{pnr1:long}}" if i == 1 else "",
        }
        exam = points.get(i)
        out.append(MoodleUser(profile, {"Tentamen": exam, "Samlat": exam}, suspended=i == 5))
    out.append(
        MoodleUser(
            {
                "firstname": "Olle",
                "lastname": "Okänd",
                "idnumber": UNKNOWN_PNR,
                "email": "olle@example.se",
                "username": "olok99",
            },
            {"Tentamen": 38.0, "Samlat": 38.0},
        )
    )
    return out


ITEMS = [GradeItem("Tentamen", "assign"), GradeItem("Samlat", "course")]


def moodle(soffice: str | None) -> None:
    every_field = MoodleOptions(
        language="sv",
        profile_fields=(
            "firstname",
            "lastname",
            "idnumber",
            "institution",
            "department",
            "email",
            "username",
            "phone1",
            "phone2",
            "city",
            "country",
            "address",
        ),
        custom_fields=("Personnummer",),
        display=("real", "percentage", "letter"),
        export_feedback=True,
        onlyactive=False,
        separator=";",
    )
    write_txt(
        HERE / "moodle_txt_swedish_every_field_and_type.csv",
        table(ITEMS, _moodle_users(), every_field),
        every_field,
    )
    english = MoodleOptions(language="en", display=("real", "letter"), separator="\t")
    write_txt(HERE / "moodle_txt_english_tab.csv", table(ITEMS, _moodle_users(), english), english)
    xlsx = MoodleOptions(language="en", display=("letter", "percentage"), onlyactive=False)
    write_xlsx(HERE / "moodle_xlsx_english.xlsx", table(ITEMS, _moodle_users(), xlsx), xlsx)
    ods = MoodleOptions(language="sv", display=("letter", "real"), export_feedback=True)
    write_ods(HERE / "moodle_ods_swedish.ods", table(ITEMS, _moodle_users(), ods), ods)
    if soffice is None:
        print("soffice not found: the LibreOffice copies are not remade", file=sys.stderr)
        return
    for source, target in (
        ("moodle_xlsx_english.xlsx", "moodle_xlsx_english_saved_by_libreoffice.xlsx"),
        ("moodle_ods_swedish.ods", "moodle_ods_swedish_saved_by_libreoffice.ods"),
        ("moodle_ods_swedish.ods", "moodle_ods_swedish_saved_by_libreoffice.xlsx"),
    ):
        _resave(soffice, HERE / source, HERE / target)


def _resave(soffice: str, source: Path, target: Path) -> None:
    """Open ``source`` in LibreOffice Calc and save it as ``target``'s format."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        subprocess.run(
            [
                soffice,
                "--headless",
                "--convert-to",
                target.suffix.lstrip("."),
                "--outdir",
                str(out),
                str(source),
            ],
            check=True,
            capture_output=True,
            env={"HOME": tmp, "PATH": "/usr/bin:/bin"},
            timeout=180,
        )
        shutil.move(str(out / f"{source.stem}{target.suffix}"), target)


def ladok3() -> None:
    """Rows for ``ladok report -d,``: course, component, student, grade, date, graders."""
    rows = [
        ["DV1599", "2010", "{{pnr0}}", "5", "2026-11-20", "Lars Lärare <larare1@example.se>"],
        ["DV1599", "2010", "{{pnr1:long}}", "3", "2026-11-20"],
        ["DV1599", "2010", UNKNOWN_UID, "4", "2026-11-20"],
        ["DV1599", "2010", "{{pnr3:short}}", "U", "2026-11-21", "Lars Lärare <larare1@example.se>"],
    ]
    with (HERE / "ladok3_report_comma.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=",", lineterminator="\n").writerows(rows)


def main() -> None:
    canvas()
    moodle(shutil.which("soffice") or shutil.which("libreoffice"))
    ladok3()


if __name__ == "__main__":
    main()
