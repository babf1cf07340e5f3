"""The check that no cell is so far out that the parser would allocate the rectangle up to it
(python-calamine aborts the whole process then), whatever way the sheet is written.

A refused sheet is never given to the parser here (it could take the test run with it); an
accepted one is, and must read without trouble, with its cells where the check placed them.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from pipeline.xlsx.reader import (
    MAX_COLUMNS,
    Limits,
    UnreadableFile,
    _check_extent_xlsx,
    _far_cell,
    _Parts,
    _vouched_by_scan,
    check_safe,
)
from tests.hostile import column_letters, rezip, xlsx_skeleton

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


def _refused(path: Path, limits: Limits | None = None) -> UnreadableFile:
    with pytest.raises(UnreadableFile) as refused:
        check_safe(path, limits or Limits())
    return refused.value


def _read(path: Path) -> list[list[Any]]:
    """The sheet as the parser reads it, from A1 (only for sheets the check accepted)."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(path.read_bytes()))
    rows: list[list[Any]] = book.get_sheet_by_name("_resultat").to_python(skip_empty_area=False)
    return rows


def _value(rows: list[list[Any]], row: int, col: int) -> Any:
    return rows[row - 1][col - 1] if row <= len(rows) and col <= len(rows[row - 1]) else None


# --------------------------------------------------------------------------- far cells


@pytest.mark.parametrize(
    ("cell", "slug", "params"),
    [
        (b'<c s="0" r="KN2000000"><v>1</v></c>', "too-many-rows", {"rows": 2_000_000}),
        (b"<c r='KN2000000'><v>1</v></c>", "too-many-rows", {"rows": 2_000_000}),
        (b'<c r="kn2000000"><v>1</v></c>', "too-many-rows", {"rows": 2_000_000}),
        (b'<c  r="KN2000000"><v>1</v></c>', "too-many-rows", {"rows": 2_000_000}),
        (b'<c\nr="KN2000000"><v>1</v></c>', "too-many-rows", {"rows": 2_000_000}),
        (
            b'<c r = "XFD1048576"><v>1</v></c>',
            "unreadable-file",
            {"detail": "kolumn / column 16384"},
        ),
        (b'<c r="xfd1"><v>1</v></c>', "unreadable-file", {"detail": "kolumn / column 16384"}),
        (
            b'<c r="ZZZZZZZ1"><v>1</v></c>',
            "unreadable-file",
            {"detail": "kolumn / column 8353082582"},
        ),
        (b'<c r="AAAA1"/>', "unreadable-file", {"detail": "kolumn / column 18279"}),
        (b'<c r="A' + b"0" * 80 + b'2000000"/>', "too-many-rows", {"rows": 2_000_000}),
        (b'<c r="A' + b"0" * 20 + b'2000000"/>', "too-many-rows", {"rows": 2_000_000}),
        (
            b'<c r="A9' + b"9" * 40 + b'"/>',
            "unreadable-file",
            {"detail": "cell 'A" + "9" * 39 + "'"},
        ),
    ],
)
def test_a_far_cell_written_any_way_is_refused(
    tmp_path: Path, cell: bytes, slug: str, params: dict[str, Any]
) -> None:
    refused = _refused(_book(tmp_path, _sheet(FIRST + cell + b"</row>")))
    assert refused.slug == slug
    assert refused.params.items() >= params.items()


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
    """The parser takes a cell's last r (it does not insist on well-formed attributes); such a
    sheet is not XML, and the slow path refuses it as such."""
    refused = _refused(_book(tmp_path, _sheet(FIRST + cell + b"</row>")))
    assert refused.slug == "unreadable-file"
    assert refused.params["detail"].startswith("felaktig XML / malformed XML")


def test_a_prefixed_far_cell_is_refused(tmp_path: Path) -> None:
    inner = f'<x:row xmlns:x="{MAIN}" r="3"><x:c r="XFD3"><x:v>1</x:v></x:c></x:row>'.encode()
    refused = _refused(_book(tmp_path, _sheet(inner)))
    assert refused.params == {"detail": "kolumn / column 16384"}


def test_a_far_cell_in_utf16_is_refused(tmp_path: Path) -> None:
    sheet = _sheet(FIRST + b'<c r="XFD1048576"><v>1</v></c></row>', encoding="UTF-16")
    assert sheet[:2] == b"\xff\xfe"
    assert _refused(_book(tmp_path, sheet)).params == {"detail": "kolumn / column 16384"}


@pytest.mark.parametrize("part", ["xl/evil.xml", "evil.bin", "xl/other/sheet.dat"])
def test_a_sheet_outside_the_worksheets_folder_is_checked(tmp_path: Path, part: str) -> None:
    """The parser reads a sheet from whatever part the workbook's relationships name."""
    sheet = _sheet(FIRST + b'<c r="XFD1048576"><v>1</v></c></row>')
    refused = _refused(_book(tmp_path, sheet, part=part))
    assert refused.params == {"detail": "kolumn / column 16384"}


# --------------------------------------------------------------------------- implicit positions


def test_a_cell_without_r_in_a_far_row_is_refused(tmp_path: Path) -> None:
    refused = _refused(_book(tmp_path, _sheet(b'<row r="2000000"><c><v>1</v></c></row>')))
    assert (refused.slug, refused.params["rows"]) == ("too-many-rows", 2_000_000)


def test_rows_without_r_add_up_until_a_cell_is_past_the_limit(tmp_path: Path) -> None:
    limits = Limits(max_rows=50)  # 150 rows with the header
    inner = b"<row/>" * 149 + b"<row><c><v>1</v></c></row>"
    path = _book(tmp_path, _sheet(inner))
    assert check_safe(path, limits) == "xlsx"
    assert _value(_read(path), 150, 1) == 1.0
    path = _book(tmp_path, _sheet(b"<row></row>" * 150 + b"<row><c/><c><v>1</v></c></row>"))
    refused = _refused(path, limits)
    assert refused.slug == "too-many-rows"
    assert refused.params == {"rows": 151, "limit": 50}


def test_cells_without_r_add_up_until_one_is_past_the_last_column(tmp_path: Path) -> None:
    row = b"<c><v>1</v></c>" * 300
    path = _book(tmp_path, _sheet(b"<row>" + row + b"</row><row>" + row + b"</row>"))
    assert check_safe(path, Limits()) == "xlsx"
    rows = _read(path)
    assert (len(rows), len(rows[0])) == (2, 300)
    refused = _refused(_book(tmp_path, _sheet(b"<row>" + row + b"<c/></row>")))
    assert refused.params == {"detail": "kolumn / column 301"}


def test_a_cell_with_r_moves_the_next_cells_without_one(tmp_path: Path) -> None:
    inner = b'<row><c r="KM1"><v>1</v></c><c><v>2</v></c><c><v>3</v></c></row>'
    assert _refused(_book(tmp_path, _sheet(inner))).params == {"detail": "kolumn / column 301"}


def test_a_cell_inside_a_cell_is_refused(tmp_path: Path) -> None:
    """The parser would read the inner one as part of the outer one, not as a cell."""
    inner = b"<row><c><v>1</v><c/></c></row>"
    assert _refused(_book(tmp_path, _sheet(inner))).slug == "unreadable-file"


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
    assert check_safe(path, Limits()) == "xlsx"
    rows = _read(path)
    for (row, col), value in cells.items():
        assert _value(rows, row, col) == value


def test_a_legal_sheet_in_utf16_is_accepted(tmp_path: Path) -> None:
    path = _book(tmp_path, _sheet(FIRST + b'<c r="B1"><v>1</v></c></row>', encoding="UTF-16"))
    assert check_safe(path, Limits()) == "xlsx"
    _read(path)  # the parser makes nothing of it, and does not fail


# --------------------------------------------------------------------------- the fast path


def _vouched(sheet: bytes, limits: Limits | None = None) -> bool:
    data = rezip({"s.xml": sheet})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return _vouched_by_scan(_Parts(zf), zf.getinfo("s.xml"), limits or Limits())


def test_the_scan_vouches_for_a_sheet_as_spreadsheet_programs_write_it() -> None:
    rows = b"".join(
        b'<row r="%d" spans="1:3" x14ac:dyDescent="0.25"><c r="A%d" s="1" t="s"><v>%d</v></c>'
        b'<c r="B%d" t="inlineStr"><is><t xml:space="preserve">Per Berger, 5 &lt; 6</t></is></c>'
        b'<c r="AB%d" s="2"/></row>' % (r, r, r, r, r)
        for r in range(1, 3000)
    )
    sheet = _sheet(
        b'</sheetData><cols><col min="1" max="2" width="9"/></cols><sheetData>' + rows
    ).replace(
        b"</sheetData></worksheet>",
        b'</sheetData><pageMargins header="0.3" footer="0.3"/>'
        b'<conditionalFormatting sqref="A1"><cfRule type="cellIs" operator="between"/>'
        b"</conditionalFormatting></worksheet>",
    )
    assert _vouched(sheet)


@pytest.mark.parametrize(
    "cell", [b'<c r="b2"/>', b'<c r="AB2"/>', b'<c r="kn2"/>', b'<c r="A02"/>', b'<c r="A50100"/>']
)
def test_the_scan_vouches_for_any_canonical_cell_in_bounds(cell: bytes) -> None:
    assert _vouched(_sheet(b'<row r="2">' + cell + b"</row>"))


@pytest.mark.parametrize(
    "cell",
    [
        b'<c s="0" r="B2"/>',
        b"<c r='B2'/>",
        b"<c/>",
        b"<c>",
        b'<c  r="B2"/>',
        b'<x:c r="B2"/>',
        b'<c r="B2" r="B2"/>',
        b'<c r="B2" s="1"\nr="C2"/>',
    ],
)
def test_the_scan_leaves_any_other_spelling_to_the_slow_path(cell: bytes) -> None:
    assert not _vouched(_sheet(b'<row r="2">' + cell + b"</row>"))


def test_a_declared_encoding_other_than_utf8_goes_to_the_slow_path() -> None:
    sheet = _sheet(b'<row r="1"><c r="A1"/></row>')
    assert _vouched(sheet)
    assert not _vouched(sheet.replace(b"UTF-8", b"ISO-8859-1"))


@pytest.fixture
def one_mib_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of 1 MiB instead of 16, so that a sheet a little over 1 MiB is scanned in two
    (the same code as a sheet over 16 MiB, which is scanned as it inflates)."""
    monkeypatch.setattr("pipeline.xlsx.reader._SCAN_CHUNK", 1 << 20)


def _straddling(cell: bytes, shift: int) -> bytes:
    """A sheet with ``cell`` starting ``shift`` bytes before the first 1 MiB boundary."""
    head = _sheet(b'<row r="1"><c r="A1"/>').removesuffix(b"</sheetData></worksheet>")
    filler = b'<c r="B1"/>' * ((1 << 20) // 10)
    body = (head + filler)[: (1 << 20) - shift]
    body = body[: body.rindex(b">") + 1]
    pad = b" " * ((1 << 20) - shift - len(body))
    return body + pad + cell + b"</row></sheetData></worksheet>"


@pytest.mark.usefixtures("one_mib_windows")
@pytest.mark.parametrize("shift", [1, 3, 6, 9, 30, 70, 255, 256, 257, 300])
def test_a_far_cell_straddling_the_chunk_boundary_is_refused(tmp_path: Path, shift: int) -> None:
    for cell, params in [
        (b'<c r="A' + b"0" * 90 + b'60000"/>', {"rows": 60_000, "limit": 50_000}),
        (b'<c r="A50101"/>', {"rows": 50_101, "limit": 50_000}),
        (b'<c r="a1" r="XFD1"/>', None),
    ]:
        sheet = _straddling(cell, shift)
        assert sheet.index(cell) == (1 << 20) - shift
        refused = _refused(_book(tmp_path, sheet))
        if params is not None:
            assert refused.params == params
        else:
            assert refused.slug == "unreadable-file"


@pytest.mark.usefixtures("one_mib_windows")
def test_white_space_at_the_chunk_boundary_cannot_hide_a_second_r(tmp_path: Path) -> None:
    cell = b'<c r="A1" r' + b" " * 5000 + b'="XFD1"/>'
    sheet = _straddling(cell, 100)
    assert _refused(_book(tmp_path, sheet)).slug == "unreadable-file"
    legal = _straddling(b'<c r="A1" s' + b" " * 5000 + b'="1"/>', 100)
    assert check_safe(_book(tmp_path, legal), Limits()) == "xlsx"


@pytest.mark.parametrize(
    ("ref", "far"),
    [
        ("kn1", False),
        ("ko1", True),
        ("Ko1", True),
        ("aaaa1", True),
        ("ZZZZZZZ1", True),
        ("a50101", True),
    ],
)
def test_far_cell_pattern_reads_letters_in_either_case_and_any_number(ref: str, far: bool) -> None:
    assert (_far_cell(50_000).search(f'<c r="{ref}"'.encode()) is not None) == far


def _check(sheet: bytes, limits: Limits) -> UnreadableFile | None:
    data = rezip({"s.xml": sheet})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        try:
            _check_extent_xlsx(_Parts(zf), zf.getinfo("s.xml"), limits)
        except UnreadableFile as refused:
            return refused
    return None


@pytest.mark.parametrize("max_rows", [999, 50_000])
@settings(max_examples=250, deadline=None)
@given(
    column=st.integers(min_value=1, max_value=20_000),
    row=st.integers(min_value=1, max_value=9_999_999),
    zeros=st.integers(min_value=0, max_value=3),
    lower=st.booleans(),
    spelling=st.sampled_from(['<c r="{}"/>', "<c r='{}'/>", '<c s="1" r="{}"/>', '<x:c r="{}"/>']),
)
def test_every_spelling_of_every_position_is_refused_exactly_when_out_of_bounds(
    max_rows: int, column: int, row: int, zeros: int, lower: bool, spelling: str
) -> None:
    letters = column_letters(column).lower() if lower else column_letters(column)
    cell = spelling.format(f"{letters}{'0' * zeros}{row}").encode()
    sheet = _sheet(b'<row r="1"><c r="A1"/>' + cell + b"</row>").replace(
        b"<worksheet ", b'<worksheet xmlns:x="' + MAIN.encode() + b'" '
    )
    refused = _check(sheet, Limits(max_rows=max_rows))
    if column > MAX_COLUMNS:
        assert refused is not None and refused.params == {"detail": f"kolumn / column {column}"}
    elif row > max_rows + 100:
        assert refused is not None and refused.params == {"rows": row, "limit": max_rows}
    else:
        assert refused is None
