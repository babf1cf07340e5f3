"""Database: migrations match the models on both engines; the audit chain detects changes."""

from __future__ import annotations

import hashlib
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from pipeline import audit
from pipeline.app import App
from pipeline.models import AuditEvent, Base


def test_migrations_match_models(app: App) -> None:
    with app.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    with app.db.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    from alembic.script import ScriptDirectory

    from pipeline.db import alembic_config
    from pipeline.migrations import MIGRATIONS_DIR

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert version == head and MIGRATIONS_DIR.is_dir()
    from pipeline.migrations import head_revision

    assert head_revision() == head  # the fast path at start-up agrees with Alembic


def test_audit_chain_verifies_and_finds_the_first_changed_row(app: App) -> None:
    with app.db.session() as session:
        for i in range(4):
            audit.record(session, actor="a", action=f"test.{i}", details={"n": i, "ö": "å"})
    with app.db.session() as session:
        check = audit.verify_chain(session)
        assert check.ok and check.events == 4
        ids = [e.id for e in session.query(AuditEvent).order_by(AuditEvent.id)]
    with app.db.session() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == ids[2]).values(details={"n": 99}))
    with app.db.session() as session:
        check = audit.verify_chain(session)
    assert not check.ok and check.first_broken_id == ids[2]


def test_an_events_hash_is_over_the_plain_json_of_its_fields_and_stored_as_hashed(
    app: App,
) -> None:
    """The hash is over ``json.dumps`` of the six fields (sorted keys, UTF-8 as it is): the form
    every chain so far was written in. The details are stored as the very text hashed."""
    details = {
        "zeta": [1, 2.5, None, True],
        "Ärende": {"b": 'rad\nbrytning "citat" \\', "a": "\u00e5\u2028"},
        "content": {"rows": [{"grade": "VG", "pnr": "x"}]},
    }
    with app.db.session() as session:
        recorded = [
            audit.record(session, actor="lärare1", action="test.a", details=details),
            audit.record(session, actor="a", action="list.results", listnr=None, admin=True),
        ]
    with app.db.session() as session:
        stored = session.execute(
            text("SELECT id, CAST(details AS TEXT) AS details FROM audit_events ORDER BY id")
        ).all()
        events = {e.id: e for e in session.query(AuditEvent)}
    for event in recorded:
        body = {
            "at": event.at.isoformat(timespec="microseconds"),
            "actor": event.actor,
            "action": event.action,
            "listnr": event.listnr,
            "admin": event.admin,
            "details": event.details,
        }
        plain = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
        assert event.hash == hashlib.sha256(event.prev_hash.encode("ascii") + plain).hexdigest()
        assert audit.event_hash(event.prev_hash, events[event.id]) == event.hash
    texts = {row.id: row.details for row in stored}
    assert json.loads(texts[recorded[0].id]) == details
    assert texts[recorded[0].id] == json.dumps(details, sort_keys=True, ensure_ascii=False)
    with app.db.session() as session:
        assert audit.verify_chain(session).ok


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_transaction_takes_the_chain_only_at_its_commit(app: App) -> None:
    """An open transaction that has recorded an event does not hold the chain's lock: another
    worker records and commits meanwhile (with the lock taken at record, the second
    transaction waits on the first and times out here). Reading the log appends first."""
    with app.db.session() as first:
        early = audit.record(first, actor="a", action="test.first")
        count = text("SELECT count(*) FROM audit_events")
        assert first.execute(count).scalar_one() == 0 and early.id is None
        with app.db.session() as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            late = audit.record(second, actor="b", action="test.second")
        assert late.id is not None and early.id is None
        seen = first.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars()
        assert list(seen) == ["test.second", "test.first"] and early.id is not None
    assert early.prev_hash == late.hash
    with app.db.session() as session:
        check = audit.verify_chain(session)
    assert check.ok and check.events == 2 and check.last_hash == early.hash


def test_the_events_of_a_transaction_rolled_back_never_join_the_chain(app: App) -> None:
    with pytest.raises(RuntimeError), app.db.session() as session:
        gone = audit.record(session, actor="a", action="test.gone")
        raise RuntimeError("the caller fails after recording")
    with app.db.session() as session:
        kept = audit.record(session, actor="a", action="test.kept")
        other = audit.record(session, actor="a", action="test.kept-too", listnr=7)
    with app.db.session() as session:
        rows = session.execute(select(AuditEvent.id, AuditEvent.action).order_by(AuditEvent.id))
        assert [r.action for r in rows] == ["test.kept", "test.kept-too"]
        check = audit.verify_chain(session)
    assert gone.id is None and kept.prev_hash == audit.GENESIS and other.prev_hash == kept.hash
    assert check.ok and check.events == 2 and check.last_id == other.id


def test_audit_chain_detects_a_deleted_row(app: App) -> None:
    with app.db.session() as session:
        for i in range(3):
            audit.record(session, actor="a", action=f"test.{i}")
        ids = [e.id for e in session.query(AuditEvent).order_by(AuditEvent.id)]
    with app.db.session() as session:
        session.query(AuditEvent).filter(AuditEvent.id == ids[1]).delete()
    with app.db.session() as session:
        check = audit.verify_chain(session)
    assert not check.ok and check.first_broken_id == ids[2]


def test_upgrade_from_the_first_revision_keeps_data(db_url: str) -> None:
    """A database made by an earlier release, with lists in it, upgrades in place."""
    from alembic import command

    from pipeline.db import Database, alembic_config, make_engine

    engine = make_engine(db_url)
    with engine.begin() as conn:
        cfg = alembic_config(db_url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text(
                "INSERT INTO courses (id, code, name_sv, name_en, credits, scale, start_date) "
                "VALUES (1, 'DV1599', 'Programmering', 'Programming', 7.5, 'TH', '2026-08-31')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO result_lists (id, listnr, kind, course_id, term, state, version, "
                "reporter, created_at, updated_at) VALUES (1, 1001, 't33', 1, 'HT2026', "
                "'draft', 1, 'anna', '2026-11-01 10:00:00', '2026-11-01 10:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO students (id, pnr, first_name, last_name) "
                "VALUES (1, '199001011239', 'Åsa', 'Öberg')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO list_entries (id, list_id, student_id, position, removed) "
                "VALUES (1, 1, 1, 1, false)"
            )
        )
    engine.dispose()
    db = Database(db_url)
    db.migrate()
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT listnr, state, options FROM result_lists")).one()
        assert row[0] == 1001 and row[1] == "draft"
        assert conn.execute(text("SELECT count(*) FROM list_entries")).scalar_one() == 1
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    db.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_write_in_a_read_only_session_fails_loudly(app: App) -> None:
    # SQLite's read-only sessions run on their own engine with PRAGMA query_only.
    with (
        pytest.raises(OperationalError, match=r"readonly|read-only|query_only"),
        app.db.read_session() as session,
    ):
        session.execute(update(AuditEvent).values(actor="x"))
