"""The list state machine: every allowed transition is made and stored, every other one is
refused and leaves the stored state alone, and no other module assigns a list's state."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

import pipeline
from pipeline import texts
from pipeline.app import App
from pipeline.errors import ResultatError
from pipeline.lists import state
from pipeline.lists.query import get_list
from pipeline.lists.state import INITIAL, TRANSITIONS, IllegalTransition, Role
from pipeline.models import ListState, ResultList
from tests.factories import new_exam_list, seed

#: An assignment of a list's state: ``x.state = ListState...`` or ``state=ListState...`` in a
#: call, or ``<a list>.state = ...`` whatever the value (other records' ``state`` fields, an
#: intake outcome's for one, are not a list's).
ASSIGNS_STATE = re.compile(
    r"\bstate\s*=\s*ListState\b|\b(result_list|rl|original|correction|\w*_list)\.state\s*=(?!=)"
)
PACKAGE = Path(pipeline.__file__).parent


def _stored(app: App, listnr: int) -> ListState:
    with app.db.session() as session:
        found = session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one()
        return ListState(found)


def _put(app: App, listnr: int, value: ListState) -> None:
    # The test's own back door to set up a starting state (not pipeline code).
    with app.db.session() as session:
        session.execute(update(ResultList).where(ResultList.listnr == listnr).values(state=value))


def test_every_allowed_and_every_forbidden_transition(app: App) -> None:
    seed(app, students=2)
    listnr = new_exam_list(app)
    assert _stored(app, listnr) == INITIAL == ListState.DRAFT
    edges = {(t.source, t.target): t.who for t in TRANSITIONS}
    made = refused = 0
    for source, target, role in itertools.product(ListState, ListState, Role):
        _put(app, listnr, source)
        ok = role in edges.get((source, target), frozenset())
        assert state.allowed(source, target, role) is ok
        if ok:
            with app.db.session() as session:
                row = state.transition(get_list(session, listnr), target, role=role)
            assert (row.source, row.target) == (source, target)
            assert _stored(app, listnr) == target, (source, target, role)
            made += 1
        else:
            with pytest.raises(IllegalTransition) as caught, app.db.session() as session:
                state.transition(get_list(session, listnr), target, role=role)
            assert isinstance(caught.value, ResultatError)
            assert f"{source.value} → {target.value}" in str(caught.value)
            assert _stored(app, listnr) == source, (source, target, role)
            refused += 1
    assert made == sum(len(t.who) for t in TRANSITIONS)
    assert made + refused == len(ListState) ** 2 * len(Role)


def test_the_table_holds_the_designed_life_of_a_list() -> None:
    path = [
        ListState.DRAFT,
        ListState.SUBMITTED,
        ListState.AWAITING_APPROVAL,
        ListState.APPROVED,
        ListState.REGISTERED,
        ListState.ARCHIVED,
    ]
    edges = {(t.source, t.target) for t in TRANSITIONS}
    assert set(itertools.pairwise(path)) <= edges
    # Rejection sends a waiting list back to draft; nothing leaves an archived list.
    assert (ListState.AWAITING_APPROVAL, ListState.DRAFT) in edges
    assert not any(source == ListState.ARCHIVED for source, _ in edges)
    assert not any(
        target == ListState.DRAFT
        for source, target in edges
        if source in (ListState.APPROVED, ListState.REGISTERED)
    )
    assert len(edges) == len(TRANSITIONS)
    assert all(t.who and t.triggers for t in TRANSITIONS)


def test_a_new_list_begins_as_draft_and_only_once() -> None:
    fresh = ResultList(listnr=1)
    state.begin(fresh)
    assert fresh.state == ListState.DRAFT
    with pytest.raises(IllegalTransition):
        state.begin(fresh)


def test_no_other_module_assigns_a_list_state() -> None:
    assert ASSIGNS_STATE.search("result_list.state = ListState.DRAFT")
    assert ASSIGNS_STATE.search("ResultList(listnr=1, state=ListState.DRAFT)")
    assert ASSIGNS_STATE.search("result_list.state = target")
    assert not ASSIGNS_STATE.search("if result_list.state == ListState.DRAFT:")
    assert not ASSIGNS_STATE.search("outcome.state = result_list.state.value")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "lists" / "state.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ASSIGNS_STATE.search(line)
    ]
    assert offenders == []


def test_texts_of_lists_and_lifecycle_exist_in_both_languages() -> None:
    """Same keys in sv and en, and every literal key the two packages ask for is there."""
    sv = {k for k in texts.keys("sv") if k.startswith(("lists.", "lifecycle."))}
    en = {k for k in texts.keys("en") if k.startswith(("lists.", "lifecycle."))}
    assert sv == en and len(sv) > 50
    used = {
        match
        for folder in ("lists", "lifecycle")
        for path in (PACKAGE / folder).glob("*.py")
        for match in re.findall(
            r"""\bt\(\s*"((?:lists|lifecycle)\.[\w.-]+)\"""", path.read_text("utf-8")
        )
    }
    assert used and used <= sv, used - sv
    assert texts.t("lists.list-not-found", "en", listnr=7) == "Result list 7 does not exist."
