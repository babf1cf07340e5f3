"""Cell formats and the styles part of an issued workbook; dropdowns and sheet protection.

Owns :class:`CellFormat` (bold, size, fill, number format, alignment, locked or not), the
numbering of a workbook's formats and the ``xl/styles.xml`` part built from them
(:class:`Styles`), and the XML of a sheet's list validations (:class:`ListValidation`) and
protection (:class:`Protection`).

Which cell gets which format is the caller's (:mod:`pipeline.xlsx.workbook` owns the layout);
putting the elements into a worksheet is :mod:`pipeline.xlsx.sheetxml`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pipeline.xlsx.cellxml import MAIN_NS, XML_DECL, escape_attr, escape_text, number_text

#: First built-in number format ids; custom formats are numbered from 164 on.
_BUILTIN_FORMATS: Final = {"General": 0, "0": 1, "0.00": 2, "@": 49}


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
                f'<font>{b}<sz val="{number_text(size)}"/>'
                '<name val="Calibri"/><family val="2"/></font>'
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
            f'{XML_DECL}<styleSheet xmlns="{MAIN_NS}">'
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
