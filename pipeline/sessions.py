"""Small helpers around SQLAlchemy sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, object_session


def session_of(instance: Any) -> Session:
    """The session an ORM object belongs to (it must belong to one)."""
    session = object_session(instance)
    if session is None:
        raise RuntimeError(f"{instance!r} is not attached to a session")
    return session
