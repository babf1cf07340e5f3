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
    settings: Settings
    db: Database
    actor: str

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        actor: str | None = None,
        migrate: bool = True,
        env: dict[str, str] | None = None,
    ) -> App:
        settings = settings_mod.load(root, env)
        sink = head_sink(settings.seal_path("key"), settings.head_path)
        db = Database(settings.database_url, info={HEAD_SINK: sink})
        if migrate:
            db.migrate()
        return cls(settings=settings, db=db, actor=actor or current_user())

    @property
    def root(self) -> Path:
        return self.settings.root

    def close(self) -> None:
        self.db.dispose()


def require_admin(admin: bool, what: str) -> None:
    """Refuse an administration-mode action unless ``--admin`` was given on this call."""
    if not admin:
        raise AdminRequired.text("errors.admin-required", what=what)
