"""Writing an xlsx package directly, without a spreadsheet library: fast and small.

Owns the worksheet parts of an issued workbook (cells, a table of rows written in one pass,
merged cells, column widths, row heights, data validation lists, a frozen pane, print titles,
landscape fit-to-width printing, sheet protection), the workbook part, relationships, content
types, document properties, and zipping them.

The text of a cell (escaping, numbers, dates) is :mod:`pipeline.xlsx.cellxml`'s; the formats,
dropdowns and protection are :mod:`pipeline.xlsx.styles`'. What goes where, and in which
format, is the caller's (:mod:`pipeline.xlsx.workbook` owns the layout).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Final

from pipeline.xlsx.cellxml import (
    EPOCH,
    MAIN_NS,
    NO_LEAP_BUG,
    XML_DECL,
    cell_xml,
    column_letter,
    escape_attr,
    escape_text,
    number_text,
    split_ref,
)
from pipeline.xlsx.styles import CellFormat, ListValidation, Protection, Styles

_REL_NS: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"


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
                    out += ('<c r="', letter, r, number, number_text(value), "</v></c>")
                elif kind is dt.date and value >= NO_LEAP_BUG:
                    days = str(value.toordinal() - EPOCH)
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
        parts = [f'{XML_DECL}<worksheet xmlns="{MAIN_NS}" xmlns:r="{_REL_NS}">']
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
                f'<col min="{c}" max="{c}" width="{number_text(float(w))}" customWidth="1"/>'
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
            ht = f' ht="{number_text(float(height))}" customHeight="1"' if height else ""
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
            f"{XML_DECL}<cp:coreProperties "
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
            f'{XML_DECL}<workbook xmlns="{MAIN_NS}" xmlns:r="{_REL_NS}"><workbookPr/>'
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
        return f'{XML_DECL}<Relationships xmlns="{_PKG_REL_NS}">{"".join(rels)}</Relationships>'


_CONTENT_TYPES: Final = (
    f"{XML_DECL}"
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
    f'{XML_DECL}<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_PKG_REL_NS}/metadata/core-properties" '
    'Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL_NS}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_APP: Final = (
    f"{XML_DECL}<Properties "
    'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>resultat</Application></Properties>"
)
