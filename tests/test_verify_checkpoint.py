"""verify from its signed checkpoint (issue 19): what came after it is checked, every list's
current state is re-checked, a tampered checkpoint is a finding, --full walks everything."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from pipeline.app import App
from pipeline.cli import app as cli_app
from pipeline.lifecycle import archive_checkpoint
from pipeline.lifecycle.archive_check_since import check_records
from pipeline.lists.digest import _dumps, plain_row, row_json
from pipeline.models import AuditEvent, ListEntry, ResultList
from tests.factories import new_exam_list, seed
from tests.test_tamper import _approved, _grade_of, kinds

pytestmark = pytest.mark.slow  # a list taken through approval, then verify several times

runner = CliRunner()


def _verify(app: App, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    env = {"RESULTAT_DATABASE_URL": app.settings.database_url}
    result = runner.invoke(
        cli_app, ["--workspace", str(app.root), "verify", "--json", *extra], env=env
    )
    return result.exit_code, json.loads(result.stdout)["findings"]


def _checked(app: App) -> Any:
    with app.db.read_session() as session:
        return check_records(session, app.settings, None, full=False)


@pytest.fixture
def checked(app: App) -> dict[str, Any]:
    """An approved list and a draft; one clean verify has written the checkpoint."""
    s = seed(app, students=4)
    approved = _approved(app, s.pnrs, "betyg1.xlsx")
    draft = new_exam_list(app)
    assert _verify(app) == (0, [])
    assert archive_checkpoint.path_of(app.settings).is_file()
    return {"approved": approved, "draft": draft, "pnrs": s.pnrs}


def test_clean_run_starts_at_the_checkpoint(app: App, checked: dict[str, Any]) -> None:
    check = _checked(app)
    assert check.incremental and check.findings == []
    assert check.facts.check.events == 0 and check.rehashed == 0  # nothing new, nothing changed
    with app.db.read_session() as session:
        total = session.execute(select(AuditEvent.id)).scalars().all()
    assert check.facts.events == len(total)
    new_exam_list(app)  # events after the checkpoint: only the new list is hashed in full
    check = _checked(app)
    assert check.findings == [] and check.facts.check.events == 1 and check.rehashed == 1
    assert _verify(app, "--full") == (0, [])


def test_list_edited_after_the_checkpoint_is_found(app: App, checked: dict[str, Any]) -> None:
    listnr = checked["approved"]
    _grade_of(app, listnr, checked["pnrs"][1], "5")
    code, findings = _verify(app)
    assert code != 0
    [changed] = [f for f in findings if f["kind"] == "field-changed"]
    assert (changed["listnr"], changed["row"]) == (listnr, 2)
    # a draft's points changed directly in the database: named as changed records
    with app.db.session() as session:
        list_id = session.execute(
            select(ResultList.id).where(ResultList.listnr == checked["draft"])
        ).scalar_one()
        session.execute(
            update(ListEntry).where(ListEntry.list_id == list_id).values(points=Decimal("9.5"))
        )
    code, findings = _verify(app)
    assert {f["listnr"] for f in findings if f["kind"] == "records-changed"} == {checked["draft"]}
    # the finding stays until it is dealt with: no new checkpoint was written over it
    assert _verify(app)[0] != 0


def test_list_deleted_after_the_checkpoint_is_found(app: App, checked: dict[str, Any]) -> None:
    with app.db.session() as session:
        list_id = session.execute(
            select(ResultList.id).where(ResultList.listnr == checked["draft"])
        ).scalar_one()
        session.execute(delete(ListEntry).where(ListEntry.list_id == list_id))
        session.execute(delete(ResultList).where(ResultList.id == list_id))
    code, findings = _verify(app)
    assert code != 0
    assert [f["listnr"] for f in findings if f["kind"] == "list-deleted"] == [checked["draft"]]


def test_event_after_the_checkpoint_tampered(app: App, checked: dict[str, Any]) -> None:
    later = new_exam_list(app)
    with app.db.session() as session:
        event = session.execute(
            select(AuditEvent.id).where(AuditEvent.listnr == later)
        ).scalar_one()
        session.execute(update(AuditEvent).where(AuditEvent.id == event).values(actor="mallory"))
    code, findings = _verify(app)
    assert code != 0
    assert findings[0]["kind"] == "chain-content-changed" and findings[0]["event_id"] == event


def test_event_before_the_checkpoint_is_found_by_full(app: App, checked: dict[str, Any]) -> None:
    """The checkpoint vouches for the chain up to its event; --full walks it again."""
    with app.db.session() as session:
        first = session.execute(select(AuditEvent.id).order_by(AuditEvent.id).limit(1))
        event = first.scalar_one()
        session.execute(update(AuditEvent).where(AuditEvent.id == event).values(actor="mallory"))
    assert _verify(app) == (0, [])
    code, findings = _verify(app, "--full")
    assert code != 0 and findings[0]["kind"] == "chain-content-changed"


@pytest.mark.parametrize("how", ["edited", "unsigned", "garbage", "anchor"])
def test_tampered_checkpoint_is_a_finding(app: App, checked: dict[str, Any], how: str) -> None:
    path = archive_checkpoint.path_of(app.settings)
    body = json.loads(path.read_text(encoding="utf-8"))
    if how == "edited":  # a forger makes the grade edit below look verified
        body["lists"][str(checked["approved"])][0] = "0" * 64
    elif how == "unsigned":
        body["signature"] = "AAAA"
    elif how == "anchor":  # the chain's events rewritten up to the checkpoint's one
        with app.db.session() as session:
            session.execute(
                update(AuditEvent).where(AuditEvent.id == body["event_id"]).values(hash="f" * 64)
            )
    path.write_text("{not json" if how == "garbage" else json.dumps(body), encoding="utf-8")
    _grade_of(app, checked["approved"], checked["pnrs"][1], "5")
    code, found = _verify(app)
    assert code != 0
    expected = {
        "edited": "checkpoint-signature",
        "unsigned": "checkpoint-signature",
        "garbage": "checkpoint-unreadable",
        "anchor": "checkpoint-mismatch",
    }[how]
    assert expected in kinds(found)
    # everything was walked from the start: the edited grade is named all the same
    assert "field-changed" in kinds(found)


def test_row_json_is_the_canonical_row() -> None:
    rows = [
        (
            "199001011234",
            'Öst"er',
            "An\\na\n\x01",
            "5",
            None,
            dt.date(2026, 1, 2),
            Decimal("17.5"),
            "a\u2028b",
        ),
        ("1", "l", "f", None, "A", None, None, None),
        ("1", "l", "f", "U", "F", dt.date(2026, 1, 2), 17, "=x"),
        ("1", "l", "f", "U", "F", dt.date(2026, 1, 2), 17.25, "\ud800 emoji \U0001f600"),
    ]
    for row in rows:
        assert row_json(*row) == _dumps(plain_row(*row))
