"""The signed checkpoint of what ``verify`` last found intact, so the next run checks only what
came after it.

Owns the file ``var/verify-checkpoint.json``: the audit event up to which the chain was walked
(id, hash, number of events), the seal keys the chain had recorded, and per list its newest
content event and approval (id, content hash) and its *state digest*; all of it signed with the
workspace's seal key (:mod:`pipeline.seal`), as the chain head is. A checkpoint that cannot be
read, whose signature does not match, or whose event is not in the chain any more is a finding
(:func:`read_checkpoint`, :func:`anchor_issues`); ``verify`` then walks everything.

The state digest (:func:`state_digests`) is SHA-256 over what the database holds for a list now
— its identity, state and every active row with the student's names — put together by the
database (``group_concat``/``string_agg`` over quoted fields, one row per list
streamed back), so checking 20,000 lists costs one scan in the database's own code, not a
million rows in Python. A list whose digest differs from the checkpoint's, or that has events
after it, gets the full check against the chain (:mod:`pipeline.lifecycle.archive_records`).
The digest is not the content hash; it only says "unchanged since a run that checked the content
hash". Deciding when to write a checkpoint (only after a run with no finding) is the caller's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from pipeline import files, seal
from pipeline.lifecycle.archive_check import Issue
from pipeline.lists import digest
from pipeline.models import AuditEvent, Course, ListEntry, Module, ResultList, Student
from pipeline.settings import Settings

NAME: Final = "verify-checkpoint.json"
FORMAT: Final = "resultat-verify-checkpoint/1"
#: Separator between rows inside a list's digest text (fields are length-prefixed).
_ROW_SEP: Final = "\x1e"
#: Lists fetched per round trip while streaming digests.
_BATCH: Final = 500


@dataclass(frozen=True)
class ListMark:
    """One list as the checkpoint saw it: state digest, newest content event, approval."""

    digest: str
    last: tuple[int, str] | None
    approval: tuple[int, str] | None

    def as_list(self) -> list[Any]:
        return [self.digest, list(self.last or ()), list(self.approval or ())]

    @classmethod
    def of(cls, value: list[Any]) -> ListMark:
        digest, last, approval = value
        return cls(
            str(digest),
            (int(last[0]), str(last[1])) if last else None,
            (int(approval[0]), str(approval[1])) if approval else None,
        )


@dataclass(frozen=True)
class Checkpoint:
    event_id: int
    chain_hash: str
    events: int
    lists: dict[int, ListMark] = field(default_factory=dict)
    seal_keys: dict[str, int] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "event_id": self.event_id,
            "chain_hash": self.chain_hash,
            "events": self.events,
            "seal_keys": self.seal_keys,
            "lists": {str(n): mark.as_list() for n, mark in sorted(self.lists.items())},
        }


def signed_bytes(body: dict[str, Any]) -> bytes:
    """What the signature covers: the checkpoint without its signature, canonical JSON."""
    plain = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(plain, sort_keys=True, separators=(",", ":")).encode("utf-8")


def path_of(settings: Settings) -> Path:
    return settings.var / NAME


def _rel(settings: Settings) -> str:
    return path_of(settings).relative_to(settings.root).as_posix()


def _public(settings: Settings) -> Ed25519PublicKey | None:
    exported = seal.load_public(settings.archive / seal.PUBLIC_NAME)
    if exported is not None:
        return exported
    try:
        return seal.load_key(settings.seal_path("key"), create=False).public_key()
    except (OSError, ValueError):
        return None


def read_checkpoint(settings: Settings) -> tuple[Checkpoint | None, list[Issue]]:
    """The checkpoint when there is one and its signature holds; otherwise None and the
    finding (none when there simply is no checkpoint yet)."""
    path = path_of(settings)
    rel = _rel(settings)
    try:
        body = json.loads(path.read_bytes())
        signature = base64.b64decode(body["signature"], validate=True)
        checkpoint = Checkpoint(
            int(body["event_id"]),
            str(body["chain_hash"]),
            int(body["events"]),
            {int(n): ListMark.of(v) for n, v in body["lists"].items()},
            {str(k): int(v) for k, v in body["seal_keys"].items()},
        )
    except FileNotFoundError:
        return None, []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, [Issue("checkpoint-unreadable", {"path": rel, "detail": str(exc)}, file=rel)]
    public = _public(settings)
    if (
        body.get("format") != FORMAT
        or public is None
        or not seal.verifies(public, signed_bytes(body), signature)
    ):
        return None, [Issue("checkpoint-signature", {"path": rel}, file=rel)]
    return checkpoint, []


def anchor_issues(session: Session, settings: Settings, checkpoint: Checkpoint) -> list[Issue]:
    """The checkpoint's event must still be in the chain with the hash it recorded."""
    found = session.execute(select(AuditEvent.hash).where(AuditEvent.id == checkpoint.event_id))
    if found.scalar_one_or_none() == checkpoint.chain_hash:
        return []
    rel = _rel(settings)
    params = {"path": rel, "id": checkpoint.event_id}
    return [Issue("checkpoint-mismatch", params, event=checkpoint.event_id, file=rel)]


def write_checkpoint(settings: Settings, checkpoint: Checkpoint) -> bool:
    """Sign and write the checkpoint; False (nothing written) without a readable seal key."""
    try:
        key = seal.load_key(settings.seal_path("key"), create=False)
    except (OSError, ValueError):
        return False
    body = checkpoint.body()
    body["signature"] = base64.b64encode(key.sign(signed_bytes(body))).decode("ascii")
    files.write_text(
        path_of(settings), json.dumps(body, separators=(",", ":")) + "\n", durable=True
    )
    return True


# --------------------------------------------------------------------------- state digests


def _row_text(dialect: str) -> Any:
    """Every field of a row as an SQL literal (``quote``; ``quote_nullable`` on PostgreSQL),
    comma-separated: strings come quoted, so no two different rows give the same text."""
    quote = func.quote_nullable if dialect == "postgresql" else func.quote
    parts = [ListEntry.position, ListEntry.id, *digest.ROW_COLUMNS]
    text: Any = quote(parts[0])
    for part in parts[1:]:
        text = text.concat(",").concat(quote(part))
    return text


def _rows_statement(dialect: str) -> Any:
    row = _row_text(dialect)
    if dialect == "postgresql":
        # string_agg(row, sep ORDER BY position, id): the ORDER BY rides on the last argument
        order = aggregate_order_by(literal(_ROW_SEP), ListEntry.position, ListEntry.id)
        joined = func.string_agg(row, order)
        return (
            select(ListEntry.list_id, func.count(), joined)
            .join(Student, Student.id == ListEntry.student_id)
            .where(ListEntry.removed.is_(False))
            .group_by(ListEntry.list_id)
            .order_by(ListEntry.list_id)
        )
    # SQLite walks the entries in the order of the list_id index, so the rows of a list come
    # in the same order each run; should they not, the digest differs and the list simply
    # gets the full check (each row's text carries its position and id).
    return (
        select(ListEntry.list_id, func.count(), func.group_concat(row, _ROW_SEP))
        .join(Student, Student.id == ListEntry.student_id)
        .where(ListEntry.removed.is_(False))
        .group_by(ListEntry.list_id)
        .order_by(ListEntry.list_id)
    )


def _heads_statement() -> Any:
    identity = [
        ResultList.listnr,
        ResultList.kind,
        Course.code,
        Module.code,
        ResultList.term,
        ResultList.version,
        ResultList.state,
        ResultList.content_hash,
    ]
    return (
        select(ResultList.id, *identity)
        .join(Course, Course.id == ResultList.course_id)
        .outerjoin(Module, Module.id == ResultList.module_id)
        .order_by(ResultList.id)
    )


def state_digests(session: Session) -> Iterator[tuple[int, str]]:
    """``(listnr, digest)`` of every list, in id order, two streamed queries merged."""
    connection = session.connection()
    options = {"yield_per": _BATCH, "stream_results": True}
    heads = connection.execute(_heads_statement().execution_options(**options))
    dialect = connection.dialect.name
    rows = iter(connection.execute(_rows_statement(dialect).execution_options(**options)))
    pending = next(rows, None)
    for head in heads:
        list_id, *identity = head
        digest = hashlib.sha256(
            json.dumps([getattr(v, "value", v) for v in identity], default=str).encode("utf-8")
        )
        while pending is not None and pending[0] < list_id:
            pending = next(rows, None)  # entries of a list that is gone: nothing to hash
        if pending is not None and pending[0] == list_id:
            digest.update(f"\x1d{pending[1]}\x1d".encode())
            digest.update(str(pending[2]).encode("utf-8"))
            pending = next(rows, None)
        yield int(identity[0]), digest.hexdigest()
