"""``resultat status`` through the database driver alone (issue 19, item 7): the same lines as
the full path through SQLAlchemy, on SQLite and PostgreSQL, and the full path wherever the
direct read cannot be sure (an older schema, a URL it does not know)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import text, update

from pipeline.app import App
from pipeline.lists import summary
from pipeline.lists.query import summaries
from pipeline.migrations import head_revision
from pipeline.models import ListEntry, ListState, ResultList
from tests.factories import new_exam_list, seed


def _lists_in_every_kind_of_state(app: App) -> list[int]:
    seed(app, students=5)
    numbers = [new_exam_list(app) for _ in range(4)]
    with app.db.session() as session:
        # Set up directly (the state machine is tested elsewhere): one finished list, one
        # correction of it, and entries removed and graded that the counts must tell apart.
        session.execute(
            update(ResultList)
            .where(ResultList.listnr == numbers[0])
            .values(state=ListState.REGISTERED)
        )
        session.execute(
            update(ResultList)
            .where(ResultList.listnr == numbers[1])
            .values(state=ListState.AWAITING_APPROVAL, corrects_listnr=numbers[0])
        )
        target = session.execute(
            text("SELECT id FROM result_lists WHERE listnr = :n"), {"n": numbers[2]}
        ).scalar_one()
        ids = [
            row[0]
            for row in session.execute(
                text("SELECT id FROM list_entries WHERE list_id = :l ORDER BY id"), {"l": target}
            )
        ]
        session.execute(update(ListEntry).where(ListEntry.id == ids[0]).values(removed=True))
        session.execute(update(ListEntry).where(ListEntry.id.in_(ids[1:3])).values(grade="G"))
    return numbers


def test_the_direct_read_gives_the_full_paths_lines(app: App) -> None:
    numbers = _lists_in_every_kind_of_state(app)
    url = app.settings.database_url
    for listnr, every in ((None, False), (None, True), (numbers[2], False), (numbers[0], False)):
        direct = summary.read_direct(url, listnr, every)
        assert direct == summaries(app, listnr, every=every), (listnr, every)
    open_lines = summary.read_direct(url, None, False)
    assert open_lines is not None
    assert [s.listnr for s in open_lines] == numbers[1:]
    counted = {s.listnr: (s.students, s.graded) for s in open_lines}
    assert counted[numbers[2]] == (4, 2)  # one removed, two of the rest graded
    by_number = {s.listnr: s for s in summary.read_direct(url, None, True) or []}
    assert by_number[numbers[0]].corrected_by == (numbers[1],)
    assert by_number[numbers[1]].corrects == numbers[0]
    assert by_number[numbers[1]].state == "awaiting_approval"


def test_an_older_schema_or_an_unknown_url_takes_the_full_path(app: App) -> None:
    seed(app, students=2)
    new_exam_list(app)
    url = app.settings.database_url
    assert summary.read_direct(url, None, False)
    with app.db.session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    assert summary.read_direct(url, None, False) is None  # the full path migrates
    assert summary.read_direct("mysql://nobody@127.0.0.1/x", None, False) is None
    assert summary.read_direct("sqlite:////nowhere/resultat.db", None, False) is None


SCRIPT = """
import sys
from pipeline.cli import main
sys.argv = ["resultat", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("SQLALCHEMY", "sqlalchemy" in sys.modules, "CODE", code, file=sys.stderr)
"""


def test_status_answers_without_sqlalchemy(app: App) -> None:
    numbers = _lists_in_every_kind_of_state(app)
    env = {**os.environ, "RESULTAT_LANG": "en"}
    env.pop("RESULTAT_HOME", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", SCRIPT, "-w", str(app.root), *args],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip

    done = run("status", "--json")
    assert "SQLALCHEMY False CODE 0" in done.stderr, done.stderr
    assert [r["listnr"] for r in json.loads(done.stdout)] == numbers[1:]
    missing = run("status", str(max(numbers) + 100))
    assert "SQLALCHEMY False CODE 4" in missing.stderr, missing.stderr
    assert str(max(numbers) + 100) in missing.stderr
    with app.db.session() as session:  # an older schema: the full path, which migrates it
        session.execute(text("DROP INDEX ix_list_entries_list_counts"))
        session.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    done = run("status", "--json")
    assert "SQLALCHEMY True CODE 0" in done.stderr, done.stderr
    assert [r["listnr"] for r in json.loads(done.stdout)] == numbers[1:]
    with app.db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )
    assert "SQLALCHEMY False" in run("status").stderr  # migrated: the direct read again
