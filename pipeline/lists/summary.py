"""The lines of ``resultat status``: one SQL statement for every caller.

The library runs it through SQLAlchemy (:func:`pipeline.lists.query.summaries`); the CLI runs
it straight through the database driver (:func:`read_direct`), because ``resultat status`` is
what terminals and scripts ask many times a day, and importing SQLAlchemy and the mappings
alone takes longer than all the rest of the command (about 300 ms of 500 ms on the 2-core
machine; issue 19, item 7). The direct read takes only what it surely reads as the full path
does: a database at the newest schema revision, on SQLite or PostgreSQL through psycopg.
Anything else answers ``None`` and the caller takes the full path, which also migrates.

The statement has no bound parameters (the list number is an ``int``, the states are this
program's own constants), so both drivers run the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.request import pathname2url

from pipeline.domain.lists import OPEN_STATES
from pipeline.migrations import head_revision


@dataclass(frozen=True)
class ListSummary:
    """One line of ``resultat status``."""

    listnr: int
    kind: str
    course: str
    module: str | None
    term: str
    state: str
    version: int
    reporter: str
    examiner: str | None
    students: int
    graded: int
    corrects: int | None = None
    corrected_by: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "listnr": self.listnr,
            "kind": self.kind,
            "course": self.course,
            "module": self.module,
            "term": self.term,
            "state": self.state,
            "version": self.version,
            "reporter": self.reporter,
            "examiner": self.examiner,
            "students": self.students,
            "graded": self.graded,
        }


# Each shown list's entries are counted through the (list_id, removed, grade) index
# (migration 0009): a correlated count, so PostgreSQL too looks up each shown list's entries
# instead of hashing every entry of the history (its plan for a grouped join).
_LINES: Final = """\
SELECT l.listnr, l.kind, c.code, m.code, l.term, l.state, l.version, l.reporter, l.examiner,
 (SELECT count(*) FROM list_entries e WHERE e.list_id = l.id AND e.removed = false),
 (SELECT count(*) FROM list_entries e
   WHERE e.list_id = l.id AND e.removed = false AND e.grade IS NOT NULL),
 l.corrects_listnr
FROM result_lists l
JOIN courses c ON c.id = l.course_id
LEFT OUTER JOIN modules m ON m.id = l.module_id
{where}
ORDER BY l.listnr"""

#: Which list corrects which (``status`` names both ways).
CORRECTIONS: Final = (
    "SELECT listnr, corrects_listnr FROM result_lists WHERE corrects_listnr IS NOT NULL"
)


def statement(listnr: int | None, every: bool) -> str:
    """One list (``listnr``), every open list (the default), or every list (``every``). The
    open lists are found through the state index, so the default view costs what is open,
    not the whole history (issue 19)."""
    if listnr is not None:
        where = f"WHERE l.listnr = {int(listnr)}"
    elif every:
        where = ""
    else:
        where = "WHERE l.state IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_STATES))
    return _LINES.format(where=where)


def lines(rows: Iterable[Sequence[Any]], corrections: Iterable[Sequence[Any]]) -> list[ListSummary]:
    by_original: dict[int, list[int]] = {}
    for new, old in corrections:
        by_original.setdefault(int(old or 0), []).append(int(new))
    return [
        ListSummary(
            listnr=int(number),
            kind=str(kind),
            course=course,
            module=module,
            term=term,
            state=str(state),
            version=int(version),
            reporter=reporter,
            examiner=examiner,
            students=int(n_students),
            graded=int(n_graded),
            corrects=corrects,
            corrected_by=tuple(by_original.get(int(number), ())),
        )
        for (number, kind, course, module, term, state, version, reporter, examiner,
             n_students, n_graded, corrects) in rows
    ]  # fmt: skip


def read_direct(database_url: str, listnr: int | None, every: bool) -> list[ListSummary] | None:
    """The lines through the driver alone, or ``None`` where only the full path may answer
    (an unknown URL, a database the driver cannot open, a schema not at the newest revision:
    the full path then migrates it). The reads share one read-only transaction."""
    opened = _connect(database_url)
    if opened is None:
        return None
    connection, driver_error = opened
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT version_num FROM alembic_version")
        found = cursor.fetchone()
        if found is None or found[0] != head_revision():
            return None
        cursor.execute(statement(listnr, every))
        rows = cursor.fetchall()
        cursor.execute(CORRECTIONS)
        corrections = cursor.fetchall()
    except driver_error:
        return None
    finally:
        connection.close()
    return lines(rows, corrections)


def _connect(url: str) -> tuple[Any, type[Exception]] | None:
    if url.startswith("sqlite:///") and "?" not in url:
        import sqlite3  # lazy, kept for start-up time: only the workspace's driver is loaded

        path = Path(url[len("sqlite:///") :])
        if not path.is_absolute() or not path.is_file():
            return None
        try:
            connection = sqlite3.connect(
                f"file:{pathname2url(str(path))}?mode=ro", uri=True, timeout=30
            )
            connection.isolation_level = None
            connection.execute("BEGIN")  # one snapshot for both reads (WAL)
        except sqlite3.Error:
            return None
        return connection, sqlite3.Error
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgresql+psycopg", "postgres"):
        import psycopg  # lazy, kept for start-up time (as sqlite3 above)

        try:
            server = psycopg.connect(f"postgresql://{rest}", connect_timeout=10)
            server.read_only = True
        except psycopg.Error:
            return None
        return server, psycopg.Error
    return None
