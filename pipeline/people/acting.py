"""Who is acting on a command line: the OS login mapped through the staff directory.

Owns :func:`resolve`: the login of the process (``RESULTAT_USER`` aside, for services and
tests) is looked up as a file-server login (``os_login``, else the username); a login not in
the directory is refused with a message saying so. ``--as`` is administration mode only and
makes the actor "A acting as B" for the audit log (:func:`audit_name`). Opening the workspace
is the CLI's.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.db import Database
from pipeline.errors import AdminRequired, NotFound
from pipeline.people import directory


@dataclass(frozen=True)
class Acting:
    """The person acting (``username``) and, under ``--as``, the administrator behind them."""

    username: str
    on_behalf_by: str | None = None

    @property
    def audit_name(self) -> str:
        """As the audit log records it: ``admin as username`` under ``--as``."""
        if self.on_behalf_by:
            return f"{self.on_behalf_by} acting as {self.username}"
        return self.username


def resolve(db: Database, login: str, *, as_user: str | None, admin: bool) -> Acting:
    """The acting person for ``login``; ``as_user`` needs ``admin``."""
    with db.read_session() as session:
        me = directory.by_login(session, login)
        if as_user is not None:
            if not admin:
                raise AdminRequired.text("people.as-needs-admin", user=as_user)
            other = directory.person(session, as_user)
            if other is None:
                raise NotFound.text("errors.no-staff", username=as_user)
            return Acting(other.username, on_behalf_by=me.username if me else login)
        if me is None:
            raise NotFound.text("people.login-unknown", login=login)
        return Acting(me.username)
