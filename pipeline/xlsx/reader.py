"""Reading dropped spreadsheet files safely and fast.

Owns sniffing what a file is (xlsx, ods, csv, or something we refuse), the cheap safety checks
before parsing (size, zip bombs, macros, encryption), and reading a result workbook's metadata,
roster and input rows into a ``pandas.DataFrame`` indexed by spreadsheet row number. Parsing
uses python-calamine. What the rows mean is :mod:`pipeline.intake.handlers`'s business.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import string
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Final
from xml.parsers import expat

import numpy as np
import pandas as pd
from openpyxl.utils import column_index_from_string, get_column_letter
from python_calamine import CalamineWorkbook
from zlib_ng import zlib_ng as fast_zlib

from pipeline.xlsx.cells import unescape_cell
from pipeline.xlsx.workbook import FORMAT
from pipeline.xlsx.ziparchive import UTF8_NAME, Part, archive

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


def _zip_kind(zf: zipfile.ZipFile) -> str:
    """``ods``, ``xlsx``, ``xlsm``, ``unknown``, or ``ambiguous``: a zip that the parser could
    take for another format than the one its checks would assume (it finds parts whatever
    their case, and tries xlsx before ods), or a binary workbook."""
    names = set(zf.namelist())
    lower = {name.lower() for name in names}
    if len(lower) < len(zf.infolist()) or any(name.endswith("workbook.bin") for name in lower):
        return "ambiguous"  # the same name twice (in any case), or an xlsb workbook
    ods = "mimetype" in names and b"opendocument.spreadsheet" in zf.read("mimetype")[:100]
    workbook = "xl/workbook.xml" in lower
    if ods and workbook:
        return "ambiguous"
    if ods:
        return "ods"
    if "xl/workbook.xml" in names:
        return "xlsm" if "xl/vbaproject.bin" in lower else "xlsx"
    return "unknown"


def check_safe(path: Path, limits: Limits) -> str:
    """Refuse what must not be parsed; returns the sniffed kind of a file that may be."""
    return read_checked(path, limits)[0]


def read_checked(path: Path, limits: Limits) -> tuple[str, bytes]:
    """The sniffed kind and the bytes of a file that may be parsed; refuses what must not.

    The file is read once, at most ``limits.max_file_bytes`` of it, and every part is checked
    from memory. A workbook comes back repacked from exactly the parts that were checked
    (see :func:`_repacked`): the caller parses those bytes, never the file again."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limits.max_file_bytes + 1) if size <= limits.max_file_bytes else b""
    size = max(size, len(data))
    if size > limits.max_file_bytes:
        raise UnreadableFile(
            "file-too-large",
            size_mb=round(size / 1048576, 1),
            limit_mb=round(limits.max_file_bytes / 1048576, 1),
        )
    if not data:
        raise UnreadableFile("unreadable-file", detail="tom fil / empty file")
    if data[:4] != b"PK\x03\x04":
        if data.startswith(_OLE_MAGIC):
            raise UnreadableFile(
                "unreadable-file",
                detail="lösenordsskyddad eller gammalt xls-format / encrypted or legacy .xls",
            )
        kind = "csv" if path.suffix.lower() in (".csv", ".txt", ".tsv") else "unknown"
    else:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except Exception:  # BadZipFile, and a name that is not the UTF-8 it claims, and more
            kind = "unknown"
        else:
            with zf:  # opened once for the kind and every check
                kind = _zip_kind(zf)
                if kind == "xlsm":
                    raise UnreadableFile(
                        "unreadable-file", detail="innehåller makron / contains macros"
                    )
                if kind in ("xlsx", "ods"):
                    try:
                        data = _repacked(_check_zip(zf, limits))
                    except UnreadableFile:
                        raise
                    except Exception as exc:  # a damaged or encrypted part: many kinds
                        raise UnreadableFile("unreadable-file", detail=type(exc).__name__) from exc
    if kind == "ambiguous":
        raise UnreadableFile(
            "unreadable-file",
            detail="flera format eller dubbla namn i filen / several formats or names twice",
        )
    if kind == "unknown":
        raise UnreadableFile("unreadable-file", detail="inte xlsx eller ods / not xlsx or ods")
    return kind, data


class _Parts:
    """The parts of a zip as the safety checks read them, kept: a part read to its end is
    inflated once, and the parser gets exactly these bytes repacked (:func:`_repacked`).
    Reading stays streamed, so a check can refuse a huge part after its first megabytes."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.infos = zf.infolist()
        self.read: dict[int, bytes] = {}  # whole parts, by id of their ZipInfo
        # The archive's bytes, where zipfile reads them from memory (as read_checked opens it).
        self.raw: bytes | None = zf.fp.getvalue() if isinstance(zf.fp, io.BytesIO) else None

    def open(self, info: zipfile.ZipInfo) -> io.BytesIO | _Kept:
        whole = self.read.get(id(info))
        if whole is not None:
            return io.BytesIO(whole)
        return _Kept(self.zf.open(info), lambda data: self.keep(info, data))

    def keep(self, info: zipfile.ZipInfo, data: bytes) -> None:
        """Keep a part read whole elsewhere (e.g. a head shorter than asked for)."""
        self.read.setdefault(id(info), data)

    def whole(self, info: zipfile.ZipInfo) -> bytes:
        """The part's bytes (inflated now if no check read it to its end), kept.

        A part within ``MAX_PART_BYTES`` is inflated in one go, into one buffer: zipfile
        stops at the size the headers declare and checks the CRC-32 there. A larger claim is
        streamed, and refused once it inflates past the limit."""
        kept = self.read.get(id(info))
        if kept is not None:
            return kept
        if info.file_size > MAX_PART_BYTES:
            return _bounded(self, info, MAX_PART_BYTES)
        data = _inflated_fast(self.raw, info) if self.raw is not None else None
        if data is None:
            with self.zf.open(info) as fh:
                data = fh.read(info.file_size + 1)
        self.keep(info, data)
        return data


def _inflated_fast(raw: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """A member's bytes inflated with zlib-ng (four times as fast as the zlib Python links
    here), or None when anything is unusual: zipfile then reads the member and decides.

    The bytes are returned only where zipfile would return the same: the local header is the
    one zipfile reads (same signature, and the same name read as zipfile reads it), the member
    is stored or deflated and not encrypted, its deflate stream ends, having given exactly the
    size the directory declares (zipfile reads past the declared size and would trip over a
    damaged block there), and its CRC-32 is the declared one."""
    if info.flag_bits & ~_PLAIN_FLAGS or info.compress_type not in _FAST_METHODS:
        return None
    at = info.header_offset
    if not info.file_size or at < 0:
        return None  # an inflate limit of 0 would be none at all; zipfile cannot seek there
    header = raw[at : at + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size:
        return None
    magic, flags, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    start = at + _LOCAL_HEADER.size
    try:  # as zipfile reads it: the local header's flag says how the name is written
        name = raw[start : start + name_length].decode("utf-8" if flags & UTF8_NAME else "cp437")
    except UnicodeDecodeError:
        return None
    if magic != b"PK\x03\x04" or name != info.orig_filename:
        return None
    start += name_length + extra_length
    packed = memoryview(raw)[start : start + info.compress_size]
    try:
        if info.compress_type == zipfile.ZIP_STORED:
            data = bytes(packed[: info.file_size])
        else:
            inflater = fast_zlib.decompressobj(-15)
            data = inflater.decompress(packed, info.file_size + 1)
            if not inflater.eof:
                return None  # more than declared, or a stream that does not end
    except Exception:  # zlib-ng's error (a damaged stream): zipfile reads it and decides
        return None
    if len(data) != info.file_size or fast_zlib.crc32(data) != info.CRC:
        return None
    return data


#: A local file header: signature, flags, and the lengths of the name and the extra field.
_LOCAL_HEADER: Final = struct.Struct("<4s2xH18xHH")
#: Flag bits that change nothing in how a member is read: sizes in a data descriptor (the
#: directory has them), a UTF-8 name, deflate's speed hints.
_PLAIN_FLAGS: Final = 0x08 | 0x800 | 0x06
_FAST_METHODS: Final = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


class _Kept(io.RawIOBase):
    """A part being read, its chunks kept; read to the end, they are handed to ``keep``."""

    def __init__(self, fh: IO[bytes], keep: Callable[[bytes], Any]) -> None:
        super().__init__()
        self.fh, self.keep = fh, keep
        self.chunks: list[bytes] | None = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.fh.read(size)
        if chunk:
            if self.chunks is not None:
                self.chunks.append(chunk)
        elif self.chunks is not None:
            self.keep(b"".join(self.chunks))
            self.chunks = None
        return chunk

    def close(self) -> None:
        self.fh.close()
        super().close()


def _repacked(parts: _Parts) -> bytes:
    """The checked parts as a new zip, stored (not compressed), in their order.

    Two zip readers can find two different archives in the same bytes (an end record hidden
    in another's comment, data before the first part, entries that disagree): the parser
    gets exactly what Python's zipfile read and the checks saw, and needs no inflating. Each
    part was read to its end through zipfile (or the fast path, which returns only what
    zipfile would), so its CRC-32 was checked there and is not computed again."""
    members = []
    for info in parts.infos:
        data = parts.whole(info)
        members.append(Part(info.filename, data, info.CRC if len(data) == info.file_size else None))
    return archive(members, deflate=False)


def _check_zip(zf: zipfile.ZipFile, limits: Limits) -> _Parts:
    """Bound the sizes the directory declares, inflate every part once, check the parts."""
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if len(infos) > MAX_ZIP_ENTRIES or total > MAX_UNZIPPED_BYTES:
        raise UnreadableFile("unreadable-file", detail="packad storlek för stor / too big")
    if total / packed > MAX_ZIP_RATIO and total > 10 * 1024 * 1024:
        raise UnreadableFile("unreadable-file", detail="misstänkt zip-bomb / zip bomb")
    parts = _Parts(zf)
    _check_parts(parts, limits)
    return parts


_DOCTYPE: Final = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_MACRO_TYPES: Final = re.compile(rb"vbaProject|macroEnabled|ms-office\.activeX", re.IGNORECASE)
_ODS_REPEAT: Final = re.compile(rb'number-(rows|columns)-repeated="([0-9]+)"')
#: Columns a sheet may use; far beyond any workbook we issue.
MAX_COLUMNS: Final = 300


def _check_parts(zf: _Parts, limits: Limits) -> None:
    """What the parser must never see: a DTD or entity declaration in any XML part (entity
    expansion; OPC forbids DTDs anyway), a VBA project under any name, and cell positions
    so far out that the parser would allocate the whole rectangle up to them."""
    infos = zf.infos
    for info in infos:
        if not info.filename.endswith((".xml", ".rels")):
            continue
        with zf.open(info) as fh:
            head = fh.read(4096)
        if len(head) < 4096:
            zf.keep(info, head)  # the whole part: read from here by the checks and the parser
        # Both declarations start with "<!", which a plain substring test finds far faster
        # than the case-blind pattern; a prolog longer than the head is read to its end.
        if (b"<!" in head and _DOCTYPE.search(head)) or _declares_dtd(zf, info, head):
            raise UnreadableFile("unreadable-file", detail="DTD/entitet i XML / DTD in XML")
        if info.filename == "[Content_Types].xml" and _MACRO_TYPES.search(
            _bounded(zf, info, 1 << 20)
        ):
            raise UnreadableFile("unreadable-file", detail="innehåller makron / contains macros")
    # Both checks, whatever the kind: what the parser reads is its own guess.
    for info in infos:
        # The parser reads a sheet from whatever part the workbook's relationships name.
        usual = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
        if usual or _holds_sheet_data(zf, info):
            _check_extent_xlsx(zf, info, limits)
        if info.filename.lower() == "content.xml":
            _check_extent_ods(_bounded(zf, info, MAX_PART_BYTES), limits)


#: What may come before an XML document's root element besides a DOCTYPE: a byte order
#: mark, white space, the XML declaration and other processing instructions, comments.
_PROLOG_ITEMS: Final = re.compile(rb"(?:\xef\xbb\xbf)?(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.S)
_ROOT_START: Final = re.compile(rb"<[A-Za-z_:\x80-\xff]")


def _declares_dtd(zf: _Parts, info: zipfile.ZipInfo, head: bytes) -> bool:
    """Whether a part declares a DTD or entities (``<!DOCTYPE``, ``<!ENTITY``, any ``<!``
    but a comment) before its root element, where they may follow white space, comments and
    processing instructions. A prolog longer than the head is read once, up to
    ``MAX_PROLOG_BYTES``; one that goes on past that is refused. UTF-16 parts are read as
    text."""
    found = _prolog_end(head)
    if found is None:
        data = b""
        for chunk in _inflated(zf, info, MAX_PART_BYTES):
            data += chunk[: MAX_PROLOG_BYTES + 1 - len(data)]
            if len(data) > MAX_PROLOG_BYTES:
                break
        found = _prolog_end(data)
        if found is None:
            if len(data) > MAX_PROLOG_BYTES:
                raise UnreadableFile(
                    "unreadable-file", detail="XML-prolog för lång / XML prolog too long"
                )
            return False  # the part ends in its prolog: not XML, the parser decides
    return found


#: Longest prolog (declaration, comments, processing instructions) a part may have.
MAX_PROLOG_BYTES: Final = 1 << 20


def _prolog_end(data: bytes) -> bool | None:
    """After the prolog at the start of ``data``: ``True`` for a declaration (``<!`` but a
    comment), ``False`` for the root element or anything else, ``None`` when ``data`` ends
    inside the prolog (more is needed)."""
    text = _as_utf8(data)
    end = _PROLOG_ITEMS.match(text).end()  # type: ignore[union-attr]
    if _ROOT_START.match(text, end):
        return False
    if text.startswith(b"<!", end) and not b"<!--".startswith(text[end : end + 4]):
        return True
    rest = text[end:]
    if not rest or rest.startswith(b"<!--") or rest.startswith(b"<?") or b"<!--".startswith(rest):
        return None
    return False


def _as_utf8(data: bytes) -> bytes:
    """UTF-16 text (by its byte order mark or its NUL bytes) as UTF-8; other bytes as they are."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="ignore").encode()
    if data[1:2] == b"\x00":
        return data.decode("utf-16-le", errors="ignore").encode()
    if data[:1] == b"\x00":
        return data.decode("utf-16-be", errors="ignore").encode()
    return data


#: Most a single part may inflate to: a member's declared size may lie (a zip bomb).
MAX_PART_BYTES: Final = 120 * 1024 * 1024


def _inflated(
    zf: _Parts, info: zipfile.ZipInfo, limit: int, chunk_size: int = 1 << 20
) -> Iterator[bytes]:
    """A member's bytes in chunks, inflating at most ``limit`` whatever its header claims.

    A member that claims no more than one chunk comes whole, as one chunk (:meth:`_Parts.whole`:
    inflated in one go, and kept for the other checks and the parser)."""
    if info.file_size <= min(chunk_size, limit):
        if whole := zf.whole(info):
            yield whole
        return
    size = 0
    with zf.open(info) as fh:
        while chunk := fh.read(chunk_size):
            size += len(chunk)
            if size > limit:
                raise UnreadableFile("unreadable-file", detail="misstänkt zip-bomb / zip bomb")
            yield chunk


#: What a part the parser can read as a sheet holds, in UTF-8 (or ASCII) and in UTF-16.
_SHEET_DATA: Final = (b"sheetData", "sheetData".encode("utf-16-le")[:-1])


def _holds_sheet_data(zf: _Parts, info: zipfile.ZipInfo) -> bool:
    """Whether a part holds what the parser needs to read it as a sheet: without it, the
    parser finds no cells in the part."""
    tail = b""
    for chunk in _inflated(zf, info, MAX_PART_BYTES):
        window = tail + chunk
        if any(marker in window for marker in _SHEET_DATA):
            return True
        tail = window[-32:]
    return False


def _bounded(zf: _Parts, info: zipfile.ZipInfo, limit: int) -> bytes:
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


def _before(text: str, alphabet: str, *, first: str | None = None) -> list[bytes]:
    """Regex alternatives for the strings as long as ``text`` over ``alphabet`` that sort
    before it, their first character taken from ``first`` on (``1`` for numbers)."""
    options = []
    span = f"[{alphabet[0]}-{alphabet[-1]}]"
    for i, ch in enumerate(text):
        start = alphabet.index(first) if i == 0 and first else 0
        lower = alphabet[start : alphabet.index(ch)]
        if lower:
            rest = len(text) - i - 1
            tail = f"{span}{{{rest}}}" if rest else ""
            options.append(f"{text[:i]}[{lower[0]}-{lower[-1]}]{tail}".encode())
    return options


def _above(limit: int) -> bytes:
    """A regex for decimal numbers greater than ``limit`` (leading zeros allowed; at most 30
    significant digits, so that a match can be turned into a number)."""
    text = str(limit)
    longer = rb"[1-9][0-9]{%d,29}" % len(text)
    return b"0{0,30}(?:" + b"|".join([longer, *_after(text, "0123456789")]) + b")"


def _rows_up_to(limit: int, *, exact: bool) -> bytes:
    """A regex for the numbers from 1 to ``limit`` without leading zeros: all of them, or
    (not ``exact``) a cheaper subset, those shorter than ``limit`` or with a lower first digit.
    The longest come first: a shorter alternative would match their first digits in vain."""
    text = str(limit)
    lower = _before(text, "0123456789", first="1")
    options = lower if exact else lower[:1] if text[0] > "1" else []
    if len(text) > 1:
        options = [*options, rb"[1-9][0-9]{0,%d}" % (len(text) - 2)]
    if exact:
        options.append(text.encode())
    return b"(?:" + b"|".join(options) + b")"


def _letters_above(limit: int) -> bytes:
    """A regex for column letters past column number ``limit`` (at most 12 letters)."""
    letters = get_column_letter(limit)
    longer = [b"[A-Z]{%d,12}" % (len(letters) + 1)]
    options = [*_after(letters, string.ascii_uppercase), *longer]
    return b"(?:" + b"|".join(options) + b")"


def _letters_up_to(limit: int) -> bytes:
    """A regex for the column letters of columns 1 to ``limit``."""
    letters = get_column_letter(limit)
    shorter = [b"[A-Z]{1,%d}" % (len(letters) - 1)] if len(letters) > 1 else []
    options = [*shorter, *_before(letters, string.ascii_uppercase), letters.encode()]
    return b"(?:" + b"|".join(options) + b")"


_FAR_CELLS: dict[int, re.Pattern[bytes]] = {}


def _far_cell(max_rows: int) -> re.Pattern[bytes]:
    """A cell written ``<c r="REF"`` whose position is past ``MAX_COLUMNS`` or past
    ``max_rows`` (+100 for the header); the letters in either case, as the parser takes them."""
    pattern = _FAR_CELLS.get(max_rows)
    if pattern is None:
        pattern = _FAR_CELLS[max_rows] = re.compile(
            rb'<c r="(?i:'
            + _letters_above(MAX_COLUMNS)
            + rb"[0-9]{1,40}|[A-Z]{1,3}"
            + _above(max_rows + 100)
            + rb')"'
        )
    return pattern


#: After ``<c``, what continues an element name: another element (``<col``, ``<cfRule``).
_NAME_GOES_ON: Final = rb"[\w.:\-\x80-\xff]"


def _near_far_cell(max_rows: int) -> re.Pattern[bytes]:
    """The prefilter: every cell element except those written ``<c r="REF"`` with a REF the
    common way and plainly in bounds (one capital letter, a row number without leading zero,
    shorter than ``max_rows + 100`` or with a lower first digit). It finds every far cell of
    :func:`_far_cell` and every cell written any other way, and nothing in a normal sheet."""
    pattern = _NEAR_FAR_CELLS.get(max_rows)
    if pattern is None:
        simple = rb"[A-Z]" + _rows_up_to(max_rows + 100, exact=False)
        pattern = _NEAR_FAR_CELLS[max_rows] = re.compile(
            rb'<c(?! r="' + simple + rb'")(?!' + _NAME_GOES_ON + b")"
        )
    return pattern


_NEAR_FAR_CELLS: dict[int, re.Pattern[bytes]] = {}


def _odd_cell(max_rows: int) -> re.Pattern[bytes]:
    """Every cell element except those written ``<c r="REF"`` with a REF in bounds (letters
    in capitals, at most two leading zeros): a far cell, or one the scan cannot vouch for."""
    pattern = _ODD_CELLS.get(max_rows)
    if pattern is None:
        ref = _letters_up_to(MAX_COLUMNS) + b"0{0,2}" + _rows_up_to(max_rows + 100, exact=True)
        pattern = _ODD_CELLS[max_rows] = re.compile(
            rb'<c(?! r="' + ref + rb'")(?!' + _NAME_GOES_ON + b")"
        )
    return pattern


_ODD_CELLS: dict[int, re.Pattern[bytes]] = {}

#: A cell written ``<c r="REF"`` with a REF the parser reads as the same position.
_CANONICAL_CELL: Final = re.compile(rb'<c r="[A-Za-z]{1,3}(?=[0-9]{1,9}")0*[1-9]')
#: An attribute named ``r`` (or one whose name ends in r) other than where a cell or row
#: written the canonical way has it: on a cell, the parser takes the last ``r`` it finds.
_R_ATTRIBUTE: Final = re.compile(rb"r\s*=(?<!<c r=)(?<!<row r=)")
#: A cell element with a namespace prefix (or such text in content: then the slow path).
_PREFIXED_CELL: Final = re.compile(rb":c[\t\n\r />]")
#: Inflated bytes a window reaches past the positions it vouches for, so that whatever a
#: pattern or check must see after a position is there; and bytes kept before them.
_AHEAD: Final = 256
_BEHIND: Final = 16
#: Inflated bytes per window: a sheet of a normal size is one window, one buffer (no joining
#: of chunks, one pass of each pattern); a huge one is still refused after its first windows.
_SCAN_CHUNK: Final = 16 << 20


def _check_extent_xlsx(zf: _Parts, info: zipfile.ZipInfo, limits: Limits) -> None:
    """Refuse a sheet with a cell so far out that the parser would allocate the rectangle up
    to it: past ``MAX_COLUMNS`` or past ``limits.max_rows`` (+100 for the header).

    The parser places a cell at its ``r`` attribute (the last one, any quoting or case) or,
    without one, right of the previous cell, in the row after the previous row. A byte scan
    (:func:`_vouched_by_scan`) settles a normal sheet at regex speed; a sheet it cannot vouch
    for is parsed (:func:`_check_extent_by_parsing`), following the parser's rules."""
    if not _vouched_by_scan(zf, info, limits):
        _check_extent_by_parsing(zf, info, limits)


def _vouched_by_scan(zf: _Parts, info: zipfile.ZipInfo, limits: Limits) -> bool:
    """True when every cell is written ``<c r="REF"`` (no prefix, ``r`` first, double quotes,
    one space, no second ``r``) with REF in bounds, which is enough: the parser then places
    every cell at its REF. Raises at the first such cell out of bounds (rows come in order,
    so a million-row sheet is refused after its first window); False when some cell is
    written otherwise, or the part is not in an encoding where ASCII is ASCII.

    A part of up to ``_SCAN_CHUNK`` is one window, inflated whole (and kept for the parser).
    A larger one is scanned as it inflates, in windows of ``_SCAN_CHUNK`` overlapping by
    ``_BEHIND + _AHEAD`` bytes; each vouches for the positions up to ``_AHEAD`` bytes before
    its end. A cheap prefilter finds every cell not plainly in bounds; the exact pattern runs
    only from the first."""
    near = _near_far_cell(limits.max_rows)
    odd = _odd_cell(limits.max_rows)
    chunks = _inflated(zf, info, MAX_PART_BYTES, _SCAN_CHUNK)
    pending = next(chunks, None)
    if pending is not None and not _ascii_compatible(pending):
        return False
    tail = b""
    skip = 0  # positions at the start of the window that the previous one vouched for
    while pending is not None:
        window = tail + pending
        pending = next(chunks, None)
        end = len(window) if pending is None else len(window) - _AHEAD
        if pending is not None and window[end:].isspace():
            return False  # white space past the margin could hide how an attribute ends
        if not _scan_window(window, skip, end, near, odd, limits):
            return False
        cut = max(end - _BEHIND, 0)
        tail, skip = window[cut:], end - cut
    return True


def _scan_window(
    window: bytes,
    begin: int,
    end: int,
    near: re.Pattern[bytes],
    odd: re.Pattern[bytes],
    limits: Limits,
) -> bool:
    """Whether the positions ``begin`` to ``end`` of ``window`` hold only canonical cells in
    bounds (raises at one out of bounds); False sends the part to the slow path."""
    prefixed = _PREFIXED_CELL.search(window, begin)
    if prefixed is not None and prefixed.start() < end:
        return False
    at = begin
    while (attr := _R_ATTRIBUTE.search(window, at)) is not None and attr.start() < end:
        if not _r_elsewhere(window, attr.start()):
            return False
        at = attr.start() + 1
    candidate = near.search(window, begin)
    if candidate is None or candidate.start() >= end:
        return True
    at = candidate.start()
    far = _far_cell(limits.max_rows)
    while (cell := odd.search(window, at)) is not None and cell.start() < end:
        match = far.match(window, cell.start())
        if match is not None:
            _refuse_far(match.group(0), limits)
        if _CANONICAL_CELL.match(window, cell.start()) is None:
            return False  # no r first, another spelling, or a REF the scan cannot read
        at = cell.start() + 1
    return True


def _r_elsewhere(window: bytes, at: int) -> bool:
    """Whether the ``r`` at ``at`` (before ``=``) ends a longer attribute name (``header=``,
    ``xmlns:r=``). Any other ``r`` attribute may be a cell's second one (the parser takes
    the last), or a row's written another way: the slow path then decides."""
    before = window[at - 1] if at else 0x20
    return before >= 0x80 or chr(before).isalnum() or before in b"_-.:"


def _ascii_compatible(head: bytes) -> bool:
    """Whether the part is UTF-8 (or ASCII): no UTF-16/32 byte order mark or NUL bytes and
    no other encoding declared. Otherwise the bytes of ``<c r=`` may not be those."""
    if b"\x00" in head[:64] or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    text = head.removeprefix(b"\xef\xbb\xbf")
    if not text.startswith(b"<?xml"):
        return True
    close = text.find(b"?>")
    if close < 0:
        return False
    declared = re.search(rb"""encoding\s*=\s*["']([^"']*)["']""", text[:close])
    return declared is None or declared.group(1).lower() in (b"utf-8", b"utf8", b"us-ascii")


def _refuse_far(found: bytes, limits: Limits) -> None:
    ref = re.match(rb'<c r="([A-Za-z]+)([0-9]+)"', found)
    assert ref is not None
    _refuse_position(_column_number(ref.group(1)), int(ref.group(2)), limits)


def _column_number(letters: bytes) -> int:
    col = 0
    for ch in letters.upper():
        col = col * 26 + (ch - 64)
    return col


def _refuse_position(col: int, row: int, limits: Limits) -> None:
    """Raise when the (1-based) cell position is out of bounds."""
    if col > MAX_COLUMNS:
        raise UnreadableFile("unreadable-file", detail=f"kolumn / column {col}")
    if row > limits.max_rows + 100:
        raise UnreadableFile("too-many-rows", rows=row, limit=limits.max_rows)


#: A cell position or row number as the parser reads it (leading zeros change nothing).
_REF: Final = re.compile(r"([A-Za-z]{1,30})0*([0-9]{1,30})")
_ROW_NUMBER: Final = re.compile(r"0*([0-9]{1,30})")


#: Deepest element nesting the slow path follows (a worksheet needs fewer than ten levels).
MAX_XML_DEPTH: Final = 64


def _check_extent_by_parsing(zf: _Parts, info: zipfile.ZipInfo, limits: Limits) -> None:
    """The slow path: parse the sheet as it inflates (memory bounded by the depth of the XML,
    not its size) and follow where the parser would place each cell, refusing the first one
    out of bounds. Only for sheets the byte scan cannot vouch for; speed does not matter."""
    parser = expat.ParserCreate()  # no namespace processing: names as written, like the parser
    places = _CellPlaces(limits)
    parser.StartElementHandler = places.start
    parser.EndElementHandler = places.end
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    try:
        for chunk in _inflated(zf, info, MAX_PART_BYTES):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        message = expat.errors.messages.get(exc.code, "?")
        raise UnreadableFile(
            "unreadable-file", detail=f"felaktig XML / malformed XML: {message}"
        ) from exc


def _refuse_declaration(*_: Any) -> None:
    raise UnreadableFile("unreadable-file", detail="DTD/entitet i XML / DTD in XML")


class _CellPlaces:
    """Where the parser places each cell, following its rules: a row's ``r`` sets the row,
    the end of a row moves to the next one and back to the first column; a cell is at its
    ``r`` or, without one, at the current row and column; either way the next cell without
    ``r`` goes one column right. Elements are told apart by local name (the part after the
    first colon) whatever their namespace; an empty element counts as a start and an end.

    Every ``row`` and ``c`` element in the part is followed, not only those in ``sheetData``:
    the positions so found are never lower than the parser's, so the refusal is safe. A cell
    or row inside a cell (which the parser would read as part of the cell) is refused."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.row = 0  # the parser's 0-based row and column for a cell without r
        self.col = 0
        self.in_cell = 0
        self.depth = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        # The parser keeps every open element: nesting (a sheet needs under ten levels) is
        # bounded, so a small file cannot make this pass hold gigabytes.
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise UnreadableFile(
                "unreadable-file", detail=f"XML djupare än / deeper than {MAX_XML_DEPTH}"
            )
        local = _local_name(name)
        if local not in ("c", "row"):
            return
        if self.in_cell:
            raise UnreadableFile("unreadable-file", detail="cell i cell / cell in a cell")
        ref = attrs.get("r")
        if local == "row":
            if ref is not None:
                number = _ROW_NUMBER.fullmatch(ref)
                if number is None or int(number.group(1)) < 1:
                    raise UnreadableFile("unreadable-file", detail=f"rad / row {ref[:40]!r}")
                self.row = int(number.group(1)) - 1
            return
        self.in_cell += 1
        if ref is None:
            row, col = self.row, self.col
        else:
            found = _REF.fullmatch(ref)
            if found is None or int(found.group(2)) < 1:
                raise UnreadableFile("unreadable-file", detail=f"cell {ref[:40]!r}")
            row = int(found.group(2)) - 1
            col = _column_number(found.group(1).encode()) - 1
        _refuse_position(col + 1, row + 1, self.limits)
        self.col = col + 1

    def end(self, name: str) -> None:
        self.depth -= 1
        local = _local_name(name)
        if local == "c":
            self.in_cell -= 1
        elif local == "row":
            self.row += 1
            self.col = 0


def _local_name(name: str) -> str:
    prefix, colon, local = name.partition(":")
    return local if colon else prefix


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


def open_book(data: bytes) -> CalamineWorkbook:
    """A workbook from the bytes :func:`read_checked` checked (never the file again)."""
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except BaseException as exc:  # calamine raises several types for broken files
        if not _parser_failure(exc):
            raise
        raise UnreadableFile("unreadable-file", detail=type(exc).__name__) from exc


def _parser_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the parser failing on the file: any ``Exception``, or a Rust panic
    inside calamine, which pyo3 raises as ``PanicException``, a ``BaseException`` that would
    otherwise stop the daemon (``KeyboardInterrupt`` and ``SystemExit`` still do)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def sheet_rows(book: CalamineWorkbook, name: str, limits: Limits) -> list[list[Any]]:
    try:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except BaseException as exc:
        if not _parser_failure(exc):
            raise
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
            roster = " ".join(map(_text, values)).split()
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
    file_format, data = read_checked(path, limits)
    if file_format not in ("xlsx", "ods"):
        return None
    book = open_book(data)
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
    gaps = [count] * len(fields)  # cells left None, per column
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
            gaps[number] = column.count(None)
        else:
            table[:, number] = None
    index: pd.Index = pd.RangeIndex(first_row, first_row + count)
    # A row is blank when all its cells are missing; none is when one column has no gaps
    # (the one with the fewest None is asked first: any other missing value counts too).
    fewest = min(range(len(fields)), key=gaps.__getitem__, default=None)
    if count and (fewest is None or np.asarray(pd.isna(table[:, fewest])).any()):
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
