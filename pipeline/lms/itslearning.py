"""ItsLearning's assessment export. Its layout has no public specification; how to read it
is data in ``schemas/lms/itslearning.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import resources
from pipeline.lms.model import (
    KINDS,
    MATCHES,
    Column,
    Export,
    ExportRow,
    cell_at,
    cell_text,
    header_key,
    header_matches,
    identifiers_at,
)
from pipeline.lms.table import Table


def load_itslearning(workspace: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = resources.load_yaml("schemas", "lms/itslearning.yaml", workspace)
    return data


def parse_itslearning(
    table: Table,
    cells: list[Any],
    headers: list[str],
    number: int,
    body: list[tuple[int, list[Any]]],
    mapping: dict[str, Any],
) -> Export | None:
    names = mapping.get("names", {})
    ids: list[tuple[int, str, str]] = []
    used: set[int] = set()
    for spec in mapping.get("identifiers", []):
        match = str(spec.get("match", "any"))
        if match not in MATCHES:
            match = "any"
        for index, header in enumerate(headers):
            if index not in used and header and header_matches(header, spec.get("headers", [])):
                ids.append((index, match, cell_text(cells[index])))
                used.add(index)
    name_columns: dict[str, int] = {}
    for part in ("first", "last", "full"):
        for index, header in enumerate(headers):
            if index not in used and header and header_matches(header, names.get(part, [])):
                name_columns.setdefault(part, index)
                used.add(index)
    if not ids or not name_columns:
        return None
    assessments = mapping.get("assessments", {})
    default_kind = str(assessments.get("default_kind", "grade"))
    columns = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if index in used or not header or header_matches(header, mapping.get("ignore", [])):
            continue
        kind = default_kind
        for rule in assessments.get("kinds", []):
            if header_matches(header, rule.get("headers", [])):
                kind = str(rule.get("kind", default_kind))
                break
        title = cell_text(raw)
        columns.append(Column(index, title, title, kind if kind in KINDS else "auto"))

    def name(values: list[Any]) -> str:
        parts = [cell_at(values, name_columns.get(p)) for p in ("first", "last")]
        return " ".join(p for p in parts if p) or cell_at(values, name_columns.get("full"))

    rows = [
        ExportRow(row, values, identifiers_at(values, ids), name(values)) for row, values in body
    ]
    no_result = frozenset(header_key(t) for t in mapping.get("no_result", []))
    return Export("itslearning", table.sheet, number, columns, rows, no_result)
