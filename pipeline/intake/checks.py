"""Validation rules as data: loading the pandera schemas in ``schemas/`` and running them.

Owns loading a schema file and turning pandera's lazy failure cases into located
:class:`Problem` objects, plus the schemas' ``requires`` row rules. A frame that passes is
recognised without pandera's validation machinery (:mod:`pipeline.intake.fastpath`, the same
check functions of :mod:`pipeline.intake.column_checks`); pandera runs when something fails,
to locate it.
The schema files hold a pandera ``DataFrameSchema`` in pandera's YAML form under ``schema:``,
and under ``slugs:`` which problem type each check reports. Cross-checks that need the
database (is the student on the list?) are the caller's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from pipeline import resources
from pipeline.domain import personnummer
from pipeline.intake.cell_values import BoolArray
from pipeline.intake.cells import Cells, as_objects
from pipeline.intake.column_checks import ensure_registered
from pipeline.intake.fastpath import fast_cells, plan_of
from pipeline.intake.report import Problem


@dataclass(frozen=True)
class LoadedSchema:
    """A pandera schema plus which problem slug each of its checks reports."""

    name: str
    version: int
    schema: pa.DataFrameSchema
    slugs: dict[str, str]
    extra: dict[str, Any]

    @property
    def row_rules(self) -> list[dict[str, str]]:
        """``requires`` rules: a filled-in ``field`` needs ``needs`` filled in too."""
        return list(self.extra.get("requires", []))


def _substitute(node: Any, params: dict[str, Any]) -> Any:
    """Replace ``"${name}"`` placeholders (values known only at run time, e.g. a scale)."""
    if isinstance(node, str) and node.startswith("${") and node.endswith("}"):
        key = node[2:-1]
        if key not in params:
            raise KeyError(f"schema placeholder ${{{key}}} has no value")
        return params[key]
    if isinstance(node, dict):
        return {k: _substitute(v, params) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, params) for v in node]
    return node


_CACHE: dict[str, LoadedSchema] = {}


def load_schema(
    name: str, workspace: Path | None = None, params: dict[str, Any] | None = None
) -> LoadedSchema:
    """Load ``schemas/<name>.yaml`` (the workspace's copy wins), filling ``${...}`` params.

    Cached per file, modification time and parameters: building a pandera schema from YAML
    costs milliseconds, and every dropped file of a list asks for the same one."""
    path, mtime = resources.locate("schemas", f"{name}.yaml", workspace)
    key = json.dumps([path, mtime, params or {}], sort_keys=True, default=str)
    cached = _CACHE.get(key)
    if cached is None:
        if len(_CACHE) > 256:
            _CACHE.clear()
        cached = _CACHE[key] = _load_schema(name, workspace, params)
    return cached


def _load_schema(name: str, workspace: Path | None, params: dict[str, Any] | None) -> LoadedSchema:
    ensure_registered()
    data = resources.load_yaml("schemas", f"{name}.yaml", workspace)
    body = _substitute(data["schema"], params or {})
    schema = pa.DataFrameSchema.from_yaml(yaml.safe_dump(body, allow_unicode=True, sort_keys=False))
    extra = {k: v for k, v in data.items() if k not in ("schema", "slugs", "version")}
    return LoadedSchema(
        name=name,
        version=int(data.get("version", 1)),
        schema=schema,
        slugs=dict(data.get("slugs", {})),
        extra=extra,
    )


def _check_name(check: Any) -> str:
    name = getattr(check, "name", None) or str(check)
    return str(name).split("(", 1)[0]


def run_schema(
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    *,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None = None,
    df_check_fields: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    force_pandera: bool = False,
) -> list[Problem]:
    """Validate ``frame`` lazily and return every failure as a located problem.

    ``letters`` maps field names to spreadsheet column letters; ``row_of`` maps the frame's
    index to spreadsheet row numbers (default: the index is the row number);
    ``df_check_fields`` names the field a dataframe-wide check is reported on.

    A valid frame is recognised by :func:`passes_fast` without pandera's machinery; pandera
    runs (lazily) only when that finds a failure or meets something it does not know, and
    then produces the located problems. ``force_pandera`` skips the fast path (for tests).
    """
    df_check_fields = df_check_fields or {}
    problems: list[Problem] = []
    cells = None if force_pandera else fast_cells(plan_of(loaded.schema), frame)
    if cells is None:
        try:
            loaded.schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            problems = _problems(exc, loaded, frame, sheet, letters, row_of, df_check_fields)
    problems.extend(_row_rule_problems(loaded, frame, sheet, letters, row_of, cells or {}))
    if params:
        problems = [replace(p, params={**params, **p.params}) for p in problems]
    return problems


def _blank_mask(column: pd.Series) -> BoolArray:
    return Cells(as_objects(column)).blank()


def _row_rule_problems(
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None,
    cells: dict[str, Cells],
) -> list[Problem]:
    """The ``requires`` rules' problems; ``cells`` holds the Cells of columns of ``frame``
    already looked at (by :func:`passes_fast`), whose blanks are known."""
    problems: list[Problem] = []
    blanks: dict[str, BoolArray] = {}
    for rule in loaded.row_rules:
        field, needs = rule["field"], rule["needs"]
        if field not in frame.columns or needs not in frame.columns:
            continue
        for name in (field, needs):
            if name not in blanks:
                known = cells.get(name)
                blanks[name] = known.blank() if known is not None else _blank_mask(frame[name])
        hits = np.flatnonzero(~blanks[field] & blanks[needs])
        for index in frame.index[hits] if hits.size else ():
            problems.append(
                Problem(
                    slug=rule["slug"],
                    sheet=sheet,
                    row=row_of.get(index) if row_of else int(index),
                    column=letters.get(needs),
                    field=needs,
                )
            )
    return problems


def _refine(name: str, slug: str, value: Any) -> str:
    """A more precise slug for some checks (why exactly is this personnummer wrong?)."""
    if name == "is_personnummer":
        try:
            personnummer.parse(value)
        except personnummer.PersonnummerError as exc:
            return exc.slug
    return slug


def _problems(
    exc: pa.errors.SchemaErrors,
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None,
    df_check_fields: dict[str, str],
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[Any, str | None]] = set()
    for error in exc.schema_errors:
        check = getattr(error, "check", None)
        name = _check_name(check) if check is not None else str(error.reason_code.name).lower()
        schema_obj = getattr(error, "schema", None)
        field = getattr(schema_obj, "name", None) if isinstance(schema_obj, pa.Column) else None
        if field is None:
            field = df_check_fields.get(name)
        slug = loaded.slugs.get(name, name.replace("_", "-"))
        cases = getattr(error, "failure_cases", None)
        if name in ("column_in_dataframe", "column_not_in_dataframe"):
            # pandera names the missing column as its failure case (its error text is English).
            missing = cases if isinstance(cases, str) else str(error)
            problems.append(Problem(slug="missing-column", sheet=sheet, field=missing))
            continue
        if not isinstance(cases, pd.DataFrame) or "index" not in cases:
            rows: list[tuple[Any, Any]] = []
            if isinstance(cases, pd.Series | pd.DataFrame):
                rows = [(i, None) for i in getattr(cases, "index", [])]
            else:
                problems.append(Problem(slug=slug, sheet=sheet, field=field))
                continue
        else:
            rows = list(zip(cases["index"], cases["failure_case"], strict=False))
        for index, value in rows:
            if index is None or (isinstance(index, float) and math.isnan(index)):
                continue
            # One problem per cell: the first failing check (schema order) wins.
            if (index, field) in seen:
                continue
            seen.add((index, field))
            if field is not None and index in frame.index and field in frame.columns:
                value = frame.at[index, field]
            row = row_of.get(index) if row_of else int(index)
            problems.append(
                Problem(
                    slug=_refine(name, slug, value),
                    sheet=sheet,
                    row=row,
                    column=letters.get(field) if field else None,
                    field=field,
                    value=value,
                )
            )
    return problems
