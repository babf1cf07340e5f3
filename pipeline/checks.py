"""Validation rules as data: loading the pandera schemas in ``schemas/`` and running them.

Owns the custom checks those schemas may name (registered with pandera on import), loading a
schema file, and turning pandera's lazy failure cases into located :class:`Problem` objects.
The schema files hold a pandera ``DataFrameSchema`` in pandera's YAML form under ``schema:``,
and under ``slugs:`` which problem type each check reports. Cross-checks that need the
database (is the student on the list?) are the caller's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pandera.extensions as extensions
import pandera.pandas as pa
import yaml

from pipeline import personnummer, resources
from pipeline.report import Problem

_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def to_date(value: Any) -> dt.date | None:
    """A date from a real date cell or an ISO ``YYYY-MM-DD`` text; ``None`` otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.match(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                return None
    return None


def to_number(value: Any) -> float | None:
    """A number from a numeric cell or a text with ``.`` or ``,`` as decimal mark."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ".").replace("\u00a0", "").replace(" ", ""))
        except ValueError:
            return None
    return None


_register_check = extensions.register_check_method  # type: ignore[attr-defined]


def _register() -> None:
    @_register_check(statistics=[], check_type="element_wise")
    def is_personnummer(value: Any) -> bool:
        return _is_blank(value) or personnummer.is_valid(value)

    @_register_check(statistics=[], check_type="element_wise")
    def iso_date(value: Any) -> bool:
        return _is_blank(value) or to_date(value) is not None

    @_register_check(statistics=["today"], check_type="element_wise")
    def date_not_in_future(value: Any, *, today: str) -> bool:
        day = to_date(value)
        return day is None or day <= dt.date.fromisoformat(today)

    @_register_check(statistics=["earliest"], check_type="element_wise")
    def date_not_before(value: Any, *, earliest: str) -> bool:
        day = to_date(value)
        return day is None or day >= dt.date.fromisoformat(earliest)

    @_register_check(statistics=[], check_type="element_wise")
    def is_number(value: Any) -> bool:
        return _is_blank(value) or to_number(value) is not None

    @_register_check(statistics=[], check_type="element_wise")
    def non_negative(value: Any) -> bool:
        number = to_number(value)
        return number is None or number >= 0

    @_register_check(statistics=["allowed"], check_type="element_wise")
    def one_of(value: Any, *, allowed: list[str]) -> bool:
        return _is_blank(value) or value in allowed

    @_register_check(statistics=["allowed"], check_type="element_wise")
    def mark_of(value: Any, *, allowed: list[str]) -> bool:
        """A mark cell: blank, or one of ``allowed`` in any case."""
        return _is_blank(value) or str(value).strip().upper() in {a.upper() for a in allowed}


_REGISTERED = False


def ensure_registered() -> None:
    global _REGISTERED
    if not _REGISTERED:
        _register()
        _REGISTERED = True


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
    path = resources.find("schemas", f"{name}.yaml", workspace)
    key = json.dumps(
        [str(path), path.stat().st_mtime_ns, params or {}], sort_keys=True, default=str
    )
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
) -> list[Problem]:
    """Validate ``frame`` lazily and return every failure as a located problem.

    ``letters`` maps field names to spreadsheet column letters; ``row_of`` maps the frame's
    index to spreadsheet row numbers (default: the index is the row number);
    ``df_check_fields`` names the field a dataframe-wide check is reported on.
    """
    df_check_fields = df_check_fields or {}
    problems: list[Problem] = []
    try:
        loaded.schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        problems = _problems(exc, loaded, frame, sheet, letters, row_of, df_check_fields)
    problems.extend(_row_rule_problems(loaded, frame, sheet, letters, row_of))
    if params:
        problems = [replace(p, params={**params, **p.params}) for p in problems]
    return problems


def _row_rule_problems(
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None,
) -> list[Problem]:
    problems: list[Problem] = []
    for rule in loaded.row_rules:
        field, needs = rule["field"], rule["needs"]
        if field not in frame.columns or needs not in frame.columns:
            continue
        filled = ~frame[field].map(_is_blank).astype(bool)
        missing = frame[needs].map(_is_blank).astype(bool)
        for index in frame.index[filled & missing]:
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
            problems.append(Problem(slug="missing-column", sheet=sheet, field=str(error)))
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
