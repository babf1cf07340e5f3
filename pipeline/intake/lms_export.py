"""The stage for an export from the learning platform, named for a list (``1234_canvas.csv``).

Owns taking such a file through :func:`pipeline.lms.merge.merge_file`: merged into a workbook
the teacher checks and drops again (nothing is applied to the list by a merge), a receipt in
the reporter's language and the file's record. Reading platforms and matching students are
:mod:`pipeline.lms`'.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from pipeline import files
from pipeline.intake.dropped import DroppedFile, Kind, hand_over, record
from pipeline.intake.outcomes import Merged, Refused
from pipeline.lms import merge
from pipeline.models import FileOutcome, ResultList, Staff
from pipeline.texts import LANGUAGES

log = logging.getLogger("resultat.inbox")


def lms_export(ctx: DroppedFile) -> Merged | Refused | None:
    """Merge an export into its list's workbook; ``None`` for any other kind of file."""
    listnr = ctx.listnr
    if ctx.kind is not Kind.LMS_EXPORT or listnr is None:
        return None
    app = ctx.app
    claimed = ctx.claimed
    result = merge.merge_file(app, listnr, claimed.path, original_name=claimed.original_name)
    status = FileOutcome.ACCEPTED if result.ok else FileOutcome.REJECTED
    with app.db.session() as session:
        reporter = session.execute(
            select(Staff)
            .join(ResultList, ResultList.reporter == Staff.username)
            .where(ResultList.listnr == listnr)
        ).scalar_one_or_none()
        reporter_name = reporter.username if reporter is not None else None
        language = (
            reporter.language
            if reporter is not None and reporter.language in LANGUAGES
            else app.settings.language
        )
    text = merge.render_receipt(
        app,
        result,
        file_name=claimed.original_name,
        received=ctx.received,
        kept_at=ctx.kept_at(status),
        language=language,
    )
    receipt_path = app.settings.receipts_dir / f"{ctx.stem(listnr)}.txt"
    files.write_text(receipt_path, text)
    with app.db.session() as session:
        record(
            session, ctx, status=status, kind=Kind.LMS_EXPORT, listnr=listnr, receipt=receipt_path
        )
        ctx.named = reporter_name
        merged = [result.workbook] if result.ok and result.workbook is not None else []
        hand_over(session, ctx, listnr, receipt_path, *merged)
    log.info("list %s: LMS export %s, %d merged", listnr, status.value, result.merged)
    problems = tuple(result.problems)
    if result.ok:
        return Merged(listnr, receipt_path, problems)
    return Refused(listnr, receipt_path, problems)
