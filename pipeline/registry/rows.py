"""Checking the rows of one registry file: the pandera schema of its kind
(``schemas/registry/<kind>.yaml``), typed values, and duplicates within the file; every
problem is flagged on its cell, with personnummer masked. Cross-checks against the database
are :mod:`pipeline.registry.crosschecks`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pandera.pandas as pa
from openpyxl.utils import get_column_letter
from pandera.api.extensions import register_check_method

from pipeline.domain import personnummer
from pipeline.intake import checks
from pipeline.intake.cell_values import to_date, to_number
from pipeline.intake.column_checks import ensure_registered
from pipeline.intake.report import Problem
from pipeline.registry.sources import DATES, LOWER, PHONE_NOISE, UPPER, KindSpec, Table, clean_cell

# ---------------------------------------------------------------------------------------------
# Checking


def register_checks() -> None:
    """Checks only registry schemas use (registered with pandera once)."""
    ensure_registered()
    if "one_decimal" in pa.Check.REGISTERED_CUSTOM_CHECKS:
        return

    def one_decimal(value: Any) -> bool:
        number = to_number(value)
        return number is None or abs(number * 10 - round(number * 10)) < 1e-6

    def number_at_most(value: Any, *, limit: float) -> bool:
        number = to_number(value)
        return number is None or number <= limit

    register_check_method(statistics=[], check_type="element_wise")(one_decimal)
    register_check_method(statistics=["limit"], check_type="element_wise")(number_at_most)


def mask_value(field_name: str, value: Any) -> Any:
    """A value safe to show: personnummer masked, and anything that looks like one in text."""
    if value is None:
        return None
    if field_name == "personnummer":
        try:
            return personnummer.parse(value).masked()
        except personnummer.PersonnummerError:
            pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        seen = 0
        out = []
        for char in str(value):
            if char.isdigit():
                seen += 1
                out.append(char if seen <= 6 else "*")
            else:
                out.append(char)
        return "".join(out)
    if field_name == "mobile" or not isinstance(value, str):
        return value  # ten digits in the mobile column are a phone number, not a personnummer
    return personnummer.mask_text(value)


@dataclass
class Record:
    """A row ready to store: the model's attribute values (its database key included)."""

    row: int
    values: dict[str, Any]


@dataclass
class Rows:
    """One file's rows while they are checked; problems are collected, never raised."""

    spec: KindSpec
    frame: pd.DataFrame
    letters: dict[str, str]
    sheet: str | None
    problems: list[Problem] = field(default_factory=list)
    bad: set[tuple[int, str]] = field(default_factory=set)
    typed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def flag(self, row: int, column: str, slug: str, value: Any = None, **params: Any) -> None:
        self.problems.append(
            Problem(
                slug=slug,
                params=params,
                sheet=self.sheet,
                row=row,
                column=self.letters.get(column),
                field=column,
                value=value,
            )
        )
        self.bad.add((row, column))

    def ok(self, row: int, *columns: str) -> bool:
        return all((row, column) not in self.bad for column in columns)

    def rejected(self, row: int) -> bool:
        return any((row, column) in self.bad for column in self.spec.columns)

    def good(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Rows with no problem so far."""
        return ((row, values) for row, values in self.typed if not self.rejected(row))


def prepare(table: Table, spec: KindSpec, positions: dict[str, int]) -> Rows:
    """The file's columns under their canonical names, normalised, indexed by row number."""
    numbers = [number for number, _ in table.rows]
    data: dict[str, list[Any]] = {}
    for column in spec.columns:
        position = positions.get(column)
        keep = column == "personnummer"
        data[column] = [
            clean_cell(cells[position], keep_type=keep)
            if position is not None and position < len(cells)
            else None
            for _, cells in table.rows
        ]
        if column in UPPER:
            data[column] = [v.upper() if isinstance(v, str) else v for v in data[column]]
        elif column in LOWER:
            data[column] = [v.lower() if isinstance(v, str) else v for v in data[column]]
        elif column == "mobile":
            data[column] = [
                PHONE_NOISE.sub("", v) if isinstance(v, str) else v for v in data[column]
            ]
    frame = pd.DataFrame(data, index=pd.Index(numbers), dtype=object)
    letters = {
        column: get_column_letter(positions[column] + 1)
        for column in spec.columns
        if column in positions
    }
    return Rows(spec=spec, frame=frame, letters=letters, sheet=table.sheet)


def run_schema(rows: Rows, workspace: Path) -> None:
    loaded = checks.load_schema(f"registry/{rows.spec.kind}", workspace)
    found = checks.run_schema(
        loaded, rows.frame, sheet=rows.sheet, letters=rows.letters, row_of=None
    )
    for problem in found:
        if problem.field == "personnummer" and problem.slug == "pnr-invalid":
            try:
                personnummer.parse(problem.value)
            except personnummer.PersonnummerError as exc:
                # The check only says "not valid"; the parser says why (e.g. Excel made a number).
                problem = replace(problem, slug=exc.slug)
        rows.problems.append(problem)
        if problem.row is not None and problem.field is not None:
            rows.bad.add((problem.row, problem.field))


#: Cells of the staff file's ``office`` column that mean "belongs to the student office".
_YES: Final = frozenset({"ja", "j", "yes", "y", "x", "1", "true", "sant"})


def _typed_value(column: str, value: Any) -> Any:
    if column == "language":
        return value or "sv"
    if column == "office":
        return str(value).strip().lower() in _YES if value is not None else False
    if value is None:
        return None
    if column == "personnummer":
        return personnummer.normalize(value)
    if column in DATES:
        return to_date(value)
    if column == "credits":
        number = to_number(value)
        return None if number is None else Decimal(str(number)).quantize(Decimal("0.1"))
    return value


def type_rows(rows: Rows) -> None:
    """Typed values (12-digit personnummer, dates, ``Decimal`` credits) of the cells that passed."""
    columns = list(rows.frame.columns)
    for row, values in zip(rows.frame.index, rows.frame.itertuples(index=False), strict=True):
        number = int(row)
        rows.typed.append(
            (
                number,
                {
                    column: _typed_value(column, value) if rows.ok(number, column) else None
                    for column, value in zip(columns, values, strict=True)
                },
            )
        )


def check_duplicates(rows: Rows, headers: dict[str, str]) -> None:
    """Every repeat of an earlier row's key is rejected; the first occurrence stays."""
    key_columns = rows.spec.key
    first: dict[tuple[Any, ...], int] = {}
    label = ", ".join(headers.get(column, column) for column in key_columns)
    for row, values in rows.typed:
        if not rows.ok(row, *key_columns):
            continue
        key = tuple(values[column] for column in key_columns)
        if key in first:
            rows.flag(row, key_columns[0], "registry-duplicate", key=label, other=first[key])
        else:
            first[key] = row
