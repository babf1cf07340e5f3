"""A result list's kinds and states (plain enums, so that code which only names a state, such
as ``resultat status``, needs no database layer; :mod:`pipeline.models` maps them)."""

from __future__ import annotations

import enum


class ListState(enum.StrEnum):
    """``draft → submitted → awaiting_approval → approved → registered → archived``;
    an examiner's rejection sends a list back to ``draft``."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REGISTERED = "registered"
    ARCHIVED = "archived"


class ListKind(enum.StrEnum):
    T33 = "t33"
    T34 = "t34"


#: States of a list still being worked on: ``resultat status`` shows these by default.
OPEN_STATES: tuple[ListState, ...] = tuple(
    s for s in ListState if s not in (ListState.REGISTERED, ListState.ARCHIVED)
)
