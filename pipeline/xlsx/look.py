"""The look of an issued workbook: its cell formats, from the layout's ``style``.

Owns which :class:`~pipeline.xlsx.styles.CellFormat` a title, a label, a header, an input
cell and each column of an entry row get (fills, date format, unlocked inputs). Which cell
is which is the caller's (:mod:`pipeline.xlsx.workbook`, :mod:`pipeline.xlsx.t34view`).
"""

from __future__ import annotations

from typing import Any

from pipeline.xlsx.contract import INPUT_FIELDS
from pipeline.xlsx.styles import CellFormat


class Formats:
    """The cell formats of an issued workbook, from the layout's ``style``."""

    def __init__(self, style: dict[str, Any]) -> None:
        self.date_format = str(style["date_format"])
        self.input_fill = str(style["input_fill"])
        self.readonly_fill = str(style.get("readonly_fill", "EDEDED"))
        self.title = CellFormat(bold=True, size=style["title_size"])
        self.wrap = CellFormat(wrap=True, vertical="top")
        self.bold = CellFormat(bold=True)
        self.identity = CellFormat(fill=str(style["identity_fill"]), horizontal="left")
        self.header = CellFormat(bold=True, fill=str(style["header_fill"]))
        self.input = CellFormat(fill=self.input_fill, unlocked=True)
        self.input_text = CellFormat(fill=self.input_fill, unlocked=True, number_format="@")
        self.unlocked = CellFormat(unlocked=True)
        self.text = CellFormat(number_format="@")

    def column(self, field: str, *, review: bool) -> CellFormat | None:
        """The format of an entry row's cell in ``field``'s column."""
        number_format = None
        if field == "pnr":
            number_format = "@"
        elif field == "grade_date" or field.endswith(":date"):
            number_format = self.date_format
        fill = None
        unlocked = False
        if field in INPUT_FIELDS and not review:
            fill, unlocked = self.input_fill, True
        elif field.startswith("m:") or field in ("credits_sum", "suggestion"):
            fill = self.readonly_fill
        if number_format is None and fill is None:
            return None
        return CellFormat(fill=fill, number_format=number_format, unlocked=unlocked)
