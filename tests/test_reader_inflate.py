"""Inflating a dropped workbook's parts with zlib-ng (``reader._inflated_fast``) and repacking
them for the parser (``reader._repacked``): the bytes are zipfile's own, and anything unusual
is left to zipfile to read and to refuse."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.xlsx.reader import (
    Limits,
    UnreadableFile,
    _inflated_fast,
    _Parts,
    _repacked,
    open_book,
    read_checked,
)
from tests.hostile import Member, deflated, xlsx_skeleton, zeros_member, zip_bytes


def stored(name: str, data: bytes) -> Member:
    return Member(name, data, zlib.crc32(data), len(data), method=zipfile.ZIP_STORED)


def _zipfile_reads(raw: bytes, name: str) -> bytes | type[BaseException]:
    """What zipfile makes of the member: its bytes, or the type of its error."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            return zf.read(name)
    except Exception as exc:  # zipfile raises several kinds
        return type(exc)


def _whole(raw: bytes, name: str) -> bytes | type[BaseException]:
    """What the reader's parts make of it (the fast path where it may, zipfile otherwise)."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            return _Parts(zf).whole(zf.getinfo(name))
    except Exception as exc:
        return type(exc)


def _fast(raw: bytes, name: str) -> bytes | None:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return _inflated_fast(raw, zf.getinfo(name))


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(
        st.binary(min_size=1, max_size=3000),
        st.text(min_size=1, max_size=2000).map(str.encode),
        st.integers(min_value=1, max_value=20_000).map(lambda n: b'<c r="A1"/>' * n),
    ),
    method=st.sampled_from(["deflated", "stored"]),
    name=st.sampled_from(["xl/worksheets/sheet1.xml", "xl/blad-å.xml", "[Content_Types].xml"]),
    prefix=st.binary(max_size=40),
)
def test_the_fast_inflate_gives_exactly_what_zipfile_gives(
    data: bytes, method: str, name: str, prefix: bytes
) -> None:
    member = deflated(name, data) if method == "deflated" else stored(name, data)
    # Bytes before the archive (as a self-extracting one has) move every offset.
    raw = prefix + zip_bytes([deflated("a.xml", b"<a/>"), member])
    assert _fast(raw, name) == data == _zipfile_reads(raw, name)
    assert _whole(raw, name) == data


def _patched(raw: bytes, at: int, value: bytes) -> bytes:
    return raw[:at] + value + raw[at + len(value) :]


def _central(raw: bytes) -> int:
    return raw.index(b"PK\x01\x02")


def _unusual_archives() -> dict[str, bytes]:
    body = b"<worksheet>" + b"<row/>" * 500 + b"</worksheet>"
    plain = zip_bytes([deflated("s.xml", body)])
    wrong_crc = Member("s.xml", deflated("s.xml", body).compressed, 12345, len(body))
    short = deflated("s.xml", body)
    bzip = Member("s.xml", b"BZh9", zlib.crc32(body), len(body), method=zipfile.ZIP_BZIP2)
    encrypted_flags = struct.pack("<H", 0x800 | 0x1)
    return {
        "CRC that is not the bytes'": zip_bytes([wrong_crc]),
        "a larger size claimed than the stream holds": zip_bytes(
            [Member("s.xml", short.compressed, short.crc, len(body) + 10)]
        ),
        "a truncated deflate stream": zip_bytes(
            [Member("s.xml", short.compressed[:20], short.crc, len(body))]
        ),
        "another name in the local header": _patched(plain, 30, b"t"),
        "another signature in the local header": _patched(plain, 0, b"PK\x05\x05"),
        "the encrypted flag": _patched(plain, _central(plain) + 8, encrypted_flags),
        "another method (bzip2)": zip_bytes([bzip]),
        "an empty member": zip_bytes([stored("s.xml", b"")]),
        "not a deflate stream": zip_bytes(
            [Member("s.xml", b"\xff" * 64, zlib.crc32(body), len(body))]
        ),
        "a damaged block after the declared bytes": zip_bytes(
            [Member("s.xml", _with_damaged_tail(body), zlib.crc32(body), len(body))]
        ),
        "a stream that goes on past the declared size": zip_bytes(
            [Member("s.xml", short.compressed, zlib.crc32(body[:-1]), len(body) - 1)]
        ),
    }


def _with_damaged_tail(data: bytes) -> bytes:
    """A deflate stream of ``data`` that goes on, after a flush, into a block of a reserved
    type: zipfile reads past the declared size and trips over it."""
    first = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = first.compress(data) + first.flush(zlib.Z_SYNC_FLUSH)
    second = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream += second.compress(b"X" * 100) + second.flush(zlib.Z_SYNC_FLUSH)
    return stream + b"\x07" + b"\0" * 16


@pytest.mark.parametrize("case", sorted(_unusual_archives()))
def test_the_fast_inflate_leaves_anything_unusual_to_zipfile(case: str) -> None:
    raw = _unusual_archives()[case]
    assert _fast(raw, "s.xml") is None
    # ... and the parts then give what zipfile gives, error or bytes.
    assert _whole(raw, "s.xml") == _zipfile_reads(raw, "s.xml")


def test_headers_claiming_less_than_the_stream_holds_give_the_claimed_bytes() -> None:
    """A deflate stream of 50 MiB of spaces behind headers claiming 300 bytes (the CRC that of
    those 300): the fast path stops one byte past the claim and leaves it to zipfile, which
    stops at the claim, inflating no further either."""
    raw = zip_bytes([zeros_member("s.xml", 50, claimed=300)])
    assert _fast(raw, "s.xml") is None
    assert _whole(raw, "s.xml") == b" " * 300 == _zipfile_reads(raw, "s.xml")


def test_the_repacked_archive_holds_exactly_the_checked_parts_stored() -> None:
    parts = {"[Content_Types].xml": b"<Types/>", "xl/blad-ä.xml": b"<x/>" * 1000, "e": b""}
    raw = zip_bytes([deflated(n, d) for n, d in parts.items()])
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        packed = _repacked(_Parts(zf))
    with zipfile.ZipFile(io.BytesIO(packed)) as out:
        assert out.testzip() is None  # every CRC-32 is that of the bytes
        assert out.namelist() == list(parts)
        for info in out.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert out.read(info) == parts[info.filename]
        assert out.getinfo("xl/blad-ä.xml").flag_bits & 0x800  # the name is marked UTF-8
    signature, _, _, entries, total = struct.unpack("<4sHHHH", packed[-22:-10])
    assert (signature, entries, total) == (b"PK\x05\x06", 3, 3)  # the end record, no comment


def test_the_parser_reads_the_repacked_workbook(tmp_path: Path) -> None:
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
        b'.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="B1"><v>42</v></c></row>'
        b"</sheetData></worksheet>"
    )
    path = tmp_path / "book.xlsx"
    path.write_bytes(zip_bytes(deflated(n, d) for n, d in xlsx_skeleton(sheet).items()))
    kind, packed = read_checked(path, Limits())
    assert kind == "xlsx" and packed != path.read_bytes()
    book = open_book(packed)
    assert book.get_sheet_by_index(0).to_python(skip_empty_area=False) == [["", 42.0]]


def test_the_name_is_read_as_the_local_header_says_like_zipfile_reads_it() -> None:
    """A name written in UTF-8, flagged so in the directory but not in the local header:
    zipfile reads the local one as cp437, finds another name and refuses; so does the fast
    path (and the other way round)."""
    name = "xl/worksheets/blad-é.xml"
    plain = zip_bytes([deflated(name, b"<x/>" * 100)])
    assert _fast(plain, name) == b"<x/>" * 100
    local_flags = 6
    unflagged = _patched(plain, local_flags, struct.pack("<H", 0))
    assert _zipfile_reads(unflagged, name) is zipfile.BadZipFile
    assert _fast(unflagged, name) is None
    assert _whole(unflagged, name) is zipfile.BadZipFile


def test_a_directory_pointing_before_the_archive_is_left_to_zipfile() -> None:
    """An end record whose directory offset is too large makes zipfile's offsets negative;
    the fast path must not read from the end of the bytes instead."""
    data = b"<hidden/>" * 50
    name = b"s.xml"
    crc = zlib.crc32(data)
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        *(0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name)),
        *(0, 0, 0, 0, 0, 0),
    )
    central += name
    comment_length = 600  # the local header hides in the archive's comment
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), comment_length, comment_length
    )
    raw = central + end + (local + name + data).ljust(comment_length, b"\0")
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        assert zf.getinfo("s.xml").header_offset < 0
    assert _fast(raw, "s.xml") is None
    assert _whole(raw, "s.xml") == _zipfile_reads(raw, "s.xml") is ValueError


def test_a_directory_zipfile_cannot_open_is_refused_with_a_receipt(tmp_path: Path) -> None:
    """A name flagged UTF-8 that is not (zipfile raises UnicodeDecodeError opening the
    archive): refused as not a workbook, not left half-processed."""
    raw = bytearray(zip_bytes([deflated("xl/workbook.xml", b"<w/>")]))
    raw[raw.index(b"PK\x01\x02") + 46] = 0xFF  # the first byte of the directory's name
    path = tmp_path / "fel-namn.xlsx"
    path.write_bytes(bytes(raw))
    with pytest.raises(UnreadableFile) as refused:
        read_checked(path, Limits())
    assert refused.value.params == {"detail": "inte xlsx eller ods / not xlsx or ods"}
