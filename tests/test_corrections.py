"""Corrections: an approved result is never edited in place; a correction list references it."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.app import App
from pipeline.cli import app as cli_app
from pipeline.errors import AdminRequired, InvalidRequest
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import after_approval as lifecycle
from pipeline.lifecycle import approval
from pipeline.lifecycle import verify as archive_check
from pipeline.lists.create import create_correction
from pipeline.models import AuditEvent, FileOutcome, ListEntry, ListState, ResultList
from pipeline.xlsx import workbook
from tests.factories import fill, new_exam_list, seed, sent_code


def _archived_list(app: App) -> tuple[int, list[str]]:
    s = seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {
            s.pnrs[0]: {"grade": "3", "grade_date": "2026-11-02"},
            s.pnrs[1]: {"grade": "4", "grade_date": "2026-11-02"},
        },
        action="Skicka till examinator",
        target=app.settings.inbox / "a.xlsx",
    )
    Inbox(app).process_once()
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    lifecycle.registered(app, listnr)
    lifecycle.signed(app, listnr)
    return listnr, s.pnrs


def test_correction_path_leaves_the_original_untouched(app: App) -> None:
    original, pnrs = _archived_list(app)
    package = next(app.settings.archive.glob(f"*/{original}"))
    before = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    with pytest.raises(AdminRequired):
        create_correction(app, original, students=[pnrs[0]], admin=False)
    new = create_correction(app, original, students=[pnrs[0]], admin=True)
    issued = workbook.issue(app, new)
    ws = load_workbook(issued.path).worksheets[0]
    assert f"rättelse av lista {original}" in str(ws["A1"].value)
    fill(
        issued.path,
        {pnrs[0]: {"grade": "5", "grade_date": "2026-11-20"}},
        action="Skicka till examinator",
        target=app.settings.inbox / "r.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    assert approval.approve(app, new, sent_code(app, new)).ok
    # The LADOK file of the correction names what it corrects; the manual workbook shows
    # old beside new.
    stem = f"{new}_rattelse_av_{original}"
    tsv = (app.settings.office_outbox / "ladok" / f"{stem}.tsv").read_text("utf-8")
    assert (
        tsv == f"DV1599\t2010\t{pnrs[0][:8]}-{pnrs[0][8:]}\t5\t2026-11-20\t"
        "Lars Lärare <larare1@example.se>\tEva Examinatorsson <exam1@example.se>\n"
    )
    manual = load_workbook(app.settings.office_outbox / "ladok" / f"{stem}_manuell.xlsx").active
    assert manual is not None and manual.title == f"Rättelse av {original}"
    header = [c.value for c in manual[1]]
    row = [c.value for c in manual[2]]
    assert header[-2:] == [f"Tidigare betyg (lista {original})", "Tidigare datum"]
    assert (row[5], row[6], row[7], row[8]) == ("5", "2026-11-20", "3", "2026-11-02")
    import pypdf

    text = "".join(
        page.extract_text()
        for page in pypdf.PdfReader(
            app.settings.office_outbox / "print" / f"{stem}_arkivlista.pdf"
        ).pages
    )
    assert f"Rättelse av lista {original}" in text and "Tidigare: 3 (2026-11-02)" in text
    # The original: its results, state and archive package are exactly as they were.
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == original)).scalar_one()
        assert rl.state == ListState.ARCHIVED
        grades = {e.student.pnr: e.grade for e in rl.entries}
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == "list.correct")
        ).scalar_one()
    assert grades[pnrs[0]] == "3"
    assert event.admin and event.details["corrects"] == original
    after = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert after == before
    assert archive_check.verify(app).ok
    # status shows the link both ways
    runner = CliRunner()
    out = runner.invoke(cli_app, ["-w", str(app.root), "status", "--all"]).output
    assert f"{new} rättar lista {original}" in out  # Swedish, the workspace default
    assert f"{original} rättad av lista {new}" in out
    rows = json.loads(
        runner.invoke(cli_app, ["-w", str(app.root), "status", "--all", "--json"]).output
    )
    assert {r["listnr"] for r in rows} == {original, new}


def test_correction_of_a_list_that_is_not_approved_is_refused(app: App) -> None:
    s = seed(app, students=2)
    listnr = new_exam_list(app)
    with pytest.raises(InvalidRequest):
        create_correction(app, listnr, admin=True)
    with app.db.session() as session:
        assert session.query(ListEntry).count() == len(s.pnrs)
