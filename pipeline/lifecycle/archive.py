"""Archive packages: a signed result list as a self-contained, verifiable BagIt package.

Owns ``archive/<year>/<listnr>/``: building a package (:func:`create_package`) and finding
packages (:func:`find_packages`); checking them is :mod:`pipeline.lifecycle.verify`'s.
A package is a BagIt bag made with the Library of Congress's
``bagit`` library, with SHA-256 and SHA-512 manifests, so ``bagit.py --validate`` checks it
without this system. It always carries ``data/audit/events.json``: every audit event of its
list with the hashes that chain them, so the package holds its own history and each event's
hash can be recomputed from the package alone.

Each package is sealed: ``tagmanifest-sha256.txt.sig`` is the workspace seal's Ed25519
signature of the tag manifest (which covers ``bag-info.txt`` and, through the payload
manifests, every file), and ``bag-info.txt`` names the chain's head at archiving time
(``Audit-Chain-Head``, signed) and the seal key's fingerprint (``Seal-Key-SHA256``). Anyone can
check the seal without this system: ``openssl pkeyutl -verify -pubin -inkey
archive/seal-public.pem -rawin -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig``.

Archive folders are append-only: a package is built in a temporary folder beside its target,
validated, and renamed into place in one step; an existing package is never rewritten.

Left to callers: deciding *when* a list is archived (after the examiner signed the paper list),
which files go in, the list's state change and its audit event. Call :func:`create_package`
outside an open database session: it reads the audit log in a transaction of its own, and on
SQLite every transaction takes the write lock.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

import bagit
from sqlalchemy import select

from pipeline import seal
from pipeline.app import App
from pipeline.errors import InvalidRequest, ResultatError
from pipeline.models import AuditEvent
from pipeline.texts import t

CHECKSUMS: Final = ("sha256", "sha512")
EVENTS_NAME: Final = "audit/events.json"
EVENTS_FORMAT: Final = "resultat-audit-events/1"
FILE_MODE: Final = 0o640
DIR_MODE: Final = 0o750
TMP_PREFIX: Final = ".tmp-"
#: The seal's detached Ed25519 signature of ``tagmanifest-sha256.txt`` (raw, 64 bytes).
SIGNATURE_NAME: Final = "tagmanifest-sha256.txt.sig"
SIGNED_NAME: Final = "tagmanifest-sha256.txt"
# Everything bagit writes beside data/, and the seal's signature; anything else in a package's
# top folder is a problem.
TAG_FILES: Final = frozenset(
    {"bagit.txt", "bag-info.txt", SIGNATURE_NAME}
    | {f"manifest-{alg}.txt" for alg in CHECKSUMS}
    | {f"tagmanifest-{alg}.txt" for alg in CHECKSUMS}
)
# bagit.make_bag changes the process's working directory while it runs; one bag at a time.
_MAKE_BAG_LOCK: Final = threading.Lock()
EVENT_FIELDS: Final = (
    "id",
    "at",
    "actor",
    "action",
    "listnr",
    "admin",
    "details",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class PackageFile:
    """One payload file: ``name`` is its path inside ``data/``; give ``source`` or ``content``."""

    name: str
    source: Path | None = None
    content: bytes | None = None


# --------------------------------------------------------------------------- creating


def package_path(app: App, listnr: int, *, year: int) -> Path:
    """Where the package of ``listnr`` archived in ``year`` lives: ``archive/<year>/<listnr>``."""
    return app.settings.archive / str(year) / str(listnr)


def create_package(
    app: App,
    listnr: int,
    files: Sequence[PackageFile],
    *,
    year: int,
    bag_info: dict[str, str],
) -> Path:
    """Build, validate and atomically move into place the package of one list.

    Adds ``data/audit/events.json`` (every audit event of ``listnr``, in id order, from the
    database). Refuses with :class:`InvalidRequest` when the package already exists, when a
    name is absolute, contains ``..`` or is given twice, or when a source file is missing.
    Nothing is left behind on failure.
    """
    if listnr <= 0 or not 1000 <= year <= 9999:
        raise InvalidRequest(_text(app, "bad-listnr-or-year", listnr=listnr, year=year))
    _check_files(app, files)
    info = _check_bag_info(app, bag_info, listnr=listnr, year=year)
    target = package_path(app, listnr, year=year)
    _refuse_existing(app, target, listnr)
    events, head = _events_document(app, listnr)
    key = seal.load_key(app.settings.seal_path("key"))
    seal.export_public(key, app.settings.archive)
    if head is not None:
        signed_head = seal.sign_head(key, *head)
        info["Audit-Chain-Head"] = f"{head[0]} {head[1]}"
        info["Audit-Chain-Head-Signature"] = signed_head.as_dict()["signature"]
    info["Seal-Key-SHA256"] = seal.fingerprint(key.public_key())

    year_dir = target.parent
    year_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{listnr}-", dir=year_dir))
    try:
        for item in files:
            _write_payload(tmp / item.name, item)
        _write_payload(tmp / EVENTS_NAME, PackageFile(EVENTS_NAME, content=events))
        with _MAKE_BAG_LOCK:
            bagit.make_bag(str(tmp), bag_info=info, checksums=list(CHECKSUMS))
        (tmp / SIGNATURE_NAME).write_bytes(key.sign((tmp / SIGNED_NAME).read_bytes()))
        _set_modes(tmp)
        _fsync_tree(tmp)
        bagit.Bag(str(tmp)).validate(fast=False)
        _refuse_existing(app, target, listnr)
        try:
            # rename(2) onto a non-empty folder fails, so a racing writer cannot replace ours.
            os.rename(tmp, target)
        except OSError as exc:
            raise InvalidRequest(
                _text(app, "rename-failed", target=target, reason=exc.strerror)
            ) from exc
        _fsync_dir(year_dir)
    except bagit.BagError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ResultatError(_text(app, "invalid-package", listnr=listnr, detail=exc)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _text(app: App, slug: str, **params: Any) -> str:
    return t(f"lifecycle.archive.{slug}", app.settings.language, app.root, **params)


def _refuse_existing(app: App, target: Path, listnr: int) -> None:
    if target.exists() or target.is_symlink():
        raise InvalidRequest(_text(app, "already-archived", listnr=listnr, target=target))


def _check_files(app: App, files: Sequence[PackageFile]) -> None:
    seen: set[PurePosixPath] = set()
    for item in files:
        name = _safe_name(app, item.name)
        if name == PurePosixPath(EVENTS_NAME):
            raise InvalidRequest(_text(app, "events-reserved", name=EVENTS_NAME))
        if name in seen:
            raise InvalidRequest(_text(app, "name-twice", name=item.name))
        seen.add(name)
        if (item.source is None) == (item.content is None):
            raise InvalidRequest(_text(app, "source-or-content", name=item.name))
        if item.source is not None and not item.source.is_file():
            raise InvalidRequest(_text(app, "source-missing", name=item.name, source=item.source))
    every = seen | {PurePosixPath(EVENTS_NAME)}
    for name in every:
        for parent in name.parents:
            if parent in every:
                raise InvalidRequest(_text(app, "file-and-folder", name=parent))


def _safe_name(app: App, name: str) -> PurePosixPath:
    """A payload name as a path, refused unless it is plainly relative and stays inside data/."""
    bad = (
        not name
        or name.startswith("/")
        or "\\" in name
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
    )
    parts = name.split("/")
    if bad or any(part in ("", ".", "..") for part in parts):
        raise InvalidRequest(_text(app, "bad-name", name=name))
    return PurePosixPath(name)


def _check_bag_info(
    app: App, bag_info: dict[str, str], *, listnr: int, year: int
) -> dict[str, str]:
    info = {"External-Identifier": f"resultat/{year}/{listnr}"}
    for key, value in bag_info.items():
        if not key or ":" in key or key != key.strip() or any(c in key for c in "\r\n"):
            raise InvalidRequest(_text(app, "bad-label", key=key))
        if key == "Payload-Oxum":
            raise InvalidRequest(_text(app, "oxum"))
        if "\n" in value or "\r" in value:
            raise InvalidRequest(_text(app, "multi-line", key=key))
        info[key] = value
    return info


def _events_document(app: App, listnr: int) -> tuple[bytes, tuple[int, str] | None]:
    """The list's events as ``events.json``, and the chain's head (id, hash) when read."""
    with app.db.session() as session:
        last = session.execute(
            select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ).first()
        events = session.execute(
            select(AuditEvent).where(AuditEvent.listnr == listnr).order_by(AuditEvent.id)
        ).scalars()
        document = {
            "format": EVENTS_FORMAT,
            "listnr": listnr,
            "hash": "sha256 of prev_hash (ASCII) followed by the UTF-8 of json.dumps({at, actor, "
            "action, listnr, admin, details}, sort_keys=True, ensure_ascii=False), "
            "at exactly as written here",
            "events": [event_dict(event) for event in events],
        }
    data = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return data, (int(last[0]), str(last[1])) if last is not None else None


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "listnr": event.listnr,
        "admin": event.admin,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _write_payload(path: Path, item: PackageFile) -> None:
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if item.source is not None:
        shutil.copyfile(item.source, path)
    else:
        path.write_bytes(item.content or b"")


def _walk(root: Path) -> Iterable[tuple[Path, bool]]:
    """Every folder and file under ``root`` (``True`` for folders), ``root`` itself first."""
    yield root, True
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            yield Path(dirpath) / name, True
        for name in filenames:
            yield Path(dirpath) / name, False


def _set_modes(root: Path) -> None:
    for path, is_dir in _walk(root):
        path.chmod(DIR_MODE if is_dir else FILE_MODE)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder so the rename never publishes a package still in cache."""
    for path, is_dir in _walk(root):
        if is_dir:
            _fsync_dir(path)
        else:
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- finding


def bag_info_of(path: Path) -> dict[str, str]:
    """A package's ``bag-info.txt`` as a dict (first value of each label; empty if unreadable)."""
    try:
        return {
            k: (v[0] if isinstance(v, list) else v) for k, v in bagit.Bag(str(path)).info.items()
        }
    except bagit.BagError:
        return {}


def find_packages(app: App, listnr: int | None = None) -> list[Path]:
    """Package folders ``archive/<year>/<listnr>``, oldest year first; temporary folders of an
    unfinished build (``.tmp-*``) are not packages."""
    root = app.settings.archive
    if not root.is_dir():
        return []
    found: list[tuple[int, int, Path]] = []
    for year_dir in root.iterdir():
        if not (year_dir.is_dir() and year_dir.name.isdigit()):
            continue
        for package in year_dir.iterdir():
            if not (package.is_dir() and package.name.isdigit()):
                continue
            number = int(package.name)
            if listnr is None or number == listnr:
                found.append((int(year_dir.name), number, package))
    return [path for _, _, path in sorted(found)]


__all__ = [
    "PackageFile",
    "bag_info_of",
    "create_package",
    "event_dict",
    "find_packages",
    "package_path",
]
