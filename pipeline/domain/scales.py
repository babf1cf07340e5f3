"""Grading scales (``UG``, ``UV``, ``TH``, ``AF``) and tolerant reading of grades.

The scales themselves are data in ``schemas/scales.yaml``; this module reads them and maps a
value a teacher typed (``"vg "``, ``"fx"``, ``4.0``) onto the scale's canonical grade.
A blank is "no result", never a fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import resources


@dataclass(frozen=True)
class GradeScale:
    """One grading scale: its grades in display order and which of them pass."""

    code: str
    grades: tuple[str, ...]
    passing: frozenset[str]
    names: dict[str, str]
    levels: dict[str, float] = field(default_factory=dict)

    def nearest(self, level: float) -> str | None:
        """The passing grade whose level is closest to ``level`` (a tie rounds up)."""
        if not self.levels:
            return None
        return min(self.levels, key=lambda g: (abs(self.levels[g] - level), -self.levels[g]))

    def normalize(self, value: Any) -> str | None:
        """The canonical grade for ``value``, or ``None`` when it is not on this scale."""
        key = grade_key(value)
        if key is None:
            return None
        for grade in self.grades:
            if grade.upper() == key:
                return grade
        return None

    def is_passing(self, grade: str) -> bool:
        return grade in self.passing

    def name(self, language: str) -> str:
        return self.names.get(language, self.code)


def grade_key(value: Any) -> str | None:
    """Upper-cased, trimmed text of a grade cell; numbers like ``4.0`` become ``"4"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip().upper()
    return text or None


def load_scales(workspace: Path | None = None) -> dict[str, GradeScale]:
    data = resources.load_yaml("schemas", "scales.yaml", workspace)
    scales: dict[str, GradeScale] = {}
    for code, spec in data["scales"].items():
        grades = tuple(str(g) for g in spec["grades"])
        scales[code] = GradeScale(
            code=code,
            grades=grades,
            passing=frozenset(str(g) for g in spec["passing"]),
            names={k: str(v) for k, v in spec.get("names", {}).items()},
            levels={str(k): float(v) for k, v in (spec.get("levels") or {}).items()},
        )
    return scales


def get_scale(code: str, workspace: Path | None = None) -> GradeScale:
    scales = load_scales(workspace)
    try:
        return scales[code]
    except KeyError:
        raise KeyError(f"unknown grading scale {code!r}; known: {', '.join(scales)}") from None
