"""Checking one archive package on its own and against the database's audit events.

Owns :class:`Issue` (a finding before it is put into words, with where it is),
:func:`verify_package` (BagIt validity with every checksum recomputed, the expected tag files
and nothing else, the hashes inside ``data/audit/events.json``, the approved data's content
hash against itself and the LADOK file) and :func:`database_issues` (the package's events
against the chain, blaming the side that is wrong). The seal's signature and the chain-level
checks are :mod:`pipeline.lifecycle.archive_records`'; the report is
:mod:`pipeline.lifecycle.verify`'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bagit
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.audit import event_hash
from pipeline.errors import InvalidRequest
from pipeline.lifecycle.archive import (
    EVENT_FIELDS,
    EVENTS_NAME,
    TAG_FILES,
    event_dict,
)
from pipeline.lists.digest import IDENTITY_FIELDS, ROW_FIELDS, hash_content
from pipeline.models import AuditEvent
from pipeline.texts import t


@dataclass(frozen=True)
class PackageCheck:
    """The outcome of checking one package; ``problems`` are readable lines, empty when ok."""

    listnr: int
    path: Path
    ok: bool
    problems: list[str]
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class Issue:
    """A problem before it is put into words; ``key`` makes duplicates from bagit and from
    our own scan collapse into one line."""

    slug: str
    params: dict[str, Any]
    #: Where it is: the list, the row (1-based, in list order), the audit event, the file.
    listnr: int | None = None
    row: int | None = None
    event: int | None = None
    file: str | None = None

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.slug, tuple(sorted((k, str(v)) for k, v in self.params.items())))

    def text(self, language: str) -> str:
        return t(f"lifecycle.verify.{self.slug}", language, events=EVENTS_NAME, **self.params)


def _short(digest: object) -> str:
    text = str(digest)
    return text if len(text) <= 16 else text[:16] + "…"


# --------------------------------------------------------------------------- checking


def verify_package(path: Path, *, language: str = "sv") -> PackageCheck:
    """Check one package on its own: BagIt validity with every checksum recomputed, the
    expected tag files and nothing else, and the hashes inside ``data/audit/events.json``."""
    listnr = listnr_of(path, language)
    issues = package_issues(path, listnr)
    return check_of(listnr, path, issues, language)


def check_of(listnr: int, path: Path, issues: list[Issue], language: str) -> PackageCheck:
    unique = {issue.key: issue for issue in issues}
    problems = [issue.text(language) for issue in unique.values()]
    return PackageCheck(listnr, path, not problems, problems, tuple(unique.values()))


def listnr_of(path: Path, language: str) -> int:
    if not path.name.isdigit():
        raise InvalidRequest(t("lifecycle.archive.not-a-package", language, path=path))
    return int(path.name)


def package_issues(path: Path, listnr: int) -> list[Issue]:
    try:
        bag = bagit.Bag(str(path))
    except bagit.BagError as exc:
        return [Issue("not-a-bag", {"detail": str(exc)})]
    issues: list[Issue] = []
    try:
        bag.validate(fast=False)
    except bagit.BagValidationError as exc:
        # bagit stops at the first failing stage (file count, then completeness, then
        # checksums); scan everything so the report names every file at once, and keep
        # bagit's own summary only when neither names a file.
        named = _from_bagit(exc) + _scan(bag)
        issues.extend(named or [Issue("bagit-failed", {"detail": str(exc)})])
    except bagit.BagError as exc:
        issues.append(Issue("bagit-failed", {"detail": str(exc)}))
    issues.extend(_tag_file_issues(path))
    issues.extend(_event_file_issues(path, listnr))
    issues.extend(approved_data_issues(path, listnr))
    return issues


def _from_bagit(exc: bagit.BagValidationError) -> list[Issue]:
    issues: list[Issue] = []
    for detail in exc.details or []:
        if isinstance(detail, bagit.ChecksumMismatch):
            issues.append(
                Issue(
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
            issues.append(Issue("missing", {"path": str(detail.path)}))
        elif isinstance(detail, bagit.UnexpectedFile):
            issues.append(Issue("unexpected", {"path": str(detail.path)}))
        else:
            issues.append(Issue("bagit-failed", {"detail": str(detail)}))
    return issues


def _scan(bag: Any) -> list[Issue]:
    """Completeness and every manifest checksum (payload and tag files), all at once."""
    issues: list[Issue] = []
    only_in_manifests, only_on_disk = bag.compare_manifests_with_fs()
    issues.extend(Issue("missing", {"path": str(p)}) for p in sorted(only_in_manifests))
    issues.extend(Issue("unexpected", {"path": str(p)}) for p in sorted(only_on_disk))
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
                issues.append(Issue("checksum", params))
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


def _tag_file_issues(path: Path) -> list[Issue]:
    present = {entry.name for entry in path.iterdir()}
    issues = [Issue("tag-file-missing", {"path": name}) for name in sorted(TAG_FILES - present)]
    extra = sorted(present - TAG_FILES - {"data"})
    issues.extend(Issue("tag-file-unexpected", {"path": name}) for name in extra)
    return issues


def read_events(path: Path) -> tuple[dict[str, Any] | None, list[Issue]]:
    file = path / "data" / EVENTS_NAME
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("events"), list):
            raise ValueError("no list of events")
        for event in document["events"]:
            if not isinstance(event, dict) or not set(EVENT_FIELDS) <= event.keys():
                raise ValueError("an event lacks fields")
    except (OSError, ValueError) as exc:
        return None, [Issue("events-unreadable", {"detail": str(exc)})]
    return document, []


def _event_file_issues(path: Path, listnr: int) -> list[Issue]:
    document, issues = read_events(path)
    if document is None:
        return issues
    if document.get("listnr") != listnr:
        issues.append(
            Issue("events-wrong-list", {"found": document.get("listnr"), "listnr": listnr})
        )
    for event in document["events"]:
        if not _event_hash_matches(event):
            issues.append(Issue("event-hash", {"id": event["id"]}))
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


def database_issues(session: Session, path: Path, listnr: int) -> list[Issue]:
    """The package's events against the database: each still there and unchanged, and no
    event of the list from before archiving missing from the package."""
    document, _ = read_events(path)
    if document is None:
        return []  # already reported by verify_package
    archived = {int(event["id"]): event for event in document["events"]}
    rows = session.execute(
        select(AuditEvent)
        .where(or_(AuditEvent.id.in_(list(archived)), AuditEvent.listnr == listnr))
        .order_by(AuditEvent.id)
    ).scalars()
    in_db = {row.id: row for row in rows}
    issues: list[Issue] = []
    last_archived = max(archived, default=0)
    for event_id in sorted(set(archived) | set(in_db)):
        row = in_db.get(event_id)
        if event_id not in archived:
            if row is not None and row.listnr == listnr and event_id < last_archived:
                issues.append(Issue("db-event-added", {"id": event_id}))
            continue
        if row is None:
            issues.append(Issue("db-event-deleted", {"id": event_id}))
            continue
        if not _event_hash_matches(archived[event_id]):
            continue  # the package's copy is wrong (event-hash): the archive's fault, not the DB's
        current = event_dict(row)
        changed = [name for name in EVENT_FIELDS if current[name] != archived[event_id][name]]
        if not changed:
            continue
        params = {"id": event_id, "fields": ", ".join(changed)}
        if event_hash(row.prev_hash, row) == row.hash:
            # Both copies hash right: the database row is consistent, so the package holds
            # a forged, re-hashed event (the chain's links decide what the database says).
            issues.append(Issue("package-event-forged", params, listnr, event=event_id))
        else:
            issues.append(Issue("db-event-changed", params, listnr, event=event_id))
    return issues


APPROVED_JSON = "data/approved/approved.json"


def approved_content(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The package's approved data and the content hash recomputed from it."""
    try:
        document = json.loads((path / APPROVED_JSON).read_text(encoding="utf-8"))
        identity = {name: document[name] for name in IDENTITY_FIELDS}
        rows = [{name: row[name] for name in ROW_FIELDS} for row in document["rows"]]
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, KeyError, TypeError):
        return {}, None
    return document, hash_content(identity, rows)


def approved_data_issues(path: Path, listnr: int) -> list[Issue]:
    """The approved data against its own recorded hash, and the LADOK file against its rows."""
    document, recomputed = approved_content(path)
    if document is None:
        return []
    file = APPROVED_JSON
    if recomputed is None:
        return [Issue("approved-unreadable", {"path": file}, listnr, file=file)]
    issues: list[Issue] = []
    if document.get("content_hash") != recomputed:
        params = {"path": file, "found": _short(recomputed)}
        issues.append(Issue("approved-hash", params, listnr, file=file))
    # A final grade goes to LADOK as its ECTS grade where the course has one.
    expected = {
        row["pnr"]: ({row["grade"], row.get("ects_grade")}, row["grade_date"])
        for row in document["rows"]
        if row.get("grade") and row.get("grade_date")
    }
    for tsv in sorted((path / "data" / "ladok").glob("*.tsv")):
        rel = tsv.relative_to(path).as_posix()
        found: dict[str, tuple[str, str]] = {}
        for line in tsv.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) >= 5:
                found[fields[2].replace("-", "")] = (fields[3], fields[4])
        same = found.keys() == expected.keys() and all(
            grade in expected[pnr][0] and date == expected[pnr][1]
            for pnr, (grade, date) in found.items()
        )
        if not same:
            issues.append(Issue("ladok-differs", {"path": rel}, listnr, file=rel))
    return issues
