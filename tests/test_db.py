"""Database: migrations match the models on both engines; the audit chain detects changes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text, update

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

    from pipeline.db import MIGRATIONS_DIR, alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert version == head and MIGRATIONS_DIR.is_dir()


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
