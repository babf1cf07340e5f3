"""Workbooks really saved by LibreOffice Calc (xlsx and ods) are read and accepted.

The fixtures were made by tests/data/make_libreoffice_fixtures.py: issued from the same
deterministic registry and HMAC key as here, filled, then opened and saved by LibreOffice.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.app import App
from pipeline.intake.inbox import Inbox
from pipeline.models import FileOutcome, ListState, ResultList
from pipeline.settings import KEY_ENV
from tests.data.make_libreoffice_fixtures import FIXTURE_KEY
from tests.factories import new_exam_list, seed

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("suffix", ["xlsx", "ods"])
def test_libreoffice_saved_workbook_accepted(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    fixture = DATA / f"t33_saved_by_libreoffice.{suffix}"
    with zipfile.ZipFile(fixture) as zf:
        producer = zf.read("docProps/app.xml" if suffix == "xlsx" else "meta.xml")
    assert b"LibreOffice" in producer
    monkeypatch.setenv(KEY_ENV, FIXTURE_KEY)
    app = App.open(workspace, actor="test", admin=True)
    try:
        seeded = seed(app, students=6)
        listnr = new_exam_list(app)
        shutil.copy(fixture, app.settings.inbox / fixture.name)
        [result] = Inbox(app).process_once()
        assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
        with app.db.session() as session:
            rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
            assert rl.state == ListState.AWAITING_APPROVAL
            got = {e.student.pnr: (e.grade, e.grade_date, e.points, e.comment) for e in rl.entries}
        p = seeded.pnrs
        assert got[p[0]][:2] == ("5", dt.date(2026, 11, 2)) and float(got[p[0]][2] or 0) == 44
        assert got[p[1]][:2] == ("3", dt.date(2026, 11, 2)) and float(got[p[1]][2] or 0) == 28.5
        assert got[p[2]][0] == "U"
        assert got[p[3]] == ("4", dt.date(2026, 11, 3), None, "Omtentamen, rättad av Åsa Öberg")
        assert got[p[4]] == (None, None, None, None)
    finally:
        app.close()
