"""The records part of ``verify``: from the signed checkpoint on, or (``full``) from the start.

Owns :func:`check_records`: read the checkpoint (:mod:`pipeline.lifecycle.archive_checkpoint`)
and make sure its event is still in the chain; walk the chain from there (or from the first
event); take every list's state digest in one streamed query and give the full content check
(:func:`pipeline.lifecycle.archive_records.record_issues`) to each list that has changed since
the checkpoint or has events after it — or to every list when walking from the start. Also
:func:`save_checkpoint`, which the caller runs only after a run that found nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from pipeline.lifecycle.archive_check import Issue
from pipeline.lifecycle.archive_checkpoint import (
    Checkpoint,
    ListMark,
    anchor_issues,
    read_checkpoint,
    state_digests,
    write_checkpoint,
)
from pipeline.lifecycle.archive_records import ChainFacts, record_issues, walk_chain
from pipeline.lists.digest import StoredList, stored_content
from pipeline.settings import Settings


@dataclass
class RecordsCheck:
    """The chain's facts, the findings about records and checkpoint, every list's digest."""

    facts: ChainFacts
    findings: list[Issue]
    digests: dict[int, str] = field(default_factory=dict)
    #: Whether the walk started at a checkpoint (else: from the first event).
    incremental: bool = False
    #: Lists whose content hash was recomputed in full.
    rehashed: int = 0


def check_records(
    session: Session, settings: Settings, listnr: int | None, *, full: bool
) -> RecordsCheck:
    checkpoint, issues = read_checkpoint(settings)
    if checkpoint is not None:
        anchored = anchor_issues(session, settings, checkpoint)
        if anchored:
            issues += anchored
            checkpoint = None
    if full or checkpoint is None:
        facts = walk_chain(session)
        issues += record_issues(session, facts, listnr)
        digests = dict(state_digests(session)) if listnr is None else {}
        return RecordsCheck(facts, issues, digests, rehashed=len(digests))
    facts = walk_chain(session, since=checkpoint)
    digests = dict(state_digests(session))
    marks = checkpoint.lists
    changed = [
        number
        for number, digest in digests.items()
        if (listnr is None or number == listnr)
        and (number in facts.touched or number not in marks or marks[number].digest != digest)
    ]
    stored = _Counted(_stored(session, changed))
    issues += record_issues(session, facts, listnr, stored)
    for number in marks:
        if number not in digests and (listnr is None or number == listnr):
            issues.append(Issue("list-deleted", {"listnr": number}, number))
    return RecordsCheck(facts, issues, digests, incremental=True, rehashed=stored.n)


def _stored(session: Session, numbers: list[int]) -> Iterator[StoredList]:
    for number in numbers:
        stored = stored_content(session, number)
        if stored is not None:
            yield stored


class _Counted:
    """Passes lists through, counting them."""

    def __init__(self, lists: Iterator[StoredList]) -> None:
        self.lists = lists
        self.n = 0

    def __iter__(self) -> Iterator[StoredList]:
        for stored in self.lists:
            self.n += 1
            yield stored


def save_checkpoint(settings: Settings, check: RecordsCheck) -> bool:
    """Sign and write what this run verified (the caller knows it found nothing)."""
    chain = check.facts.check
    if not chain.ok or chain.last_id is None or not check.digests:
        return False
    facts = check.facts
    lists = {
        number: ListMark(digest, facts.last_content.get(number), facts.approval.get(number))
        for number, digest in check.digests.items()
    }
    checkpoint = Checkpoint(
        chain.last_id, chain.last_hash, facts.events, lists, dict(facts.seal_keys)
    )
    return write_checkpoint(settings, checkpoint)
