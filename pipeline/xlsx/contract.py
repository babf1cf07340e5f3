"""The contract between an issued workbook and the reader of a dropped one.

Owns what both sides must agree on: the layout file (``templates/workbook.yaml``), where the
header, the first row and the input cells are, which fields a list's columns hold and in
which order (:func:`field_order`), which of them are inputs and which are read back, how the
personnummer column shows a number, how the metadata sheet's roster is chunked, and the HMAC
over the signed metadata keys and the roster (:func:`sign`, :func:`verify`).

Signature versions: a workbook of version 2 (``signature_version`` in its metadata) also signs
the names issued on each row (:func:`names_cells`, read back by :func:`issued_names`), so each
row's position is bound to its personnummer and name. A workbook without the key was issued
before that and is verified exactly as it was then (metadata and roster only).

Writing a workbook is :mod:`pipeline.xlsx.workbook`'s; reading one back is
:mod:`pipeline.xlsx.reader`'s. Where the signing key comes from is the caller's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any, Final

from pipeline import resources
from pipeline.lists.query import ListHead
from pipeline.models import ListKind, ResultList

FORMAT: Final = "resultat-workbook"
SCHEMA_VERSION: Final = 1
#: What the HMAC covers: 1 metadata and roster, 2 also each row's names (see module docstring).
SIGNATURE_VERSION: Final = 2
#: Prefix of the metadata keys holding the issued rows' names (``names.1``, ``names.2``, …).
NAMES_KEY: Final = "names."
#: Most characters of names in one cell of the metadata sheet (a cell holds 32,767).
NAMES_PER_CELL_CHARS: Final = 20_000
HEADER_ROW: Final = 15
FIRST_ROW: Final = HEADER_ROW + 1
ACTION_CELL: Final = "B13"
IDENTITY_ROW: Final = 4
#: Keys of the metadata sheet that the HMAC covers, in this order.
SIGNED_KEYS: Final = (
    "format",
    "kind",
    "listnr",
    "version",
    "schema_version",
    "course",
    "module",
    "term",
    "sheet",
    "header_row",
    "first_row",
    "columns",
    "action_cell",
    "language",
    "purpose",
    "content_hash",
    "code_cell",
    "reason_cell",
    "lms_column_cell",
    "thresholds_cell",
    "signature_version",
    "name_columns",
)
#: A T33 results workbook's cells for merging learning-platform exports (see pipeline.lms.merge).
LMS_COLUMN_CELL: Final = "B12"
THRESHOLDS_CELL: Final = "B14"
#: A review workbook (sent to the examiner) has these two input cells instead of the action.
CODE_CELL: Final = "B13"
REASON_CELL: Final = "B14"


def layout(workspace: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = resources.load_yaml("templates", "workbook.yaml", workspace)
    return data


def sign(key: bytes, meta: dict[str, str], roster: list[str]) -> str:
    """HMAC-SHA256 over the signed metadata keys and the roster, as canonical JSON."""
    # Only keys present are signed, so removing one (e.g. "purpose") breaks the signature.
    signed = {k: meta[k] for k in SIGNED_KEYS if k in meta}
    body: dict[str, Any] = {"meta": signed, "roster": roster}
    if "signature_version" in meta:
        # Version 2 on: the rows' names too, cell by cell as written (a cell removed, added or
        # edited breaks the signature). Version 1's message stays as it was.
        body["names"] = [meta[k] for k in _names_keys(meta)]
    message = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(key: bytes, meta: dict[str, str], roster: list[str]) -> bool:
    # Bytes, not str: compare_digest refuses a str with non-ASCII characters, and a damaged
    # workbook's hidden sheet may hold any text.
    given = str(meta.get("hmac", "")).encode("utf-8", "surrogatepass")
    return hmac.compare_digest(sign(key, meta, roster).encode("ascii"), given)


def _names_keys(meta: dict[str, str]) -> list[str]:
    keys = [k for k in meta if k.startswith(NAMES_KEY) and k[len(NAMES_KEY) :].isdigit()]
    return sorted(keys, key=lambda k: int(k[len(NAMES_KEY) :]))


def names_cells(names: list[tuple[str, str]]) -> dict[str, str]:
    """The issued rows' (surname, given name) as metadata keys ``names.N``: JSON lists of
    pairs, as many rows a cell as fit in :data:`NAMES_PER_CELL_CHARS` (each chunk dumped
    at once: issuing is on the hot path)."""
    chunks: list[list[tuple[str, str]]] = []
    chunk: list[tuple[str, str]] = []
    size = 0
    for pair in names:
        length = len(pair[0]) + len(pair[1]) + 8  # quotes, brackets, commas
        if chunk and size + length > NAMES_PER_CELL_CHARS:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(pair)
        size += length
    if chunk:
        chunks.append(chunk)
    texts: list[str] = []
    while chunks:
        chunk = chunks.pop(0)
        text = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
        if len(text) > _CELL_CHARS and len(chunk) > 1:
            # Escapes made it longer than a cell holds: in two halves instead.
            half = len(chunk) // 2
            chunks[:0] = [chunk[:half], chunk[half:]]
            continue
        texts.append(text)
    return {f"{NAMES_KEY}{number}": text for number, text in enumerate(texts, start=1)}


#: Most characters a spreadsheet cell holds (Excel's limit; LibreOffice's is larger).
_CELL_CHARS: Final = 32_767


def signature_version(meta: dict[str, str]) -> int:
    """1 for a workbook issued before rows were bound to names, else its version."""
    try:
        return int(meta.get("signature_version") or 1)
    except ValueError:
        return 0


def issued_names(meta: dict[str, str], roster: list[str]) -> list[list[str]] | None:
    """Each issued row's ``[surname, given name]`` in row order (the roster's), from a
    version 2 workbook whose signature :func:`verify` accepted; ``None`` when the names do
    not add up to the roster (never so in a workbook we signed)."""
    names: list[Any] = []
    try:
        for key in _names_keys(meta):
            names.extend(json.loads(meta[key]))
    except ValueError:
        return None
    if len(names) != len(roster):
        return None
    # Signed by us, so lists of two texts; checked as cheaply as that can be told.
    if not all(type(n) is list and len(n) == 2 for n in names):
        return None
    return names


def ects_scale_code(result_list: ResultList | ListHead) -> str | None:
    """A module list's ECTS scale is the module's; a final-grade list's the course's."""
    if result_list.module is not None:
        return result_list.module.ects_scale
    return result_list.course.ects_scale


def field_order(result_list: ResultList) -> list[str]:
    t34 = result_list.kind == ListKind.T34
    fields = ["pnr", "last_name", "first_name"]
    if t34:
        for module in result_list.course.modules:
            fields += [
                f"m:{module.code}:grade",
                f"m:{module.code}:date",
                f"m:{module.code}:credits",
            ]
        fields += ["credits_sum", "suggestion"]
    fields.append("grade")
    if ects_scale_code(result_list):
        fields.append("ects_grade")
    fields += ["grade_date"] if t34 else ["grade_date", "points"]
    fields.append("comment")
    if t34:
        fields.append("remove")
    return fields


#: The fields of a row that come from the entry itself, in the order ``build`` reads them.
ENTRY_FIELDS: Final = (
    "pnr",
    "last_name",
    "first_name",
    "grade",
    "ects_grade",
    "grade_date",
    "points",
    "comment",
)
INPUT_FIELDS: Final = frozenset(
    {"grade", "ects_grade", "grade_date", "points", "comment", "remove"}
)
#: Fields a dropped workbook is read back for (the rest is shown, not read).
READ_FIELDS: Final = INPUT_FIELDS | {"pnr"}

#: Personnummer per cell of the metadata sheet's roster (100 × 13 characters a cell).
ROSTER_PER_CELL: Final = 100


def thresholds_text(raw: Any) -> str | None:
    """Stored thresholds (``[[grade, minimum], ...]``) as the text the teacher writes."""
    if not raw:
        return None
    return ",".join(f"{grade}={minimum:g}" for grade, minimum in raw)


def long_pnr(digits: str) -> str:
    """A personnummer's 12 digits as the workbook shows them (``YYYYMMDD-NNNN``)."""
    return f"{digits[:8]}-{digits[8:]}"
