"""What a list version holds, as plain data: its rows, its identity, their hash.

Owns :func:`content_rows` (exactly the rows the examiner sees), :func:`list_identity`,
:func:`content_hash` (the SHA-256 every approval, export and archive is bound to),
:func:`grade_counts`, and :func:`void_challenges` — any change to a list voids the codes
issued for the old content. Workbooks, approval, LADOK files and archives read these; this
module imports none of them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.domain.scales import get_scale
from pipeline.models import ApprovalChallenge, ChallengeStatus, ResultList


def content_rows(result_list: ResultList) -> list[dict[str, Any]]:
    """Exactly the rows the examiner sees, in list order, as plain data."""
    rows = []
    for entry in result_list.entries:
        if entry.removed:
            continue
        rows.append(
            {
                "pnr": entry.student.pnr,
                "last_name": entry.student.last_name,
                "first_name": entry.student.first_name,
                "grade": entry.grade,
                "ects_grade": entry.ects_grade,
                "grade_date": entry.grade_date.isoformat() if entry.grade_date else None,
                # Quantized: the database hands back 17.00 for the 17 that was stored.
                "points": (
                    str(Decimal(entry.points).quantize(Decimal("0.01")))
                    if entry.points is not None
                    else None
                ),
                "comment": entry.comment,
            }
        )
    return rows


def list_identity(result_list: ResultList) -> dict[str, Any]:
    """What identifies a list version, as plain data (hashed, exported, archived)."""
    return {
        "listnr": result_list.listnr,
        "kind": result_list.kind.value,
        "course": result_list.course.code,
        "module": result_list.module.code if result_list.module else None,
        "term": result_list.term,
        "version": result_list.version,
    }


def content_hash(result_list: ResultList) -> str:
    """SHA-256 over the list identity and every row, as canonical JSON."""
    body = {**list_identity(result_list), "rows": content_rows(result_list)}
    data = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def grade_counts(result_list: ResultList) -> list[tuple[str, int]]:
    """How many of each grade of the list's scale the active rows hold, in scale order."""
    module = result_list.module
    scale = get_scale(module.scale if module else result_list.course.scale)
    counts = Counter(e.grade for e in result_list.entries if not e.removed and e.grade)
    return [(grade, counts.get(grade, 0)) for grade in scale.grades]


def void_challenges(session: Session, listnr: int, *, reason: str, actor: str) -> int:
    """Void every active code of ``listnr`` (the list changed or was sent back)."""
    result = session.execute(
        update(ApprovalChallenge)
        .where(
            ApprovalChallenge.listnr == listnr,
            ApprovalChallenge.status == ChallengeStatus.ACTIVE,
        )
        .values(status=ChallengeStatus.VOIDED)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        audit.record(
            session,
            actor=actor,
            action="approval.voided",
            listnr=listnr,
            details={"reason": reason, "codes": count},
        )
    return count
