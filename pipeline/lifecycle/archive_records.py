"""Checking the database's records against the audit chain, and the chain's end and seal.

Owns, each returning :class:`~pipeline.lifecycle.archive_check.Issue` findings:
:func:`walk_chain` (the whole chain streamed once, collecting per list only its newest content
event and approval event), :func:`record_issues` (every list's content hash recomputed from
the database and compared with its newest content event, and for approved, registered and
archived lists with the approval event, naming row and field from the approved rows),
:func:`head_issues` (the signed head in ``var/`` against the chain: events deleted from the
end), :func:`pdf_issues` (the archive PDF's PAdES seal), :func:`seal_issues` (the workspace
key against the exported public key and the keys the chain recorded) and
:func:`signature_issues` (a package's sealed tag manifest).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import seal
from pipeline.audit import CONTENT_ACTIONS, ChainCheck, ChainEvent, verify_chain
from pipeline.domain.personnummer import mask
from pipeline.lifecycle.archive import SIGNATURE_NAME, SIGNED_NAME, bag_info_of
from pipeline.lifecycle.archive_check import Issue, approved_content
from pipeline.lifecycle.archive_checkpoint import Checkpoint
from pipeline.lifecycle.archive_pdf_seal import pdf_seal_problems
from pipeline.lists.digest import ROW_FIELDS, StoredList, every_stored_list, stored_rows
from pipeline.models import AuditEvent
from pipeline.settings import Settings

APPROVED_STATES: Final = frozenset({"approved", "registered", "archived"})


@dataclass
class ChainFacts:
    """What one walk of the chain leaves behind: per list, not per event."""

    check: ChainCheck = field(default_factory=lambda: ChainCheck(True, 0))
    #: listnr -> (event id, content hash) of its newest event that recorded one.
    last_content: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: listnr -> (event id, content hash) of its newest approval.
    approval: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: seal key fingerprint -> first event that recorded it.
    seal_keys: dict[str, int] = field(default_factory=dict)
    #: Lists with an event in this walk (all of them when it started at the beginning).
    touched: set[int] = field(default_factory=set)
    #: Events before the walk's start (those a checkpoint vouches for).
    before: int = 0

    @property
    def events(self) -> int:
        return self.before + self.check.events


def walk_chain(session: Session, since: Checkpoint | None = None) -> ChainFacts:
    """The chain walked from the start, or from ``since`` on with its facts as the start."""
    facts = ChainFacts()
    after: tuple[int, str] | None = None
    if since is not None:
        after = (since.event_id, since.chain_hash)
        facts.before = since.events
        facts.seal_keys = dict(since.seal_keys)
        for number, mark in since.lists.items():
            if mark.last is not None:
                facts.last_content[number] = mark.last
            if mark.approval is not None:
                facts.approval[number] = mark.approval

    def visit(event: ChainEvent) -> None:
        details = event.details if isinstance(event.details, dict) else {}
        if event.listnr is not None:
            facts.touched.add(event.listnr)
        chash = details.get("content_hash")
        if event.listnr is not None and event.action in CONTENT_ACTIONS and chash:
            facts.last_content[event.listnr] = (event.id, str(chash))
            if event.action == "list.approve":
                facts.approval[event.listnr] = (event.id, str(chash))
        key = details.get("seal_key")
        if key:
            facts.seal_keys.setdefault(str(key), event.id)

    facts.check = verify_chain(session, visit=visit, after=after)
    return facts


def record_issues(
    session: Session,
    facts: ChainFacts,
    listnr: int | None,
    lists: Iterable[StoredList] | None = None,
) -> list[Issue]:
    """Each of ``lists`` (default: every list, streamed) against the chain's facts."""
    issues: list[Issue] = []
    for stored in every_stored_list(session) if lists is None else lists:
        number = int(stored.identity["listnr"])
        if listnr is not None and number != listnr:
            continue
        last = facts.last_content.get(number)
        approved = facts.approval.get(number) if stored.state in APPROVED_STATES else None
        if approved is not None and approved[1] != stored.content_hash:
            issues.extend(_row_issues(session, stored.list_id, number, approved[0]))
        elif last is not None and last[1] != stored.content_hash:
            params = {"listnr": number, "id": last[0]}
            issues.append(Issue("records-changed", params, number, event=last[0]))
    return issues


def _row_issues(session: Session, list_id: int, listnr: int, event_id: int) -> list[Issue]:
    """Name each row and field that differs from the rows the approval event recorded."""
    details = session.execute(select(AuditEvent.details).where(AuditEvent.id == event_id))
    recorded: Any = details.scalar_one_or_none() or {}
    snapshot: Any = recorded.get("rows") or {}
    columns = list(snapshot.get("columns") or ROW_FIELDS)
    approved = [dict(zip(columns, values, strict=False)) for values in snapshot.get("values", [])]
    by_pnr = {row.get("pnr"): (n, row) for n, row in enumerate(approved, start=1)}
    seen: set[str] = set()
    issues: list[Issue] = []
    for position, row in enumerate(stored_rows(session, list_id), start=1):
        pnr = str(row["pnr"])
        seen.add(pnr)
        where = {"listnr": listnr, "row": position, "pnr": mask(pnr), "id": event_id}
        if pnr not in by_pnr:
            issues.append(Issue("row-added", where, listnr, position, event_id))
            continue
        _, before = by_pnr[pnr]
        for name in ROW_FIELDS:
            if before.get(name) != row[name]:
                params = {**where, "field": name, "old": before.get(name), "new": row[name]}
                issues.append(Issue("field-changed", params, listnr, position, event_id))
    for old_pnr, (number, _) in by_pnr.items():
        if old_pnr not in seen:
            where = {"listnr": listnr, "row": number, "pnr": mask(str(old_pnr)), "id": event_id}
            issues.append(Issue("row-deleted", where, listnr, number, event_id))
    if not issues:  # the identity differs (listnr, course, version ...), or no rows recorded
        issues.append(Issue("records-changed", {"listnr": listnr, "id": event_id}, listnr))
    return issues


def head_issues(session: Session, settings: Settings, facts: ChainFacts) -> list[Issue]:
    path = settings.head_path
    rel = path.relative_to(settings.root).as_posix()
    try:
        head = seal.read_head(path)
    except ValueError as exc:
        return [Issue("head-unreadable", {"path": rel, "detail": str(exc)}, file=rel)]
    chain = facts.check
    if head is None:
        return [Issue("head-missing", {"path": rel}, file=rel)] if facts.events else []
    issues: list[Issue] = []
    public = _exported(settings) or _own_public(settings)
    if public is None or not seal.verifies(public, head.signed_bytes(), head.signature):
        issues.append(Issue("head-signature", {"path": rel}, file=rel, event=head.id))
    last = chain.last_id or 0
    if chain.ok and head.id > last:
        params = {"count": head.id - last, "since": last + 1, "head": head.id}
        issues.append(Issue("tail-deleted", params, event=last + 1, file=rel))
    elif head.id <= last:
        found = session.execute(select(AuditEvent.hash).where(AuditEvent.id == head.id))
        if found.scalar_one_or_none() != head.hash:
            issues.append(Issue("head-mismatch", {"id": head.id}, event=head.id, file=rel))
    return issues


def _exported(settings: Settings) -> Ed25519PublicKey | None:
    return seal.load_public(settings.archive / seal.PUBLIC_NAME)


def _own_public(settings: Settings) -> Ed25519PublicKey | None:
    """The workspace key's public half: what checks the head before anything was archived
    (the public key is exported with the first package; whether the two agree is
    :func:`seal_issues`')."""
    try:
        return seal.load_key(settings.seal_path("key"), create=False).public_key()
    except (OSError, ValueError):
        return None


def seal_issues(settings: Settings, facts: ChainFacts) -> list[Issue]:
    """The private key, the exported public key and the keys the chain recorded must agree."""
    issues: list[Issue] = []
    exported = _exported(settings)
    public_rel = f"archive/{seal.PUBLIC_NAME}"
    key_path = settings.seal_path("key")
    key_rel: str = str(settings.seal.key)
    if key_path.exists():
        try:
            own = seal.fingerprint(seal.load_key(key_path, create=False).public_key())
        except ValueError as exc:
            return [Issue("seal-key-unreadable", {"path": key_rel, "detail": str(exc)})]
        if exported is not None and seal.fingerprint(exported) != own:
            params: dict[str, Any] = {"path": key_rel, "public": public_rel}
            issues.append(Issue("seal-key-mismatch", params, file=key_rel))
    if exported is None:
        if facts.seal_keys:
            issues.append(Issue("seal-public-missing", {"path": public_rel}, file=public_rel))
        return issues
    mine = seal.fingerprint(exported)
    for fingerprint, event_id in facts.seal_keys.items():
        if fingerprint != mine:
            params = {"path": public_rel, "id": str(event_id)}
            issues.append(Issue("seal-key-swapped", params, event=event_id, file=public_rel))
    return issues


def signature_issues(settings: Settings, path: Path, listnr: int) -> list[Issue]:
    """The package's sealed tag manifest, checked with the exported public key; its recorded
    key fingerprint; and its approved data's hash against the chain's approval."""
    exported = _exported(settings)
    signature = path / SIGNATURE_NAME
    if not signature.is_file():
        return []  # reported as a missing tag file
    signed = (path / SIGNED_NAME).read_bytes() if (path / SIGNED_NAME).is_file() else b""
    if exported is None or not seal.verifies(exported, signed, signature.read_bytes()):
        return [Issue("package-signature", {"path": SIGNATURE_NAME}, listnr, file=SIGNATURE_NAME)]
    recorded = bag_info_of(path).get("Seal-Key-SHA256")
    if recorded and recorded != seal.fingerprint(exported):
        return [Issue("package-key", {"path": "bag-info.txt"}, listnr, file="bag-info.txt")]
    return []


def pdf_issues(settings: Settings, path: Path, listnr: int) -> list[Issue]:
    """Every archive PDF in the package must carry the seal, intact over the whole file."""
    issues: list[Issue] = []
    for pdf in sorted((path / "data" / "print").glob("*.pdf")):
        rel = pdf.relative_to(path).as_posix()
        for problem in pdf_seal_problems(settings, pdf.read_bytes()):
            issues.append(Issue("pdf-seal", {"path": rel, "detail": problem}, listnr, file=rel))
    return issues


def approved_vs_chain(path: Path, listnr: int, facts: ChainFacts) -> list[Issue]:
    _, recomputed = approved_content(path)
    approved = facts.approval.get(listnr)
    if recomputed is None or approved is None or recomputed == approved[1]:
        return []
    params: dict[str, Any] = {"path": "data/approved/approved.json", "id": approved[0]}
    return [Issue("approved-not-chain", params, listnr, event=approved[0], file=params["path"])]
