"""The overview in proportion: status.xlsx shows open lists and the current and last term; each
finished term gets its own file, written once."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from pipeline.app import App
from pipeline.domain import terms
from pipeline.messages import overview
from pipeline.models import ListState, ResultList
from tests.factories import new_exam_list, seed

TODAY = dt.date(2027, 3, 24)  # VT2027: the last term is HT2026


def _set(app: App, listnr: int, **fields: object) -> None:
    with app.db.session() as s:
        rl = s.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        for name, value in fields.items():
            setattr(rl, name, value)


def _listed(path: Path) -> dict[int, tuple[str, str]]:
    ws = load_workbook(path).worksheets[0]
    return {
        int(ws.cell(row=r, column=1).value): (
            ws.cell(row=r, column=5).value,
            ws.cell(row=r, column=8).value,
        )
        for r in range(2, ws.max_row + 1)
    }


def test_terms_previous_and_finished() -> None:
    assert terms.previous("VT2027") == "HT2026"
    assert terms.previous("HT2026") == "VT2026"
    seen = ["HT2026", "VT2026", "HT2025", "VT2027", "HT2024", "nonsense"]
    assert terms.finished_before("VT2027", seen) == ["HT2024", "HT2025", "VT2026"]


def test_current_view_and_finished_terms_written_once(app: App) -> None:
    seed(app, students=3)
    last_term, old_open, old_done, older = (new_exam_list(app) for _ in range(4))
    # last_term stays HT2026 (a draft); the others are of finished terms.
    _set(app, old_open, term="HT2025")  # still a draft: open, shown in status.xlsx
    _set(app, old_done, term="HT2025", state=ListState.REGISTERED)
    _set(app, older, term="VT2026", state=ListState.REGISTERED)
    current = new_exam_list(app)
    _set(app, current, term="VT2027", state=ListState.REGISTERED)

    path = overview.write_overview(app, today=TODAY)
    assert _listed(path) == {
        last_term: ("HT2026", "utkast"),
        old_open: ("HT2025", "utkast"),
        current: ("VT2027", "registrerad i Ladok"),
    }
    folder = path.parent
    ht2025, vt2026 = folder / "status-HT2025.xlsx", folder / "status-VT2026.xlsx"
    assert _listed(ht2025) == {
        old_open: ("HT2025", "utkast"),
        old_done: ("HT2025", "registrerad i Ladok"),
    }
    assert _listed(vt2026) == {older: ("VT2026", "registrerad i Ladok")}
    assert sorted(p.name for p in folder.glob("status*.xlsx")) == [
        "status-HT2025.xlsx",
        "status-VT2026.xlsx",
        "status.xlsx",
    ]

    # Later passes rewrite status.xlsx only: a finished term's file keeps its bytes and mtime.
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (ht2025, vt2026)}
    past = 1_600_000_000
    os.utime(ht2025, (past, past))
    os.utime(vt2026, (past, past))
    _set(app, old_open, state=ListState.APPROVED)
    _set(app, old_done, due_date=dt.date(2025, 12, 1))
    overview.write_overview(app, today=TODAY)
    overview.write_overview(app, today=TODAY)
    for p, (data, _mtime) in before.items():
        assert p.read_bytes() == data
        assert p.stat().st_mtime_ns == past * 1_000_000_000
    assert _listed(path)[old_open] == ("HT2025", "attesterad")


def test_lists_of_the_whole_history_are_not_read(app: App) -> None:
    """The current view's query reads only the lists it shows."""
    seed(app, students=3)
    shown, hidden = new_exam_list(app), new_exam_list(app)
    _set(app, hidden, term="VT2020", state=ListState.REGISTERED)
    rows = overview.collect(app, today=TODAY)
    assert [r.listnr for r in rows] == [shown]
    assert [r.listnr for r in overview.collect(app, today=TODAY, term="VT2020")] == [hidden]
    assert rows[0].students == 3


def test_unchanged_overview_is_not_rewritten(app: App) -> None:
    """A pass whose rows are what status.xlsx shows leaves it alone; a change rewrites it."""
    seed(app, students=3)
    shown = new_exam_list(app)
    path = overview.write_overview(app, today=TODAY)
    past = 1_600_000_000
    os.utime(path, (past, past))
    overview.write_overview(app, today=TODAY)
    assert path.stat().st_mtime_ns == past * 1_000_000_000  # same rows: not rewritten
    _set(app, shown, state=ListState.APPROVED)
    overview.write_overview(app, today=TODAY)
    assert path.stat().st_mtime_ns != past * 1_000_000_000
    assert _listed(path)[shown][1] == "attesterad"
    os.utime(path, (past, past))
    overview.write_overview(app, today=TODAY + dt.timedelta(days=1))  # a new day: rewritten
    assert path.stat().st_mtime_ns != past * 1_000_000_000
    path.unlink()  # a file someone removed is written again
    overview.write_overview(app, today=TODAY + dt.timedelta(days=1))
    assert _listed(path)[shown][1] == "attesterad"
