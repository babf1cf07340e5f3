"""What a list version holds, as plain data: its rows, its identity, their hash.

Owns :func:`content_rows` (exactly the rows the examiner sees), :func:`list_identity`,
:func:`content_hash` (the SHA-256 every approval, export and archive is bound to),
:func:`grade_counts`, and :func:`void_challenges` — any change to a list voids the codes
issued for the old content. Workbooks, approval, LADOK files and archives read these; this
module imports none of them.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.domain.scales import get_scale
from pipeline.lists.digest import ROW_FIELDS, hash_content, plain_row
from pipeline.models import ApprovalChallenge, ChallengeStatus, ResultList
from pipeline.xlsx.cells import escape_cell


def content_rows(result_list: ResultList) -> list[dict[str, Any]]:
    """Exactly the rows the examiner sees, in list order, as plain data."""
    return [
        plain_row(
            entry.student.pnr,
            entry.student.last_name,
            entry.student.first_name,
            entry.grade,
            entry.ects_grade,
            entry.grade_date,
            entry.points,
            entry.comment,
        )
        for entry in result_list.entries
        if not entry.removed
    ]


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
    """SHA-256 over the list identity and every row, as canonical JSON
    (:func:`pipeline.lists.digest.hash_content`)."""
    return hash_content(list_identity(result_list), content_rows(result_list))


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


#: The columns of the approved data (``approved.csv``; ``approved.json`` has every field).
DATA_FIELDS: Final = ROW_FIELDS


def approved_data(result_list: ResultList, chash: str) -> tuple[bytes, bytes]:
    """The approved rows as CSV and JSON (machine-readable; embedded in the archive PDF)."""
    rows = content_rows(result_list)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DATA_FIELDS)
    for row in rows:
        writer.writerow([escape_cell(row[f]) if row[f] is not None else "" for f in DATA_FIELDS])
    document = {
        **list_identity(result_list),
        "examiner": result_list.examiner,
        "reporter": result_list.reporter,
        "approved_at": result_list.approved_at.isoformat() if result_list.approved_at else None,
        "content_hash": chash,
        "rows": rows,
    }
    return (
        buffer.getvalue().encode("utf-8"),
        json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"),
    )
