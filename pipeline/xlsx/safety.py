"""The checks a dropped file passes before any parser sees it.

Owns sniffing what a file is (xlsx, ods, csv, or something we refuse), reading it once and
bounded, and the checks that need no spreadsheet parser: size, zip bombs (the directory's
declared sizes, the packing ratio, and every part read through :mod:`zipfile` in bounded
chunks), encryption, macros, and DTD or entity declarations in any XML part. A workbook that
passes comes back as a new, stored zip of exactly the parts that were checked
(:func:`_repacked`), so the parser can never read another archive than the checks did.

Where cells lie and how many rows a sheet has is for the parser to say, in its own process
(:mod:`pipeline.xlsx.parser`). Each refusal is an :class:`UnreadableFile` with its own slug;
its message is in ``templates/messages-reader.<lang>.yaml``.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: Most the parts of one zip may inflate to, together.
MAX_UNZIPPED_BYTES: Final = 300 * 1024 * 1024
#: Most a single part may inflate to.
MAX_PART_BYTES: Final = 120 * 1024 * 1024
#: Packing ratio (inflated / packed) above which a zip of more than 10 MB is a bomb.
MAX_ZIP_RATIO: Final = 200
MAX_ZIP_ENTRIES: Final = 5000
#: Longest prolog (declaration, comments, processing instructions) an XML part may have.
MAX_PROLOG_BYTES: Final = 1 << 20
#: Bytes read from a part at a time.
CHUNK_BYTES: Final = 4 << 20
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: General-purpose flag bit 0: the part is encrypted.
_ENCRYPTED: Final = 0x1


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


def check_safe(path: Path, limits: Limits) -> str:
    """Refuse what must not be parsed; returns the sniffed kind of a file that may be."""
    return read_checked(path, limits)[0]


@dataclass(frozen=True)
class Checked:
    """A file that passed: its sniffed kind, the bytes to parse, and the XML parts in which
    the checks saw a formula's element or attribute (:data:`FORMULA_HINTS`)."""

    kind: str
    data: bytes
    formula_parts: frozenset[str] = frozenset()


def read_checked(path: Path, limits: Limits) -> tuple[str, bytes]:
    """The sniffed kind (``xlsx``, ``ods`` or ``csv``) and the bytes to parse; refuses the rest.

    The file is read once, at most ``limits.max_file_bytes`` of it. A workbook comes back
    repacked from exactly the parts that were checked: the caller parses those bytes, never
    the file again."""
    checked = check_file(path, limits)
    return checked.kind, checked.data


def check_file(path: Path, limits: Limits) -> Checked:
    """:func:`read_checked`, with the parts that may hold a formula, found in the same pass
    over each part that the other checks make (:mod:`pipeline.xlsx.formulas` locates them)."""
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
        raise UnreadableFile("file-empty")
    if data[:4] != b"PK\x03\x04":
        if data.startswith(_OLE_MAGIC):
            raise UnreadableFile("file-encrypted")
        if path.suffix.lower() in (".csv", ".txt", ".tsv"):
            return Checked("csv", data)
        raise UnreadableFile("not-a-spreadsheet")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # BadZipFile, a name that is not the UTF-8 it claims, and more
        raise UnreadableFile("not-a-spreadsheet") from exc
    with zf:
        kind = _zip_kind(zf)
        if kind == "xlsm":
            raise UnreadableFile("file-has-macros")
        if kind == "ambiguous":
            raise UnreadableFile("file-ambiguous")
        if kind == "unknown":
            raise UnreadableFile("not-a-spreadsheet")
        parts = _checked_parts(zf)
        hints = FORMULA_HINTS[kind]
        formula_parts = frozenset(
            info.filename
            for info, part in parts
            if info.filename.endswith(".xml") and any(hint.search(part) for hint in hints)
        )
        return Checked(kind, _repacked(zf, parts), formula_parts)


def _zip_kind(zf: zipfile.ZipFile) -> str:
    """``ods``, ``xlsx``, ``xlsm``, ``unknown``, or ``ambiguous``: a zip that the parser could
    take for another format than the one its checks would assume (it finds parts whatever
    their case, and tries xlsx before ods), or a binary workbook."""
    names = set(zf.namelist())
    lower = {name.lower() for name in names}
    if len(lower) < len(zf.infolist()) or any(name.endswith("workbook.bin") for name in lower):
        return "ambiguous"  # the same name twice (in any case), or an xlsb workbook
    try:
        ods = "mimetype" in names and b"opendocument.spreadsheet" in _read_part(
            zf, zf.getinfo("mimetype"), 1024
        )
    except UnreadableFile:
        ods = False
    workbook = "xl/workbook.xml" in lower
    if ods and workbook:
        return "ambiguous"
    if ods:
        return "ods"
    if "xl/workbook.xml" in names:
        return "xlsm" if "xl/vbaproject.bin" in lower else "xlsx"
    return "unknown"


def _checked_parts(zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, bytes]]:
    """Every part, read whole and bounded, after the directory's sizes were bounded; refuses
    a DTD or entity declaration in any XML part and a VBA project under any name."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise UnreadableFile("zip-too-many-parts", count=len(infos), limit=MAX_ZIP_ENTRIES)
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > MAX_UNZIPPED_BYTES:
        raise UnreadableFile(
            "zip-too-large", size_mb=total // 1048576, limit_mb=MAX_UNZIPPED_BYTES // 1048576
        )
    if total / packed > MAX_ZIP_RATIO and total > 10 * 1024 * 1024:
        raise UnreadableFile("zip-bomb")
    parts = []
    for info in infos:
        if info.flag_bits & _ENCRYPTED:
            raise UnreadableFile("file-encrypted")
        data = _read_part(zf, info, MAX_PART_BYTES)
        if info.filename.endswith((".xml", ".rels")) and _declares_dtd(data):
            raise UnreadableFile("xml-entities")
        if info.filename == "[Content_Types].xml" and _MACRO_TYPES.search(data[: 1 << 20]):
            raise UnreadableFile("file-has-macros")
        parts.append((info, data))
    return parts


def _read_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A part's bytes through :mod:`zipfile`, read in chunks and refused past ``limit``
    (zipfile itself stops at the declared size and checks the CRC-32 there)."""
    if info.file_size > limit:
        raise UnreadableFile(
            "zip-part-too-large", size_mb=info.file_size // 1048576, limit_mb=limit // 1048576
        )
    chunks = []
    size = 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise UnreadableFile("zip-bomb")
                chunks.append(chunk)
    except UnreadableFile:
        raise
    except Exception as exc:  # BadZipFile (CRC), zlib.error, an unsupported method, ...
        raise UnreadableFile("zip-damaged") from exc
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _repacked(zf: zipfile.ZipFile, parts: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    """The checked parts as a new zip, stored (not compressed), in their order.

    Two zip readers can find two different archives in the same bytes (an end record hidden
    in another's comment, data before the first part, entries that disagree): the parser
    gets exactly what Python's zipfile read and the checks saw, and needs no inflating."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as packed:
        for info, data in parts:
            packed.writestr(zipfile.ZipInfo(info.filename, info.date_time), data)
    return out.getvalue()


#: What any formula element (plain or with a namespace prefix) or attribute contains, per
#: kind: each a literal-prefixed pattern that re scans for about as fast as bytes.find. A
#: part without one holds no formula.
FORMULA_HINTS: Final = {
    "xlsx": (re.compile(rb"<f[\s/>]"), re.compile(rb":f[\s/>]")),
    "ods": (re.compile(rb":formula="),),
}
_MACRO_TYPES: Final = re.compile(rb"vbaProject|macroEnabled|ms-office\.activeX", re.IGNORECASE)
#: What may come before an XML document's root element besides a DOCTYPE: a byte order
#: mark, white space, the XML declaration and other processing instructions, comments.
_PROLOG_ITEMS: Final = re.compile(rb"(?:\xef\xbb\xbf)?(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.S)
_ROOT_START: Final = re.compile(rb"<[A-Za-z_:\x80-\xff]")
_DOCTYPE: Final = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def _declares_dtd(data: bytes) -> bool:
    """Whether a part declares a DTD or entities (``<!DOCTYPE``, ``<!ENTITY``, any ``<!``
    but a comment) before its root element, where they may follow white space, comments and
    processing instructions. A prolog longer than ``MAX_PROLOG_BYTES`` is refused. UTF-16
    parts are read as text."""
    head = data[:4096]
    if b"<!" in head and _DOCTYPE.search(head):
        return True
    found = _prolog_end(head)
    if found is None and len(data) > len(head):
        prolog = data[: MAX_PROLOG_BYTES + 1]
        found = _prolog_end(prolog)
        if found is None and len(prolog) > MAX_PROLOG_BYTES:
            raise UnreadableFile("xml-prolog-too-long", limit_kb=MAX_PROLOG_BYTES // 1024)
    return bool(found)  # None: the part ends in its prolog; not XML, the parser decides


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
