"""Moodle's grade export (csv, xlsx, ods), its profile labels in English or Swedish and its
grade columns ``Kind: Name (Type)``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pipeline.lms.model import (
    Column,
    Export,
    ExportRow,
    cell_at,
    cell_text,
    header_key,
    identifiers_at,
)
from pipeline.lms.table import Table

# Moodle: grade/export/{txt,xls,ods}: the profile fields of grade_export_userprofilefields
# (get_string of each), "Suspended", then per item "Name (Type)" and "Name (Feedback)", then
# "Last downloaded from this course". Labels in English or the Swedish language pack.
MOODLE_FIRST: Final = frozenset({"first name", "firstname", "förnamn"})  # i18n: not people-facing
MOODLE_LAST: Final = frozenset(  # i18n: not people-facing
    {"last name", "lastname", "surname", "efternamn"}
)
#: grade_export_txt's timeexported string: a Moodle export even with names left out.
MOODLE_EXPORTED: Final = frozenset(  # i18n: not people-facing
    {"last downloaded from this course", "senast nedladdad från denna kurs", "senast nedladdad"}
)
MOODLE_IDENTIFIERS: Final = {  # i18n: not people-facing: headers read in exports
    "id number": "any",
    "idnumber": "any",
    "id-nummer": "any",
    "username": "username",
    "användarnamn": "username",
    "email address": "email",
    "email": "email",
    "e-postadress": "email",
    "e-post": "email",
    # A custom profile field (grade_export_customprofilefields) some sites add.
    "personnummer": "personnummer",
    "personal identity number": "personnummer",
}
#: The display type in "Kind: Name (Type)" (grades.php: real, percentage, letter);
#: feedback columns carry no grade.
MOODLE_TYPES: Final = {  # i18n: not people-facing: types read in exports
    "real": "auto",
    "reell": "auto",
    "verklig": "auto",
    "verkligt": "auto",
    "poäng": "auto",
    "percentage": "percentage",
    "procenttal": "percentage",
    "procent": "percentage",
    "letter": "grade",
    "bokstav": "grade",
    "bokstavsbetyg": "grade",
}
MOODLE_FEEDBACK: Final = frozenset({"feedback", "återkoppling"})  # i18n: not people-facing
#: grades.php coursetotal; a category's total is "<name> total" (sv "Fulla <name>").
MOODLE_COURSE_TOTAL: Final = frozenset(  # i18n: not people-facing
    {"course total", "samlat resultat på kurs", "kurstotal"}
)
_CATEGORY_TOTAL: Final = re.compile(  # i18n: not people-facing
    r"^(?:.+ totalt?|fulla .+|totalt för .+)$"
)
MOODLE_NO_RESULT: Final = frozenset({"-"})
_MOODLE_GRADE: Final = re.compile(
    r"^(?:(?P<item>[^:()]+):\s*)?(?P<name>.+?)\s*\((?P<type>[^()]+)\)$"
)


def parse_moodle(
    table: Table,
    cells: list[Any],
    headers: list[str],
    number: int,
    body: list[tuple[int, list[Any]]],
) -> Export | None:
    first = next((i for i, h in enumerate(headers) if h in MOODLE_FIRST), None)
    last = next((i for i, h in enumerate(headers) if h in MOODLE_LAST), None)
    if (first is None or last is None) and not set(headers) & MOODLE_EXPORTED:
        return None
    ids: list[tuple[int, str, str]] = []
    columns: list[Column] = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if header in MOODLE_IDENTIFIERS:
            ids.append((index, MOODLE_IDENTIFIERS[header], cell_text(raw)))
            continue
        match = _MOODLE_GRADE.match(cell_text(raw))
        if match is None:
            continue
        display = header_key(match.group("type"))
        if display in MOODLE_FEEDBACK or display not in MOODLE_TYPES:
            continue
        title = cell_text(raw)
        label = match.group("name").strip()
        total = match.group("item") is None and _is_total(label)
        columns.append(Column(index, title, label, MOODLE_TYPES[display], total=total))
    if not columns or not ids:
        return None
    rows = [
        ExportRow(
            row,
            values,
            identifiers_at(values, ids),
            f"{cell_at(values, first)} {cell_at(values, last)}".strip(),
        )
        for row, values in body
    ]
    return Export("moodle", table.sheet, number, columns, rows, MOODLE_NO_RESULT)


def _is_total(name: str) -> bool:
    """A course or category total; a manual grade item has no module prefix either."""
    key = header_key(name)
    return key in MOODLE_COURSE_TOTAL or _CATEGORY_TOTAL.match(key) is not None
