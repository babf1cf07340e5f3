"""Each person's folders: ``inbox/<username>/`` to drop files in, ``outbox/<username>/`` to
receive them; the student office's ``inbox/utbildningsstod/`` and ``outbox/utbildningsstod/``.

Owns where those folders are, making them for everyone in the staff directory (by ``init`` and
by each registry import), and telling whose folder a dropped file came from. What is put in an
outbox is :mod:`pipeline.people.delivery`'s; serving the folders (Samba) is the administrator's
(README, "The file server").
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Final

from pipeline.people.directory import OFFICE
from pipeline.settings import Settings

#: A folder name that can be a person's: one path component, not hidden (the staff file's
#: usernames are stricter; rows put in by other means may hold any letters).
_OWNER: Final = re.compile(r"^[^./\\\x00][^/\\\x00]{0,99}$")


def inbox_of(settings: Settings, owner: str) -> Path:
    """Where ``owner`` (a username, or :data:`OFFICE`) drops files."""
    return settings.inbox / owner


def outbox_of(settings: Settings, owner: str) -> Path:
    """Where everything for ``owner`` (a username, or :data:`OFFICE`) arrives."""
    return settings.outbox / owner


def office_outbox(settings: Settings) -> Path:
    """The student office's outbox: LADOK files, archive lists to print, the overview."""
    return outbox_of(settings, OFFICE)


def is_owner_name(name: str) -> bool:
    """Could ``name`` be a person's folder (not hidden, a valid username)?"""
    return bool(_OWNER.match(name)) and ".." not in name


def make(settings: Settings, owners: list[str]) -> list[Path]:
    """Make the inbox and outbox folders of ``owners`` and of the office; returns those made.

    Folders are group-accessible (0o770): the file server gives each person theirs."""
    made: list[Path] = []
    for owner in [*owners, OFFICE]:
        if not is_owner_name(owner):
            continue
        for folder in (inbox_of(settings, owner), outbox_of(settings, owner)):
            if folder.is_dir():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                folder.chmod(0o770)
            made.append(folder)
    return made


def owner_of(settings: Settings, path: Path) -> str | None:
    """Whose inbox folder ``path`` (a file directly in it) is in: ``None`` for the shared
    top-level inbox."""
    parent = path.parent
    if parent == settings.inbox:
        return None
    if parent.parent == settings.inbox and is_owner_name(parent.name):
        return parent.name
    return None
