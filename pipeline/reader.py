"""Reading dropped spreadsheet files safely and fast.

Owns sniffing what a file is (xlsx, ods, csv, or something we refuse), the cheap safety checks
before parsing (size, zip bombs, macros, encryption), and reading a result workbook's metadata,
roster and input rows into a ``pandas.DataFrame`` indexed by spreadsheet row number. Parsing
uses python-calamine. What the rows mean is :mod:`pipeline.intake`'s business.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import string
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from openpyxl.utils import column_index_from_string, get_column_letter
from python_calamine import CalamineWorkbook

from pipeline.cells import unescape_cell
from pipeline.workbook import FORMAT

META_SHEET: Final = "_resultat"
MAX_UNZIPPED_BYTES: Final = 300 * 1024 * 1024
MAX_ZIP_RATIO: Final = 200
MAX_ZIP_ENTRIES: Final = 5000
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class UnreadableFile(Exception):
    """The file cannot be read as a spreadsheet; ``slug`` and ``params`` feed the receipt."""

    def __init__(self, slug: str, **params: Any) -> None:
        super().__init__(f"{slug}: {params}")
        self.slug = slug
        self.params = params


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 50 * 1024 * 1024
    max_rows: int = 50_000


def sniff(path: Path) -> str:
    """``xlsx``, ``xlsm``, ``ods``, ``csv`` or ``unknown``, from content and name."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                return _zip_kind(zf)
        except zipfile.BadZipFile:
            return "unknown"
    if head.startswith(_OLE_MAGIC):
        return "ole"
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return "csv"
    return "unknown"


def _zip_kind(zf: zipfile.ZipFile) -> str:
    names = set(zf.namelist())
    if "mimetype" in names:
        mimetype = zf.read("mimetype")[:100]
        if b"opendocument.spreadsheet" in mimetype:
            return "ods"
    if "xl/workbook.xml" in names:
        return "xlsm" if "xl/vbaProject.bin" in names else "xlsx"
    return "unknown"


def check_safe(path: Path, limits: Limits) -> str:
    """Refuse what must not be parsed; returns the sniffed kind of a file that may be."""
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile("unreadable-file", detail="tom fil / empty file")
    if size > limits.max_file_bytes:
        raise UnreadableFile(
            "file-too-large",
            size_mb=round(size / 1048576, 1),
            limit_mb=round(limits.max_file_bytes / 1048576, 1),
        )
    # Read once (the size is bounded above): every part is then inflated from memory, which
    # for a small workbook costs a fraction of reopening the file for each part.
    data = path.read_bytes()
    if data[:4] != b"PK\x03\x04":
        kind = sniff(path)
        if kind == "ole":
            raise UnreadableFile(
                "unreadable-file",
                detail="lösenordsskyddad eller gammalt xls-format / encrypted or legacy .xls",
            )
    else:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            kind = "unknown"
        else:
            with zf:  # opened once for the kind and every check
                kind = _zip_kind(zf)
                if kind == "xlsm":
                    raise UnreadableFile(
                        "unreadable-file", detail="innehåller makron / contains macros"
                    )
                if kind in ("xlsx", "ods"):
                    _check_zip(zf, kind, limits)
    if kind == "unknown":
        raise UnreadableFile("unreadable-file", detail="inte xlsx eller ods / not xlsx or ods")
    return kind


def _check_zip(zf: zipfile.ZipFile, kind: str, limits: Limits) -> None:
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if len(infos) > MAX_ZIP_ENTRIES or total > MAX_UNZIPPED_BYTES:
        raise UnreadableFile("unreadable-file", detail="packad storlek för stor / too big")
    if total / packed > MAX_ZIP_RATIO and total > 10 * 1024 * 1024:
        raise UnreadableFile("unreadable-file", detail="misstänkt zip-bomb / zip bomb")
    _check_parts(zf, infos, kind, limits)


_DOCTYPE: Final = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_MACRO_TYPES: Final = re.compile(rb"vbaProject|macroEnabled|ms-office\.activeX", re.IGNORECASE)
_ODS_REPEAT: Final = re.compile(rb'number-(rows|columns)-repeated="([0-9]+)"')
#: Columns a sheet may use; far beyond any workbook we issue.
MAX_COLUMNS: Final = 300


def _check_parts(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], kind: str, limits: Limits
) -> None:
    """What the parser must never see: a DTD or entity declaration in any XML part (entity
    expansion; OPC forbids DTDs anyway), a VBA project under any name, and cell positions
    so far out that the parser would allocate the whole rectangle up to them."""
    for info in infos:
        if not info.filename.endswith((".xml", ".rels")):
            continue
        with zf.open(info) as fh:
            head = fh.read(4096)
        # Both declarations start with "<!", which a plain substring test finds far faster
        # than the case-blind pattern.
        if b"<!" in head and _DOCTYPE.search(head):
            raise UnreadableFile("unreadable-file", detail="DTD/entitet i XML / DTD in XML")
        if info.filename == "[Content_Types].xml" and _MACRO_TYPES.search(
            _bounded(zf, info, 1 << 20)
        ):
            raise UnreadableFile("unreadable-file", detail="innehåller makron / contains macros")
    if kind == "xlsx":
        for info in infos:
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                _check_extent_xlsx(zf, info, limits)
    else:
        for info in infos:
            if info.filename == "content.xml":
                _check_extent_ods(_bounded(zf, info, MAX_PART_BYTES), limits)


#: Most a single part may inflate to: a member's declared size may lie (a zip bomb).
MAX_PART_BYTES: Final = 120 * 1024 * 1024


def _inflated(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """A member's bytes in chunks, inflating at most ``limit`` whatever its header claims."""
    size = 0
    with zf.open(info) as fh:
        while chunk := fh.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise UnreadableFile("unreadable-file", detail="misstänkt zip-bomb / zip bomb")
            yield chunk


def _bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, inflating at most ``limit`` of them whatever its header claims."""
    return b"".join(_inflated(zf, info, limit))


def _after(text: str, alphabet: str) -> list[bytes]:
    """Regex alternatives for the strings as long as ``text`` over ``alphabet`` (in its
    order) that sort after ``text``."""
    options = []
    span = f"[{alphabet[0]}-{alphabet[-1]}]"
    for i, ch in enumerate(text):
        higher = alphabet[alphabet.index(ch) + 1 :]
        if higher:
            rest = len(text) - i - 1
            tail = f"{span}{{{rest}}}" if rest else ""
            options.append(f"{text[:i]}[{higher[0]}-{higher[-1]}]{tail}".encode())
    return options


def _above(limit: int) -> bytes:
    """A regex for decimal numbers greater than ``limit`` (leading zeros allowed)."""
    text = str(limit)
    longer = rb"[1-9][0-9]{%d,}" % len(text)
    return b"0*(?:" + b"|".join([longer, *_after(text, "0123456789")]) + b")"


def _letters_above(limit: int) -> bytes:
    """A regex for column letters past column number ``limit`` (at most three letters)."""
    letters = get_column_letter(limit)
    longer = [b"[A-Z]{%d}" % n for n in range(len(letters) + 1, 4)]
    options = [*_after(letters, string.ascii_uppercase), *longer]
    return b"(?:" + b"|".join(options) + b")" if options else b"(?!)"


_FAR_CELLS: dict[int, re.Pattern[bytes]] = {}


def _far_cell(max_rows: int) -> re.Pattern[bytes]:
    """A cell position past ``MAX_COLUMNS`` or past ``max_rows`` (+100 for the header)."""
    pattern = _FAR_CELLS.get(max_rows)
    if pattern is None:
        pattern = _FAR_CELLS[max_rows] = re.compile(
            rb'<c r="(?:'
            + _letters_above(MAX_COLUMNS)
            + rb"[0-9]+|[A-Z]{1,3}"
            + _above(max_rows + 100)
            + rb')"'
        )
    return pattern


def _near_far_cell(max_rows: int) -> re.Pattern[bytes]:
    """A cheap pattern matching every far cell of :func:`_far_cell` and, in a normal sheet,
    nothing else: a column of two or more letters, a row number with a leading zero, or one
    with enough digits and a high enough first digit to possibly pass ``max_rows + 100``."""
    pattern = _NEAR_FAR_CELLS.get(max_rows)
    if pattern is None:
        limit = str(max_rows + 100)
        longer = rb"[1-9][0-9]{%d}" % len(limit)
        as_long = rb"[%s-9][0-9]{%d}" % (limit[0].encode(), len(limit) - 1)
        pattern = _NEAR_FAR_CELLS[max_rows] = re.compile(
            rb'<c r="[A-Z](?:[A-Z0]|' + as_long + b"|" + longer + b")"
        )
    return pattern


_NEAR_FAR_CELLS: dict[int, re.Pattern[bytes]] = {}


def _check_extent_xlsx(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> None:
    """Scan a sheet's cell positions as it inflates, stopping at the first one too far out
    (rows come in order, so a million-row sheet is refused after its first megabytes).

    One compiled pattern matches only positions out of bounds; a cheaper one that finds a
    superset of them scans first, so a normal sheet is scanned at regex speed with no Python
    work per cell, and the exact pattern runs only from the first candidate on."""
    far = _far_cell(limits.max_rows)
    near = _near_far_cell(limits.max_rows)
    tail = b""
    for chunk in _inflated(zf, info, MAX_PART_BYTES):
        window = tail + chunk
        candidate = near.search(window)
        if candidate is not None:
            match = far.search(window, candidate.start())
            if match is not None:
                _refuse_far(match.group(0), limits)
        tail = window[-64:]


def _refuse_far(found: bytes, limits: Limits) -> None:
    ref = re.match(rb'<c r="([A-Z]+)([0-9]+)"', found)
    assert ref is not None
    col = 0
    for ch in ref.group(1):
        col = col * 26 + (ch - 64)
    if col > MAX_COLUMNS:
        raise UnreadableFile("unreadable-file", detail=f"kolumn / column {col}")
    row = int(ref.group(2))
    raise UnreadableFile("too-many-rows", rows=row, limit=limits.max_rows)


def _check_extent_ods(xml: bytes, limits: Limits) -> None:
    # Repeated rows or columns carrying content are expanded cell by cell by the parser.
    # Trailing empty repeats (LibreOffice writes a million empty rows) carry no content.
    for match in re.finditer(
        rb"<table:table-(row|cell)\b[^>]*?number-(rows|columns)-repeated=\"([0-9]+)\"[^>]*?"
        rb"(/>|>(.{0,400}?)</table:table-\1>)",
        xml,
        re.S,
    ):
        count = int(match.group(3))
        inner = match.group(5) or b""
        content = b"office:value" in match.group(0) or b"<text:p" in inner
        if not content:
            continue
        limit = limits.max_rows + 100 if match.group(2) == b"rows" else MAX_COLUMNS
        if count > limit:
            raise UnreadableFile("unreadable-file", detail=f"{count} upprepade / repeated")


def open_book(path: Path) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for broken files
        raise UnreadableFile("unreadable-file", detail=type(exc).__name__) from exc


def sheet_rows(book: CalamineWorkbook, name: str, limits: Limits) -> list[list[Any]]:
    try:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:
        raise UnreadableFile("unreadable-file", detail=f"{name}: {type(exc).__name__}") from exc
    if len(rows) > limits.max_rows + 100:
        raise UnreadableFile("too-many-rows", rows=len(rows), limit=limits.max_rows)
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def blank_to_none(value: Any) -> Any:
    """Blank text is no value; text we escaped when writing (``'=…``) reads back as it was."""
    if isinstance(value, str):
        if not value.strip():
            return None
        return unescape_cell(value)
    return value


@dataclass
class ResultWorkbook:
    """A result workbook as dropped: identity, signed roster, and the input rows."""

    path: Path
    file_format: str
    meta: dict[str, str]
    roster: list[str]
    sheet: str
    letters: dict[str, str]
    frame: pd.DataFrame
    identity_listnr: Any
    action: Any
    sheet_rows: list[list[Any]] = field(repr=False, default_factory=list)
    #: Values of the other signed cells named in the metadata (``code_cell``, ``reason_cell``).
    cells: dict[str, Any] = field(default_factory=dict)

    @property
    def purpose(self) -> str:
        return self.meta.get("purpose") or "results"

    @property
    def listnr(self) -> int | None:
        try:
            return int(self.meta.get("listnr", ""))
        except ValueError:
            return None

    @property
    def version(self) -> int | None:
        try:
            return int(self.meta.get("version", ""))
        except ValueError:
            return None


def read_meta(book: CalamineWorkbook, limits: Limits) -> tuple[dict[str, str], list[str]] | None:
    """The metadata sheet as key/value pairs plus the roster, or None when there is none."""
    if META_SHEET not in book.sheet_names:
        return None
    meta: dict[str, str] = {}
    roster: list[str] = []
    rows = sheet_rows(book, META_SHEET, limits)
    for number, row in enumerate(rows):
        key = _text(row[0]) if row else ""
        if key == "roster":
            # The signed roster from here on, numbers separated by white space (one a row in
            # workbooks issued before they were written a hundred to a cell).
            values = (r[1] if len(r) > 1 else "" for r in rows[number + 1 :])
            roster = [pnr for text in map(_text, values) for pnr in text.split()]
            break
        if key:
            meta[key] = _text(row[1]) if len(row) > 1 else ""
    if meta.get("format") != FORMAT:
        return None
    return meta, roster


def read_result_workbook(path: Path, limits: Limits) -> ResultWorkbook | None:
    """Read a workbook issued by this system; ``None`` when it is some other spreadsheet.

    Whatever is wrong with the bytes, the only exception is :class:`UnreadableFile`: a damaged
    zip or an altered layout sheet gets a receipt, never a crash."""
    try:
        return _read_result_workbook(path, limits)
    except UnreadableFile:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # zipfile, calamine and int() raise many kinds on damaged input
        raise UnreadableFile("unreadable-file", detail=type(exc).__name__) from exc


def _read_result_workbook(path: Path, limits: Limits) -> ResultWorkbook | None:
    file_format = check_safe(path, limits)
    if file_format not in ("xlsx", "ods"):
        return None
    book = open_book(path)
    found = read_meta(book, limits)
    if found is None:
        return None
    meta, roster = found
    try:
        letters: dict[str, str] = json.loads(meta["columns"])
        sheet = meta["sheet"]
        first_row = int(meta["first_row"])
        action_cell = meta["action_cell"]
    except (KeyError, ValueError) as exc:
        raise UnreadableFile("metadata-missing", detail=str(exc)) from exc
    if sheet not in book.sheet_names:
        raise UnreadableFile("metadata-missing", detail=f"blad/sheet {sheet!r}")
    rows = sheet_rows(book, sheet, limits)
    frame = rows_to_frame(rows, letters, first_row, limits)
    return ResultWorkbook(
        path=path,
        file_format=file_format,
        meta=meta,
        roster=roster,
        sheet=sheet,
        letters=letters,
        frame=frame,
        identity_listnr=cell_value(rows, "B4"),
        action=cell_value(rows, action_cell),
        sheet_rows=rows,
        cells={
            key: cell_value(rows, ref)
            for key, ref in meta.items()
            if key.endswith("_cell") and _is_ref(ref)
        },
    )


def _is_ref(ref: str) -> bool:
    letters = ref.rstrip("0123456789")
    return bool(letters) and letters.isalpha() and ref[len(letters) :].isdigit()


def cell_value(rows: list[list[Any]], ref: str) -> Any:
    letters = "".join(ch for ch in ref if ch.isalpha())
    row = int("".join(ch for ch in ref if ch.isdigit())) - 1
    col = column_index_from_string(letters) - 1
    if row < len(rows) and col < len(rows[row]):
        return blank_to_none(rows[row][col])
    return None


def rows_to_frame(
    rows: list[list[Any]], letters: dict[str, str], first_row: int, limits: Limits
) -> pd.DataFrame:
    """Input rows as an object-typed frame; index = spreadsheet row number; blank rows dropped."""
    fields = list(letters)
    body = rows[first_row - 1 :]
    widths = set(map(len, body))
    if len(widths) > 1:
        body = [list(r) + [None] * (MAX_COLUMNS - len(r)) for r in body]
        widths = set(map(len, body))
        if len(widths) > 1:  # rows past MAX_COLUMNS among shorter ones
            raise ValueError(f"rows of {sorted(widths)} cells")
    width = widths.pop() if widths else 0
    count = len(body)
    table = np.empty((count, len(fields)), dtype=object)
    for number, name in enumerate(fields):
        position = column_index_from_string(letters[name]) - 1
        if position < width:
            # Only empty, blank or escaped text changes: it starts with white space or "'".
            column = [
                (None if not v else blank_to_none(v) if v[0] == "'" or v[0].isspace() else v)
                if v.__class__ is str
                else v
                for v in map(itemgetter(position), body)
            ]
            table[:, number] = np.fromiter(column, dtype=object, count=count)
        else:
            table[:, number] = None
    index: pd.Index = pd.RangeIndex(first_row, first_row + count)
    # A row is blank when all its cells are missing; none is when one column has no gaps.
    if count and (not fields or np.asarray(pd.isna(table[:, 0])).any()):
        missing = np.asarray(pd.isna(table), dtype=np.bool_)
        kept = np.flatnonzero(~missing.all(axis=1))
        if len(kept) < count:
            table = table[kept]
            index = index[kept]
    # No fields: pandas' own empty column index, as a frame built from no columns has.
    frame = pd.DataFrame(table, index=index, columns=fields or None, dtype=object, copy=False)
    if len(frame) > limits.max_rows:
        raise UnreadableFile("too-many-rows", rows=len(frame), limit=limits.max_rows)
    return frame


def is_date_like(value: Any) -> bool:
    return isinstance(value, dt.date | dt.datetime)
