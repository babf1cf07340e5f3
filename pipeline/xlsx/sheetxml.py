"""Writing an xlsx package directly, without a spreadsheet library: fast and small.

Owns the SpreadsheetML and packaging side of an issued workbook: the cell formats and the
styles part built from them, the worksheet parts (cells as inline strings, numbers and dates
as Excel serial numbers in the 1900 system; merged cells, column widths, row heights, data
validation lists, a frozen pane, print titles, landscape fit-to-width printing, sheet
protection), the workbook part, relationships, content types, document properties, and
zipping them. Text is XML-escaped here and characters that XML 1.0 forbids are dropped.

What goes where, and in which format, is the caller's (:mod:`pipeline.xlsx.workbook` owns the
layout). Formula-like text must be escaped by the caller (:func:`pipeline.xlsx.cells.escape_cell`):
this module writes every string as a plain string cell and never writes formulas.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

_MAIN_NS: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
#: Characters XML 1.0 does not allow (tab, line feed and carriage return it does).
_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: Anything that makes a text need more than copying: markup, illegal characters, and a
#: carriage return (a parser would turn a literal one into a line feed).
_SPECIAL: Final = re.compile("[&<>\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]")
_EPOCH: Final = dt.date(1899, 12, 30).toordinal()
#: From this day on, a date's serial number is its distance from ``_EPOCH``.
_NO_LEAP_BUG: Final = dt.date(1900, 3, 1)
#: First built-in number format ids; custom formats are numbered from 164 on.
_BUILTIN_FORMATS: Final = {"General": 0, "0": 1, "0.00": 2, "@": 49}


def without_illegal(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (what :func:`escape_text` drops)."""
    return _ILLEGAL.sub("", text) if _ILLEGAL.search(text) else text


def escape_text(text: str) -> str:
    """``text`` as XML character data: markup escaped, forbidden characters dropped."""
    if _SPECIAL.search(text) is None:
        return text
    text = _ILLEGAL.sub("", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def escape_attr(text: str) -> str:
    """``text`` as a double-quoted XML attribute value."""
    return escape_text(text).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")


def _text_element(text: str) -> str:
    escaped = escape_text(text)
    if escaped[:1].isspace() or escaped[-1:].isspace():
        return f'<t xml:space="preserve">{escaped}</t>'
    return f"<t>{escaped}</t>"


def excel_serial(value: dt.date) -> float | int:
    """A date (or date and time) as an Excel serial number in the 1900 date system."""
    days = value.toordinal() - _EPOCH
    if days < 61:  # Excel counts a 29 February 1900 that never was
        days -= 1
    if isinstance(value, dt.datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return days + (seconds + value.microsecond / 1e6) / 86400
    return days


def _number(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


def cell_xml(ref: str, value: Any, style: int = 0) -> str:
    """One ``<c>`` element; an empty string for an empty cell without a format."""
    s = f' s="{style}"' if style else ""
    kind = type(value)
    if value is None or value == "":  # an empty string is an empty cell, as Excel has it
        return f'<c r="{ref}"{s}/>' if style else ""
    if kind is str:
        return f'<c r="{ref}"{s} t="inlineStr"><is>{_text_element(value)}</is></c>'
    if kind is bool:
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if kind is int:
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if kind is float or kind is Decimal:
        number = float(value)
        if not math.isfinite(number):
            return cell_xml(ref, str(value), style)
        return f'<c r="{ref}"{s}><v>{_number(number)}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}"{s}><v>{_number(excel_serial(value))}</v></c>'
    # Subclasses (an IntEnum, a str enum) are written as their base type.
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return cell_xml(ref, base(value), style)
    return cell_xml(ref, str(value), style)


def column_letter(index: int) -> str:
    """``1`` → ``A``, ``27`` → ``AA``."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def split_ref(ref: str) -> tuple[int, int]:
    """``"B13"`` → ``(13, 2)`` (row, column)."""
    match = re.fullmatch(r"([A-Z]{1,3})([0-9]+)", ref)
    if match is None:
        raise ValueError(f"not a cell reference: {ref!r}")
    column = 0
    for ch in match.group(1):
        column = column * 26 + ord(ch) - 64
    return int(match.group(2)), column


# --------------------------------------------------------------------------- styles


@dataclass(frozen=True)
class CellFormat:
    """How a cell looks and whether it stays editable on a protected sheet."""

    bold: bool = False
    size: float | None = None
    #: Solid fill colour, RGB hex (``"FFF2CC"``).
    fill: str | None = None
    #: ``"@"`` (text), a date format such as ``"yyyy-mm-dd"``, or None (General).
    number_format: str | None = None
    unlocked: bool = False
    wrap: bool = False
    horizontal: str | None = None
    vertical: str | None = None


DEFAULT_FONT: Final = '<name val="Calibri"/><family val="2"/><sz val="11"/>'


class Styles:
    """The cell formats of one workbook; a format's index is its ``s`` attribute."""

    def __init__(self) -> None:
        self._formats: list[CellFormat] = [CellFormat()]
        self._index: dict[CellFormat, int] = {CellFormat(): 0}

    def add(self, fmt: CellFormat) -> int:
        index = self._index.get(fmt)
        if index is None:
            index = self._index[fmt] = len(self._formats)
            self._formats.append(fmt)
        return index

    def xml(self) -> str:
        fonts: dict[tuple[bool, float | None], int] = {(False, None): 0}
        # Fills 0 and 1 are reserved (none and gray125); solid colours follow.
        fills: dict[str, int] = {}
        numfmts: dict[str, int] = {}
        xfs = []
        for fmt in self._formats:
            font = fonts.setdefault((fmt.bold, fmt.size), len(fonts))
            fill = fills.setdefault(fmt.fill, 2 + len(fills)) if fmt.fill else 0
            numfmt = 0
            if fmt.number_format in _BUILTIN_FORMATS:
                numfmt = _BUILTIN_FORMATS[fmt.number_format]
            elif fmt.number_format is not None:
                numfmt = numfmts.setdefault(fmt.number_format, 164 + len(numfmts))
            attrs = f'numFmtId="{numfmt}" fontId="{font}" fillId="{fill}" borderId="0" xfId="0"'
            attrs += ' applyNumberFormat="1"' if numfmt else ""
            attrs += ' applyFont="1"' if font else ""
            attrs += ' applyFill="1"' if fill else ""
            inner = ""
            align = ""
            if fmt.horizontal:
                align += f' horizontal="{fmt.horizontal}"'
            if fmt.vertical:
                align += f' vertical="{fmt.vertical}"'
            if fmt.wrap:
                align += ' wrapText="1"'
            if align:
                attrs += ' applyAlignment="1"'
                inner += f"<alignment{align}/>"
            if fmt.unlocked:
                attrs += ' applyProtection="1"'
                inner += '<protection locked="0"/>'
            xfs.append(f"<xf {attrs}>{inner}</xf>" if inner else f"<xf {attrs}/>")
        font_xml = []
        for bold, size in fonts:
            b = '<b val="1"/>' if bold else ""
            font_xml.append(
                f'<font>{b}<sz val="{_number(size)}"/><name val="Calibri"/><family val="2"/></font>'
                if size
                else f"<font>{b}{DEFAULT_FONT}</font>"
            )
        fill_xml = ['<fill><patternFill patternType="none"/></fill>']
        fill_xml.append('<fill><patternFill patternType="gray125"/></fill>')
        for colour in fills:
            # RGB as ARGB, with the alpha byte openpyxl wrote (the look is unchanged)
            rgb = colour if len(colour) == 8 else f"00{colour}"
            fill_xml.append(
                f'<fill><patternFill patternType="solid"><fgColor rgb="{rgb}"/>'
                f'<bgColor indexed="64"/></patternFill></fill>'
            )
        numfmt_xml = "".join(
            f'<numFmt numFmtId="{i}" formatCode="{escape_attr(code)}"/>'
            for code, i in numfmts.items()
        )
        return (
            f'{_XML_DECL}<styleSheet xmlns="{_MAIN_NS}">'
            + (f'<numFmts count="{len(numfmts)}">{numfmt_xml}</numFmts>' if numfmts else "")
            + f'<fonts count="{len(font_xml)}">{"".join(font_xml)}</fonts>'
            f'<fills count="{len(fill_xml)}">{"".join(fill_xml)}</fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            '<dxfs count="0"/></styleSheet>'
        )


# --------------------------------------------------------------------------- sheets


@dataclass(frozen=True)
class ListValidation:
    """A dropdown: the cells in ``sqref`` accept one of ``choices``."""

    sqref: str
    choices: Sequence[str]
    allow_blank: bool = True
    #: Refuse other values as they are typed; off, a wrong value is left for the reader
    #: to report (with its position) rather than blocked by a message box.
    show_error: bool = False

    def xml(self) -> str:
        items = ",".join(self.choices).replace('"', '""')
        return (
            f'<dataValidation type="list" allowBlank="{int(self.allow_blank)}" '
            f'showDropDown="0" showInputMessage="0" showErrorMessage="{int(self.show_error)}" '
            f'sqref="{self.sqref}"><formula1>"{escape_text(items)}"</formula1></dataValidation>'
        )


@dataclass(frozen=True)
class Protection:
    """Sheet protection; True means the user may do it on the protected sheet."""

    format_columns: bool = False
    format_rows: bool = False
    sort: bool = False
    auto_filter: bool = False

    def xml(self) -> str:
        # In the file format an attribute set to 1 means "protected", i.e. not allowed.
        return (
            '<sheetProtection sheet="1" objects="0" scenarios="0" selectLockedCells="0" '
            'selectUnlockedCells="0" formatCells="1" insertColumns="1" insertRows="1" '
            'insertHyperlinks="1" deleteColumns="1" deleteRows="1" pivotTables="1" '
            f'formatColumns="{int(not self.format_columns)}" '
            f'formatRows="{int(not self.format_rows)}" sort="{int(not self.sort)}" '
            f'autoFilter="{int(not self.auto_filter)}"/>'
        )


class Sheet:
    """One worksheet, filled cell by cell (:meth:`set`) or a table at a time (:meth:`rows`)."""

    def __init__(self, title: str, styles: Styles, *, hidden: bool = False) -> None:
        self.title = title
        self.hidden = hidden
        self.styles = styles
        self._cells: dict[int, dict[int, str]] = {}
        self._table: list[str] = []
        self._table_rows: range = range(0)
        self._max_col = 1
        self._max_row = 1
        self.widths: dict[int, float] = {}
        self.heights: dict[int, float] = {}
        self.merged: list[str] = []
        self.validations: list[ListValidation] = []
        self.freeze: str | None = None
        self.print_title_rows: tuple[int, int] | None = None
        self.landscape_fit_to_width = False
        self.protection: Protection | None = None

    def set(self, ref: str, value: Any, fmt: CellFormat | None = None) -> None:
        """Write ``value`` (str, number, date, None) into ``ref`` with ``fmt``."""
        row, col = split_ref(ref)
        self.cell(row, col, value, fmt)

    def cell(self, row: int, col: int, value: Any, fmt: CellFormat | None = None) -> None:
        if row in self._table_rows:
            raise ValueError(f"row {row} belongs to the table written with rows()")
        style = self.styles.add(fmt) if fmt is not None else 0
        xml = cell_xml(f"{column_letter(col)}{row}", value, style)
        self._cells.setdefault(row, {})[col] = xml
        self._max_row = max(self._max_row, row)
        self._max_col = max(self._max_col, col)

    def rows(
        self,
        first_row: int,
        values: Iterable[Sequence[Any]],
        formats: Sequence[CellFormat | None],
    ) -> None:
        """A table of rows from ``first_row`` down, column ``i`` in ``formats[i]``; once."""
        if self._table_rows:
            raise ValueError("a sheet has one table")
        # This loop writes every cell of a large list: the common values (plain text, None,
        # a number, a date) are written inline; anything else goes through cell_xml().
        columns = []
        for index, fmt in enumerate(formats, start=1):
            style = self.styles.add(fmt) if fmt is not None else 0
            s = f' s="{style}"' if style else ""
            columns.append(
                (
                    column_letter(index),
                    style,
                    f'"{s} t="inlineStr"><is><t>',
                    f'"{s}><v>',
                    f'"{s}/>' if style else "",
                )
            )
        table = self._table
        row = first_row
        for record in values:
            r = str(row)
            out = ['<row r="', r, '">']
            for (letter, style, text, number, empty), value in zip(columns, record, strict=True):
                kind = value.__class__
                if value is None:
                    if empty:
                        out += ('<c r="', letter, r, empty)
                elif (
                    kind is str
                    and value
                    # printable: no control characters (tab, line breaks included), no
                    # surrogates or non-characters, no white space but the plain space
                    and value.isprintable()
                    and "&" not in value
                    and "<" not in value
                    and ">" not in value
                    and value[0] != " " != value[-1]
                ):
                    out += ('<c r="', letter, r, text, value, "</t></is></c>")
                elif kind is float and math.isfinite(value):
                    out += ('<c r="', letter, r, number, _number(value), "</v></c>")
                elif kind is dt.date and value >= _NO_LEAP_BUG:
                    days = str(value.toordinal() - _EPOCH)
                    out += ('<c r="', letter, r, number, days, "</v></c>")
                else:
                    out.append(cell_xml(letter + r, value, style))
            out.append("</row>")
            table.append("".join(out))
            row += 1
        if row > first_row:
            overlap = [r for r in self._cells if first_row <= r < row]
            if overlap:
                raise ValueError(f"rows {overlap} were written cell by cell")
            self._table_rows = range(first_row, row)
            self._max_row = max(self._max_row, row - 1)
            self._max_col = max(self._max_col, len(formats))

    def xml(self) -> str:
        parts = [f'{_XML_DECL}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">']
        if self.landscape_fit_to_width:
            parts.append('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>')
        parts.append(f'<dimension ref="A1:{column_letter(self._max_col)}{self._max_row}"/>')
        if self.freeze:
            row, col = split_ref(self.freeze)
            split = (f' xSplit="{col - 1}"' if col > 1 else "") + (
                f' ySplit="{row - 1}"' if row > 1 else ""
            )
            pane = "bottomLeft" if col == 1 else "topRight" if row == 1 else "bottomRight"
            parts.append(
                '<sheetViews><sheetView workbookViewId="0">'
                f'<pane{split} topLeftCell="{self.freeze}" activePane="{pane}" state="frozen"/>'
                f'<selection pane="{pane}" activeCell="A1" sqref="A1"/></sheetView></sheetViews>'
            )
        else:
            parts.append('<sheetViews><sheetView workbookViewId="0"/></sheetViews>')
        parts.append('<sheetFormatPr defaultRowHeight="15"/>')
        if self.widths:
            parts.append("<cols>")
            parts += [
                f'<col min="{c}" max="{c}" width="{_number(float(w))}" customWidth="1"/>'
                for c, w in sorted(self.widths.items())
            ]
            parts.append("</cols>")
        parts.append("<sheetData>")
        table_done = not self._table_rows
        for row in sorted(self._cells):
            if not table_done and row > self._table_rows.start:
                parts += self._table
                table_done = True
            height = self.heights.get(row)
            ht = f' ht="{_number(float(height))}" customHeight="1"' if height else ""
            cells = self._cells[row]
            parts.append(f'<row r="{row}"{ht}>{"".join(cells[c] for c in sorted(cells))}</row>')
        if not table_done:
            parts += self._table
        parts.append("</sheetData>")
        if self.protection is not None:
            parts.append(self.protection.xml())
        if self.merged:
            parts.append(f'<mergeCells count="{len(self.merged)}">')
            parts += [f'<mergeCell ref="{ref}"/>' for ref in self.merged]
            parts.append("</mergeCells>")
        if self.validations:
            parts.append(f'<dataValidations count="{len(self.validations)}">')
            parts += [v.xml() for v in self.validations]
            parts.append("</dataValidations>")
        parts.append(
            '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
        )
        if self.landscape_fit_to_width:
            parts.append('<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>')
        parts.append("</worksheet>")
        return "".join(parts)


# --------------------------------------------------------------------------- the package


class SheetDocument:
    """A workbook being written: sheets in order, their shared formats, and :meth:`save`."""

    def __init__(self, *, creator: str = "resultat") -> None:
        self.styles = Styles()
        self.sheets: list[Sheet] = []
        self.creator = creator
        self.created = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def add_sheet(self, title: str, *, hidden: bool = False) -> Sheet:
        sheet = Sheet(title, self.styles, hidden=hidden)
        self.sheets.append(sheet)
        return sheet

    def parts(self) -> list[tuple[str, str]]:
        """Every part of the package as (name, XML), in the order they are stored."""
        sheet_parts = [
            (f"xl/worksheets/sheet{i}.xml", s.xml()) for i, s in enumerate(self.sheets, 1)
        ]
        return [
            ("[Content_Types].xml", self._content_types()),
            ("_rels/.rels", _ROOT_RELS),
            ("docProps/app.xml", _APP),
            ("docProps/core.xml", self._core()),
            ("xl/workbook.xml", self._workbook()),
            ("xl/_rels/workbook.xml.rels", self._workbook_rels()),
            ("xl/styles.xml", self.styles.xml()),
            *sheet_parts,
        ]

    def save(self, target: str | os.PathLike[str] | IO[bytes]) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, xml in self.parts():
                zf.writestr(name, xml.encode("utf-8"))
        data = buffer.getvalue()
        if isinstance(target, str | os.PathLike):
            Path(target).write_bytes(data)
        else:
            target.write(data)
            target.flush()

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(self.sheets) + 1)
        )
        return _CONTENT_TYPES.replace("{sheets}", sheets)

    def _core(self) -> str:
        stamp = self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{_XML_DECL}<cp:coreProperties "
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:creator>{escape_text(self.creator)}</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>"
        )

    def _workbook(self) -> str:
        sheets = []
        names = []
        for i, sheet in enumerate(self.sheets, 1):
            state = ' state="hidden"' if sheet.hidden else ""
            sheets.append(
                f'<sheet name="{escape_attr(sheet.title)}" sheetId="{i}"{state} r:id="rId{i}"/>'
            )
            if sheet.print_title_rows is not None:
                first, last = sheet.print_title_rows
                quoted = sheet.title.replace("'", "''")
                area = escape_text(f"'{quoted}'!${first}:${last}")
                names.append(
                    f'<definedName name="_xlnm.Print_Titles" localSheetId="{i - 1}">{area}'
                    "</definedName>"
                )
        active = next((i for i, s in enumerate(self.sheets) if not s.hidden), 0)
        defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
        return (
            f'{_XML_DECL}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><workbookPr/>'
            f'<bookViews><workbookView activeTab="{active}"/></bookViews>'
            f"<sheets>{''.join(sheets)}</sheets>{defined}"
            '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
        )

    def _workbook_rels(self) -> str:
        n = len(self.sheets)
        rels = [
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        ]
        rels.append(f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>')
        return f'{_XML_DECL}<Relationships xmlns="{_PKG_REL_NS}">{"".join(rels)}</Relationships>'


_CONTENT_TYPES: Final = (
    f"{_XML_DECL}"
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
    'package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.extended-properties+xml"/>'
    "{sheets}</Types>"
)
_ROOT_RELS: Final = (
    f'{_XML_DECL}<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_PKG_REL_NS}/metadata/core-properties" '
    'Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL_NS}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_APP: Final = (
    f"{_XML_DECL}<Properties "
    'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>resultat</Application></Properties>"
)
