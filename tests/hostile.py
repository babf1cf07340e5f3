"""Generators of hostile files for the inbox: zip bombs, XML entity expansion, macro and
encrypted workbooks (real OLE compound files), sheets with a million rows, mutations.

Everything is built here, byte by byte where it matters, so the tests need no fixture files
and no extra packages. Zip archives are written by :func:`zip_bytes` (not :mod:`zipfile`) so a
member's declared size can lie about what its deflate stream inflates to.
"""

from __future__ import annotations

import base64
import io
import itertools
import random
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

# --------------------------------------------------------------------------- zip archives


@dataclass(frozen=True)
class Member:
    """One zip member: its name, the deflated bytes, and what the headers say about it."""

    name: str
    compressed: bytes
    crc: int
    size: int  # the uncompressed size written in both headers (may be a lie)
    method: int = zipfile.ZIP_DEFLATED


def deflated(name: str, data: bytes) -> Member:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = packer.compress(data) + packer.flush()
    return Member(name, body, zlib.crc32(data), len(data))


def zip_bytes(members: Iterable[Member]) -> bytes:
    """A zip archive of ``members`` exactly as given (sizes and CRCs are not checked)."""
    out = io.BytesIO()
    central = io.BytesIO()
    count = 0
    for m in members:
        name = m.name.encode("utf-8")
        offset = out.tell()
        flags = 0x800  # names are UTF-8
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                flags,
                m.method,
                0,
                0x21,
                m.crc,
                len(m.compressed),
                m.size,
                len(name),
                0,
            )
        )
        out.write(name)
        out.write(m.compressed)
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                flags,
                m.method,
                0,
                0x21,
                m.crc,
                len(m.compressed),
                m.size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
        )
        central.write(name)
        count += 1
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), start, 0))
    return out.getvalue()


def members_of(data: bytes) -> dict[str, bytes]:
    """The members of a well-formed zip (an issued workbook), in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(parts: dict[str, bytes], *, extra: Iterable[Member] = ()) -> bytes:
    return zip_bytes([*(deflated(n, d) for n, d in parts.items()), *extra])


def zeros_member(name: str, inflated_mb: int, *, claimed: int | None = None) -> Member:
    """A member whose deflate stream inflates to ``inflated_mb`` MiB of spaces.

    Built from one fully flushed block repeated, so a gigabyte takes a moment to make.
    ``claimed`` is the size the headers state instead of the real one (a lying header; the
    CRC then is that of the claimed bytes, as a forger would write it).
    """
    chunk = b" " * (1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.flush(zlib.Z_FINISH)
    body = block * inflated_mb + tail
    if claimed is not None:
        return Member(name, body, zlib.crc32(b" " * claimed), claimed)
    crc = 0
    for _ in range(inflated_mb):
        crc = zlib.crc32(chunk, crc)
    return Member(name, body, crc, inflated_mb << 20)


def column_letters(number: int) -> str:
    """Spreadsheet column letters of any column number (past ZZZ too, which openpyxl refuses)."""
    out = ""
    while number:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


def xlsx_skeleton(sheet_xml: bytes) -> dict[str, bytes]:
    """The smallest parts that make a zip look like an xlsx workbook with one sheet."""
    return {
        "[Content_Types].xml": (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            b'<Default Extension="rels" '
            b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            b'<Default Extension="xml" ContentType="application/xml"/>'
            b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            b'officedocument.spreadsheetml.sheet.main+xml"/>'
            b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            b'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            b'<sheets><sheet name="_resultat" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }


def zip_bomb(inflated_mb: int) -> bytes:
    """An xlsx-shaped zip whose only sheet inflates to ``inflated_mb`` MiB (honest headers)."""
    parts = xlsx_skeleton(b"")
    del parts["xl/worksheets/sheet1.xml"]
    return rezip(parts, extra=[zeros_member("xl/worksheets/sheet1.xml", inflated_mb)])


def lying_zip_bomb(issued: bytes, member: str, inflated_mb: int) -> bytes:
    """An issued workbook whose ``member`` is replaced by a deflate stream of
    ``inflated_mb`` MiB while both zip headers claim it holds a few hundred bytes."""
    parts = members_of(issued)
    original = parts.pop(member)
    bomb = zeros_member(member, inflated_mb, claimed=len(original))
    return rezip(parts, extra=[bomb])


# --------------------------------------------------------------------------- XML


def billion_laughs(root: str = "lolz", depth: int = 10, width: int = 10) -> bytes:
    """The classic entity expansion: ``width ** depth`` copies of "lol" from a few hundred
    bytes, as an XML document whose root element is ``root``."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<!DOCTYPE {root} [", '<!ENTITY l0 "lol">']
    for level in range(1, depth):
        lines.append(f'<!ENTITY l{level} "' + f"&l{level - 1};" * width + '">')
    lines.append("]>")
    lines.append(f"<{root}>&l{depth - 1};</{root}>")
    return "\n".join(lines).encode("utf-8")


def with_entity_bomb(issued: bytes, member: str) -> bytes:
    """An issued workbook with a billion-laughs DOCTYPE in one XML part and a reference to
    the top entity where the part holds text (or just inside its root element)."""
    parts = members_of(issued)
    xml = re.sub(r"^<\?xml[^>]*\?>", "", parts[member].decode("utf-8"))
    match = re.match(r"\s*<([A-Za-z_:][\w:.-]*)", xml)
    assert match, member
    bomb = billion_laughs(match.group(1)).decode("utf-8")
    doctype = bomb[bomb.index("<!DOCTYPE") : bomb.index("]>") + 2]
    for tag in ("<t>", '<t xml:space="preserve">', "<v>"):
        where = xml.find(tag)
        if where >= 0:
            at = where + len(tag)
            xml = xml[:at] + "&l9;" + xml[at:]
            break
    else:
        close = xml.index(">", match.end()) + 1
        xml = xml[:close] + "&l9;" + xml[close:]
    parts[member] = ('<?xml version="1.0" encoding="UTF-8"?>' + doctype + xml).encode("utf-8")
    return rezip(parts)


def with_rows(issued: bytes, rows: int, *, sheet: str = "xl/worksheets/sheet1.xml") -> bytes:
    """An issued workbook with ``rows`` extra filled rows at the end of its input sheet.

    Every row differs (a counter in each cell), so the sheet compresses like real data and
    is not refused as a zip bomb."""
    parts = members_of(issued)
    xml = parts[sheet]
    start = 100
    body = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>x{r}</t></is></c>'
        f'<c r="D{r}" t="inlineStr"><is><t>{r % 7}</t></is></c></row>'
        for r in range(start, start + rows)
    ).encode("ascii")
    if b"</sheetData>" in xml:
        xml = xml.replace(b"</sheetData>", body + b"</sheetData>", 1)
    else:
        xml = xml.replace(b"<sheetData/>", b"<sheetData>" + body + b"</sheetData>", 1)
    xml = re.sub(
        rb'<dimension ref="[^"]*"/>', f'<dimension ref="A1:G{start + rows}"/>'.encode(), xml
    )
    parts[sheet] = xml
    return rezip(parts)


# --------------------------------------------------------------------------- OLE compound files

_FREE = 0xFFFFFFFF
_END = 0xFFFFFFFE
_FATSECT = 0xFFFFFFFD
_NOSTREAM = 0xFFFFFFFF
_SECTOR = 512
_MINI = 64
_CUTOFF = 4096


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] | None = None
    start: int = _END
    left: int = _NOSTREAM
    right: int = _NOSTREAM
    child: int = _NOSTREAM


def compound_file(tree: dict[str, object]) -> bytes:
    """A Compound File Binary (OLE2, version 3) holding ``tree``: a name maps to bytes (a
    stream) or to another dict (a storage). Small streams go to the mini stream as the
    format requires; readers such as olefile and msoffcrypto open the result."""

    def build(name: str, node: object) -> _Entry:
        if isinstance(node, dict):
            return _Entry(name, 1, children=[build(k, v) for k, v in node.items()])
        assert isinstance(node, bytes)
        return _Entry(name, 2, data=node)

    root = _Entry("Root Entry", 5, children=[build(k, v) for k, v in tree.items()])
    entries: list[_Entry] = []

    def number(entry: _Entry) -> None:
        entries.append(entry)
        for kid in entry.children or []:
            number(kid)

    number(root)
    index = {id(e): i for i, e in enumerate(entries)}

    def sort_key(e: _Entry) -> tuple[int, str]:
        return (len(e.name), e.name.upper())

    for entry in entries:
        kids = sorted(entry.children or [], key=sort_key)
        # Siblings as a right-leaning chain in the order the format compares names.
        for a, b in itertools.pairwise(kids):
            a.right = index[id(b)]
        if kids:
            entry.child = index[id(kids[0])]

    sectors: list[bytes] = []
    fat: list[int] = []

    def chain(data: bytes) -> int:
        if not data:
            return _END
        first = len(sectors)
        pieces = [data[i : i + _SECTOR] for i in range(0, len(data), _SECTOR)]
        for n, piece in enumerate(pieces):
            sectors.append(piece.ljust(_SECTOR, b"\0"))
            fat.append(first + n + 1 if n + 1 < len(pieces) else _END)
        return first

    mini = bytearray()
    minifat: list[int] = []
    for entry in entries:
        if entry.kind != 2:
            continue
        if len(entry.data) < _CUTOFF:
            if not entry.data:
                continue
            first = len(mini) // _MINI
            count = (len(entry.data) + _MINI - 1) // _MINI
            mini += entry.data.ljust(count * _MINI, b"\0")
            minifat += [first + n + 1 if n + 1 < count else _END for n in range(count)]
            entry.start = first
        else:
            entry.start = chain(entry.data)
    root.start = chain(bytes(mini)) if mini else _END
    root.data = bytes(mini)
    minifat_bytes = b"".join(struct.pack("<I", v) for v in minifat)
    if minifat_bytes:
        minifat_bytes = minifat_bytes.ljust(-(-len(minifat_bytes) // _SECTOR) * _SECTOR, b"\xff")
    minifat_start = chain(minifat_bytes) if minifat_bytes else _END
    minifat_count = len(minifat_bytes) // _SECTOR

    directory = b""
    for entry in entries:
        name = entry.name.encode("utf-16-le") + b"\0\0"
        size = len(entry.data) if entry.kind in (2, 5) else 0
        directory += struct.pack(
            "<64sHBBIII16sIQQIQ",
            name,
            len(name),
            entry.kind,
            1,  # black
            entry.left,
            entry.right,
            entry.child,
            b"\0" * 16,
            0,
            0,
            0,
            entry.start if entry.kind != 1 else 0,
            size,
        )
    empty = struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM,
                        b"\0" * 16, 0, 0, 0, 0, 0)  # fmt: skip
    while len(directory) % _SECTOR:
        directory += empty
    directory_start = chain(directory)

    # The FAT describes every sector, its own included.
    fat_count = 1
    while fat_count * (_SECTOR // 4) < len(sectors) + fat_count:
        fat_count += 1
    fat_first = len(sectors)
    fat += [_FATSECT] * fat_count
    fat += [_FREE] * (fat_count * (_SECTOR // 4) - len(fat))
    for n in range(fat_count):
        sectors.append(b"".join(struct.pack("<I", v) for v in fat[n * 128 : (n + 1) * 128]))
    assert fat_count <= 109
    difat = [fat_first + n for n in range(fat_count)] + [_FREE] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        fat_count,
        directory_start,
        0,
        _CUTOFF,
        minifat_start,
        minifat_count,
        _END,
        0,
    ) + b"".join(struct.pack("<I", v) for v in difat)
    assert len(header) == _SECTOR
    return header + b"".join(sectors)


def _ovba_compress(data: bytes) -> bytes:
    """MS-OVBA "compression" using only literal tokens (valid, if not small)."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start : start + 4096]
        body = bytearray()
        for i in range(0, len(chunk), 8):
            body.append(0)  # flag byte: eight literals follow
            body += chunk[i : i + 8]
        header = 0xB000 | (len(body) + 2 - 3)
        out += struct.pack("<H", header) + body
    return bytes(out)


def vba_project_bin(
    source: str = 'Sub Auto_Open()\r\n    Shell "calc.exe"\r\nEnd Sub\r\n',
) -> bytes:
    """A vbaProject.bin: the storages and streams Excel writes for a project with one module
    that runs on open (the module text stored uncompressed-in-compressed as MS-OVBA allows)."""
    module = ('Attribute VB_Name = "Module1"\r\n' + source).encode("cp1252")
    project = (
        'ID="{00000000-0000-0000-0000-000000000000}"\r\nDocument=ThisWorkbook/&H00000000\r\n'
        'Module=Module1\r\nName="VBAProject"\r\nHelpContextID="0"\r\nVersionCompatible32='
        '"393222000"\r\nCMG=""\r\nDPB=""\r\nGC=""\r\n\r\n[Host Extender Info]\r\n'
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000\r\n"
    ).encode("cp1252")
    return compound_file(
        {
            "VBA": {
                "_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
                "dir": _ovba_compress(b"\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00"),
                "Module1": _ovba_compress(module),
                "ThisWorkbook": _ovba_compress(b'Attribute VB_Name = "ThisWorkbook"\r\n'),
            },
            "PROJECT": project,
            "PROJECTwm": b"Module1\0M\0o\0d\0u\0l\0e\x001\0\0\0\0\0",
        }
    )


def with_macros(issued: bytes, *, part: str = "xl/vbaProject.bin") -> bytes:
    """An issued workbook turned macro-enabled, as Excel saves an .xlsm: the VBA part, its
    content type and the workbook's relationship to it."""
    parts = members_of(issued)
    types = parts["[Content_Types].xml"].decode("utf-8")
    types = types.replace(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    types = types.replace(
        "</Types>",
        f'<Override PartName="/{part}" ContentType="application/vnd.ms-office.vbaProject"/>'
        "</Types>",
    )
    rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    target = part.removeprefix("xl/")
    rels = rels.replace(
        "</Relationships>",
        '<Relationship Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        f'Target="{target}" Id="rIdVba"/></Relationships>',
    )
    parts["[Content_Types].xml"] = types.encode("utf-8")
    parts["xl/_rels/workbook.xml.rels"] = rels.encode("utf-8")
    parts[part] = vba_project_bin()
    return rezip(parts)


def encrypted_workbook(seed: int = 1) -> bytes:
    """A password-protected workbook laid out as Office writes one (ECMA-376 agile
    encryption): an OLE compound file with the EncryptionInfo descriptor, the
    EncryptedPackage and the DataSpaces storage. Keys, salts and the package are random bytes:
    no password opens it, and msoffcrypto-tool reads it as an encrypted OOXML file."""
    rng = random.Random(seed)

    def b64(n: int) -> str:
        return base64.b64encode(rng.randbytes(n)).decode("ascii")

    cipher = (
        'saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"'
    )
    descriptor = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption" '
        'xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
        f'<keyData {cipher} saltValue="{b64(16)}"/>'
        f'<dataIntegrity encryptedHmacKey="{b64(64)}" encryptedHmacValue="{b64(64)}"/>'
        "<keyEncryptors><keyEncryptor "
        'uri="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
        f'<p:encryptedKey spinCount="100000" {cipher} saltValue="{b64(16)}" '
        f'encryptedVerifierHashInput="{b64(16)}" encryptedVerifierHashValue="{b64(64)}" '
        f'encryptedKeyValue="{b64(32)}"/></keyEncryptor></keyEncryptors></encryption>'
    )
    info = struct.pack("<HHI", 4, 4, 0x40) + descriptor.encode("utf-8")
    package = struct.pack("<Q", 9000) + rng.randbytes(9216)

    def unicode_field(text: str) -> bytes:
        raw = text.encode("utf-16-le")
        return struct.pack("<I", len(raw)) + raw + b"\0" * (-len(raw) % 4)

    version = unicode_field("Microsoft.Container.DataSpaces") + struct.pack(
        "<HHHHHH", 1, 0, 1, 0, 1, 0
    )
    entry = unicode_field("StrongEncryptionDataSpace")
    reference = struct.pack("<I", 0) + unicode_field("EncryptedPackage")
    mapping = struct.pack("<II", 8, 1) + struct.pack("<II", 0, 1) + reference + entry
    return compound_file(
        {
            "EncryptionInfo": info,
            "EncryptedPackage": package,
            "\x06DataSpaces": {
                "Version": version,
                "DataSpaceMap": mapping,
                "DataSpaceInfo": {
                    "StrongEncryptionDataSpace": struct.pack("<II", 8, 1)
                    + unicode_field("StrongEncryptionTransform")
                },
            },
        }
    )


# --------------------------------------------------------------------------- mutations


def mutations(data: bytes, rng: random.Random) -> bytes:
    """One random damage to a workbook's bytes: flipped bytes, truncation, a zip member
    removed, duplicated or replaced by garbage."""
    choice = rng.randrange(6)
    if choice == 0:
        out = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if choice == 1:
        return data[: rng.randrange(len(data))]
    parts = members_of(data)
    names = list(parts)
    victim = rng.choice(names)
    if choice == 2:
        del parts[victim]
        return rezip(parts)
    if choice == 3:
        return rezip(parts, extra=[deflated(victim, parts[victim])])
    if choice == 4:
        parts[victim] = rng.randbytes(rng.randint(0, 300))
        return rezip(parts)
    xml = parts[victim]
    cut = rng.randrange(len(xml) + 1)
    parts[victim] = xml[:cut]
    return rezip(parts)


def two_archives(seen: dict[str, bytes], hidden: dict[str, bytes]) -> bytes:
    """One file, two zip archives: ``hidden``'s parts, directory and end record, whose
    comment holds ``seen``'s directory and end record (with a comment length that runs past
    the end of the file). Python's zipfile takes the last end record and reads ``seen``; a
    reader that skips an end record whose comment overruns the file reads ``hidden``."""
    out = bytearray()

    def local_parts(parts: dict[str, bytes]) -> list[zipfile.ZipInfo]:
        infos = []
        for name, data in parts.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = info.compress_size = len(data)
            info.CRC = zlib.crc32(data) & 0xFFFFFFFF
            info.header_offset = len(out)
            out.extend(info.FileHeader())
            out.extend(data)
            infos.append(info)
        return infos

    def directory(infos: list[zipfile.ZipInfo]) -> bytes:
        entries = bytearray()
        for info in infos:
            name = info.filename.encode()
            entries += struct.pack(
                "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, info.CRC,
                info.compress_size, info.file_size, len(name), 0, 0, 0, 0, 0, info.header_offset,
            ) + name  # fmt: skip
        return bytes(entries)

    seen_infos, hidden_infos = local_parts(seen), local_parts(hidden)
    hidden_dir, seen_dir = directory(hidden_infos), directory(seen_infos)
    hidden_at = len(out)
    out += hidden_dir
    count = len(hidden_infos)
    out += struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(hidden_dir), hidden_at,
        len(seen_dir) + 22,
    )  # fmt: skip
    seen_at = len(out)
    out += seen_dir
    count = len(seen_infos)
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(seen_dir), seen_at, 5)
    return bytes(out)
