"""The stage for a result workbook (T33/T34) a teacher filled in and dropped again.

Owns its order of work: checked without the write lock (other workers apply meanwhile),
applied under it (or checked again there when refused, so the receipt is the final word),
receipt and record in the same transaction, and after the commit the fresh workbook of the
list as applied. The checks and applying are :mod:`pipeline.intake.handlers`'.
"""

from __future__ import annotations

import io
import logging
from typing import Final

from sqlalchemy import bindparam, select

from pipeline import files
from pipeline.intake import handlers
from pipeline.intake.dropped import DroppedFile, Kind, accepted_copy, duplicate
from pipeline.intake.outcomes import Accepted, Duplicate, Refused
from pipeline.intake.workbook_receipt import conclude
from pipeline.models import FileOutcome, ResultList
from pipeline.people import delivery
from pipeline.xlsx import workbook

log = logging.getLogger("resultat.inbox")

_LISTS: Final = ResultList.__table__
_LIST_VERSION: Final = select(_LISTS.c.version).where(_LISTS.c.listnr == bindparam("listnr"))


def result_workbook(ctx: DroppedFile) -> Accepted | Refused | Duplicate | None:
    """Check and apply a result workbook; ``None`` for any other kind of file."""
    wb = ctx.workbook
    if ctx.kind is not Kind.RESULT_WORKBOOK or wb is None:
        return None
    app = ctx.app
    with app.db.read_session() as session:
        checked = handlers.check(session, app, wb)
    with app.db.session() as session:
        earlier = accepted_copy(session, ctx.sha, wb.listnr)
        if earlier is not None:
            # Another worker applied the same bytes while this copy waited for the lock.
            session.rollback()
            return duplicate(ctx, wb.listnr, earlier)
        if checked.prepared is not None:
            outcome = handlers.apply_checked(session, app, wb, checked)
        else:
            # Refused: checked again under the lock, so the receipt is the final word.
            outcome = handlers.check_and_apply(session, app, wb)
        concluded_as = Accepted if outcome.accepted else Refused
        concluded = conclude(
            session,
            ctx,
            wb,
            outcome,
            receipt_status=concluded_as.receipt_status,
            kind=Kind.RESULT_WORKBOOK,
        )
        # The fresh workbook is built after the commit, from the list as applied here.
        reissue = concluded.result_list if outcome.reissue else None
    if reissue is not None:
        # Outside the write transaction: other workers apply meanwhile. The list's head and
        # rows are what this transaction committed; the session only looks up names.
        with app.db.read_session() as names:
            names.add(reissue)
            now = names.execute(_LIST_VERSION, {"listnr": reissue.listnr}).scalar_one()
            # Another worker committed a newer version meanwhile: its workbook wins.
            fresh = (
                workbook.build_current(app, reissue, outcome.entries)[0]
                if now == reissue.version
                else None
            )
        if fresh is not None:
            # Zipped once: the same bytes go to the list's folder and the person's outbox.
            buffer = io.BytesIO()
            fresh.save(buffer)
            path = files.write_bytes(
                app.settings.lists_dir / f"{reissue.listnr}.xlsx", buffer.getvalue()
            )
            if ctx.answer_to:
                delivery.place_bytes(app, ctx.answer_to, [(buffer.getvalue(), path.name)])
    status = FileOutcome.ACCEPTED if outcome.accepted else FileOutcome.REJECTED
    log.info(
        "list %s: %s from %s (%d problems)",
        outcome.listnr,
        status.value,
        ctx.claimed.original_name,
        len(outcome.report.problems),
    )
    return concluded_as(outcome.listnr, concluded.receipt, tuple(concluded.data.problems))
