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
from json.encoder import encode_basestring  # type: ignore[attr-defined]
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
        "grade_date": grade_date.isoformat() if grade_date else None,
        "points": (
            str(Decimal(str(points)).quantize(Decimal("0.01"))) if points is not None else None
        ),
        "comment": comment,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


_CENT: Final = Decimal("0.01")


def _text(value: Any) -> str:
    return "null" if value is None else encode_basestring(value)


def row_json(
    pnr: str,
    last_name: str,
    first_name: str,
    grade: str | None,
    ects_grade: str | None,
    grade_date: dt.date | None,
    points: Decimal | float | None,
    comment: str | None,
) -> str:
    """Exactly ``_dumps(plain_row(...))``, without the dict and the general encoder: the keys
    in sorted order, each text escaped by the same function ``json.dumps`` uses (a row of
    values that are not all text takes the general way)."""
    day = grade_date.isoformat() if grade_date else None
    shown = str(Decimal(str(points)).quantize(_CENT)) if points is not None else None
    values = (comment, ects_grade, first_name, grade, day, last_name, pnr, shown)
    if not all(v is None or type(v) is str for v in values):
        row = (pnr, last_name, first_name, grade, ects_grade, grade_date, points, comment)
        return _dumps(plain_row(*row))
    return _row_text(
        pnr, last_name, first_name, grade, ects_grade, _text(day), _text(shown), comment
    )


def _row_text(
    pnr: str | None,
    last_name: str | None,
    first_name: str | None,
    grade: str | None,
    ects_grade: str | None,
    day_text: str,
    points_text: str,
    comment: str | None,
) -> str:
    """A row's JSON, the keys in sorted order, from its texts and its date and score already
    as JSON; a value that is not text raises TypeError (from ``encode_basestring``)."""
    return (
        f'{{"comment": {"null" if comment is None else encode_basestring(comment)}, '
        f'"ects_grade": {"null" if ects_grade is None else encode_basestring(ects_grade)}, '
        f'"first_name": {"null" if first_name is None else encode_basestring(first_name)}, '
        f'"grade": {"null" if grade is None else encode_basestring(grade)}, '
        f'"grade_date": {day_text}, '
        f'"last_name": {"null" if last_name is None else encode_basestring(last_name)}, '
        f'"pnr": {"null" if pnr is None else encode_basestring(pnr)}, '
        f'"points": {points_text}}}'
    )


def hash_content(identity: dict[str, Any], rows: Iterable[dict[str, Any]]) -> str:
    """The content hash of ``identity`` and ``rows``, fed to SHA-256 row by row: the bytes are
    exactly ``json.dumps({**identity, "rows": list(rows)}, sort_keys=True, ...)``."""
    return hash_encoded(identity, map(_dumps, rows))


def hash_encoded(identity: dict[str, Any], rows: Iterable[str]) -> str:
    """:func:`hash_content` of rows already in their JSON form (:func:`row_json`)."""
    body = {**identity, "rows": []}
    before, after = _dumps(body).split('"rows": []', 1)
    digest = hashlib.sha256((before + '"rows": [').encode("utf-8"))
    first = True
    for row in rows:
        digest.update(((", " if not first else "") + row).encode("utf-8"))
        first = False
    digest.update(("]" + after).encode("utf-8"))
    return digest.hexdigest()


#: Points below this size come back from the database exactly as held (SQLite keeps a
#: float: exact to the cent far beyond any score); a larger one is hashed from the database.
_EXACT_POINTS: Final = Decimal(10**9)


def hash_at_hand(identity: dict[str, Any], rows: Iterable[tuple[Any, ...]]) -> str | None:
    """The content hash of a list from rows the caller holds (tuples in :data:`ROW_FIELDS`
    order, the active rows in list order, as the transaction has just written them): the
    bytes :func:`stored_content` would hash after reading them back. ``None`` when a value is
    not of the stored type (text or None; a date; a decimal of at most cents and below
    :data:`_EXACT_POINTS`): the caller then lets the database be read.

    Each row is :func:`row_json`'s text: a list holds few distinct dates and scores, so each
    is checked and shown once (a third of the time for 20,000 rows)."""
    days: dict[Any, str] = {None: "null"}
    scores: dict[Any, str] = {None: "null"}
    encoded: list[str] = []
    append = encoded.append
    try:
        for pnr, last_name, first_name, grade, ects_grade, day, points, comment in rows:
            day_text = days.get(day)
            if day_text is None:
                if day.__class__ is not dt.date:  # a datetime is never equal to a date
                    return None
                day_text = days[day] = f'"{day.isoformat()}"'
            if points is not None and points.__class__ is not Decimal:
                return None
            points_text = scores.get(points)
            if points_text is None:
                assert points is not None  # None is in the table from the start
                if (
                    not points.is_finite()
                    or not abs(points) < _EXACT_POINTS
                    or points != points.quantize(_CENT)
                ):
                    return None
                points_text = scores[points] = f'"{Decimal(str(points)).quantize(_CENT)}"'
            append(
                _row_text(
                    pnr, last_name, first_name, grade, ects_grade, day_text, points_text, comment
                )
            )
    except TypeError:  # text expected, or a signalling NaN that cannot be a key
        return None
    return hash_encoded(identity, encoded)


@dataclass(frozen=True)
class StoredList:
    """A list as the database holds it now: identity, state and its active rows' hash."""

    list_id: int
    identity: dict[str, Any]
    state: str
    content_hash: str
    rows: int


#: A row's fields as columns, in :data:`ROW_FIELDS` order.
ROW_COLUMNS: Final = (
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
        select(ListEntry.list_id, *extra, *ROW_COLUMNS)
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
        yield plain_row(*row[1:])


def _encoded_rows(session: Session, list_id: int) -> Iterator[str]:
    stmt = (
        _entries_statement()
        .where(ListEntry.list_id == list_id)
        .order_by(ListEntry.position, ListEntry.id)
        .execution_options(yield_per=BATCH)
    )
    for row in session.connection().execute(stmt):
        yield row_json(*row[1:])


def stored_content(session: Session, listnr: int) -> StoredList | None:
    """One list's identity and content hash as the database holds them now (None: no list)."""
    head = session.connection().execute(_lists_statement().where(ResultList.listnr == listnr))
    row = head.first()
    if row is None:
        return None
    counted = _Counter(_encoded_rows(session, row[0]))
    chash = hash_encoded(_identity(row), counted)
    state = str(getattr(row[7], "value", row[7]))
    return StoredList(row[0], _identity(row), state, chash, counted.n)


def every_stored_list(session: Session) -> Iterator[StoredList]:
    """Every list in id order, each hashed from one streamed query over lists and their
    active entries (a server-side cursor on PostgreSQL; never the whole table in memory)."""
    # Plain outer joins, no subquery: with the index on (list_id, position, id) the database
    # walks lists and their entries in order (a subquery is materialised and sorted whole).
    stmt = (
        _lists_statement()
        .add_columns(*ROW_COLUMNS)
        .outerjoin(ListEntry, (ListEntry.list_id == ResultList.id) & ListEntry.removed.is_(False))
        .outerjoin(Student, Student.id == ListEntry.student_id)
        .order_by(ResultList.id, ListEntry.position, ListEntry.id)
        .execution_options(yield_per=BATCH, stream_results=True)
    )
    stream = iter(session.connection().execute(stmt))
    pending = next(stream, None)
    while pending is not None:
        head = tuple(pending[:8])

        def own(list_id: int = head[0]) -> Iterator[str]:
            nonlocal pending
            while pending is not None and pending[0] == list_id:
                if pending[8] is not None:  # a list without entries: one row of NULLs
                    yield row_json(*pending[8:16])
                pending = next(stream, None)

        counted = _Counter(own())
        chash = hash_encoded(_identity(head), counted)
        state = str(getattr(head[7], "value", head[7]))
        yield StoredList(head[0], _identity(head), state, chash, counted.n)


class _Counter:
    """Passes rows through, counting them."""

    def __init__(self, rows: Iterable[str]) -> None:
        self.rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[str]:
        for row in self.rows:
            self.n += 1
            yield row
