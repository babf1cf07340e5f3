"""The fast path of :func:`pipeline.intake.checks.run_schema`: a valid frame told without
pandera's validation machinery.

Owns reading a pandera schema's options (its public attributes and, for a check, its bound
function ``_check_fn``, a private attribute of pandera) into a plan of our own vectorised
checks, and running that plan. Anything it does not understand, and every failure, is left
to pandera, which stays the validator: the fast path only ever answers "valid".
"""

from __future__ import annotations

import functools
from typing import Any, Final

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.intake.cell_values import Column
from pipeline.intake.cells import SHARED_CELLS, Cells
from pipeline.intake.column_checks import CHECKS

_DEFAULT_SCHEMA_OPTIONS: Final[dict[str, Any]] = {
    "checks": [],
    "parsers": [],
    "index": None,
    "dtype": None,
    "coerce": False,
    "strict": False,
    "ordered": False,
    "unique": None,
    "unique_column_names": False,
    "add_missing_columns": False,
    "on_missing_columns": None,
    "drop_invalid_rows": False,
}
_DEFAULT_COLUMN_OPTIONS: Final[dict[str, Any]] = {
    "dtype": None,
    "parsers": [],
    "unique": False,
    "coerce": False,
    "regex": False,
    "default": None,
    "drop_invalid_rows": False,
    "on_missing": None,
}
_DEFAULT_CHECK_OPTIONS: Final[dict[str, Any]] = {
    "element_wise": False,
    "groupby": None,
    "groups": None,
    "ignore_na": True,
    "raise_warning": False,
    "_check_kwargs": {},
}
_VECTORISED: Final = {id(fn): name for name, (fn, _) in CHECKS.items()}
_MISSING: Final = object()


def _has_defaults(obj: object, defaults: dict[str, Any]) -> bool:
    """Whether ``obj`` has exactly these attribute values (same type, equal)."""
    for key, default in defaults.items():
        value = getattr(obj, key, _MISSING)
        if value is not default and (type(value) is not type(default) or value != default):
            return False
    return True


def _fast_check(check: Any) -> Any:
    """The registered function of one of our vectorised checks, bound to its statistics
    (what pandera calls), or ``None`` for a check the fast path does not know."""
    if type(check) is not pa.Check or not _has_defaults(check, _DEFAULT_CHECK_OPTIONS):
        return None
    bound = check._check_fn
    wrapper = getattr(bound, "func", None)
    if not isinstance(bound, functools.partial) or bound.args:
        return None
    name = _VECTORISED.get(id(getattr(wrapper, "__wrapped__", None)))
    return bound if name is not None and name == check.name else None


def passes_fast(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> bool:
    """Whether pandera would accept ``frame`` as it is, told without pandera's machinery.

    Understands a schema of columns without dtype, coercion, parsers, defaults or uniqueness,
    whose checks are the vectorised checks of this module with default options: required
    columns present, no nulls (pandera's notion: None, NaN, NaT, NA) where not nullable, and
    each check (on the column without nulls, as pandera gives it) true everywhere. ``False``
    means "ask pandera": a failure, an error, or anything else in the schema."""
    return fast_cells(_plan(schema), frame) is not None


_Plan = list[tuple[str, pa.Column, list[Any]]]


def _plan(schema: pa.DataFrameSchema) -> _Plan | None:
    """The columns :func:`passes_fast` looks at, with their check functions; ``None`` for a
    schema it does not understand."""
    if type(schema) is not pa.DataFrameSchema or not _has_defaults(schema, _DEFAULT_SCHEMA_OPTIONS):
        return None
    plan = []
    for name, column in schema.columns.items():
        if type(column) is not pa.Column or column.name != name:
            return None
        if not _has_defaults(column, _DEFAULT_COLUMN_OPTIONS):
            return None
        fns = [_fast_check(check) for check in column.checks]
        if any(fn is None for fn in fns):
            return None
        plan.append((name, column, fns))
    return plan


# The plan of each schema run_schema has seen, with the schema kept alive so that its
# id stays its own: a loaded schema is not changed (load_schema hands the same one to every
# file of a list), and looking at every column and check again costs more than a small file.
_PLANS: dict[int, tuple[pa.DataFrameSchema, _Plan | None]] = {}


def plan_of(schema: pa.DataFrameSchema) -> _Plan | None:
    hit = _PLANS.get(id(schema))
    if hit is None or hit[0] is not schema:
        if len(_PLANS) > 256:
            _PLANS.clear()
        hit = _PLANS[id(schema)] = (schema, _plan(schema))
    return hit[1]


def fast_cells(plan: _Plan | None, frame: pd.DataFrame) -> dict[str, Cells] | None:
    """:func:`passes_fast` of the schema of ``plan``, answering with the Cells of the
    columns it looked at when the frame passes (``None`` when not)."""
    if plan is None:
        return None
    if type(frame) is not pd.DataFrame or isinstance(frame.columns, pd.MultiIndex):
        return None
    if not frame.columns.is_unique:
        return None
    looked_at: dict[str, Cells] = {}
    shared: dict[int, tuple[Column, Cells]] = {}
    token = SHARED_CELLS.set(shared)
    try:
        for name, column, fns in plan:
            if name not in frame:
                if column.required:
                    return None
                continue
            if column.nullable and not fns:
                continue
            cells = looked_at[name] = Cells(frame[name].to_numpy(dtype=object))
            nulls = cells.nulls()
            if nulls.any():
                if not column.nullable:
                    return None
                if nulls.all():
                    continue  # nothing left to check: every check holds for no cells
                # What pandera's checks see (ignore_na): the cells that are not null.
                cells = cells.without(nulls)
            values = cells.values
            shared[id(values)] = (values, cells)
            for fn in fns:
                passed = fn(values)
                if not (isinstance(passed, np.ndarray) and passed.dtype == bool):
                    return None
                if not passed.all():
                    return None
    except Exception:  # a check that raises is pandera's to report
        return None
    finally:
        SHARED_CELLS.reset(token)
    return looked_at
