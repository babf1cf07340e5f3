"""A signed archive list's scan dropped as ``<listnr>_signerad.pdf``: the list is archived.

Owns telling such a file by its name (for the identify stage), checking it is a PDF (the
``%PDF-`` magic, and pikepdf opens it) and calling
:func:`pipeline.lifecycle.after_approval.signed` with the scan, the dropper acting (the
office's folder or an office member's; the role check is signed's). Archiving is signed's.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pikepdf

from pipeline.errors import ResultatError
from pipeline.forms import book
from pipeline.forms.confirmation import state_problem
from pipeline.intake.dropped import DroppedFile, Kind
from pipeline.intake.outcomes import Accepted, Refused
from pipeline.intake.report import Problem
from pipeline.lifecycle import after_approval
from pipeline.models import ListState
from pipeline.people import directory, roles
from pipeline.people.directory import OFFICE

log = logging.getLogger("resultat.forms")


def scan_listnr(name: str, workspace: Path | None = None) -> int | None:
    """The list number of a scan's file name (``1001_signerad.pdf``), else ``None``."""
    pattern = book.rules("confirmation", workspace)["scan_name"]
    found = re.fullmatch(pattern, name.strip(), re.IGNORECASE)
    return int(found.group("listnr")) if found else None


def pdf_problem(path: Path, name: str, listnr: int, max_bytes: int) -> Problem | None:
    """``None`` for a PDF that opens; else what is wrong with it."""
    size = path.stat().st_size
    if size > max_bytes:
        return Problem(
            "scan-too-large",
            {
                "file": name,
                "size_mb": round(size / 1048576, 1),
                "limit_mb": round(max_bytes / 1048576, 1),
            },
        )
    with path.open("rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        return Problem("scan-not-pdf", {"file": name, "listnr": listnr})
    try:
        with pikepdf.open(path) as pdf:
            if len(pdf.pages) < 1:
                raise pikepdf.PdfError("no pages")
    except (pikepdf.PdfError, ValueError, OSError) as exc:
        return Problem("scan-damaged", {"file": name, "detail": str(exc)[:200]})
    return None


def signed_scan(ctx: DroppedFile) -> Accepted | Refused | None:
    """Archive the list a signed scan is for; ``None`` for any other file."""
    if ctx.kind is not Kind.SIGNED_SCAN or ctx.listnr is None:
        return None
    app = ctx.app
    listnr = ctx.listnr
    ctx.named = ctx.named or OFFICE
    with app.db.read_session() as session:
        me = directory.person(session, app.username)
        language = me.language if me else app.settings.language
        result = book.FormResult(language, listnr=None)
        try:
            roles.may_confirm(session, app.username, admin=app.admin, listnr=listnr)
        except roles.NotPermitted as exc:
            result.problems.append(
                Problem("form-not-done", {"detail": exc.render(language, app.root)})
            )
    if not result.problems:
        limit = int(book.rules("confirmation", app.root)["scan_max_bytes"])
        wrong = pdf_problem(ctx.claimed.path, ctx.claimed.original_name, listnr, limit)
        wrong = wrong or state_problem(app, None, None, listnr, ListState.REGISTERED, language)
        if wrong is not None:
            result.problems.append(wrong)
    if not result.problems:
        try:
            after_approval.signed(app, listnr, scan=ctx.claimed.path)
        except ResultatError as exc:
            log.info("list %d not archived: %s", listnr, type(exc).__name__)
            result.problems.append(
                Problem("form-not-done", {"detail": exc.render(language, app.root)})
            )
        else:
            result.listnr = listnr
            result.done.append(book.done_line(app, None, None, "signed", language, listnr=listnr))
    return book.conclude(ctx, None, result, Kind.SIGNED_SCAN)
