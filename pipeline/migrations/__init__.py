"""Alembic's migrations of the schema, one file per revision (``versions/NNNN_<slug>.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent


def head_revision() -> str:
    """The newest revision shipped (revision files are named ``NNNN_<slug>.py``)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))
