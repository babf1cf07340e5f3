"""Reading a dropped workbook: the frame and roster it gives, the checked bytes it parses,
and the refusals of the checks before parsing and of the parser's process."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from pipeline.app import App
from pipeline.xlsx import contract, parser, reader, safety, workbook
from pipeline.xlsx.reader import read_result_workbook, rows_to_frame
from pipeline.xlsx.safety import Limits, UnreadableFile
from tests.factories import new_exam_list, seed
from tests.hostile import rezip, two_archives, xlsx_skeleton


def test_rows_to_frame_drops_blank_rows_and_reads_escaped_text_back() -> None:
    title: list[list[Any]] = [["Resultat", "", "", ""]] + [[""] * 4 for _ in range(2)]
    body: list[list[Any]] = [
        ["19900101-1234", "x", "VG", dt.datetime(2026, 1, 5)],
        ["", "", "  ", ""],  # blank input cells: dropped
        ["19900101-2345", "y", "'=cmd", 4.0],
        ["19900101-3456"],  # a short row (the parser may give ragged rows)
    ]
    frame = rows_to_frame(
        title + body,
        {"pnr": "A", "grade": "C", "grade_date": "D", "far": "Z"},
        first_row=4,
        limits=Limits(),
    )
    assert frame.index.tolist() == [4, 6, 7]
    assert list(frame.loc[4]) == ["19900101-1234", "VG", dt.datetime(2026, 1, 5), None]
    assert list(frame.loc[6]) == ["19900101-2345", "=cmd", 4.0, None]
    assert list(frame.loc[7]) == ["19900101-3456", None, None, None]


def test_roster_written_a_hundred_to_a_cell_and_read_back_in_either_form(
    app: App, tmp_path: Path
) -> None:
    seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    first = read_result_workbook(issued.path, Limits())
    assert first is not None and len(first.roster) == 3
    ms = load_workbook(issued.path)["_resultat"]
    keys = [ms.cell(row=r, column=1).value for r in range(1, ms.max_row + 1)]
    chunk_row = keys.index("roster") + 2
    assert ms.cell(row=chunk_row, column=2).value == " ".join(first.roster)  # one cell

    # A workbook issued before: one number a row. Same roster, same signature.
    old = load_workbook(issued.path)
    meta = old["_resultat"]
    meta.cell(row=chunk_row, column=2, value=None)
    for offset, pnr in enumerate(first.roster):
        meta.cell(row=chunk_row + offset, column=2, value=pnr)
    old.save(tmp_path / "old.xlsx")
    again = read_result_workbook(tmp_path / "old.xlsx", Limits())
    assert again is not None and again.roster == first.roster
    assert contract.verify(app.settings.hmac_key(), again.meta, again.roster)


def test_a_long_roster_is_split_into_cells_of_a_hundred(app: App) -> None:
    seed(app, students=230)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    ms = load_workbook(issued.path)["_resultat"]
    keys = [ms.cell(row=r, column=1).value for r in range(1, ms.max_row + 1)]
    cells = [
        ms.cell(row=r, column=2).value for r in range(keys.index("roster") + 2, ms.max_row + 1)
    ]
    assert [len(str(c).split()) for c in cells] == [100, 100, 30]
    read = read_result_workbook(issued.path, Limits())
    assert read is not None and read.roster == " ".join(map(str, cells)).split()


def test_a_comment_is_stored_without_characters_xml_cannot_hold() -> None:
    from pipeline.intake.apply import _stored_comment

    # Excel writes a vertical tab as _x000B_ and calamine reads it back; the fresh workbook
    # cannot hold it, so it is not stored (a re-drop of that workbook is no change).
    assert _stored_comment("sjuk\x0bintyg ") == "sjukintyg"
    assert _stored_comment("\x0b") is None
    assert _stored_comment("rad 1\nrad 2\tslut") == "rad 1\nrad 2\tslut"


def test_the_checked_bytes_are_what_is_parsed(app: App, tmp_path: Path) -> None:
    """read_checked reads the file once and hands back the bytes it checked; the workbook is
    parsed from them, so a file changed after its check is not what gets read."""

    seed(app, students=3)
    issued = workbook.issue(app, new_exam_list(app))
    kind, data = safety.read_checked(issued.path, Limits())
    # The parts that were checked, repacked stored: the same names and bytes, in order.
    with zipfile.ZipFile(issued.path) as original, zipfile.ZipFile(io.BytesIO(data)) as packed:
        assert [(i.filename, original.read(i)) for i in original.infolist()] == [
            (i.filename, packed.read(i)) for i in packed.infolist()
        ]
        assert {i.compress_type for i in packed.infolist()} == {zipfile.ZIP_STORED}
    assert kind == "xlsx"
    book = parser.open_book(data)
    issued.path.write_bytes(b"changed after the check")
    assert reader.META_SHEET in book.sheet_names
    assert parser.sheet_rows(book, reader.META_SHEET, Limits())[0][0] == "format"
    with pytest.raises(UnreadableFile) as refused:
        safety.read_checked(issued.path, Limits(max_file_bytes=10))
    assert refused.value.slug == "file-too-large"


def test_a_parser_that_aborts_costs_one_file_and_the_next_is_read(app: App, tmp_path: Path) -> None:
    """A sheet whose rectangle does not fit in the parser's address space makes calamine
    abort its process (SIGABRT): that file is refused, the next one gets a fresh process."""
    seed(app, students=2)
    issued = workbook.issue(app, new_exam_list(app))
    far = b'<row r="1"><c r="A1"><v>1</v></c><c r="XFD1048576"><v>1</v></c></row>'
    path = tmp_path / "far.xlsx"
    path.write_bytes(
        rezip(xlsx_skeleton(_one_cell_sheet(b"x").replace(b'<row r="1">', far + b"<row>")))
    )
    shared = parser.shared_parser()
    started = shared.started
    with pytest.raises(UnreadableFile) as refused:
        parser.sheet_rows(
            parser.open_book(safety.read_checked(path, Limits())[1]), reader.META_SHEET, Limits()
        )
    assert refused.value.slug == "parser-crashed"
    assert shared.proc is None  # the dead process was reaped
    found = read_result_workbook(issued.path, Limits())
    assert found is not None and len(found.roster) == 2
    assert shared.started == started + 1


def test_a_parser_past_its_time_is_stopped(tmp_path: Path) -> None:
    """An answer that does not come in time: the file is refused, the process ended, and
    the same parser object starts a fresh one for the next file."""
    path = tmp_path / "one.xlsx"
    path.write_bytes(rezip(xlsx_skeleton(_one_cell_sheet(b"x"))))
    data = safety.read_checked(path, Limits())[1]
    slow = parser.ParserProcess(timeout=0.0001)  # less than the process takes to start
    request = ("open", 1, data, (reader.META_SHEET,), 0, 100, parser.MAX_COLUMNS)
    with pytest.raises(UnreadableFile) as refused:
        slow.request(request)
    assert refused.value.slug == "parser-timeout"
    assert slow.proc is None
    slow.timeout = 30.0
    answer = slow.request(request)
    assert answer[:2] == ("ok", [reader.META_SHEET])
    assert answer[2] == {reader.META_SHEET: ("ok", [["x"]])}
    assert slow.started == 2
    slow.stop()


_SHEET = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    b"</worksheet>"
)
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
_LONG_COMMENT = b"<!--" + b"x" * 10_000 + b"-->"
_ENTITIES = b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'


def _checked(path: Path, *, refused_with: str | None) -> None:
    """check_safe refuses ``path`` with the slug ``refused_with``, or passes it."""
    if refused_with is None:
        assert safety.check_safe(path, Limits()) == "xlsx"
        return
    with pytest.raises(UnreadableFile) as caught:
        safety.check_safe(path, Limits())
    assert caught.value.slug == refused_with


@pytest.mark.parametrize(
    ("workbook_part", "refused"),
    [
        (_DECLARATION + _LONG_COMMENT + _ENTITIES + b"<workbook/>", True),
        (_DECLARATION + _LONG_COMMENT + b"<?pi " + b"y" * 5000 + b"?>" + _ENTITIES, True),
        (_DECLARATION + " ".join(["<!-- a -->"] * 2000).encode() + b"<!doctype x>", True),
        ((_DECLARATION + _LONG_COMMENT + _ENTITIES).decode().encode("utf-16"), True),
        (_DECLARATION + _LONG_COMMENT + b"<workbook><!-- <!DOCTYPE later --></workbook>", False),
        (_DECLARATION + _LONG_COMMENT + b"\n<workbook/>", False),
    ],
    ids=["dtd-after-long-comment", "after-long-pi", "many-comments", "utf-16", "text", "plain"],
)
def test_a_dtd_is_found_after_a_prolog_of_any_length(
    tmp_path: Path, workbook_part: bytes, refused: bool
) -> None:
    """A DOCTYPE may follow any amount of white space, comments and processing
    instructions; the prolog is read to the root element, not just its first 4 KB."""

    parts = xlsx_skeleton(_DECLARATION + _SHEET)
    parts["xl/workbook.xml"] = workbook_part
    path = tmp_path / "prolog.xlsx"
    path.write_bytes(rezip(parts))
    _checked(path, refused_with="xml-entities" if refused else None)


def test_a_prolog_that_never_ends_is_refused_after_a_megabyte(tmp_path: Path) -> None:
    """An unclosed comment before the root is read once, up to 1 MB, then refused (it was
    re-scanned as it grew: minutes for a large part)."""

    parts = xlsx_skeleton(_DECLARATION + _SHEET)
    parts["xl/workbook.xml"] = _DECLARATION + b"<!--" + b"x" * (3 << 20)
    path = tmp_path / "prolog.xlsx"
    path.write_bytes(rezip(parts))
    with pytest.raises(UnreadableFile) as caught:
        safety.check_safe(path, Limits())
    assert caught.value.slug == "xml-prolog-too-long"


def test_deep_nesting_is_the_parser_process_s_business(tmp_path: Path) -> None:
    """A million nested elements beside the sheet's data (a small file): the reading process
    never follows the nesting; the parser reads the cells under its own limits."""
    cell = b'<row r="1"><c s="0" r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
    deep = b"<x>" * 1_000_000 + b"</x>" * 1_000_000
    sheet = (
        _DECLARATION
        + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + b"<sheetData>"
        + cell
        + b"</sheetData><extLst>"
        + deep
        + b"</extLst></worksheet>"
    )
    path = tmp_path / "deep.xlsx"
    path.write_bytes(rezip(xlsx_skeleton(sheet)))
    assert path.stat().st_size < 100_000
    book = parser.open_book(safety.read_checked(path, Limits())[1])
    assert parser.sheet_rows(book, reader.META_SHEET, Limits()) == [["x"]]


def _one_cell_sheet(text: bytes) -> bytes:
    return (
        _DECLARATION
        + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
        + text
        + b"</t></is></c></row></sheetData></worksheet>"
    )


def test_the_parser_reads_the_archive_that_was_checked(tmp_path: Path) -> None:
    """Two archives in one file (an end record hidden in another's comment): Python's
    zipfile checks one, calamine would read the other. The parser gets the checked parts
    repacked, so it reads what was checked."""

    seen = xlsx_skeleton(_one_cell_sheet(b"checked"))
    hidden = xlsx_skeleton(_one_cell_sheet(b"never checked"))
    path = tmp_path / "two.xlsx"
    path.write_bytes(two_archives(seen, hidden))
    with zipfile.ZipFile(path) as zf:  # what Python's zipfile sees
        assert b"checked" in zf.read("xl/worksheets/sheet1.xml")
    kind, data = safety.read_checked(path, Limits())
    assert kind == "xlsx"
    book = parser.open_book(data)
    assert parser.sheet_rows(book, reader.META_SHEET, Limits()) == [["checked"]]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}, "ods and xlsx"),
        ({"XL/Workbook.xml": b"<workbook/>"}, "a name twice in another case"),
        ({"xl/workbook.bin": b"\x00"}, "a binary workbook"),
    ],
)
def test_a_zip_the_parser_could_read_as_another_format_is_refused(
    tmp_path: Path, extra: dict[str, bytes], why: str
) -> None:

    parts = {**xlsx_skeleton(_one_cell_sheet(b"x")), **extra}
    path = tmp_path / "ambiguous.xlsx"
    path.write_bytes(rezip(parts))
    with pytest.raises(UnreadableFile) as caught:
        safety.read_checked(path, Limits())
    assert caught.value.slug == "file-ambiguous", why
