"""A list version's content hash, computed from plain rows or straight from the database.

Owns the canonical form that every approval, export, archive and audit event is bound to:
SHA-256 over ``json.dumps({**identity, "rows": rows}, sort_keys=True, ensure_ascii=False)``
where ``identity`` is ``listnr, kind, course, module, term, version`` and each row is
``pnr, last_name, first_name, grade, ects_grade, grade_date, points, comment`` (the active
rows, in list order). :func:`stored_content` reads a list with one streamed Core query, so the
audit log (:mod:`pipeline.audit`) and ``verify`` hash a 20,000-row list without the ORM and
without holding every row as an object. :mod:`pipeline.lists.content` builds the same rows
from ORM objects; this module imports only the models, so the audit log can use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.models import Course, ListEntry, Module, ResultList, Student

ROW_FIELDS: Final = (
    "pnr",
    "last_name",
    "first_name",
    "grade",
    "ects_grade",
    "grade_date",
    "points",
    "comment",
)
IDENTITY_FIELDS: Final = ("listnr", "kind", "course", "module", "term", "version")
#: Rows fetched per round trip while streaming.
BATCH: Final = 2000


def plain_row(
    pnr: str,
    last_name: str,
    first_name: str,
    grade: str | None,
    ects_grade: str | None,
    grade_date: dt.date | None,
    points: Decimal | float | None,
    comment: str | None,
) -> dict[str, Any]:
    """One row as the hash sees it (dates ISO; points quantized, as the database gives back
    17.00 for the 17 that was stored)."""
    return {
        "pnr": pnr,
        "last_name": last_name,
        "first_name": first_name,
        "grade": grade,
        "ects_grade": ects_grade,
        "grade_date": _iso(grade_date),
        "points": _points(points),
        "comment": comment,
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _points(value: Decimal | float | None) -> str | None:
    return str(Decimal(str(value)).quantize(_CENTS)) if value is not None else None


_CENTS: Final = Decimal("0.01")


def _hash_ordered_row(
    pnr: str,
    last_name: str,
    first_name: str,
    grade: str | None,
    ects_grade: str | None,
    grade_date: dt.date | None,
    points: Decimal | float | None,
    comment: str | None,
) -> dict[str, Any]:
    """:func:`plain_row` with its keys in sorted order, as the hash encodes them: the same
    values and the same bytes hashed, but the encoder's sort of each row finds it done (half
    the encoding time of a 20,000-row list). For rows read here only, never written out."""
    return {
        "comment": comment,
        "ects_grade": ects_grade,
        "first_name": first_name,
        "grade": grade,
        "grade_date": _iso(grade_date),
        "last_name": last_name,
        "pnr": pnr,
        "points": _points(points),
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def hash_content(identity: dict[str, Any], rows: Iterable[dict[str, Any]]) -> str:
    """The content hash of ``identity`` and ``rows``, fed to SHA-256 row by row: the bytes are
    exactly ``json.dumps({**identity, "rows": list(rows)}, sort_keys=True, ...)``."""
    body = {**identity, "rows": []}
    before, after = _dumps(body).split('"rows": []', 1)
    digest = hashlib.sha256((before + '"rows": [').encode("utf-8"))
    first = True
    # Rows are encoded a chunk at a time (one encoder call per chunk, not per row): the list's
    # brackets dropped, a chunk is the same bytes as its rows joined by ", ".
    for chunk in _chunks(rows, BATCH):
        digest.update(((", " if not first else "") + _dumps(chunk)[1:-1]).encode("utf-8"))
        first = False
    digest.update(("]" + after).encode("utf-8"))
    return digest.hexdigest()


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class StoredList:
    """A list as the database holds it now: identity, state and its active rows' hash."""

    list_id: int
    identity: dict[str, Any]
    state: str
    content_hash: str
    rows: int


#: A row's fields as columns, in :data:`ROW_FIELDS` order.
_ROW_COLUMNS: Final = (
    Student.pnr,
    Student.last_name,
    Student.first_name,
    ListEntry.grade,
    ListEntry.ects_grade,
    ListEntry.grade_date,
    ListEntry.points,
    ListEntry.comment,
)


def _entries_statement(*extra: Any) -> Any:
    """Active entries with their student's fields (``extra`` columns after the list id)."""
    return (
        select(ListEntry.list_id, *extra, *_ROW_COLUMNS)
        .join(Student, Student.id == ListEntry.student_id)
        .where(ListEntry.removed.is_(False))
    )


def _lists_statement() -> Any:
    return (
        select(
            ResultList.id,
            ResultList.listnr,
            ResultList.kind,
            Course.code,
            Module.code,
            ResultList.term,
            ResultList.version,
            ResultList.state,
        )
        .join(Course, Course.id == ResultList.course_id)
        .outerjoin(Module, Module.id == ResultList.module_id)
    )


def _identity(row: Any) -> dict[str, Any]:
    _, listnr, kind, course, module, term, version, _state = row
    kind_value = getattr(kind, "value", kind)
    return {
        "listnr": listnr,
        "kind": kind_value,
        "course": course,
        "module": module,
        "term": term,
        "version": version,
    }


def stored_rows(session: Session, list_id: int) -> Iterator[dict[str, Any]]:
    """The active rows of one list in list order, streamed from the database."""
    stmt = (
        _entries_statement()
        .where(ListEntry.list_id == list_id)
        .order_by(ListEntry.position, ListEntry.id)
        .execution_options(yield_per=BATCH)
    )
    for row in session.connection().execute(stmt):
        yield _hash_ordered_row(*row[1:])


def stored_content(session: Session, listnr: int) -> StoredList | None:
    """One list's identity and content hash as the database holds them now (None: no list)."""
    head = session.connection().execute(_lists_statement().where(ResultList.listnr == listnr))
    row = head.first()
    if row is None:
        return None
    counted = _Counter(stored_rows(session, row[0]))
    chash = hash_content(_identity(row), counted)
    state = str(getattr(row[7], "value", row[7]))
    return StoredList(row[0], _identity(row), state, chash, counted.n)


def every_stored_list(session: Session) -> Iterator[StoredList]:
    """Every list in id order, each hashed from one streamed query over lists and their
    active entries (a server-side cursor on PostgreSQL; never the whole table in memory)."""
    entry = _entries_statement(ListEntry.position, ListEntry.id.label("entry_id")).subquery()
    stmt = (
        _lists_statement()
        .add_columns(*list(entry.c)[3:])
        .outerjoin(entry, entry.c.list_id == ResultList.id)
        .order_by(ResultList.id, entry.c.position, entry.c.entry_id)
        .execution_options(yield_per=BATCH, stream_results=True)
    )
    stream = iter(session.connection().execute(stmt))
    pending = next(stream, None)
    while pending is not None:
        head = tuple(pending[:8])

        def own(list_id: int = head[0]) -> Iterator[dict[str, Any]]:
            nonlocal pending
            while pending is not None and pending[0] == list_id:
                if pending[8] is not None:  # a list without entries: one row of NULLs
                    yield _hash_ordered_row(*pending[8:16])
                pending = next(stream, None)

        counted = _Counter(own())
        chash = hash_content(_identity(head), counted)
        state = str(getattr(head[7], "value", head[7]))
        yield StoredList(head[0], _identity(head), state, chash, counted.n)


class _Counter:
    """Passes rows through, counting them."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.rows:
            self.n += 1
            yield row
