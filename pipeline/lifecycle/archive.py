"""Archive packages: a signed result list as a self-contained, verifiable BagIt package.

Owns ``archive/<year>/<listnr>/``: building a package (:func:`create_package`), finding
packages (:func:`find_packages`) and checking them (:func:`verify_package`, :func:`verify`,
:func:`format_report`). A package is a BagIt bag made with the Library of Congress's
``bagit`` library, with SHA-256 and SHA-512 manifests, so ``bagit.py --validate`` checks it
without this system. It always carries ``data/audit/events.json``: every audit event of its
list with the hashes that chain them, so the package holds its own history and each event's
hash can be recomputed from the package alone.

Archive folders are append-only: a package is built in a temporary folder beside its target,
validated, and renamed into place in one step; an existing package is never rewritten.

Left to callers: deciding *when* a list is archived (after the examiner signed the paper list),
which files go in, the list's state change and its audit event. Call :func:`create_package`
outside an open database session: it reads the audit log in a transaction of its own, and on
SQLite every transaction takes the write lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.audit import event_hash, verify_chain
from pipeline.errors import InvalidRequest, ResultatError
from pipeline.models import AuditEvent, ListState, ResultList

CHECKSUMS: Final = ("sha256", "sha512")
EVENTS_NAME: Final = "audit/events.json"
EVENTS_FORMAT: Final = "resultat-audit-events/1"
FILE_MODE: Final = 0o640
DIR_MODE: Final = 0o750
TMP_PREFIX: Final = ".tmp-"
# Everything bagit writes beside data/; anything else in a package's top folder is a problem.
TAG_FILES: Final = frozenset(
    {"bagit.txt", "bag-info.txt"}
    | {f"manifest-{alg}.txt" for alg in CHECKSUMS}
    | {f"tagmanifest-{alg}.txt" for alg in CHECKSUMS}
)
# bagit.make_bag changes the process's working directory while it runs; one bag at a time.
_MAKE_BAG_LOCK: Final = threading.Lock()
_EVENT_FIELDS: Final = (
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


@dataclass(frozen=True)
class PackageCheck:
    """The outcome of checking one package; ``problems`` are readable lines, empty when ok."""

    listnr: int
    path: Path
    ok: bool
    problems: list[str]


@dataclass(frozen=True)
class VerifyReport:
    """Packages checked plus the whole audit chain (first broken event id when broken)."""

    packages: list[PackageCheck]
    audit_ok: bool
    audit_events: int
    audit_first_broken_id: int | None
    audit_reason: str

    @property
    def ok(self) -> bool:
        return self.audit_ok and all(check.ok for check in self.packages)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (for ``resultat verify --json``)."""
        return {
            "ok": self.ok,
            "packages": [
                {
                    "listnr": check.listnr,
                    "path": str(check.path),
                    "ok": check.ok,
                    "problems": list(check.problems),
                }
                for check in self.packages
            ],
            "audit": {
                "ok": self.audit_ok,
                "events": self.audit_events,
                "first_broken_id": self.audit_first_broken_id,
                "reason": self.audit_reason,
            },
        }


# --------------------------------------------------------------------------- texts

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "sv": {
        "not-a-bag": "Ingen giltig BagIt-mapp: {detail}",
        "bagit-failed": "BagIt-kontrollen misslyckades: {detail}",
        "checksum": "{path}: {algorithm}-kontrollsumman stämmer inte "
        "(väntad {expected}, beräknad {found})",
        "missing": "{path}: står i manifestet men saknas i paketet",
        "unexpected": "{path}: finns i paketet men står inte i manifestet",
        "tag-file-missing": "{path} saknas",
        "tag-file-unexpected": "{path}: oväntad fil i paketets översta mapp",
        "events-unreadable": "data/{events} saknas eller kan inte läsas ({detail})",
        "events-wrong-list": "data/{events} gäller lista {found}, inte {listnr}",
        "event-hash": "data/{events}: händelse {id} stämmer inte med sin kontrollsumma",
        "db-event-deleted": "Granskningshändelse {id} i paketet finns inte längre i databasen",
        "db-event-changed": "Granskningshändelse {id} har ändrats i databasen efter "
        "arkiveringen ({fields})",
        "db-event-added": "Granskningshändelse {id} för listan finns i databasen men inte i "
        "paketet",
        "archived-no-package": "Lista {listnr} är arkiverad i databasen men har inget arkivpaket",
        "heading": "Arkivpaket: {count} kontrollerade, {failed} med fel",
        "no-packages": "Arkivpaket: inga",
        "ok": "OK",
        "failed": "FEL",
        "audit-ok": "Granskningsloggen: OK, {events} händelser, kedjan obruten",
        "audit-broken": "Granskningsloggen: FEL, kedjan bruten vid händelse {id} "
        "({reason}); {events} händelser lästa",
        "summary-ok": "Resultat: allt stämmer",
        "summary-failed": "Resultat: fel hittades",
        "link to the previous event is broken": "länken till föregående händelse är bruten",
        "content does not match its hash": "innehållet stämmer inte med sin kontrollsumma",
    },
    "en": {
        "not-a-bag": "Not a valid BagIt folder: {detail}",
        "bagit-failed": "BagIt validation failed: {detail}",
        "checksum": "{path}: {algorithm} checksum does not match "
        "(expected {expected}, found {found})",
        "missing": "{path}: listed in the manifest but missing from the package",
        "unexpected": "{path}: present in the package but not listed in the manifest",
        "tag-file-missing": "{path} is missing",
        "tag-file-unexpected": "{path}: unexpected file in the package's top folder",
        "events-unreadable": "data/{events} is missing or unreadable ({detail})",
        "events-wrong-list": "data/{events} belongs to list {found}, not {listnr}",
        "event-hash": "data/{events}: event {id} does not match its hash",
        "db-event-deleted": "Audit event {id} in the package is no longer in the database",
        "db-event-changed": "Audit event {id} was changed in the database after archiving "
        "({fields})",
        "db-event-added": "Audit event {id} of this list is in the database but not in the package",
        "archived-no-package": "List {listnr} is archived in the database but has no package",
        "heading": "Archive packages: {count} checked, {failed} failed",
        "no-packages": "Archive packages: none",
        "ok": "OK",
        "failed": "FAILED",
        "audit-ok": "Audit log: OK, {events} events, chain unbroken",
        "audit-broken": "Audit log: FAILED, chain broken at event {id} ({reason}); "
        "{events} events read",
        "summary-ok": "Result: everything matches",
        "summary-failed": "Result: problems found",
    },
}


def _texts(language: str) -> dict[str, str]:
    try:
        return _TEXTS[language]
    except KeyError:
        raise InvalidRequest(f"Okänt språk / unknown language: {language!r} (sv, en)") from None


@dataclass(frozen=True)
class _Issue:
    """A problem before it is put into words; ``key`` makes duplicates from bagit and from
    our own scan collapse into one line."""

    slug: str
    params: dict[str, Any]

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.slug, tuple(sorted((k, str(v)) for k, v in self.params.items())))

    def text(self, language: str) -> str:
        return _texts(language)[self.slug].format(events=EVENTS_NAME, **self.params)


def _short(digest: object) -> str:
    text = str(digest)
    return text if len(text) <= 16 else text[:16] + "…"


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
        raise InvalidRequest(f"Ogiltigt listnr {listnr} eller år {year}. / Bad listnr or year.")
    _check_files(files)
    info = _check_bag_info(bag_info, listnr=listnr, year=year)
    target = package_path(app, listnr, year=year)
    _refuse_existing(target, listnr)
    events = _events_document(app, listnr)

    year_dir = target.parent
    year_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{listnr}-", dir=year_dir))
    try:
        for item in files:
            _write_payload(tmp / item.name, item)
        _write_payload(tmp / EVENTS_NAME, PackageFile(EVENTS_NAME, content=events))
        with _MAKE_BAG_LOCK:
            bagit.make_bag(str(tmp), bag_info=info, checksums=list(CHECKSUMS))
        _set_modes(tmp)
        _fsync_tree(tmp)
        bagit.Bag(str(tmp)).validate(fast=False)
        _refuse_existing(target, listnr)
        try:
            # rename(2) onto a non-empty folder fails, so a racing writer cannot replace ours.
            os.rename(tmp, target)
        except OSError as exc:
            raise InvalidRequest(
                f"Arkivpaketet {target} kunde inte skapas: {exc.strerror}. / "
                f"The archive package {target} could not be created: {exc.strerror}."
            ) from exc
        _fsync_dir(year_dir)
    except bagit.BagError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ResultatError(
            f"Arkivpaketet för lista {listnr} blev ogiltigt: {exc}. / "
            f"The archive package for list {listnr} came out invalid: {exc}."
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _refuse_existing(target: Path, listnr: int) -> None:
    if target.exists() or target.is_symlink():
        raise InvalidRequest(
            f"Lista {listnr} är redan arkiverad i {target}; ett arkivpaket skrivs aldrig om. / "
            f"List {listnr} is already archived in {target}; a package is never rewritten."
        )


def _check_files(files: Sequence[PackageFile]) -> None:
    seen: set[PurePosixPath] = set()
    for item in files:
        name = _safe_name(item.name)
        if name == PurePosixPath(EVENTS_NAME):
            raise InvalidRequest(f"{EVENTS_NAME} skrivs av arkivet självt. / is written by us.")
        if name in seen:
            raise InvalidRequest(f"Filnamnet {item.name!r} finns två gånger. / Name given twice.")
        seen.add(name)
        if (item.source is None) == (item.content is None):
            raise InvalidRequest(
                f"{item.name}: ange antingen source eller content. / "
                f"{item.name}: give either source or content."
            )
        if item.source is not None and not item.source.is_file():
            raise InvalidRequest(
                f"{item.name}: källfilen {item.source} finns inte. / "
                f"{item.name}: the source file {item.source} does not exist."
            )
    every = seen | {PurePosixPath(EVENTS_NAME)}
    for name in every:
        for parent in name.parents:
            if parent in every:
                raise InvalidRequest(
                    f"{parent} är både en fil och en mapp. / {parent} is both a file and a folder."
                )


def _safe_name(name: str) -> PurePosixPath:
    """A payload name as a path, refused unless it is plainly relative and stays inside data/."""
    bad = (
        not name
        or name.startswith("/")
        or "\\" in name
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
    )
    parts = name.split("/")
    if bad or any(part in ("", ".", "..") for part in parts):
        raise InvalidRequest(
            f"Ogiltigt filnamn i arkivpaketet: {name!r} (relativ sökväg utan '..' krävs). / "
            f"Bad file name for an archive package: {name!r} (relative, without '..')."
        )
    return PurePosixPath(name)


def _check_bag_info(bag_info: dict[str, str], *, listnr: int, year: int) -> dict[str, str]:
    info = {"External-Identifier": f"resultat/{year}/{listnr}"}
    for key, value in bag_info.items():
        if not key or ":" in key or key != key.strip() or any(c in key for c in "\r\n"):
            raise InvalidRequest(f"Ogiltigt fältnamn i bag-info: {key!r}. / Bad bag-info label.")
        if key == "Payload-Oxum":
            raise InvalidRequest("Payload-Oxum räknas ut av bagit. / is computed by bagit.")
        if "\n" in value or "\r" in value:
            raise InvalidRequest(f"bag-info {key}: en rad krävs. / must be a single line.")
        info[key] = value
    return info


def _events_document(app: App, listnr: int) -> bytes:
    with app.db.session() as session:
        events = session.execute(
            select(AuditEvent).where(AuditEvent.listnr == listnr).order_by(AuditEvent.id)
        ).scalars()
        document = {
            "format": EVENTS_FORMAT,
            "listnr": listnr,
            "hash": "sha256 of prev_hash (ASCII) followed by the UTF-8 of json.dumps({at, actor, "
            "action, listnr, admin, details}, sort_keys=True, ensure_ascii=False), "
            "at exactly as written here",
            "events": [_event_dict(event) for event in events],
        }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _event_dict(event: AuditEvent) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- checking


def verify_package(path: Path, *, language: str = "sv") -> PackageCheck:
    """Check one package on its own: BagIt validity with every checksum recomputed, the
    expected tag files and nothing else, and the hashes inside ``data/audit/events.json``."""
    listnr = _listnr_of(path)
    issues = _package_issues(path, listnr)
    return _check(listnr, path, issues, language)


def _check(listnr: int, path: Path, issues: list[_Issue], language: str) -> PackageCheck:
    unique = {issue.key: issue for issue in issues}
    problems = [issue.text(language) for issue in unique.values()]
    return PackageCheck(listnr=listnr, path=path, ok=not problems, problems=problems)


def _listnr_of(path: Path) -> int:
    if not path.name.isdigit():
        raise InvalidRequest(
            f"{path} är ingen arkivpaketmapp (archive/<år>/<listnr>). / "
            f"{path} is not an archive package folder (archive/<year>/<listnr>)."
        )
    return int(path.name)


def _package_issues(path: Path, listnr: int) -> list[_Issue]:
    try:
        bag = bagit.Bag(str(path))
    except bagit.BagError as exc:
        return [_Issue("not-a-bag", {"detail": str(exc)})]
    issues: list[_Issue] = []
    try:
        bag.validate(fast=False)
    except bagit.BagValidationError as exc:
        # bagit stops at the first failing stage (file count, then completeness, then
        # checksums); scan everything so the report names every file at once, and keep
        # bagit's own summary only when neither names a file.
        named = _from_bagit(exc) + _scan(bag)
        issues.extend(named or [_Issue("bagit-failed", {"detail": str(exc)})])
    except bagit.BagError as exc:
        issues.append(_Issue("bagit-failed", {"detail": str(exc)}))
    issues.extend(_tag_file_issues(path))
    issues.extend(_event_file_issues(path, listnr))
    return issues


def _from_bagit(exc: bagit.BagValidationError) -> list[_Issue]:
    issues: list[_Issue] = []
    for detail in exc.details or []:
        if isinstance(detail, bagit.ChecksumMismatch):
            issues.append(
                _Issue(
                    "checksum",
                    {
                        "path": str(detail.path),
                        "algorithm": detail.algorithm,
                        "expected": _short(detail.expected),
                        "found": _short(detail.found),
                    },
                )
            )
        elif isinstance(detail, bagit.FileMissing):
            issues.append(_Issue("missing", {"path": str(detail.path)}))
        elif isinstance(detail, bagit.UnexpectedFile):
            issues.append(_Issue("unexpected", {"path": str(detail.path)}))
        else:
            issues.append(_Issue("bagit-failed", {"detail": str(detail)}))
    return issues


def _scan(bag: Any) -> list[_Issue]:
    """Completeness and every manifest checksum (payload and tag files), all at once."""
    issues: list[_Issue] = []
    only_in_manifests, only_on_disk = bag.compare_manifests_with_fs()
    issues.extend(_Issue("missing", {"path": str(p)}) for p in sorted(only_in_manifests))
    issues.extend(_Issue("unexpected", {"path": str(p)}) for p in sorted(only_on_disk))
    root = Path(bag.path)
    entries: dict[str, dict[str, str]] = bag.entries
    for rel, expected in sorted(entries.items()):
        file = root / rel
        if not file.is_file():
            continue
        found = _digests(file, expected)
        for algorithm, digest in sorted(expected.items()):
            if algorithm in found and found[algorithm] != digest.lower():
                params = {"path": rel, "algorithm": algorithm}
                params |= {"expected": _short(digest), "found": _short(found[algorithm])}
                issues.append(_Issue("checksum", params))
    return issues


def _digests(file: Path, algorithms: Iterable[str]) -> dict[str, str]:
    hashers = {}
    for algorithm in algorithms:
        try:
            hashers[algorithm] = hashlib.new(algorithm)
        except ValueError:
            continue
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(block)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}


def _tag_file_issues(path: Path) -> list[_Issue]:
    present = {entry.name for entry in path.iterdir()}
    issues = [_Issue("tag-file-missing", {"path": name}) for name in sorted(TAG_FILES - present)]
    extra = sorted(present - TAG_FILES - {"data"})
    issues.extend(_Issue("tag-file-unexpected", {"path": name}) for name in extra)
    return issues


def _read_events(path: Path) -> tuple[dict[str, Any] | None, list[_Issue]]:
    file = path / "data" / EVENTS_NAME
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("events"), list):
            raise ValueError("no list of events")
        for event in document["events"]:
            if not isinstance(event, dict) or not set(_EVENT_FIELDS) <= event.keys():
                raise ValueError("an event lacks fields")
    except (OSError, ValueError) as exc:
        return None, [_Issue("events-unreadable", {"detail": str(exc)})]
    return document, []


def _event_file_issues(path: Path, listnr: int) -> list[_Issue]:
    document, issues = _read_events(path)
    if document is None:
        return issues
    if document.get("listnr") != listnr:
        issues.append(
            _Issue("events-wrong-list", {"found": document.get("listnr"), "listnr": listnr})
        )
    for event in document["events"]:
        if not _event_hash_matches(event):
            issues.append(_Issue("event-hash", {"id": event["id"]}))
    return issues


def _event_hash_matches(event: dict[str, Any]) -> bool:
    try:
        at = dt.datetime.fromisoformat(str(event["at"]))
    except ValueError:
        return False
    shadow = AuditEvent(
        at=at,
        actor=event["actor"],
        action=event["action"],
        listnr=event["listnr"],
        admin=event["admin"],
        details=event["details"],
    )
    return event_hash(str(event["prev_hash"]), shadow) == str(event["hash"])


def _database_issues(session: Session, path: Path, listnr: int) -> list[_Issue]:
    """The package's events against the database: each still there and unchanged, and no
    event of the list from before archiving missing from the package."""
    document, _ = _read_events(path)
    if document is None:
        return []  # already reported by verify_package
    archived = {int(event["id"]): event for event in document["events"]}
    rows = session.execute(
        select(AuditEvent)
        .where(or_(AuditEvent.id.in_(list(archived)), AuditEvent.listnr == listnr))
        .order_by(AuditEvent.id)
    ).scalars()
    in_db = {row.id: row for row in rows}
    issues: list[_Issue] = []
    last_archived = max(archived, default=0)
    for event_id in sorted(set(archived) | set(in_db)):
        row = in_db.get(event_id)
        if event_id not in archived:
            if row is not None and row.listnr == listnr and event_id < last_archived:
                issues.append(_Issue("db-event-added", {"id": event_id}))
            continue
        if row is None:
            issues.append(_Issue("db-event-deleted", {"id": event_id}))
            continue
        current = _event_dict(row)
        changed = [name for name in _EVENT_FIELDS if current[name] != archived[event_id][name]]
        if changed:
            params = {"id": event_id, "fields": ", ".join(changed)}
            issues.append(_Issue("db-event-changed", params))
    return issues


def verify(app: App, listnr: int | None = None, *, language: str = "sv") -> VerifyReport:
    """Every package (or one list's), the whole audit chain, and each package's events against
    the database. A list whose state is ``archived`` but that has no package is reported too."""
    _texts(language)
    paths = find_packages(app, listnr)
    checks: list[PackageCheck] = []
    with app.db.session() as session:
        chain = verify_chain(session)
        for path in paths:
            number = _listnr_of(path)
            issues = _package_issues(path, number) + _database_issues(session, path, number)
            checks.append(_check(number, path, issues, language))
        query = select(ResultList.listnr).where(ResultList.state == ListState.ARCHIVED)
        if listnr is not None:
            query = query.where(ResultList.listnr == listnr)
        archived = set(session.execute(query).scalars())
    for number in sorted(archived - {check.listnr for check in checks}):
        issue = _Issue("archived-no-package", {"listnr": number})
        checks.append(_check(number, app.settings.archive, [issue], language))
    return VerifyReport(
        packages=checks,
        audit_ok=chain.ok,
        audit_events=chain.events,
        audit_first_broken_id=chain.first_broken_id,
        audit_reason=chain.reason,
    )


def format_report(report: VerifyReport, language: str = "sv", *, root: Path | None = None) -> str:
    """The report as text for a person: one line per package (OK, or FEL/FAILED followed by
    its problems), the audit chain, and a summary. Paths are shown relative to ``root``."""
    texts = _texts(language)
    lines: list[str] = []
    failed = sum(1 for check in report.packages if not check.ok)
    if report.packages:
        lines.append(texts["heading"].format(count=len(report.packages), failed=failed))
    else:
        lines.append(texts["no-packages"])
    for check in report.packages:
        verdict = texts["ok"] if check.ok else texts["failed"]
        lines.append(f"  {verdict:<6} {check.listnr:>6}  {_shown(check.path, root)}")
        lines.extend(f"           - {problem}" for problem in check.problems)
    if report.audit_ok:
        lines.append(texts["audit-ok"].format(events=report.audit_events))
    else:
        reason = texts.get(report.audit_reason, report.audit_reason)
        lines.append(
            texts["audit-broken"].format(
                id=report.audit_first_broken_id, reason=reason, events=report.audit_events
            )
        )
    lines.append(texts["summary-ok"] if report.ok else texts["summary-failed"])
    return "\n".join(lines) + "\n"


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


__all__ = [
    "PackageCheck",
    "PackageFile",
    "VerifyReport",
    "create_package",
    "find_packages",
    "format_report",
    "package_path",
    "verify",
    "verify_package",
]
