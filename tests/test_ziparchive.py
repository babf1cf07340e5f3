"""The zip writer of the workbooks we write and of the parts handed to the parser."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zlib
from pathlib import Path, PurePath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.xlsx.sheetxml import SheetDocument
from pipeline.xlsx.ziparchive import Part, archive

_names = st.sampled_from(["[Content_Types].xml", "xl/worksheets/sheet1.xml", "xl/blad-åäö.xml"])


@settings(max_examples=100, deadline=None)
@given(
    parts=st.dictionaries(_names, st.binary(max_size=5000), max_size=3),
    deflate=st.booleans(),
)
def test_zipfile_reads_back_every_part_as_written(parts: dict[str, bytes], deflate: bool) -> None:
    data = archive([Part(name, body) for name, body in parts.items()], deflate=deflate)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None  # every CRC-32 is that of the bytes
        assert zf.namelist() == list(parts)
        for info in zf.infolist():
            assert zf.read(info) == parts[info.filename]
            assert info.compress_type == (zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
            assert bool(info.flag_bits & 0x800) == (not info.filename.isascii())
            assert info.external_attr >> 16 == 0o600


def test_a_deflated_part_is_smaller_and_stamped_with_the_time_it_was_written() -> None:
    sheet = b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>' * 2000
    data = archive([Part("xl/worksheets/sheet1.xml", sheet)], deflate=True)
    assert len(data) < len(sheet) // 20
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        written = dt.datetime(*zf.infolist()[0].date_time)
    assert abs((dt.datetime.now() - written).total_seconds()) < 120


def test_a_known_crc_is_written_as_given() -> None:
    """The reader passes the CRC-32 zipfile checked; a wrong one would show as damage."""
    good = archive([Part("s.xml", b"<x/>", zlib.crc32(b"<x/>"))], deflate=False)
    bad = archive([Part("s.xml", b"<x/>", 12345)], deflate=False)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        assert zf.read("s.xml") == b"<x/>"
    with zipfile.ZipFile(io.BytesIO(bad)) as zf, pytest.raises(zipfile.BadZipFile):
        zf.read("s.xml")


def test_a_workbook_is_saved_to_any_path_like_and_to_a_file_object(tmp_path: Path) -> None:
    doc = SheetDocument()
    doc.add_sheet("Blad").set("A1", "hej")
    target = tmp_path / "bok.xlsx"
    doc.save(PurePath(target))  # any os.PathLike, not only pathlib.Path
    buffer = io.BytesIO(b"prefix")
    buffer.seek(0, io.SEEK_END)
    doc.save(buffer)
    saved = buffer.getvalue()
    assert saved.startswith(b"prefix")
    for data in (target.read_bytes(), saved[len(b"prefix") :]):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.testzip() is None
            assert "hej" in zf.read("xl/worksheets/sheet1.xml").decode()
