"""Checking archive packages: each on its own and against the database and the audit chain.

Owns :func:`verify_package` (BagIt validity with every checksum recomputed, the expected tag
files and nothing else, the hashes inside ``data/audit/events.json``), :func:`verify` (every
package, the whole audit chain, each package's events against the database, archived lists
without a package) and :func:`format_report` (the report in a person's language, words from
the catalogue ``lifecycle.verify.*``). Building packages is :mod:`pipeline.lifecycle.archive`'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import bagit
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.audit import event_hash, verify_chain
from pipeline.errors import InvalidRequest
from pipeline.lifecycle.archive import (
    EVENT_FIELDS,
    EVENTS_NAME,
    TAG_FILES,
    event_dict,
    find_packages,
)
from pipeline.models import AuditEvent, ListState, ResultList
from pipeline.texts import DEFAULT_LANGUAGE, LANGUAGES, has, t

#: The audit chain's reasons (:func:`pipeline.audit.verify_chain`) and their catalogue keys.
_AUDIT_REASONS: Final = {
    "link to the previous event is broken": "link-broken",
    "content does not match its hash": "content-changed",
}


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


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidRequest(t("lifecycle.unknown-language", DEFAULT_LANGUAGE, language=language))


def _audit_reason(reason: str, language: str) -> str:
    key = f"lifecycle.verify.audit-reasons.{_AUDIT_REASONS.get(reason, '-')}"
    return t(key, language) if has(key, language) else reason


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
        return t(f"lifecycle.verify.{self.slug}", language, events=EVENTS_NAME, **self.params)


def _short(digest: object) -> str:
    text = str(digest)
    return text if len(text) <= 16 else text[:16] + "…"


# --------------------------------------------------------------------------- checking


def verify_package(path: Path, *, language: str = "sv") -> PackageCheck:
    """Check one package on its own: BagIt validity with every checksum recomputed, the
    expected tag files and nothing else, and the hashes inside ``data/audit/events.json``."""
    listnr = _listnr_of(path, language)
    issues = _package_issues(path, listnr)
    return _check(listnr, path, issues, language)


def _check(listnr: int, path: Path, issues: list[_Issue], language: str) -> PackageCheck:
    unique = {issue.key: issue for issue in issues}
    problems = [issue.text(language) for issue in unique.values()]
    return PackageCheck(listnr=listnr, path=path, ok=not problems, problems=problems)


def _listnr_of(path: Path, language: str) -> int:
    if not path.name.isdigit():
        raise InvalidRequest(t("lifecycle.archive.not-a-package", language, path=path))
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
            if not isinstance(event, dict) or not set(EVENT_FIELDS) <= event.keys():
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
        current = event_dict(row)
        changed = [name for name in EVENT_FIELDS if current[name] != archived[event_id][name]]
        if changed:
            params = {"id": event_id, "fields": ", ".join(changed)}
            issues.append(_Issue("db-event-changed", params))
    return issues


def verify(app: App, listnr: int | None = None, *, language: str = "sv") -> VerifyReport:
    """Every package (or one list's), the whole audit chain, and each package's events against
    the database. A list whose state is ``archived`` but that has no package is reported too."""
    _check_language(language)
    paths = find_packages(app, listnr)
    checks: list[PackageCheck] = []
    with app.db.session() as session:
        chain = verify_chain(session)
        for path in paths:
            number = _listnr_of(path, language)
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
    _check_language(language)

    def text(key: str, **params: Any) -> str:
        return t(f"lifecycle.verify.{key}", language, **params)

    lines: list[str] = []
    failed = sum(1 for check in report.packages if not check.ok)
    if report.packages:
        lines.append(text("heading", count=len(report.packages), failed=failed))
    else:
        lines.append(text("no-packages"))
    for check in report.packages:
        verdict = text("ok") if check.ok else text("failed")
        lines.append(f"  {verdict:<6} {check.listnr:>6}  {_shown(check.path, root)}")
        lines.extend(f"           - {problem}" for problem in check.problems)
    if report.audit_ok:
        lines.append(text("audit-ok", events=report.audit_events))
    else:
        reason = _audit_reason(report.audit_reason, language)
        lines.append(
            text(
                "audit-broken",
                id=report.audit_first_broken_id,
                reason=reason,
                events=report.audit_events,
            )
        )
    lines.append(text("summary-ok") if report.ok else text("summary-failed"))
    return "\n".join(lines) + "\n"


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)
