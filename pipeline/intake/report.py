"""Validation reports: bad data is a report, not an exception.

Modelled on frictionless: a :class:`Report` is ``valid`` or not, has ``stats``, and a list of
:class:`Problem`, each with a stable type slug, a position (file, sheet, row, column) and a
message rendered from ``templates/messages.<lang>.yaml``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import resources


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, precisely located.

    ``row`` is the 1-based row number as the spreadsheet program shows it, ``column`` the
    column letter (``"D"``) when known, ``field`` the logical column name.
    """

    slug: str
    params: dict[str, Any] = field(default_factory=dict)
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    field: str | None = None
    value: Any = None

    def position(self, language: str = "sv", workspace: Path | None = None) -> str:
        words = messages(language, workspace)["position"]
        parts = []
        if self.sheet:
            parts.append(words["sheet"].format(sheet=self.sheet))
        if self.row is not None:
            parts.append(words["row"].format(row=self.row))
        if self.column:
            name = messages(language, workspace).get("fields", {}).get(self.field, self.field)
            label = self.column if not self.field else f"{self.column} ({name})"
            parts.append(words["column"].format(column=label))
        return ", ".join(parts)

    def message(self, language: str = "sv", workspace: Path | None = None) -> str:
        templates = messages(language, workspace)["problems"]
        template = templates.get(self.slug) or templates["unknown-problem"]
        params = _Defaults(value=_show(self.value), field=self.field or "", **self.params)
        try:
            return str(template).format_map(params)
        except (IndexError, ValueError):
            return str(template)


class _Defaults(dict[str, Any]):
    """Template parameters; a placeholder without a value renders empty, never fails."""

    def __missing__(self, key: str) -> str:
        return ""


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


MESSAGE_FILES = ("messages", "messages-registry", "messages-lms", "messages-reader")


def messages(language: str, workspace: Path | None = None) -> dict[str, Any]:
    """Problem texts for ``language``: ``templates/messages*.<lang>.yaml`` merged."""
    merged: dict[str, Any] = {"position": {}, "problems": {}}
    for stem in MESSAGE_FILES:
        try:
            data = resources.load_yaml("templates", f"{stem}.{language}.yaml", workspace)
        except FileNotFoundError:
            continue
        for key, value in (data or {}).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged


@dataclass
class Report:
    """The outcome of checking one input."""

    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def extend(self, problems: list[Problem]) -> None:
        self.problems.extend(problems)

    def sorted_problems(self) -> list[Problem]:
        return sorted(
            self.problems,
            key=lambda p: (p.sheet or "", p.row or 0, p.column or "", p.slug),
        )
