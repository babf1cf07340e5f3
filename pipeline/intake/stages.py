"""The intake, as a list of stages read top to bottom: :data:`STAGES`.

Each stage is a :class:`Stage`: it gets the :class:`~pipeline.intake.dropped.DroppedFile`
and returns an :mod:`outcome <pipeline.intake.outcomes>` when the file is concluded, or
``None`` ("not mine, go on"). The first outcome wins; :func:`unknown` at the end answers for
every file no stage took. A new kind of dropped file is one new stage module and one line in
:data:`STAGES`, before :func:`unknown`.

1. :func:`preflight`: hash the bytes; a file whose record is committed (its worker died
   before moving it) is only finished;
2. :func:`~pipeline.intake.folder.folder`: a file in ``inbox/<username>/`` is that person's
   (refused when the folder is nobody's, or its owner on disk is someone else);
2. :func:`duplicate`: an earlier accepted file with the same bytes makes this a duplicate;
3. :func:`identify`: read the file (refusing what must not be parsed) and find its kind, the
   one place that does;
4. one stage per kind, each checking and applying in one transaction, recording the file
   with its outcome and writing its receipt;
   the forms people fill in (:mod:`pipeline.forms`: order, settings, the office's
   confirmation, a signed archive list's scan) are stages of the same kind;
5. :func:`unknown`: a receipt saying the file is of no known kind.

Moving the original afterwards is :class:`pipeline.intake.inbox.Inbox`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol

from sqlalchemy import bindparam, select

from pipeline.forms.confirmation import confirmation_form
from pipeline.forms.order import order_form
from pipeline.forms.settings_form import settings_form
from pipeline.forms.signed_scan import scan_listnr, signed_scan
from pipeline.intake.claim import destination, display_name
from pipeline.intake.dropped import (
    DroppedFile,
    Kind,
    earlier_accepted,
    received_now,
    refuse,
    relative,
)
from pipeline.intake.dropped import duplicate as duplicate_of
from pipeline.intake.folder import folder
from pipeline.intake.lms_export import lms_export
from pipeline.intake.outcomes import AlreadyDone, Duplicate, Outcome, Refused
from pipeline.intake.report import Problem
from pipeline.intake.result_workbook import result_workbook
from pipeline.intake.review_workbook import review_workbook
from pipeline.lms.merge import listnr_from_name
from pipeline.models import FileOutcome, InboxFile, ResultList
from pipeline.xlsx import workbook
from pipeline.xlsx.reader import UnreadableFile, read_result_workbook


class Stage(Protocol):
    """One step of the intake: an outcome when it concludes the file, else ``None``."""

    __name__: str

    def __call__(self, ctx: DroppedFile, /) -> Outcome | None: ...


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_FILES: Final = InboxFile.__table__
_FINISHED_AT: Final = select(_FILES.c.outcome, _FILES.c.listnr, _FILES.c.kind).where(
    _FILES.c.stored_path.in_(bindparam("paths", expanding=True))
)


def preflight(ctx: DroppedFile) -> AlreadyDone | None:
    """Hash the bytes. A record for this claim means a crash after its commit: the fresh
    workbook is written again (idempotent) and the file only moved."""
    app = ctx.app
    ctx.received = received_now()
    ctx.claimed.original_name = display_name(ctx.claimed.original_name)
    ctx.sha = _sha256(ctx.claimed.path)
    kept = [
        relative(app, destination(ctx.inbox, ctx.claimed, status))
        for status in (FileOutcome.ACCEPTED, FileOutcome.REJECTED)
    ]
    with app.db.read_session() as session:
        finished = session.execute(_FINISHED_AT, {"paths": kept}).one_or_none()
        # For the duplicate stage, in the same read transaction (one less per file).
        ctx.earlier, ctx.looked_up = earlier_accepted(session, ctx.sha), True
    if finished is None:
        return None
    outcome, listnr, kind = finished
    if outcome == FileOutcome.ACCEPTED and kind == Kind.RESULT_WORKBOOK and listnr:
        workbook.issue(app, listnr)
    return AlreadyDone(listnr, FileOutcome(outcome))


def duplicate(ctx: DroppedFile) -> Duplicate | None:
    """The same bytes were accepted before: nothing is read, let alone applied. (A copy
    accepted meanwhile by another worker is found again under the list's lock.)"""
    earlier = ctx.earlier
    if not ctx.looked_up:
        with ctx.app.db.read_session() as session:
            earlier = earlier_accepted(session, ctx.sha)
    if earlier is None:
        return None
    listnr, when = earlier
    return duplicate_of(ctx, listnr, when)


def identify(ctx: DroppedFile) -> Refused | None:
    """What the file is: a signed archive list's scan (by its name, ``<listnr>_signerad.pdf``),
    a workbook of ours (results, review or one of the forms, by its metadata's purpose), an
    export from the learning platform named for a known list, or nothing known. A file that
    must not be parsed (too large, a zip bomb, not a spreadsheet) is refused here."""
    scan_of = scan_listnr(ctx.claimed.original_name, ctx.app.root)
    if scan_of is not None:
        ctx.kind, ctx.listnr = Kind.SIGNED_SCAN, scan_of
        return None
    try:
        wb = read_result_workbook(ctx.claimed.path, ctx.limits)
    except UnreadableFile as exc:
        return refuse(ctx, Problem(exc.slug, exc.params), Kind.UNREADABLE)
    if wb is not None:
        ctx.workbook = wb
        ctx.listnr = wb.listnr
        ctx.kind = _BY_PURPOSE.get(wb.purpose, Kind.RESULT_WORKBOOK)
        return None
    ctx.listnr = listnr_from_name(ctx.claimed.original_name, lambda n: _list_exists(ctx, n))
    if ctx.listnr is not None:
        ctx.kind = Kind.LMS_EXPORT
    return None


#: A workbook's kind by its metadata's purpose (a results workbook has none, or "results").
_BY_PURPOSE: Final = {
    "review": Kind.REVIEW_WORKBOOK,
    "order": Kind.ORDER_FORM,
    "settings": Kind.SETTINGS_FORM,
    "confirmation": Kind.CONFIRMATION_FORM,
}


def _list_exists(ctx: DroppedFile, listnr: int) -> bool:
    with ctx.app.db.read_session() as session:
        found = session.execute(
            select(ResultList.id).where(ResultList.listnr == listnr)
        ).scalar_one_or_none()
    return found is not None


def unknown(ctx: DroppedFile) -> Refused:
    """No stage took the file: it is of no kind we know."""
    return refuse(ctx, Problem("unknown-kind"), Kind.UNKNOWN)


STAGES: Final[Sequence[Stage]] = (
    preflight,
    folder,
    duplicate,
    identify,
    result_workbook,
    review_workbook,
    lms_export,
    order_form,
    settings_form,
    confirmation_form,
    signed_scan,
    unknown,
)


def run(ctx: DroppedFile, stages: Sequence[Stage] = STAGES) -> Outcome:
    """Take ``ctx`` through ``stages`` until one concludes it."""
    for stage in stages:
        outcome = stage(ctx)
        if outcome is not None:
            return outcome
    raise LookupError(f"no stage concluded {ctx.claimed.original_name!r}")
