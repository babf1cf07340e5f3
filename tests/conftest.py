"""Shared fixtures: real workspaces in temporary folders on SQLite and, where a server answers
on 127.0.0.1:5432, on PostgreSQL (each test in a schema of its own)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipeline.app import App
from pipeline.settings import DATABASE_ENV, create_workspace

pytest_plugins = ["tests.fake_twilio", "tests.smtp_server", "tests.dovecot"]

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_BASE_URL = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test"


def postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


PG_AVAILABLE = postgres_reachable()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for one test: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'test.db'}"
        return
    if not PG_AVAILABLE:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def workspace(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace (config, runtime folders, key) using this test's database."""
    root = tmp_path / "ws"
    create_workspace(root)
    config = root / "resultat.toml"
    # Files in tests are complete when written; a short stability delay keeps the suite quick.
    config.write_text(
        config.read_text(encoding="utf-8").replace("stable_seconds = 1.0", "stable_seconds = 0.1"),
        encoding="utf-8",
    )
    monkeypatch.setenv(DATABASE_ENV, db_url)
    monkeypatch.delenv("RESULTAT_HOME", raising=False)
    monkeypatch.delenv("RESULTAT_HMAC_KEY", raising=False)
    return root


@pytest.fixture
def app(workspace: Path) -> Iterator[App]:
    application = App.open(workspace, actor="testadmin", admin=True)
    try:
        yield application
    finally:
        application.close()
