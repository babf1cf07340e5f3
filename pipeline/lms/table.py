"""Reading an export file as rows: CSV with ``,``, ``;``, tab or ``:`` (Moodle's
csv_export_writer offers all four) and an optional byte order mark, xlsx and ods through the
safe reader (python-calamine behind its checks).
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.xlsx.parser import open_book, sheet_rows
from pipeline.xlsx.reader import META_SHEET
from pipeline.xlsx.safety import Limits, UnreadableFile, read_checked

HEADER_SEARCH: Final = 10

# -- reading the file ----------------------------------------------------------------------


@dataclass
class Table:
    """The cells of an export: one sheet, rows numbered as a spreadsheet program shows them."""

    file_format: str  # csv | xlsx | ods
    sheet: str | None
    rows: list[tuple[int, list[Any]]]
    delimiter: str | None = None


def read_table(path: Path, limits: Limits) -> Table:
    """Read ``path`` (CSV, xlsx or ods); raises :class:`UnreadableFile` with a slug."""
    kind, data = read_checked(path, limits)
    if kind == "csv":
        return _read_csv(data, limits)
    book = open_book(data)
    names = list(book.sheet_names)
    if META_SHEET in names:
        raise UnreadableFile("lms-result-workbook")
    if not names:
        raise UnreadableFile("lms-empty-file")
    rows = sheet_rows(book, names[0], limits)
    return Table(kind, names[0], [(i + 1, list(r)) for i, r in enumerate(rows)])


def decode(raw: bytes) -> str:
    """Text of a CSV export: UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise UnreadableFile("lms-encoding") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel's "CSV" on a Swedish Windows; å, ä and ö decode correctly.
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        raise UnreadableFile("lms-encoding") from None


def _delimiter(lines: list[str]) -> str:
    """The separator that splits some line of the first few (a title above the header row
    may hold a comma) into the most fields, quotes respected."""
    best, most = ",", 0
    for line in lines:
        counts = {";": 0, ",": 0, "\t": 0, ":": 0}
        quoted = False
        for ch in line:
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch in counts:
                counts[ch] += 1
        for delimiter, count in counts.items():
            if count > most:
                best, most = delimiter, count
    return best


def _read_csv(raw: bytes, limits: Limits) -> Table:
    text = decode(raw)
    lines = [line for line in text.splitlines()[:50] if line.strip()][:HEADER_SEARCH]
    if not lines:
        raise UnreadableFile("lms-empty-file")
    delimiter = _delimiter(lines)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[Any]]] = []
    previous = 0
    try:
        for record in reader:
            rows.append((previous + 1, list(record)))
            previous = reader.line_num
            if len(rows) > limits.max_rows + 100:
                raise UnreadableFile("too-many-rows", rows=len(rows), limit=limits.max_rows)
    except csv.Error as exc:
        raise UnreadableFile("unreadable-file", detail=str(exc)) from None
    return Table("csv", None, rows, delimiter)
