"""Matching an export's rows to the students of a list: personnummer, then LMS username /
login id / sync key, then email; never by name. A row that matches no one is shown by its
identifier, masked by that identifier's own rule (:mod:`pipeline.lms.identifiers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openpyxl.utils import get_column_letter

from pipeline.domain import personnummer
from pipeline.intake.report import Problem
from pipeline.lms import identifiers
from pipeline.lms.model import (
    ExportRow,
    cell_text,
    header_key,
)

# -- matching rows to students -------------------------------------------------------------


@dataclass(frozen=True)
class RosterStudent:
    pnr: str
    name: str
    lms_username: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Match:
    """The student a row identifies (``pnr``), or how to show the row when there is none."""

    pnr: str | None
    shown: str
    problems: tuple[Problem, ...] = ()


class Roster:
    """The students of one list, looked up by personnummer, LMS username and email."""

    def __init__(self, students: Iterable[RosterStudent]) -> None:
        self.students: dict[str, RosterStudent] = {}
        self._usernames: dict[str, str | None] = {}
        self._emails: dict[str, str | None] = {}
        for student in students:
            self.students[student.pnr] = student
            for table, value in (
                (self._usernames, student.lms_username),
                (self._emails, student.email),
            ):
                key = header_key(value)
                if key:
                    # The same name on two students identifies neither.
                    table[key] = None if key in table and table[key] != student.pnr else student.pnr

    def match(self, row: ExportRow, sheet: str | None) -> Match:
        problems: list[Problem] = []
        # 1. personnummer: the strongest identifier; a valid one not on the list is unknown.
        for ident in row.identifiers:
            if ident.match not in ("personnummer", "any"):
                continue
            try:
                digits = personnummer.parse(_pnr_text(ident.value)).digits
            except personnummer.PersonnummerError as exc:
                if ident.match == "personnummer":
                    problems.append(
                        Problem(
                            exc.slug,
                            sheet=sheet,
                            row=row.row,
                            column=get_column_letter(ident.index + 1),
                            value=personnummer.mask_text(cell_text(ident.value)),
                        )
                    )
                continue
            if digits in self.students:
                return Match(digits, personnummer.mask(digits), tuple(problems))
            return Match(None, _shown(row, personnummer.mask(digits)), tuple(problems))
        # 2. LMS username, login id or sync key; 3. email.
        for kinds, tables in (
            (("username", "any"), (self._usernames,)),
            (("email", "any"), (self._emails, self._usernames)),
        ):
            for ident in row.identifiers:
                if ident.match not in kinds:
                    continue
                key = header_key(_ident_text(ident.value))
                if ident.match == "any" and kinds[0] == "email" and "@" not in key:
                    continue
                for table in tables:
                    pnr = table.get(key)
                    if pnr is not None:
                        return Match(pnr, cell_text(ident.value), tuple(problems))
        first = next(iter(row.identifiers), None)
        shown = identifiers.shown(_ident_text(first.value), first.label) if first else ""
        return Match(None, _shown(row, shown), tuple(problems))


def _pnr_text(value: Any) -> Any:
    """Excel's ``="..."`` wrapper and a leading apostrophe are how exports keep text text."""
    if not isinstance(value, str):
        return value
    text = value.strip().lstrip("'").strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1].strip()
    return text


def _ident_text(value: Any) -> str:
    text = _pnr_text(value)
    return text if isinstance(text, str) else cell_text(text)


def _shown(row: ExportRow, identifier: str) -> str:
    name = row.name.strip()
    if name and identifier:
        return f"{name} ({identifier})"
    return name or identifier or f"#{row.row}"
