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

# Moodle: the grade export (csv, xlsx, ods), profile labels in English or Swedish.
MOODLE_FIRST: Final = frozenset({"first name", "förnamn"})  # i18n: not people-facing
MOODLE_LAST: Final = frozenset({"last name", "surname", "efternamn"})  # i18n: not people-facing
MOODLE_IDENTIFIERS: Final = {  # i18n: not people-facing: headers read in exports
    "id number": "any",
    "id-nummer": "any",
    "idnummer": "any",
    "username": "username",
    "användarnamn": "username",
    "email address": "email",
    "e-postadress": "email",
    "e-post": "email",
    "email": "email",
}
#: The display type in "Kind: Name (Type)"; feedback columns carry no grade.
MOODLE_TYPES: Final = {  # i18n: not people-facing: types read in exports
    "real": "auto",
    "verklig": "auto",
    "verkligt": "auto",
    "reell": "auto",
    "poäng": "auto",
    "percentage": "percentage",
    "procent": "percentage",
    "letter": "grade",
    "bokstav": "grade",
    "bokstavsbetyg": "grade",
}
MOODLE_FEEDBACK: Final = frozenset({"feedback", "återkoppling"})  # i18n: not people-facing
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
    if first is None or last is None:
        return None
    ids: list[tuple[int, str]] = []
    columns: list[Column] = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if header in MOODLE_IDENTIFIERS:
            ids.append((index, MOODLE_IDENTIFIERS[header]))
            continue
        match = _MOODLE_GRADE.match(cell_text(raw))
        if match is None:
            continue
        display = header_key(match.group("type"))
        if display in MOODLE_FEEDBACK or display not in MOODLE_TYPES:
            continue
        title = cell_text(raw)
        total = match.group("item") is None
        label = match.group("name").strip()
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
