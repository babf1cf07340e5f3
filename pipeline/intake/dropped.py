"""One dropped file on its way through the stages, and the record every file gets.

Owns :class:`DroppedFile` (what the stages learn about a claimed file: its bytes' SHA-256,
when it came, its kind and, for a workbook, what was read from it), :class:`Kind`, and the
shared endings of a stage: the :class:`~pipeline.models.InboxFile` record and the receipt
of a file that changes nothing but its own record (a refusal, a duplicate). What each kind
of file does is its stage module's.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from pipeline.app import App
from pipeline.intake.claim import OWNER_MARK, Claimed, destination, display_name
from pipeline.intake.outcomes import Duplicate, Refused
from pipeline.intake.receipts import ReceiptData, write_receipt
from pipeline.intake.report import Problem
from pipeline.mailin.threads import reply_to_claim
from pipeline.models import FileOutcome, InboxFile, ResultList, utcnow
from pipeline.shown import shown
from pipeline.texts import t
from pipeline.xlsx.reader import Limits, ResultWorkbook

log = logging.getLogger("resultat.inbox")


class Kind(enum.StrEnum):
    """What a dropped file is, as its record names it (:attr:`InboxFile.kind`)."""

    RESULT_WORKBOOK = "results-workbook"
    REVIEW_WORKBOOK = "review-workbook"
    LMS_EXPORT = "lms-export"
    ORDER_FORM = "order-form"
    SETTINGS_FORM = "settings-form"
    CONFIRMATION_FORM = "confirmation-form"
    SIGNED_SCAN = "signed-scan"
    UNREADABLE = "unreadable"
    UNKNOWN = "unknown"
    DUPLICATE = "duplicate"


@dataclass
class DroppedFile:
    """A claimed file and what the stages have learnt about it so far (filled top down:
    ``sha`` and ``received`` by the preflight, ``kind`` and ``workbook``/``listnr`` by the
    identify stage)."""

    app: App
    inbox: Path
    claimed: Claimed
    limits: Limits
    sha: str = ""
    received: str = ""
    kind: Kind | None = None
    workbook: ResultWorkbook | None = None
    listnr: int | None = None
    #: Who gets the answer when the file came through the shared inbox: the person the
    #: workbook names (its list's reporter, or examiner for a review workbook).
    named: str | None = None
    #: An earlier accepted file with these bytes (:func:`earlier_accepted`), looked up by the
    #: preflight in its read transaction; ``looked_up`` says it was.
    earlier: tuple[int | None, str] | None = None
    looked_up: bool = False

    @property
    def owner(self) -> str | None:
        """Whose folder the file was dropped in (``None``: the shared inbox)."""
        return self.claimed.owner

    @property
    def answer_to(self) -> str | None:
        """Who gets the receipt: the folder's owner, else the person the workbook names;
        ``None`` when nobody can be told (the administrators' copy is all there is)."""
        return self.owner or self.named

    def shown(self, path: Path) -> str:
        """Where the person this file answers to finds ``path`` (a file delivered to them
        under its own name): their outbox folder; the workspace path when nobody is told."""
        if self.answer_to:
            return f"outbox/{self.answer_to}/{path.name}"
        return relative(self.app, path)

    def kept_at(self, status: FileOutcome) -> str:
        """Where the original is kept for ``status``, as the receipt names it."""
        return relative(self.app, destination(self.inbox, self.claimed, status))

    def stem(self, listnr: int | None) -> str:
        """The name of this file's receipts, without extension."""
        claim = self.claimed.claim_id.split(OWNER_MARK, 1)[0]
        if listnr:
            return f"{claim}_{listnr}"
        # Looked up only when needed: the catalogue lookup lists and stats its files.
        return f"{claim}_{t('intake.no-list', self.app.settings.language, self.app.root)}"


def relative(app: App, path: Path) -> str:
    """``path`` relative to the workspace (as records and receipts show it)."""
    try:
        text = str(path.relative_to(app.root))
    except ValueError:
        text = str(path)
    return display_name(text)


def record(
    session: Session,
    ctx: DroppedFile,
    *,
    status: FileOutcome,
    kind: Kind,
    listnr: int | None,
    receipt: Path,
) -> None:
    """The file's record, added to ``session`` (the idempotency key of its bytes)."""
    session.add(
        InboxFile(
            sha256=ctx.sha,
            original_name=display_name(ctx.claimed.original_name)[:500],
            stored_path=ctx.kept_at(status),
            kind=kind.value,
            listnr=listnr,
            outcome=status,
            receipt_path=relative(ctx.app, receipt),
            finished_at=utcnow(),
        )
    )


_FILES: Final = InboxFile.__table__
# Looked up for every file taken: a plain statement built once (no ORM objects loaded).
_EARLIER_ACCEPTED: Final = (
    select(_FILES.c.listnr, _FILES.c.original_name, _FILES.c.finished_at)
    .where(
        _FILES.c.sha256 == bindparam("sha"),
        _FILES.c.outcome == FileOutcome.ACCEPTED,
        _FILES.c.kind != Kind.LMS_EXPORT.value,
    )
    .order_by(_FILES.c.id)
    .limit(1)
)
_LISTS: Final = ResultList.__table__
_LOCK_LIST: Final = (
    select(_LISTS.c.id).where(_LISTS.c.listnr == bindparam("listnr")).with_for_update()
)


def earlier_accepted(session: Session, sha: str) -> tuple[int | None, str] | None:
    """The list and a description (name, time) of an earlier accepted file with these bytes.

    Learning-platform exports don't count: one may be dropped again after a column was chosen."""
    earlier = session.execute(_EARLIER_ACCEPTED, {"sha": sha}).first()
    if earlier is None or earlier.finished_at is None:
        return None
    return earlier.listnr, f"{earlier.original_name}, {earlier.finished_at:%Y-%m-%d %H:%M}"


def accepted_copy(session: Session, sha: str, listnr: int | None) -> str | None:
    """Under the list's row lock (held to the commit by whoever applies it): has a copy of
    these bytes been accepted meanwhile? Serialises two workers holding two copies."""
    if listnr is None:
        return None
    session.execute(_LOCK_LIST, {"listnr": listnr}).first()
    found = earlier_accepted(session, sha)
    return found[1] if found is not None else None


def received_now() -> str:
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")


def _conclude(
    ctx: DroppedFile, status: FileOutcome, data: ReceiptData, listnr: int | None, kind: Kind
) -> Path:
    """Receipt and record for a file that changes nothing but its own record."""
    app = ctx.app
    data.kept_at = ctx.kept_at(status)
    receipt_path = write_receipt(app.settings, ctx.stem(listnr), data)
    with app.db.session() as session:
        record(session, ctx, status=status, kind=kind, listnr=listnr, receipt=receipt_path)
        hand_over(session, ctx, listnr, receipt_path)
    log.info("%s: %s", shown(ctx.claimed.original_name), status.value)
    return receipt_path


def hand_over(
    session: Session, ctx: DroppedFile, listnr: int | None, receipt: Path, *extra: Path
) -> None:
    """The receipt (and ``extra`` files: a marked copy, a fresh workbook) to the person the
    file answers to: their outbox folder and a mail (unless they opted out); for a file that
    came by mail, the mail is a reply in its thread."""
    # Lazy: people.delivery imports the mail queue, not needed by a refusal nobody gets.
    from pipeline.people.delivery import Delivery, deliver

    reply = reply_to_claim(session, ctx.claimed.claim_id)
    deliver(
        session,
        ctx.app,
        ctx.answer_to,
        Delivery(
            "mailin_receipt" if reply is not None else "receipt_copy",
            {
                "file_name": shown(ctx.claimed.original_name),
                "listnr": listnr,
                "receipt": receipt.read_text(encoding="utf-8"),
            },
            files=[(path, path.name) for path in (receipt, *extra)],
            listnr=listnr,
            dedupe_key=f"receipt:{receipt.name}",
            reply=reply,
        ),
    )


def refuse(ctx: DroppedFile, problem: Problem, kind: Kind) -> Refused:
    """Reject a file that could not be read or identified (nothing to apply)."""
    data = ReceiptData(
        status=Refused.receipt_status,
        file_name=ctx.claimed.original_name,
        received=ctx.received,
        kept_at="",
        language=ctx.app.settings.language,
        problems=[problem],
    )
    receipt = _conclude(ctx, FileOutcome.REJECTED, data, None, kind)
    return Refused(None, receipt, (problem,))


def duplicate(ctx: DroppedFile, listnr: int | None, earlier: str) -> Duplicate:
    """The same bytes were accepted before: a receipt saying so, nothing applied."""
    data = ReceiptData(
        status=Duplicate.receipt_status,
        file_name=ctx.claimed.original_name,
        received=ctx.received,
        kept_at="",
        language=ctx.app.settings.language,
        listnr=listnr,
        earlier=earlier,
    )
    receipt = _conclude(ctx, FileOutcome.DUPLICATE, data, listnr, Kind.DUPLICATE)
    return Duplicate(listnr, receipt, earlier=earlier)
