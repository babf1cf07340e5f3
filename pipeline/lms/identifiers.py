"""How an export's student identifiers are shown in a receipt: each kind by its own rule.

A personnummer is shown as :func:`pipeline.domain.personnummer.mask` shows it (birth year
and month). Other identifiers are not personnummer and are never run through that mask:
a LADOK student UID (a UUID) keeps its first group and its last four characters, an email
address the start and end of its local part and its domain, and a user name or SIS id is
shown as it is unless a run of its digits looks like a personnummer (then only that run is
masked). Each is prefixed by what it is (the export's own header, or ``LADOK UID``), so
two rows that differ look different. Matching rows to students is
:mod:`pipeline.lms.matching`'s; this module only shows.
"""

from __future__ import annotations

import re
from typing import Final

from pipeline.domain import personnummer

#: A LADOK student UID, as ladok3 writes it and Canvas keeps it as an Integration ID.
LADOK_UID: Final = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
UID_LABEL: Final = "LADOK UID"  # i18n: not people-facing: the identifier's proper name
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+$")


def kind_of(text: str) -> str:
    """``personnummer``, ``ladok-uid``, ``email`` or ``other``."""
    text = text.strip()
    if LADOK_UID.match(text):
        return "ladok-uid"
    if _EMAIL.match(text):
        return "email"
    try:
        personnummer.parse(text)
    except personnummer.PersonnummerError:
        return "other"
    return "personnummer"


def mask_uid(text: str) -> str:
    text = text.strip().lower()
    return f"{text[:8]}-…-{text[-4:]}"


def mask_email(text: str) -> str:
    local, _, domain = text.strip().rpartition("@")
    if len(local) > 4:
        local = f"{local[:3]}…{local[-1]}"
    else:
        local = f"{local[:1]}…"
    return f"{local}@{domain}"


def shown(text: str, label: str = "") -> str:
    """``text`` as a receipt shows it, by its own kind's rule, after ``label``."""
    text = text.strip()
    kind = kind_of(text)
    if kind == "personnummer":
        return personnummer.mask(personnummer.parse(text).digits)
    if kind == "ladok-uid":
        return f"{UID_LABEL} {mask_uid(text)}"
    masked = mask_email(text) if kind == "email" else personnummer.mask_text(text)
    return f"{label.strip()} {masked}".strip()
