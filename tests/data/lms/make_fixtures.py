"""Regenerate the spreadsheet fixtures in this folder (the CSV and TSV ones are written by hand).

Each file is built to the layout of one platform's export. Personnummer of the test registry
(tests.factories.seed) are written as tokens, ``{{pnr3}}`` (12 digits), ``{{pnr3:long}}``
(``YYYYMMDD-NNNN``) or ``{{pnr3:short}}`` (``YYMMDD-NNNN``); tests/test_lms.py replaces them
with the seeded students' numbers, in text files and inside the xlsx/ods XML alike. Run from
the repository root:

    python tests/data/lms/make_fixtures.py

The ods file is converted by LibreOffice Calc (headless; Debian: libreoffice-calc-nogui).
The files are committed; tests don't need LibreOffice.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent


def _save(rows: list[list[Any]], path: Path, sheet: str) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for row in rows:
        ws.append(row)
    wb.save(path)


def moodle_english_surname() -> None:
    """Moodle's xlsx grade export in English, from a Moodle old enough to say "Surname";
    the grade item is shown as Real (points)."""
    rows: list[list[Any]] = [
        [
            "First name",
            "Surname",
            "ID number",
            "Institution",
            "Department",
            "Email address",
            "Assignment: Tentamen (Real)",
            "Course total (Real)",
            "Last downloaded from this course",
        ],
        ["Åsa", "Öberg", "{{pnr0}}", "BTH", "DIDA", "student0@example.se", "34.50", "34.50", ""],
        ["Märta", "Ängström", "", "BTH", "DIDA", "student1@example.se", "19.00", "19.00", ""],
        ["Björn", "Åkesson", "{{pnr2:long}}", "BTH", "DIDA", "student2@example.se", "-", "-", ""],
        ["Linnéa", "Sjöström", "{{pnr3}}", "BTH", "DIDA", "student3@example.se", 28, 28, ""],
    ]
    rows[1][-1] = "1764326400"
    _save(rows, HERE / "moodle_english_surname.xlsx", "Grades")


def moodle_swedish_headers() -> None:
    """Moodle's ods grade export with the Swedish language pack: localized profile labels
    and display types; a Letter column holding TH grades (one a number cell)."""
    rows: list[list[Any]] = [
        [
            "Förnamn",
            "Efternamn",
            "ID-nummer",
            "Institution",
            "Avdelning",
            "E-postadress",
            "Uppgift: Tentamen (Bokstav)",
            "Kurstotal (Verklig)",
            "Senast nedladdad från denna kurs",
        ],
        ["Åsa", "Öberg", "{{pnr0}}", "BTH", "DIDA", "student0@example.se", 5, "38,00", 1764326400],
        ["Märta", "Ängström", "", "BTH", "DIDA", "STUDENT1@Example.se", "4", "30,00", 1764326400],
        [
            "Björn",
            "Åkesson",
            "{{pnr2:long}}",
            "BTH",
            "DIDA",
            "x@example.se",
            "U",
            "9,00",
            1764326400,
        ],
        [
            "Linnéa",
            "Sjöström",
            "{{pnr3}}",
            "BTH",
            "DIDA",
            "student3@example.se",
            "-",
            "-",
            1764326400,
        ],
        [
            "Örjan",
            "Bäckström",
            "{{pnr4}}",
            "BTH",
            "DIDA",
            "student4@example.se",
            " f ",
            "5,00",
            1764326400,
        ],
        [
            "Olle",
            "Okänd",
            "19621212-4561",
            "BTH",
            "DIDA",
            "olle@example.se",
            "5",
            "40,00",
            1764326400,
        ],
    ]
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise SystemExit("soffice not found (Debian: apt-get install libreoffice-calc-nogui)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "moodle_swedish_headers.xlsx"
        _save(rows, source, "Betyg")
        subprocess.run(
            [soffice, "--headless", "--convert-to", "ods", "--outdir", str(HERE), str(source)],
            check=True,
            capture_output=True,
            env={"HOME": tmp, "PATH": "/usr/bin:/bin"},
            timeout=120,
        )


def itslearning_swedish_status_texts() -> None:
    """ItsLearning's assessment record ("Bedömningsprotokoll") exported from the Swedish UI:
    a title above the header row, two assessments, status texts instead of grades."""
    rows: list[list[Any]] = [
        ["Bedömningsprotokoll – DV1599 Programmering i Python HT2026"],
        ["Exporterad 2026-11-20 14:02"],
        [],
        [
            "Efternamn",
            "Förnamn",
            "Användarnamn",
            "E-post",
            "Grupp",
            "Laboration 1",
            "Tentamen",
            "Kommentar",
        ],
        ["Öberg", "Åsa", "stud0", "student0@example.se", "Grupp A", "Godkänd", "4", ""],
        ["Ängström", "Märta", "stud1", "student1@example.se", "Grupp A", "Klar", "Klar", ""],
        ["Åkesson", "Björn", "STUD2", "", "Grupp B", "Godkänd", "Rättning pågår", ""],
        [
            "Sjöström",
            "Linnéa",
            "",
            "Student3@example.se",
            "Grupp B",
            "Inte rättad",
            "Inte rättad",
            "",
        ],
        [
            "Bäckström",
            "Örjan",
            "stud4",
            "student4@example.se",
            "Grupp B",
            "Underkänd",
            "u",
            "Omtenta",
        ],
        ["Lindén", "Kåre", "stud5", "student5@example.se", "Grupp A", "Godkänd", " 5 ", ""],
        ["Hägg", "Tove", "stud7", "student7@example.se", "Grupp A", "Godkänd", "VG", ""],
    ]
    _save(rows, HERE / "itslearning_swedish_status_texts.xlsx", "Bedömningsprotokoll")


def main() -> None:
    moodle_english_surname()
    moodle_swedish_headers()
    itslearning_swedish_status_texts()


if __name__ == "__main__":
    main()
