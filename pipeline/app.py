"""An opened workspace: settings, database and the acting user, handed to every operation.

The CLI opens one :class:`App` per command; library code takes it as an argument and never
reads the environment or prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline import settings as settings_mod
from pipeline.audit import HEAD_SINK, current_user
from pipeline.db import Database
from pipeline.errors import AdminRequired
from pipeline.seal import head_sink
from pipeline.settings import Settings


@dataclass
class App:
    """``actor`` is who the audit log names ("A acting as B" under ``--as``); ``username`` the
    person whose rights and folders count (the actor's username when not acting for someone);
    ``admin`` is administration mode for this call (``--admin``), which passes the role rules
    of :mod:`pipeline.people.roles`."""

    settings: Settings
    db: Database
    actor: str
    username: str = ""
    admin: bool = False
    #: A person acts in their own right (a file from their folder, their mail): the audit
    #: log names them rather than whom the workbook names.
    in_person: bool = False

    def __post_init__(self) -> None:
        if not self.username:
            self.username = self.actor

    def acting(self, username: str) -> App:
        """The same workspace with ``username`` acting (a file in their folder, their mail)."""
        return App(
            settings=self.settings, db=self.db, actor=username, username=username, in_person=True
        )

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        actor: str | None = None,
        username: str | None = None,
        admin: bool = False,
        migrate: bool = True,
        env: dict[str, str] | None = None,
    ) -> App:
        settings = settings_mod.load(root, env)
        sink = head_sink(settings.seal_path("key"), settings.head_path)
        db = Database(settings.database_url, info={HEAD_SINK: sink})
        if migrate:
            db.migrate()
        actor = actor or current_user()
        return cls(settings=settings, db=db, actor=actor, username=username or actor, admin=admin)

    @property
    def root(self) -> Path:
        return self.settings.root

    def close(self) -> None:
        self.db.dispose()


def require_admin(admin: bool, what: str) -> None:
    """Refuse an administration-mode action unless ``--admin`` was given on this call."""
    if not admin:
        raise AdminRequired.text("errors.admin-required", what=what)
