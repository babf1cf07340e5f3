"""No cell is so far out that the parser would build the rectangle up to it, whatever way the
sheet is written: the parser's process refuses a sheet whose extent (as the parser sees it)
is past the limits, and a sheet whose rectangle would not fit in its address space aborts
that process only (``parser-crashed``), never the one reading the file.

Sheets are read as the inbox reads them: checked, then parsed in the parser's process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pytest

from pipeline.xlsx.parser import open_book, sheet_rows
from pipeline.xlsx.safety import Limits, UnreadableFile, read_checked
from tests.hostile import rezip, xlsx_skeleton

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
FIRST = b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c>'


def _sheet(inner: bytes, *, encoding: str = "UTF-8") -> bytes:
    xml = (
        f'<?xml version="1.0" encoding="{encoding}"?><worksheet xmlns="{MAIN}"><sheetData>'.encode()
        + inner
        + b"</sheetData></worksheet>"
    )
    return xml.decode().encode(encoding) if encoding != "UTF-8" else xml


def _book(tmp_path: Path, sheet: bytes, *, part: str = "xl/worksheets/sheet1.xml") -> Path:
    parts = xlsx_skeleton(sheet)
    if part != "xl/worksheets/sheet1.xml":
        del parts["xl/worksheets/sheet1.xml"]
        parts[part] = sheet
        target = part.removeprefix("xl/") if part.startswith("xl/") else "/" + part
        parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
            b'Target="worksheets/sheet1.xml"', f'Target="{target}"'.encode()
        )
    path = tmp_path / "book.xlsx"
    path.write_bytes(rezip(parts))
    return path


def _read(path: Path, limits: Limits | None = None) -> list[list[Any]]:
    """The sheet as the inbox reads it: checked, then parsed in the parser's process."""
    limits = limits or Limits()
    book = open_book(read_checked(path, limits)[1])
    return sheet_rows(book, "_resultat", limits)


def _refused(path: Path, limits: Limits | None = None) -> UnreadableFile:
    with pytest.raises(UnreadableFile) as refused:
        _read(path, limits)
    return refused.value


def _check_safe(path: Path, limits: Limits) -> str:
    """Read without refusal: the kind."""
    _read(path, limits)
    return read_checked(path, limits)[0]


def _value(rows: list[list[Any]], row: int, col: int) -> Any:
    return rows[row - 1][col - 1] if row <= len(rows) and col <= len(rows[row - 1]) else None


# --------------------------------------------------------------------------- far cells


#: What a sheet reaching too far is refused as: past the limits as the parser sees it, or a
#: rectangle the parser's process cannot hold (it aborts; the reading process carries on).
FAR: Final = {"too-many-rows", "too-many-columns", "parser-crashed"}


def _refused_far(path: Path) -> UnreadableFile:
    """Refused as reaching too far; and the next file is read by a fresh parser process."""
    refused = _refused(path)
    assert refused.slug in FAR, refused
    good = path.with_name("good.xlsx")
    good.write_bytes(rezip(xlsx_skeleton(_sheet(FIRST + b"</row>"))))
    assert _read(good) == [["x"]]
    return refused


@pytest.mark.parametrize(
    "cell",
    [
        b'<c s="0" r="KN2000000"><v>1</v></c>',
        b"<c r='KN2000000'><v>1</v></c>",
        b'<c r="kn2000000"><v>1</v></c>',
        b'<c  r="KN2000000"><v>1</v></c>',
        b'<c\nr="KN2000000"><v>1</v></c>',
        b'<c r = "XFD1048576"><v>1</v></c>',
        b'<c r="xfd1"><v>1</v></c>',
        b'<c r="ZZZZZZZ1"><v>1</v></c>',
        b'<c r="AAAA1"><v>1</v></c>',
        b'<c r="A' + b"0" * 80 + b'2000000"><v>1</v></c>',
        b'<c r="A' + b"0" * 20 + b'2000000"><v>1</v></c>',
        b'<c r="A9' + b"9" * 40 + b'"><v>1</v></c>',
    ],
)
def test_a_far_cell_written_any_way_is_refused(tmp_path: Path, cell: bytes) -> None:
    _refused_far(_book(tmp_path, _sheet(FIRST + cell + b"</row>")))


def test_an_empty_far_cell_takes_no_room(tmp_path: Path) -> None:
    """The parser places only cells with a value: an empty one far out is not in the sheet."""
    assert _read(_book(tmp_path, _sheet(FIRST + b'<c r="XFD1048576"/></row>'))) == [["x"]]


def test_a_far_column_is_refused_with_its_number(tmp_path: Path) -> None:
    refused = _refused_far(_book(tmp_path, _sheet(FIRST + b'<c r="xfd1"><v>1</v></c></row>')))
    assert (refused.slug, refused.params) == ("too-many-columns", {"column": 16384, "limit": 300})


def test_a_far_row_is_refused_with_its_number(tmp_path: Path) -> None:
    refused = _refused_far(
        _book(tmp_path, _sheet(b'<row r="3"><c r="B2000000"><v>1</v></c></row>'))
    )
    assert (refused.slug, refused.params) == ("too-many-rows", {"rows": 2_000_000, "limit": 50_000})


@pytest.mark.parametrize(
    "cell",
    [
        b'<c r="A2" r="XFD1048576"><v>1</v></c>',  # the parser takes the last r
        b'<c r="A2" s="1" r="XFD1048576"><v>1</v></c>',
        b'<c r="A2"r="XFD1048576"><v>1</v></c>',  # no white space between attributes
        b'<c r="A2"\tr\t=\t"XFD1048576"><v>1</v></c>',
        b'<c r="A2" a="<row x" r="XFD1048576"><v>1</v></c>',  # "<" inside a value
    ],
)
def test_a_second_r_attribute_on_a_cell_is_refused(tmp_path: Path, cell: bytes) -> None:
    """The parser takes a cell's last r (it does not insist on well-formed attributes)."""
    _refused_far(_book(tmp_path, _sheet(FIRST + cell + b"</row>")))


def test_a_prefixed_far_cell_is_refused(tmp_path: Path) -> None:
    inner = f'<x:row xmlns:x="{MAIN}" r="3"><x:c r="XFD3"><x:v>1</x:v></x:c></x:row>'.encode()
    _refused_far(_book(tmp_path, _sheet(FIRST + b"</row>" + inner)))


def test_a_far_cell_in_utf16_is_not_read(tmp_path: Path) -> None:
    """The parser reads no cells from a UTF-16 sheet, so none of them can reach far."""
    sheet = _sheet(FIRST + b'<c r="XFD1048576"><v>1</v></c></row>', encoding="UTF-16")
    assert sheet[:2] == b"\xff\xfe"
    assert len(_read(_book(tmp_path, sheet))) <= 1


@pytest.mark.parametrize("part", ["xl/evil.xml", "evil.bin", "xl/other/sheet.dat"])
def test_a_sheet_outside_the_worksheets_folder_is_checked(tmp_path: Path, part: str) -> None:
    """The parser reads a sheet from whatever part the workbook's relationships name."""
    sheet = _sheet(FIRST + b'<c r="XFD1048576"><v>1</v></c></row>')
    _refused_far(_book(tmp_path, sheet, part=part))


# --------------------------------------------------------------------------- implicit positions


def test_a_cell_without_r_in_a_far_row_is_refused(tmp_path: Path) -> None:
    refused = _refused(_book(tmp_path, _sheet(b'<row r="2000000"><c><v>1</v></c></row>')))
    assert (refused.slug, refused.params["rows"]) == ("too-many-rows", 2_000_000)


def test_rows_without_r_add_up_until_a_cell_is_past_the_limit(tmp_path: Path) -> None:
    limits = Limits(max_rows=50)  # 150 rows with the header
    inner = b"<row/>" * 149 + b"<row><c><v>1</v></c></row>"
    path = _book(tmp_path, _sheet(inner))
    assert _check_safe(path, limits) == "xlsx"
    assert _value(_read(path), 150, 1) == 1.0
    path = _book(tmp_path, _sheet(b"<row></row>" * 150 + b"<row><c/><c><v>1</v></c></row>"))
    refused = _refused(path, limits)
    assert refused.slug == "too-many-rows"
    assert refused.params == {"rows": 151, "limit": 50}


def test_cells_without_r_add_up_until_one_is_past_the_last_column(tmp_path: Path) -> None:
    row = b"<c><v>1</v></c>" * 300
    path = _book(tmp_path, _sheet(b"<row>" + row + b"</row><row>" + row + b"</row>"))
    assert _check_safe(path, Limits()) == "xlsx"
    rows = _read(path)
    assert (len(rows), len(rows[0])) == (2, 300)
    refused = _refused(_book(tmp_path, _sheet(b"<row>" + row + b"<c><v>1</v></c></row>")))
    assert refused.params == {"column": 301, "limit": 300}


def test_a_cell_with_r_moves_the_next_cells_without_one(tmp_path: Path) -> None:
    inner = b'<row><c r="KM1"><v>1</v></c><c><v>2</v></c><c><v>3</v></c></row>'
    assert _refused(_book(tmp_path, _sheet(inner))).params == {"column": 301, "limit": 300}


def test_a_cell_inside_a_cell_is_refused(tmp_path: Path) -> None:
    """Not a sheet the parser can read: refused as damaged."""
    inner = b"<row><c><v>1</v><c/></c></row>"
    assert _refused(_book(tmp_path, _sheet(inner))).slug == "spreadsheet-damaged"


# --------------------------------------------------------------------------- legal odd spellings


@pytest.mark.parametrize(
    ("inner", "cells"),
    [
        (b'<row r="2"><c s="0" r="C2"><v>1</v></c></row>', {(2, 3): 1.0}),
        (b"<row r='2'><c r='C2'><v>1</v></c></row>", {(2, 3): 1.0}),
        (
            b'<row r="2"><c r="c2"><v>1</v></c><c r="kn60"><v>2</v></c></row>',
            {(2, 3): 1.0, (60, 300): 2.0},
        ),
        (
            b'<row r="2"><c  r="C2"><v>1</v></c><c\tr = "D2"><v>2</v></c></row>',
            {(2, 3): 1.0, (2, 4): 2.0},
        ),
        (b'<row r="2"><c r="A0002"><v>1</v></c></row>', {(2, 1): 1.0}),
        (b'<row spans="1:2" r="2"><c r="B2"><v>1</v></c></row>', {(2, 2): 1.0}),
        (
            f'<x:row xmlns:x="{MAIN}" r="3"><x:c r="B3"><x:v>1</x:v></x:c><x:c><x:v>2</x:v></x:c>'
            "</x:row>".encode(),
            {(3, 2): 1.0, (3, 3): 2.0},
        ),
        (
            b"<row><c><v>1</v></c><c><v>2</v></c></row><row><c/><c><v>3</v></c></row><row/>"
            b'<row><c r="C9"/><c><v>4</v></c></row><row r="20"><c><v>5</v></c></row>',
            {(1, 1): 1.0, (1, 2): 2.0, (2, 2): 3.0, (4, 4): 4.0, (20, 1): 5.0},
        ),
        (
            b'<row r="1048576" ht="20"/><!-- <c r="A1"> --><row r="2"><c r="A2"><v>1</v></c></row>',
            {(2, 1): 1.0},
        ),
    ],
)
def test_a_legal_sheet_written_an_odd_way_is_accepted_and_read(
    tmp_path: Path, inner: bytes, cells: dict[tuple[int, int], float]
) -> None:
    path = _book(tmp_path, _sheet(inner))
    assert _check_safe(path, Limits()) == "xlsx"
    rows = _read(path)
    for (row, col), value in cells.items():
        assert _value(rows, row, col) == value


def test_a_legal_sheet_in_utf16_is_accepted(tmp_path: Path) -> None:
    path = _book(tmp_path, _sheet(FIRST + b'<c r="B1"><v>1</v></c></row>', encoding="UTF-16"))
    assert _check_safe(path, Limits()) == "xlsx"
    _read(path)  # the parser makes nothing of it, and does not fail
