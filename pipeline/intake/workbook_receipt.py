"""The ending shared by both kinds of workbook (results and review), inside their transaction.

Owns turning a :class:`~pipeline.intake.checked.WorkbookCheck` into the receipt's data (with
a line for each cell read that held a formula, :mod:`pipeline.intake.formula_notes`), the
teacher's workbook marked red where it is wrong (:mod:`pipeline.intake.marked_copy`), the
receipt itself, the copy mailed to staff who asked for one, and the file's record. Deciding
the outcome is the stage's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from pipeline.errors import NotFound
from pipeline.intake.checked import WorkbookCheck
from pipeline.intake.dropped import DroppedFile, Kind, hand_over, record
from pipeline.intake.formula_notes import formula_notes
from pipeline.intake.marked_copy import marked_copy
from pipeline.intake.receipts import ReceiptData, write_receipt
from pipeline.intake.report import messages
from pipeline.lists.query import get_list_head
from pipeline.models import FileOutcome, ListState, ResultList
from pipeline.xlsx.reader import ResultWorkbook

#: States in which an accepted workbook's receipt says the list went to the examiner.
_SUBMITTED: Final = (ListState.SUBMITTED, ListState.AWAITING_APPROVAL)


@dataclass
class Concluded:
    """What :func:`conclude` wrote: the receipt (and marked workbook), for the list as it is."""

    data: ReceiptData
    receipt: Path
    result_list: ResultList | None


def list_head(session: Session, listnr: int | None) -> ResultList | None:
    """The list with its course and module (one query), or ``None``."""
    if not listnr:
        return None
    try:
        return get_list_head(session, listnr)
    except NotFound:
        return None


def conclude(
    session: Session,
    ctx: DroppedFile,
    wb: ResultWorkbook,
    outcome: WorkbookCheck,
    *,
    receipt_status: str,
    kind: Kind,
) -> Concluded:
    """Receipt, marked workbook, receipt copy and record of a checked workbook, in
    ``session`` (the transaction that applied it, if it was applied)."""
    app = ctx.app
    stem = ctx.stem(wb.listnr)
    status = FileOutcome.ACCEPTED if outcome.accepted else FileOutcome.REJECTED
    # The list as applied is at hand (the same object a query would give).
    result_list = outcome.applied_to or list_head(session, outcome.listnr)
    if ctx.named is None and result_list is not None:
        ctx.named = result_list.examiner if kind is Kind.REVIEW_WORKBOOK else result_list.reporter
    data = ReceiptData(
        status=receipt_status,
        file_name=ctx.claimed.original_name,
        received=ctx.received,
        kept_at=ctx.kept_at(status),
        language=outcome.language,
        listnr=outcome.listnr,
        course=result_list.course.code if result_list else None,
        module=result_list.module.code if result_list and result_list.module else None,
        problems=outcome.report.sorted_problems(),
        graded=outcome.graded,
        students=outcome.students,
        changed=outcome.changed,
        version=outcome.version,
        submitted=outcome.accepted and outcome.state in _SUBMITTED,
        examiner=result_list.examiner if result_list else None,
        notes=[str(messages(outcome.language, app.root)["notes"].get(n, n)) for n in outcome.notes]
        + formula_notes(wb, outcome.language, app.root),
        fresh_workbook=(
            ctx.shown(app.settings.lists_dir / f"{outcome.listnr}.xlsx")
            if outcome.reissue
            else None
        ),
    )
    marked: Path | None = None
    if not outcome.accepted:
        marked = marked_copy(
            app,
            session,
            wb,
            result_list,
            data.problems,
            app.settings.receipts_dir / f"{stem}_fel.xlsx",
            language=outcome.language,
        )
        data.marked_workbook = ctx.shown(marked) if marked else None
    receipt_path = write_receipt(app.settings, stem, data)
    hand_over(session, ctx, data.listnr, receipt_path, *([marked] if marked else []))
    try:
        record(session, ctx, status=status, kind=kind, listnr=outcome.listnr, receipt=receipt_path)
        session.flush()
    except BaseException:
        receipt_path.unlink(missing_ok=True)
        if marked is not None:
            marked.unlink(missing_ok=True)
        raise
    return Concluded(data, receipt_path, result_list)
