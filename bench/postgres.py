"""The batch intake on PostgreSQL (issue 19, item 6: ``--workers 2`` >= 1.6x one process).

The template workspace is made on SQLite (``bench/data.py``); its database is copied once per
benchmark run into the PostgreSQL database ``resultat_bench_template`` (the schema by the
migrations, then every table's rows through SQLAlchemy Core, then the id sequences moved past
the copied rows). Each run then starts from ``CREATE DATABASE resultat_bench_run TEMPLATE
resultat_bench_template``, the PostgreSQL way of a fresh copy, and the run's workspace names it
in its ``resultat.toml``.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Final

from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.engine import make_url

from bench import data as bench_data
from bench import measure
from pipeline.db import make_engine, migrate
from pipeline.models import Base

#: The server the tests use: 127.0.0.1:5432, trust auth.
DEFAULT_SERVER: Final = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEMPLATE_DB: Final = "resultat_bench_template"
RUN_DB: Final = "resultat_bench_run"
_CHUNK: Final = 5_000


def reachable(server: str) -> bool:
    url = make_url(server)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _database_url(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _recreate(server: str, name: str, *, template: str | None = None) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            made_from = f' TEMPLATE "{template}"' if template else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{made_from}'))
    finally:
        admin.dispose()


def make_template(data: bench_data.Dataset, server: str) -> None:
    """Copy the template workspace's SQLite database into ``resultat_bench_template``."""
    _recreate(server, TEMPLATE_DB)
    source = make_engine(f"sqlite:///{data.template / 'var' / 'resultat.db'}", immediate=False)
    target = create_engine(_database_url(server, TEMPLATE_DB))
    try:
        migrate(target)
        with source.connect() as reading, target.begin() as writing:
            for table in Base.metadata.sorted_tables:
                rows = reading.execute(select(table)).mappings()
                while chunk := [dict(r) for r in rows.fetchmany(_CHUNK)]:
                    writing.execute(insert(table), chunk)
            for name in inspect(writing).get_table_names():
                columns = {c["name"] for c in inspect(writing).get_columns(name)}
                if "id" in columns:
                    writing.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
                        )
                    )
    finally:
        source.dispose()
        target.dispose()


def batch_intake(
    data: bench_data.Dataset,
    workdir: Path,
    rows_per_list: int,
    server: str,
    *,
    workers: int | None = None,
) -> measure.BatchRun:
    """As :func:`bench.measure.batch_intake`, on a fresh copy of the template in PostgreSQL."""
    ws = bench_data.fresh_workspace(data, workdir / "batch-pg")
    for copied in (ws / "var").glob("*.db*"):
        copied.unlink()  # nothing may read the SQLite copy by mistake
    _recreate(server, RUN_DB, template=TEMPLATE_DB)
    config = ws / "resultat.toml"
    url = _database_url(server, RUN_DB)
    config.write_text(
        re.sub(r'(?m)^url = "sqlite:[^"]*"', f'url = "{url}"', config.read_text("utf-8")),
        encoding="utf-8",
    )
    bench_data.drop(data.batch, ws)
    run, results = measure.process_cli(ws, workers=workers)
    measure.require_accepted(results, len(data.batch), "batch intake (PostgreSQL)")
    return measure.BatchRun(
        len(data.batch), len(data.batch) * rows_per_list, run.wall, run.peak_rss_mb, run.cpu
    )
