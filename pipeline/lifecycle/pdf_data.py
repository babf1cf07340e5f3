"""What an archive list PDF prints, as plain data (:class:`ArchiveListData`, :class:`ArchiveRow`).

Kept apart from the renderer so that callers can build the data without importing fpdf2;
drawing it is :mod:`pipeline.lifecycle.archive_pdf`'s.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ArchiveRow:
    """One student's result as printed; ``pnr`` is the 12-digit personnummer."""

    pnr: str
    last_name: str
    first_name: str
    grade: str | None
    ects_grade: str | None
    grade_date: dt.date | None
    points: decimal.Decimal | None
    comment: str | None


@dataclass(frozen=True)
class ArchiveListData:
    """Everything printed on one archive list.

    ``kind`` is ``t33`` (results on a module) or ``t34`` (final course grades). ``rows`` are
    printed in the order given. ``approved_at`` of ``None`` makes a preview; a naive datetime is
    taken as UTC, as the database stores it. ``attachments`` maps file names to their bytes.
    """

    listnr: int
    kind: str
    course_code: str
    course_name: str
    module_code: str | None
    module_name: str | None
    term: str
    scale: str
    examiner: str
    reporter: str
    version: int
    content_hash: str
    rows: list[ArchiveRow]
    approved_at: dt.datetime | None = None
    approved_via: str | None = None
    corrects_listnr: int | None = None
    attachments: dict[str, bytes] = field(default_factory=dict)

    @property
    def is_preview(self) -> bool:
        return self.approved_at is None
