"""Mapping an export's values onto a grading scale: case and whitespace tolerant, P↔G and
F↔U, pass/fail words, and points or percentages only through the thresholds the teacher
gives (:class:`Thresholds`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from pipeline import texts
from pipeline.domain.scales import GradeScale
from pipeline.errors import InvalidRequest
from pipeline.lms.model import (
    ISO_DATE,
    NUMBER,
    SPACES,
    header_key,
    is_blank,
)

# Words for pass and fail that platforms write instead of a scale's own grades (read in
# exports, never shown).
PASS_WORDS: Final = frozenset(  # i18n: not people-facing
    {"P", "PASS", "PASSED", "GODKÄND", "GODKAND", "GODKÄNT", "COMPLETE", "GK"}
)
FAIL_WORDS: Final = frozenset(  # i18n: not people-facing
    {"F", "FAIL", "FAILED", "UNDERKÄND", "UNDERKAND", "UNDERKÄNT", "INCOMPLETE", "UK"}
)
DISTINCTION_WORDS: Final = frozenset(  # i18n: not people-facing
    {"VÄL GODKÄND", "VAL GODKAND", "PASS WITH DISTINCTION"}
)
#: A grade missing from the scale is read as its twin when the scale has that one.
TWINS: Final = {"P": "G", "G": "P", "F": "U", "U": "F"}


# -- grades ----------------------------------------------------------------------------------


class ThresholdError(InvalidRequest, ValueError):
    """Thresholds that cannot be used; the message says why (shown in the receipt, and by
    the CLI as a refused command). ``detail`` is the reason as a catalogue key with its
    parameters, for a text that renders it in the reader's language."""

    @property
    def detail(self) -> texts.Key:
        return texts.Key(self.key or "", **self.params)


@dataclass(frozen=True)
class Thresholds:
    """Minimum score per grade, lowest first: a score gets the grade of the highest minimum
    it reaches."""

    steps: tuple[tuple[str, float], ...]

    def grade_for(self, score: float) -> str | None:
        found = None
        for grade, minimum in self.steps:
            if score >= minimum:
                found = grade
        return found

    @property
    def lowest(self) -> float:
        return self.steps[0][1]


def parse_thresholds_text(text: str) -> list[tuple[str, float]]:
    """``"U=0,3=50,4=65,5=80"`` (also ``:`` and ``;`` or spaces) as pairs, for the CLI."""
    pairs: list[tuple[str, float]] = []
    for part in re.split(r"[,;\s]+", text.strip()):
        if not part:
            continue
        grade, sep, minimum = part.replace(":", "=").partition("=")
        if not sep:
            raise ThresholdError.text("lms.thresholds.syntax", part=repr(part))
        try:
            pairs.append((grade.strip(), float(minimum)))
        except ValueError:
            raise ThresholdError.text(
                "lms.thresholds.not-a-number", part=repr(part), minimum=repr(minimum)
            ) from None
    return pairs


def parse_thresholds(raw: Any, scale: GradeScale) -> Thresholds:
    """Thresholds from ``[(grade, minimum), ...]``, a ``{grade: minimum}`` dict or the text
    form, checked against ``scale``: every grade on it, no grade or minimum twice, and a
    better grade needs a higher minimum."""
    if isinstance(raw, str):
        raw = parse_thresholds_text(raw)
    items = list(raw.items()) if isinstance(raw, dict) else list(raw)
    steps: list[tuple[str, float]] = []
    for item in items:
        try:
            grade_value, minimum_value = item
            minimum = float(minimum_value)
        except (TypeError, ValueError):
            raise ThresholdError.text("lms.thresholds.bad-item", item=repr(item)) from None
        if not math.isfinite(minimum):
            raise ThresholdError.text("lms.thresholds.bad-item", item=repr(item))
        grade = _on_scale(grade_value, scale)
        if grade is None:
            raise ThresholdError.text(
                "lms.thresholds.not-on-scale", grade=repr(grade_value), scale=scale.code
            )
        steps.append((grade, minimum))
    if not steps:
        raise ThresholdError.text("lms.thresholds.empty")
    grades = [g for g, _ in steps]
    minimums = [m for _, m in steps]
    if len(set(grades)) != len(grades) or len(set(minimums)) != len(minimums):
        raise ThresholdError.text("lms.thresholds.twice")
    steps.sort(key=lambda s: s[1])
    quality = _quality(scale)
    ranks = [quality[g] for g, _ in steps]
    if ranks != sorted(ranks):
        raise ThresholdError.text("lms.thresholds.order")
    return Thresholds(tuple(steps))


def _quality(scale: GradeScale) -> dict[str, int]:
    """Rank of each grade, worst first, whichever way the scale lists them."""
    grades = list(scale.grades)
    first_pass = next((i for i, g in enumerate(grades) if scale.is_passing(g)), 0)
    failing_first = any(not scale.is_passing(g) for g in grades[:first_pass])
    ordered = grades if failing_first else list(reversed(grades))
    return {g: i for i, g in enumerate(ordered)}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and not math.isfinite(value) else float(value)
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if NUMBER.match(text):
            return float(text.replace(",", "."))
    return None


def _on_scale(value: Any, scale: GradeScale) -> str | None:
    """``value`` as a grade on ``scale``: the scale's own grade, a pass/fail word, or a
    twin (P↔G, F↔U) the scale has."""
    number = _number(value)
    if number is not None:
        value = int(number) if number.is_integer() else number
    key = SPACES.sub(" ", str(value)).strip().upper()
    for candidate in (key, key.replace(" ", "")):
        grade = scale.normalize(candidate)
        if grade is not None:
            return grade
    if key in DISTINCTION_WORDS:
        key = "VG"
    elif key in PASS_WORDS:
        key = "G"
    elif key in FAIL_WORDS:
        key = "U"
    for candidate in (key, TWINS.get(key, key)):
        grade = scale.normalize(candidate)
        if grade is not None:
            return grade
    return None


@dataclass(frozen=True)
class GradeOutcome:
    """One value read: a grade on the scale, no result (``grade`` and ``slug`` None), or a
    problem slug with its parameters."""

    grade: str | None
    slug: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def map_grade(
    value: Any,
    *,
    scale: GradeScale,
    kind: str,
    thresholds: Thresholds | None,
    no_result: frozenset[str] = frozenset(),
) -> GradeOutcome:
    """Map one export value onto ``scale``.

    A blank or a status text in ``no_result`` is no result. A value with a percent sign is a
    percentage and a number in a ``points``/``percentage``/``auto`` column is a score: both
    become grades only through ``thresholds``. In a ``grade`` column a number is a grade
    name (3, 4, 5 on TH). Text is read as a grade, case and whitespace tolerant, with pass
    and fail words and P↔G, F↔U.
    """
    if is_blank(value) or (isinstance(value, str) and header_key(value) in no_result):
        return GradeOutcome(None)
    scale_params = {"scale": scale.code, "allowed": ", ".join(scale.grades)}
    score: float | None = None
    if isinstance(value, str) and value.strip().endswith("%"):
        score = _number(value.strip()[:-1])
    if score is None:
        number = _number(value)
        if number is not None and kind != "grade":
            score = number
    if score is not None:
        if thresholds is None:
            return GradeOutcome(None, "lms-number-without-thresholds")
        grade = thresholds.grade_for(score)
        if grade is None:
            return GradeOutcome(None, "lms-below-thresholds", {"lowest": _show(thresholds.lowest)})
        return GradeOutcome(grade)
    grade = _on_scale(value, scale)
    if grade is None:
        return GradeOutcome(None, "lms-grade-not-in-scale", scale_params)
    return GradeOutcome(grade)


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)


def parse_date(text: str | None) -> dt.date | None:
    """An ISO date of a ladok3 row; ``None`` when blank; raises ``ValueError`` otherwise."""
    if not text:
        return None
    if not ISO_DATE.match(text):
        raise ValueError(text)
    return dt.date.fromisoformat(text)
