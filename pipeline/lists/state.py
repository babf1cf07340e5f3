"""The one transition table of a result list's state, and the one function that changes it.

``draft → submitted → awaiting_approval → approved → registered → archived`` (DESIGN.md §4).
An examiner's rejection is the transition ``awaiting_approval/submitted → draft`` (the list is
not kept in a ``rejected`` state: the reporter works on the draft again), and so is any
change to a list waiting for approval. Corrections are new lists (``draft``) referencing the
old one.

Owns: :data:`TRANSITIONS` (from, to, who may, what it triggers, as data), :data:`INITIAL`,
and :func:`transition` / :func:`begin`, the only code that assigns ``ResultList.state``.
Leaves to callers: whether the acting person really holds the role they act in (the
registry, the folder, the verified mail address), the audit event of the change (each caller
records its own, with its own details), and running what a transition triggers — the
``triggers`` field names it so that a reader of this table sees the whole life of a list.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from pipeline.errors import InvalidRequest
from pipeline.models import ListState, ResultList
from pipeline.texts import t


class Role(enum.StrEnum):
    """In which capacity a transition is made."""

    REPORTER = "reporter"
    EXAMINER = "examiner"
    OFFICE = "office"
    ADMIN = "admin"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed change of state: who may make it and what follows from it."""

    source: ListState
    target: ListState
    who: frozenset[Role]
    triggers: str


class IllegalTransition(InvalidRequest):
    """A change of state the table does not allow (or not for this role)."""

    def __init__(
        self, listnr: int, source: ListState, target: ListState, role: Role | None
    ) -> None:
        self.listnr = listnr
        self.source = source
        self.target = target
        self.role = role
        who = t("lists.as-role", role=role.value) if role is not None else ""
        super().__init__(
            t(
                "lists.illegal-transition",
                listnr=listnr,
                source=source.value,
                target=target.value,
                who=who,
            )
        )


S: Final = ListState
R: Final = Role

#: The state of every new list (T33, T34 and corrections alike).
INITIAL: Final = ListState.DRAFT

TRANSITIONS: Final[tuple[Transition, ...]] = (
    Transition(
        S.DRAFT,
        S.SUBMITTED,
        frozenset({R.REPORTER, R.EXAMINER}),
        "list.submit: approval requested from the examiner (lifecycle.approval.request_approval)",
    ),
    Transition(
        S.SUBMITTED,
        S.AWAITING_APPROVAL,
        frozenset({R.SYSTEM}),
        "approval.requested: one-time code by SMS, review mail to the examiner",
    ),
    Transition(
        S.SUBMITTED,
        S.SUBMITTED,
        frozenset({R.SYSTEM}),
        "approval.blocked: no examiner or no mobile number; the list waits",
    ),
    Transition(
        S.AWAITING_APPROVAL,
        S.AWAITING_APPROVAL,
        frozenset({R.SYSTEM}),
        "approval.requested again (resend-code): old codes voided, a new one sent",
    ),
    Transition(
        S.AWAITING_APPROVAL,
        S.SUBMITTED,
        frozenset({R.SYSTEM}),
        "approval.blocked on a resend: the examiner has no mobile number any more",
    ),
    Transition(
        S.AWAITING_APPROVAL,
        S.APPROVED,
        frozenset({R.EXAMINER}),
        "list.approve: LADOK files, archive PDF, mail to the student office "
        "(lifecycle.after_approval.after_approval)",
    ),
    Transition(
        S.AWAITING_APPROVAL,
        S.DRAFT,
        frozenset({R.EXAMINER, R.REPORTER, R.OFFICE, R.ADMIN}),
        "list.reject (examiner) or a change to the list (list.results, list.add-students): "
        "codes voided, the reporter works on the draft",
    ),
    Transition(
        S.SUBMITTED,
        S.DRAFT,
        frozenset({R.EXAMINER, R.REPORTER, R.OFFICE, R.ADMIN}),
        "list.reject (examiner) or a change to the list (list.results, list.add-students)",
    ),
    Transition(
        S.APPROVED,
        S.REGISTERED,
        frozenset({R.OFFICE, R.ADMIN}),
        "list.registered: every student mailed their result",
    ),
    Transition(
        S.REGISTERED,
        S.ARCHIVED,
        frozenset({R.OFFICE, R.ADMIN}),
        "list.archive: the signed list archived as a BagIt package",
    ),
)

_BY_EDGE: Final = {(t.source, t.target): t for t in TRANSITIONS}


def allowed(source: ListState, target: ListState, role: Role) -> bool:
    """Whether ``role`` may move a list from ``source`` to ``target``."""
    found = _BY_EDGE.get((source, target))
    return found is not None and role in found.who


def transition(result_list: ResultList, to: ListState, *, role: Role) -> Transition:
    """Move ``result_list`` to ``to`` in the caller's transaction; returns the table's row.

    Raises :class:`IllegalTransition` (nothing changed) when the table has no such row or
    not for ``role``.
    """
    source = result_list.state
    found = _BY_EDGE.get((source, to))
    if found is None or role not in found.who:
        raise IllegalTransition(result_list.listnr, source, to, role)
    result_list.state = to
    return found


def begin(result_list: ResultList) -> None:
    """Give a new, not yet stored list its first state, :data:`INITIAL`."""
    if result_list.state is not None:
        raise IllegalTransition(result_list.listnr, result_list.state, INITIAL, None)
    result_list.state = INITIAL
