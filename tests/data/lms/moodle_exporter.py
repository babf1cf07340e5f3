"""Moodle's grade export (txt, xls, ods plugins), written the way Moodle writes it.

Follows ``grade/export/txt/grade_export_txt.php``, ``grade/export/xls/grade_export_xls.php``
and ``grade/export/ods/grade_export_ods.php`` (print_grades) over ``grade/export/lib.php``:
one header per profile field of ``grade_export_userprofilefields`` (and the custom ones),
``Suspended`` unless only active enrolments are exported, per grade item one column per
chosen display type, ``format_column_name``: ``get_string('gradeexportcolumntype')`` =
``{name} ({extra})`` where the name of an activity's item is ``modulename`` + ``labelsep`` +
the item's name and ``extra`` the display type's string (``real``, ``percentage``,
``letter``) or ``feedback``, then ``timeexported``. Grades through grade_format_gradevalue,
not localised: ``34.50``, ``85.00 %``, a letter, ``-`` for no grade. The xls and ods writers
write a grade that ``is_numeric`` as a number cell, everything else as a string.

Words: English from Moodle's lang/en; Swedish from the sv language pack (grades.php:
``Reell``, ``Procenttal``, ``Bokstav``, ``Återkoppling``, ``Samlat resultat på kurs``; the
profile labels ``ID-nummer`` ... from its moodle.php).
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from openpyxl import Workbook

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "firstname": "First name",
        "lastname": "Last name",
        "idnumber": "ID number",
        "institution": "Institution",
        "department": "Department",
        "email": "Email address",
        "username": "Username",
        "phone1": "Phone",
        "phone2": "Mobile phone",
        "city": "City/town",
        "country": "Country",
        "address": "Address",
        "suspended": "Suspended",
        "yes": "Yes",
        "real": "Real",
        "percentage": "Percentage",
        "letter": "Letter",
        "feedback": "Feedback",
        "coursetotal": "Course total",
        "timeexported": "Last downloaded from this course",
        "assign": "Assignment",
        "quiz": "Quiz",
        "grades": "Grades",
    },
    "sv": {
        "firstname": "Förnamn",
        "lastname": "Efternamn",
        "idnumber": "ID-nummer",
        "institution": "Institution",
        "department": "Avdelning",
        "email": "E-postadress",
        "username": "Användarnamn",
        "phone1": "Telefon",
        "phone2": "Mobiltelefon",
        "city": "Stad/ort",
        "country": "Land",
        "address": "Adress",
        "suspended": "Avstängd",
        "yes": "Ja",
        "real": "Reell",
        "percentage": "Procenttal",
        "letter": "Bokstav",
        "feedback": "Återkoppling",
        "coursetotal": "Samlat resultat på kurs",
        "timeexported": "Senast nedladdad från denna kurs",
        "assign": "Uppgift",
        "quiz": "Test",
        "grades": "Betyg",
    },
}
#: TH letters as a BTH course would set them (minimum percentage -> letter).
TH_LETTERS = {0.0: "U", 50.0: "3", 70.0: "4", 85.0: "5"}
EXPORTED_AT = 1795168800  # 2026-11-20, so regenerated files only differ where they should


@dataclass
class GradeItem:
    name: str
    module: str | None  # "assign", "quiz"; None for a manual item; "course" for the total
    grademax: float = 40.0
    letters: dict[float, str] = field(default_factory=lambda: dict(TH_LETTERS))


@dataclass
class MoodleUser:
    profile: dict[str, str]
    grades: dict[str, float | None]  # item name -> final grade
    feedback: dict[str, str] = field(default_factory=dict)
    suspended: bool = False


@dataclass
class MoodleOptions:
    language: str = "en"
    profile_fields: tuple[str, ...] = (
        "firstname",
        "lastname",
        "idnumber",
        "institution",
        "department",
        "email",
    )
    custom_fields: tuple[str, ...] = ()  # grade_export_customprofilefields, by their names
    display: tuple[str, ...] = ("real",)
    export_feedback: bool = False
    onlyactive: bool = True
    separator: str = ","


def format_grade(value: float | None, item: GradeItem, display: str) -> str:
    if value is None:
        return "-"
    if display == "real":
        return f"{value:.2f}"
    percent = 100 * value / item.grademax
    if display == "percentage":
        return f"{percent:.2f} %"
    found = "-"
    for minimum, letter in sorted(item.letters.items()):
        if percent >= minimum:
            found = letter
    return found


def column_name(item: GradeItem, extra: str, words: dict[str, str]) -> str:
    if item.module == "course":
        name = words["coursetotal"]
    elif item.module:
        name = f"{words[item.module]}: {item.name}"
    else:
        name = item.name
    return f"{name} ({extra})"


def table(
    items: list[GradeItem], users: list[MoodleUser], opts: MoodleOptions
) -> list[list[tuple[str, Any]]]:
    """The cells as print_grades writes them: (kind, value), kind ``string`` or ``number``."""
    words = STRINGS[opts.language]
    header: list[tuple[str, Any]] = [("string", words[f]) for f in opts.profile_fields]
    header += [("string", f) for f in opts.custom_fields]
    if not opts.onlyactive:
        header.append(("string", words["suspended"]))
    for item in items:
        header += [("string", column_name(item, words[d], words)) for d in opts.display]
        if opts.export_feedback:
            header.append(("string", column_name(item, words["feedback"], words)))
    header.append(("string", words["timeexported"]))
    rows = [header]
    ordered = sorted(users, key=lambda u: (u.profile.get("lastname", ""), u.profile["firstname"]))
    for user in ordered:
        row: list[tuple[str, Any]] = [
            ("string", user.profile.get(f, "")) for f in (*opts.profile_fields, *opts.custom_fields)
        ]
        if not opts.onlyactive:
            row.append(("string", words["yes"] if user.suspended else ""))
        for item in items:
            for display in opts.display:
                text = format_grade(user.grades.get(item.name), item, display)
                row.append(("number" if _is_numeric(text) else "string", text))
            if opts.export_feedback:
                row.append(("string", user.feedback.get(item.name, "")))
        row.append(("string", str(EXPORTED_AT)))
        rows.append(row)
    return rows


def _is_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_txt(path: Path, rows: list[list[tuple[str, Any]]], opts: MoodleOptions) -> None:
    """csv_export_writer: fputcsv with the chosen separator; numbers as the text they were."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=opts.separator, lineterminator="\n")
    for row in rows:
        writer.writerow([str(value) for _, value in row])
    path.write_bytes(out.getvalue().encode("utf-8"))


def write_xlsx(path: Path, rows: list[list[tuple[str, Any]]], opts: MoodleOptions) -> None:
    """MoodleExcelWorkbook: one sheet named for the grades, write_string / write_number."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = STRINGS[opts.language]["grades"]
    for r, row in enumerate(rows, start=1):
        for c, (kind, value) in enumerate(row, start=1):
            ws.cell(r, c, value=float(value) if kind == "number" else str(value))
    wb.save(path)


def write_ods(path: Path, rows: list[list[tuple[str, Any]]], opts: MoodleOptions) -> None:
    """MoodleODSWorkbook: an OpenDocument package whose content.xml holds one table."""
    name = STRINGS[opts.language]["grades"]
    cells = []
    for row in rows:
        parts = []
        for kind, value in row:
            if kind == "number":
                parts.append(
                    f'<table:table-cell office:value-type="float" office:value="{float(value)}">'
                    f"<text:p>{value}</text:p></table:table-cell>"
                )
            else:
                parts.append(
                    '<table:table-cell office:value-type="string">'
                    f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
                )
        cells.append("<table:table-row>" + "".join(parts) + "</table:table-row>")
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
        'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{escape(name)}">'
        + "".join(cells)
        + "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {ns} '
        'office:version="1.2"><office:styles/></office:document-styles>'
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:media-type="application/vnd.oasis.opendocument.'
        'spreadsheet" manifest:full-path="/"/>'
        '<manifest:file-entry manifest:media-type="text/xml" manifest:full-path="content.xml"/>'
        '<manifest:file-entry manifest:media-type="text/xml" manifest:full-path="styles.xml"/>'
        "</manifest:manifest>"
    )
    stamp = time.gmtime(EXPORTED_AT)[:6]
    with zipfile.ZipFile(path, "w") as z:
        for member, data, method in (
            ("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED),
            ("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED),
            ("styles.xml", styles, zipfile.ZIP_DEFLATED),
            ("content.xml", content, zipfile.ZIP_DEFLATED),
        ):
            info = zipfile.ZipInfo(member, date_time=stamp)
            info.compress_type = method
            z.writestr(info, data)
