"""Which cells of a dropped workbook's sheet hold a formula (issue 16, item 7).

The parser (:mod:`pipeline.xlsx.parser`) gives each cell's saved value, never its formula, so
a formula never reaches anything we write; this module finds the cells that held one, so
that the receipt can say so. Owns looking at the sheet's XML part of the bytes that
:mod:`pipeline.xlsx.safety` checked (no DTD, no entities, bounded): only when the byte search
that the checks make in the same pass over each part found a formula element or attribute
in the sheet's part, a streamed parse with defusedxml's ElementTree (a maintained parser)
to locate them. What the cells mean is the
caller's.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
from collections.abc import Iterator
from typing import Any, Final

from defusedxml import ElementTree

from pipeline.xlsx.cellxml import column_letter, split_ref
from pipeline.xlsx.safety import FORMULA_HINTS

log = logging.getLogger("resultat.reader")

#: Most formula cells located in one sheet (the receipt names a few; the rest are counted).
MAX_FORMULAS: Final = 10_000

_XLSX_FORMULA: Final = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_ODS_FORMULA: Final = re.compile(rb":formula=")
_REL: Final = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_TABLE: Final = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def formula_cells(
    data: bytes, file_format: str, sheet: str, formula_parts: frozenset[str] | None = None
) -> dict[str, str]:
    """The cells of ``sheet`` holding a formula, as ``{"H16": "=HYPERLINK(…)"}`` in sheet
    order (at most :data:`MAX_FORMULAS`); empty when there are none or the part is not found.

    ``data`` is the stored (not deflated) zip :mod:`pipeline.xlsx.safety` repacked.
    ``formula_parts`` are the parts in which its checks saw one of its ``FORMULA_HINTS``
    (:class:`~pipeline.xlsx.safety.Checked`): a part not among them holds no formula, and
    the sheet is not read again. Without them, ``data`` is searched for the hints first."""
    if formula_parts is None:
        if not any(hint.search(data) for hint in FORMULA_HINTS.get(file_format, ())):
            return {}
    elif not formula_parts:
        return {}
    try:
        return _formula_cells(data, file_format, sheet, formula_parts)
    except (ElementTree.ParseError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        # The values read are saved values all the same; only the receipt's lines are lost.
        log.warning("formulas of sheet %r not located: %s", sheet, type(exc).__name__)
        return {}


def _formula_cells(
    data: bytes, file_format: str, sheet: str, hinted: frozenset[str] | None
) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if file_format == "xlsx":
            part = _xlsx_sheet_part(zf, sheet)
            if part is None or (hinted is not None and part not in hinted):
                return {}
            body = zf.read(part)
            if not _XLSX_FORMULA.search(body):
                return {}
            return dict(_limited(_xlsx_formulas(body)))
        if file_format == "ods":
            if hinted is not None and "content.xml" not in hinted:
                return {}
            body = zf.read("content.xml")
            if not _ODS_FORMULA.search(body):
                return {}
            return dict(_limited(_ods_formulas(body, sheet)))
    return {}


def _limited(found: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    for number, item in enumerate(found):
        if number >= MAX_FORMULAS:
            return
        yield item


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _xlsx_sheet_part(zf: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member of the worksheet named ``sheet`` (workbook part and its relationships)."""
    try:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except KeyError:
        return None
    sheets = (el for el in book.iter() if _local(el.tag) == "sheet")
    rid = next((el.get(_REL) for el in sheets if el.get("name") == sheet), None)
    links = (el for el in rels.iter() if _local(el.tag) == "Relationship")
    target = next((el.get("Target") for el in links if el.get("Id") == rid), None)
    if rid is None or not target:
        return None
    part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    return part if part in zf.namelist() else None


def _xlsx_formulas(body: bytes) -> Iterator[tuple[str, str]]:
    row, column = 0, 0
    for event, el in ElementTree.iterparse(io.BytesIO(body), events=("start", "end")):
        name = _local(el.tag)
        if event == "start":
            if name == "row":
                row = int(el.get("r") or row + 1)
                column = 0
            continue
        if name == "c":
            ref = el.get("r")
            if ref:
                row, column = split_ref(ref.strip().upper())
            else:
                column += 1
            formula = next((child for child in el if _local(child.tag) == "f"), None)
            if formula is not None:
                yield f"{column_letter(column)}{row}", "=" + (formula.text or "").strip()
            el.clear()
        elif name == "row":
            el.clear()


def _ods_formulas(body: bytes, sheet: str) -> Iterator[tuple[str, str]]:
    table: str | None = None
    next_row, row, column = 1, 1, 1
    for event, el in ElementTree.iterparse(io.BytesIO(body), events=("start", "end")):
        name = _local(el.tag)
        if event == "start":
            if name == "table":
                table, next_row = el.get(f"{{{_TABLE}}}name"), 1
            elif name == "table-row":
                row, column = next_row, 1
            continue
        if name in ("table-cell", "covered-table-cell"):
            repeated = int(el.get(f"{{{_TABLE}}}number-columns-repeated") or 1)
            formula = el.get(f"{{{_TABLE}}}formula")
            if formula is not None and table == sheet:
                # "of:=SUM(A1)": the formula after its namespace prefix.
                prefixed = formula[:1] != "=" and ":=" in formula
                text = formula.split(":", 1)[1] if prefixed else formula
                for offset in range(min(repeated, MAX_FORMULAS)):
                    yield f"{column_letter(column + offset)}{row}", text
            column += repeated
            el.clear()
        elif name == "table-row":
            next_row = row + int(el.get(f"{{{_TABLE}}}number-rows-repeated") or 1)
            el.clear()
