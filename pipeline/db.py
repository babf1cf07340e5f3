"""Database connection and schema migrations.

Owns creating engines and sessions for a workspace and bringing its schema to the newest
Alembic revision. The same code runs on SQLite (default, under ``var/``) and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from pipeline.migrations import MIGRATIONS_DIR, head_revision


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock at the start, so two processes never both read and then both fail
    # to upgrade to a writer (SQLite's "database is locked" on lock upgrade).
    _queue_for_writing(connection)
    connection.exec_driver_sql("BEGIN IMMEDIATE")


#: Longest wait for another writer (SQLite's own busy timeout is the same).
WRITE_WAIT_SECONDS: Final = 30.0


def _queue_for_writing(connection: Any) -> None:
    """Wait for the writers ahead (other processes or threads) on a lock file beside the
    database, polled every half millisecond. SQLite's own busy handler sleeps 1, 2, 5 ... 100
    ms between tries, so with several workers much of the time went to sleeping while the
    database was free. Held until the connection goes back to the pool (after the commit)."""
    info = connection.info
    path = info.get("write_lock_path")
    if path is None or "write_lock_fd" in info:
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    deadline = time.monotonic() + WRITE_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                break  # SQLite's busy timeout decides, as without the lock file
            time.sleep(0.0005)
    info["write_lock_fd"] = fd


def _leave_writing(_dbapi_connection: Any, record: Any) -> None:
    fd = record.info.pop("write_lock_fd", None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the lock


def _write_lock_file(path: str) -> Any:
    def on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["write_lock_path"] = path

    return on_connect


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    # A write through a read-only session fails loudly instead of being rolled back unseen.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


class JsonText(str):
    """JSON text serialised already (the audit log's canonical details, a few MB for a large
    list): a JSON column of an engine from :func:`make_engine` stores it as it is."""


def _to_json(value: Any) -> str:
    # SQLAlchemy's own default is json.dumps; the one difference is JsonText, passed through.
    return str(value) if type(value) is JsonText else json.dumps(value)


def stores_json_text(session: Session) -> bool:
    """Whether ``session``'s engine takes :class:`JsonText` for a JSON column (it was made by
    :func:`make_engine`). Otherwise the caller binds the value itself, which is always right."""
    return getattr(session.get_bind().dialect, "_json_serializer", None) is _to_json


def make_engine(url: str, *, immediate: bool = True) -> Engine:
    """An engine for ``url``. On SQLite every transaction takes the write lock at its start
    (``immediate``); an engine made with ``immediate=False`` is for read-only sessions, whose
    deferred transactions read a snapshot in WAL mode without waiting for any writer."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if path and path != ":memory:":
            # The database holds every personnummer and grade: private to the service.
            db_file = Path(path)
            if not db_file.exists():
                os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT, 0o640))
            with contextlib.suppress(OSError):
                db_file.chmod(0o640)
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=_to_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate if immediate else _sqlite_begin)
        if not immediate:
            event.listen(engine, "connect", _sqlite_read_only)
        if immediate and path and path != ":memory:":
            event.listen(engine, "connect", _write_lock_file(f"{path}.write-lock"))
            event.listen(engine, "checkin", _leave_writing)
            event.listen(engine, "close", _leave_writing)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_to_json)


def alembic_config(url: str) -> Any:
    from alembic.config import Config  # lazy, kept for start-up time

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    from sqlalchemy import inspect, text  # lazy, kept for start-up time

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision (creating it on an empty database).

    When the database is already at the newest revision, Alembic is not even loaded: this
    runs at the start of every command."""
    if current_revision(engine) == head_revision():
        return
    from alembic import command  # lazy, kept for start-up time

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


class Database:
    """An engine plus a session factory for one workspace."""

    def __init__(self, url: str, *, info: dict[str, Any] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        # ``info`` is every session's: the audit log's head sink (pipeline.audit) lives there.
        self._factory = sessionmaker(self.engine, expire_on_commit=False, info=info or {})
        self._read_engine: Engine | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only: never commits (whatever it did is rolled back), and
        on SQLite it does not take the write lock, so readers never queue behind writers."""
        if self._read_engine is None:
            self._read_engine = (
                make_engine(self.url, immediate=False)
                if self.engine.dialect.name == "sqlite"
                else self.engine
            )
        session = Session(self._read_engine, expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()  # ends (rolls back) the transaction; loaded objects stay readable

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not None and self._read_engine is not self.engine:
            self._read_engine.dispose()
