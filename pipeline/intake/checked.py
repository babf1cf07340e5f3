"""What checking one workbook found, as the stages and the applying code pass it on.

Owns :class:`WorkbookCheck` (the working record of one workbook's checks and, when applied,
what applying did; a stage turns it into its typed :mod:`outcome <pipeline.intake.outcomes>`)
and :class:`Prepared` (a passed check, kept for applying under the lock), plus the small
helpers every workbook check shares. The checks are :mod:`pipeline.intake.handlers`'.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.intake.report import Report
from pipeline.lists.query import EntryRow
from pipeline.models import ListState, ResultList, Staff
from pipeline.texts import LANGUAGES

ACTION_DRAFT = "draft"
ACTION_SUBMIT = "submit"


@dataclass
class WorkbookCheck:
    """One workbook's checks and, once applied, what applying did (counts, version, state)."""

    accepted: bool
    listnr: int | None
    language: str
    report: Report
    changed: int = 0
    graded: int = 0
    students: int = 0
    version: int | None = None
    state: ListState | None = None
    reissue: bool = False
    notes: list[str] = field(default_factory=list)
    #: The list's entries as they are after applying (for the fresh workbook).
    entries: list[EntryRow] | None = None
    #: What a passed check found, for applying it later (see ``handlers.apply_checked``).
    prepared: Prepared | None = None
    #: The list as applied, with its course and module, in the applying session.
    applied_to: ResultList | None = None


@dataclass
class Prepared:
    """A workbook that passed every check against the list at ``version`` in ``state``."""

    version: int
    state: ListState
    frame: pd.DataFrame
    digits_by_row: dict[int, str]
    action: str
    options: dict[str, Any] | None
    latest: dict[str, dt.date]


def staff_language(session: Session, username: str | None, default: str) -> str:
    """The staff member's language from the registry, else ``default``."""
    if not username:
        return default
    language = session.execute(
        select(Staff.language).where(Staff.username == username)
    ).scalar_one_or_none()
    return preferred_language(language, default)


def preferred_language(language: str | None, default: str) -> str:
    """``language`` when it is one the catalogue has, else ``default``."""
    return language if language in LANGUAGES else default


def as_int(value: Any) -> int | None:
    """A cell's whole number (``"1234"``, ``1234.0``), or ``None``."""
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None
