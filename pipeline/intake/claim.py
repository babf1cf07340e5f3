"""Files in ``inbox/``: which are taken, when, and claiming one for processing.

Owns which names are ignored (editors' lock and temporary files), which drops are strays
(other dot-files, symlinks: answered and set aside, never taken), when a file is stable
enough to take, claiming it by atomic rename into ``inbox/.processing/`` under an exclusive
lock, and where the original ends up (``inbox/.processed/`` or ``inbox/.rejected/``, never
deleted). What happens to a claimed file is :mod:`pipeline.intake.stages`'.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import fnmatch
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline.models import FileOutcome
from pipeline.shown import shown

log = logging.getLogger("resultat.inbox")

PROCESSING: Final = ".processing"
PROCESSED: Final = ".processed"
REJECTED: Final = ".rejected"
SEPARATOR: Final = "__"
#: In a claim id, before the owner of the folder the file came from (``<time>-<rand>@<owner>``;
#: usernames have no "@").
OWNER_MARK: Final = "@"
SET_ASIDE: Final = ".set-aside"
#: The inbox's own areas (directories at its top): never scanned as drops.
AREAS: Final = frozenset({PROCESSING, PROCESSED, REJECTED, SET_ASIDE})
#: Names ignored silently wherever they are (never taken, never answered): lock files and
#: temporaries of Excel and LibreOffice and other editors, partial downloads, OS litter that
#: is not a dot-file. They go away when the editor closes the file.
IGNORED_PATTERNS: Final = (
    "~$*",
    ".~lock.*#",
    "~*.tmp",
    "~*",
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.swp",
    "*~",
    "Thumbs.db",
    "desktop.ini",
)


def is_ignored(name: str) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in IGNORED_PATTERNS)


def is_stray(path: Path) -> bool:
    """A drop that is answered but never taken: any other dot-file (hidden) or a symlink
    (never followed). It is set aside with a receipt (:mod:`pipeline.intake.set_aside`)."""
    return path.name.startswith(".") or path.is_symlink()


def candidates(inbox: Path, *, shared: bool = True) -> list[Path]:
    """What was dropped directly in each person's folder ``inbox/<username>/`` and (when
    ``shared``) in ``inbox`` itself: regular files, and the strays to set aside (dot-files
    and symlinks, see :func:`is_stray`); ignored names left out, symlinks never followed."""
    found: list[Path] = []
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return found
    for entry in entries:
        if is_ignored(entry.name) or entry.name in AREAS:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith("."):  # no username begins with a dot
                    found.extend(_files_in(Path(entry.path)))
            elif shared and _droppable(entry):
                found.append(Path(entry.path))
        except OSError:
            continue
    found.sort(key=lambda p: (p.parent.name if p.parent != inbox else "", p.name))
    return found


def _droppable(entry: os.DirEntry[str]) -> bool:
    """A regular file or a symlink (to anything: it is set aside, never followed)."""
    return entry.is_symlink() or entry.is_file(follow_symlinks=False)


def _files_in(folder: Path) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found = []
    for entry in entries:
        if is_ignored(entry.name):
            continue
        try:
            if _droppable(entry):
                found.append(Path(entry.path))
        except OSError:
            continue
    return found


class StabilityTracker:
    """Decides when a file has stopped changing.

    A file is stable when its size and modification time have not changed for ``delay``
    seconds of observation, or (unless ``strict``, as on network shares with other clocks)
    when its modification time is already older than ``delay``. A close-after-write event
    from the OS shortens the wait to ``settle`` seconds.
    """

    def __init__(
        self,
        delay: float,
        *,
        strict: bool = False,
        settle: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delay = delay
        self.strict = strict
        self.settle = min(settle, delay)
        self.clock = clock
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}
        self._closed: set[Path] = set()

    def mark_closed(self, path: Path) -> None:
        self._closed.add(path)

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)
        self._closed.discard(path)

    @property
    def pending(self) -> int:
        return len(self._seen)

    def observe(self, paths: Iterable[Path]) -> list[Path]:
        now = self.clock()
        stable: list[Path] = []
        current = set()
        for path in paths:
            try:
                st = path.stat(follow_symlinks=False)
            except OSError:
                self.forget(path)
                continue
            current.add(path)
            signature = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(path)
            if previous is None or previous[0] != signature:
                self._seen[path] = (signature, now)
                if not self.strict and time.time() - st.st_mtime >= self.delay:
                    stable.append(path)
                continue
            wait = self.settle if path in self._closed else self.delay
            if now - previous[1] >= wait:
                stable.append(path)
        for gone in set(self._seen) - current:
            self.forget(gone)
        for path in stable:
            self.forget(path)
        return stable


@dataclass
class Claimed:
    """A file taken for processing. ``lock`` is an open descriptor holding an exclusive
    ``flock`` on the file until it is moved out of the processing area: other workers skip a
    locked file, and the kernel releases the lock when a worker dies (even by SIGKILL), so
    the next pass can finish what it left."""

    path: Path
    original_name: str
    claim_id: str
    lock: int | None = None
    #: Whose folder it was dropped in (``inbox/<owner>/``); ``None`` for the shared inbox.
    owner: str | None = None

    def release(self) -> None:
        if self.lock is not None:
            with contextlib.suppress(OSError):
                os.close(self.lock)
            self.lock = None


def try_lock(path: Path) -> int | None:
    """An exclusive, non-blocking lock on ``path`` (never following a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim(inbox: Path, path: Path) -> Claimed | None:
    """Lock ``path`` and move it into the processing area; ``None`` if another worker got it
    first. The lock is taken before the rename, so a file in the processing area is never
    seen unlocked while its worker lives."""
    area = inbox / PROCESSING
    area.mkdir(exist_ok=True)
    fd = try_lock(path)
    if fd is None:
        return None
    owner = owner_of(inbox, path)
    claim_id = new_claim_id(owner)
    target = area / claimed_name(claim_id, path.name)
    try:
        os.rename(path, target)
    except FileNotFoundError:
        os.close(fd)
        return None
    except OSError:
        # Never let one odd file stop the daemon: it stays in the inbox, and is logged.
        os.close(fd)
        log.exception("cannot claim %s", shown(display_name(path.name)))
        return None
    return Claimed(target, path.name, claim_id, fd, owner)


def owner_of(inbox: Path, path: Path) -> str | None:
    """Whose folder ``path`` was dropped in (``None``: the shared inbox)."""
    return path.parent.name if path.parent != inbox else None


def new_claim_id(owner: str | None) -> str:
    """A fresh claim id: ``<time>-<random>``, with ``@<owner>`` for a person's folder."""
    claim_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    return claim_id if owner is None else f"{claim_id}{OWNER_MARK}{owner}"


def claimed_name(claim_id: str, name: str) -> str:
    """``<claim id>__<name>``, the name shortened to fit in 255 bytes."""
    return f"{claim_id}{SEPARATOR}{_fitting(name, claim_id)}"


def move_aside(inbox: Path, path: Path) -> tuple[Path, str] | None:
    """Move the stray ``path`` into ``inbox/.set-aside/`` under a new claim id: the name moves
    (a symlink as the link itself, never followed). ``(where it is kept, claim id)``, or
    ``None`` when another worker moved it first or it cannot be moved (logged)."""
    claim_id = new_claim_id(owner_of(inbox, path))
    area = inbox / SET_ASIDE
    area.mkdir(exist_ok=True, mode=0o750)
    target = area / claimed_name(claim_id, path.name)
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    except OSError:
        log.exception("cannot set aside %s", shown(display_name(path.name)))
        return None
    return target, claim_id


def parse_claimed(name: str) -> tuple[str, str | None, str]:
    """``(claim id, owner, original name)`` of a file in the processing area (as named by
    :func:`claim`): what a recovery needs to finish it as its worker would have."""
    claim_id, original = name.split(SEPARATOR, 1)
    owner = claim_id.split(OWNER_MARK, 1)[1] if OWNER_MARK in claim_id else None
    return claim_id, owner, original


def _fitting(name: str, claim_id: str) -> str:
    """The name shortened (keeping its extension) so ``<claim>__<name>`` fits in 255 bytes."""
    room = 255 - len(claim_id.encode()) - len(SEPARATOR)
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= room:
        return name
    _stem, dot, ext = name.rpartition(".")
    ext_bytes = (dot + ext).encode("utf-8", "surrogateescape") if dot and len(ext) < 10 else b""
    keep = raw[: room - len(ext_bytes)]
    return (keep + ext_bytes).decode("utf-8", "ignore")


def display_name(name: str) -> str:
    """A file name as text that can be stored and shown (bytes that are not UTF-8 replaced)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def destination(inbox: Path, claimed: Claimed, outcome: FileOutcome) -> Path:
    """Where the original of ``claimed`` is kept once its outcome is known."""
    area = REJECTED if outcome == FileOutcome.REJECTED else PROCESSED
    return inbox / area / claimed.path.name
