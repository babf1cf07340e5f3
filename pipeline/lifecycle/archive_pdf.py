"""The printable archive list (arkivlista) of a result list, as a PDF/A-3b file.

Owns the page layout (identity block, the table of every row with its header repeated on each
page, page footer "Sida x av y", the examiner's signature lines), the PDF/A plumbing (XMP
metadata, an sRGB OutputIntent, embedded fonts, attached files as PDF/A-3 associated files),
making every drawn string safe for the font, and writing the file atomically.

Callers supply the data (:class:`ArchiveListData`: identity, rows in print order, the bytes
of any machine-readable attachments) and the target path; choosing the archive folder, the
file name and when to render is theirs. A list without ``approved_at`` is a *preview*
(förhandsgranskning) for the examiner: marked on every page, with no approval time and no
signature lines. Widths, sizes and colours live in ``templates/archive_pdf.yaml``, the words
in the text catalogue (``lifecycle.pdf.*``, :func:`pipeline.texts.t`).
Fonts, safe text and the PDF/A metadata are :mod:`pipeline.lifecycle.pdf_layout`'s.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

from fpdf.enums import OutputIntentSubType
from fpdf.fonts import TTFFont
from fpdf.output import PDFICCProfile

from pipeline import files, resources
from pipeline.lifecycle.pdf_data import ArchiveListData
from pipeline.lifecycle.pdf_layout import (
    ELLIPSIS,
    FAMILY,
    FONT_FILES,
    MONO_FAMILY,
    MONO_FILE,
    NB_ALIAS,
    ArchivePDF,
    SafeText,
    embed_attachments,
    fit,
    font_dir,
    format_pnr,
    format_points,
    rgb,
    srgb_profile,
    swedish_time,
    xmp_metadata,
)
from pipeline.texts import has, t

LANGUAGES: Final = ("sv", "en")
FILE_MODE: Final = 0o640
_TEMPLATE: Final = "archive_pdf.yaml"


def render_archive_pdf(
    data: ArchiveListData,
    target: Path,
    *,
    language: str = "sv",
    workspace: Path | None = None,
) -> Path:
    """Draw ``data`` as a PDF/A-3b archive list and write it atomically to ``target``.

    The folder of ``target`` must exist; the file gets mode 0640. Returns ``target``.
    Raises ``ValueError`` for an unknown language or an empty attachment and
    ``FileNotFoundError`` when no DejaVu Sans font can be found.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    for name, content in data.attachments.items():
        if not content:
            raise ValueError(f"attachment {name!r} is empty")
    template = resources.load_yaml("templates", _TEMPLATE, workspace)
    pdf_bytes = _Renderer(data, template, language, workspace).render()
    files.write_bytes(target, pdf_bytes, durable=True)
    return target


class _Renderer:
    """One rendering of one list; holds the document while it is drawn."""

    def __init__(
        self,
        data: ArchiveListData,
        template: dict[str, Any],
        language: str,
        workspace: Path | None,
    ) -> None:
        self.data = data
        self.template = template
        self.language = language
        self.workspace = workspace
        self.style: dict[str, Any] = template["style"]
        self.moment = swedish_time(data.approved_at or dt.datetime.now(dt.UTC))
        self.pdf = ArchivePDF(
            orientation="portrait", unit="mm", format="A4", enforce_compliance="PDFA_3B"
        )
        self.pdf.alias_nb_pages(NB_ALIAS, align="L")
        self.pdf.set_auto_page_break(False)
        margin = float(self.style["margin"])
        self.pdf.set_margins(margin, margin, margin)
        self.bottom = self.pdf.h - margin
        self.fonts = font_dir()
        for style, name in FONT_FILES.items():
            self.pdf.add_font(FAMILY, style, self.fonts / name)
        regular, bold = self.pdf.fonts[FAMILY.lower()], self.pdf.fonts[FAMILY.lower() + "B"]
        assert isinstance(regular, TTFFont) and isinstance(bold, TTFFont)
        supported = set(regular.cmap) & set(bold.cmap)
        self.mono = MONO_FAMILY if (self.fonts / MONO_FILE).is_file() else FAMILY
        if self.mono != FAMILY:
            self.pdf.add_font(self.mono, "", self.fonts / MONO_FILE)
        self.safe = SafeText(supported)
        self.columns = self._columns()

    # -- labels -------------------------------------------------------------------------------

    def label(self, *keys: str, **values: object) -> str:
        """The catalogue text ``lifecycle.pdf.<keys>`` in the list's language."""
        return t(".".join(("lifecycle.pdf", *keys)), self.language, self.workspace, **values)

    def optional_label(self, group: str, key: str | None) -> str:
        """The label for ``key`` under ``group``, or ``key`` itself when there is none."""
        if key is None:
            return ""
        name = f"lifecycle.pdf.{group}.{key}"
        return (
            t(name, self.language, self.workspace)
            if has(name, self.language, self.workspace)
            else key
        )

    # -- document -----------------------------------------------------------------------------

    def render(self) -> bytes:
        pdf = self.pdf
        pdf.set_creation_date(self.moment)
        pdf.set_xmp_metadata(self._xmp())
        pdf.add_output_intent(
            OutputIntentSubType.PDFA,
            output_condition_identifier="sRGB",
            output_condition="sRGB IEC61966-2.1",
            registry_name="http://www.color.org",
            dest_output_profile=PDFICCProfile(contents=srgb_profile(), n=3, alternate="DeviceRGB"),
            info="sRGB IEC61966-2.1",
        )
        self._embed_attachments()
        pdf.on_footer = self._footer
        pdf.add_page()
        self._title_block()
        self._identity_block()
        pdf.on_header = self._running_header
        self._table()
        if not self.data.is_preview:
            self._signature_block()
        return bytes(pdf.output())

    def _document_title(self) -> str:
        d = self.data
        title = f"{self.label('title', listnr=d.listnr)} – {d.course_code} {d.term}"
        if d.is_preview:
            title += f" ({self.label('preview')})"
        return title

    def _xmp(self) -> str:
        d = self.data
        description = (
            f"{d.course_code} {d.course_name}; {d.term}; version {d.version}; "
            f"SHA-256 {d.content_hash}"
        )
        return xmp_metadata(
            title=self._document_title(),
            description=description,
            creator=d.examiner,
            language=self.language,
            moment=self.moment,
        )

    def _embed_attachments(self) -> None:
        embed_attachments(
            self.pdf,
            self.data.attachments,
            description=self.label("title", listnr=self.data.listnr),
            moment=self.moment,
        )

    # -- blocks -------------------------------------------------------------------------------

    def _set_font(self, size_key: str, *, bold: bool = False, mono: bool = False) -> None:
        family = self.mono if mono else FAMILY
        self.pdf.set_font(family, "B" if bold and not mono else "", float(self.style[size_key]))

    def _title_block(self) -> None:
        pdf, d = self.pdf, self.data
        self._set_font("title_size", bold=True)
        pdf.cell(
            0, 8, self.safe(self.label("title", listnr=d.listnr)), new_x="LMARGIN", new_y="NEXT"
        )
        if d.corrects_listnr is not None:
            self._set_font("subtitle_size", bold=True)
            text = self.label("correction", listnr=d.corrects_listnr)
            pdf.cell(0, 6, self.safe(text), new_x="LMARGIN", new_y="NEXT")
        if d.is_preview:
            self._set_font("subtitle_size", bold=True)
            pdf.set_text_color(*rgb(self.style["preview_colour"]))
            pdf.cell(0, 6, self.safe(self.label("preview")), new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
        pdf.ln(2)

    def _identity_block(self) -> None:
        d = self.data
        course = f"{d.course_code} {d.course_name}"
        items: list[tuple[str, str, bool]] = [
            ("listnr", str(d.listnr), False),
            ("kind", self.optional_label("kinds", d.kind), False),
            ("course", course, False),
        ]
        if d.module_code or d.module_name:
            module = " ".join(part for part in (d.module_code, d.module_name) if part)
            items.append(("module", module, False))
        items += [
            ("term", d.term, False),
            ("scale", d.scale, False),
            ("version", str(d.version), False),
            ("examiner", d.examiner, False),
            ("reporter", d.reporter, False),
        ]
        if d.approved_at is None:
            approved = self.label("not_approved")
        else:
            when = self.moment.isoformat(sep=" ", timespec="seconds")
            via = self.optional_label("via", d.approved_via) or "–"
            approved = self.label("approved_value", time=when, via=via)
        items += [
            ("approved", approved, False),
            ("rows", str(len(d.rows)), False),
            ("content_hash", d.content_hash, True),
        ]
        if d.attachments:
            items.append(("attachments", ", ".join(d.attachments), False))

        pdf = self.pdf
        label_width = float(self.style["identity_label_width"])
        value_width = pdf.epw - label_width
        for key, value, mono in items:
            self._set_font("text_size", bold=True)
            pdf.cell(label_width, 5, self.safe(self.label("identity", key)))
            self._set_font("text_size", mono=mono)
            pdf.cell(
                value_width,
                5,
                self._fit(self.safe(value), value_width),
                new_x="LMARGIN",
                new_y="NEXT",
            )
        pdf.ln(4)

    def _running_header(self) -> None:
        """Pages after the first: the list's identity in small type (and the preview mark)."""
        pdf, d = self.pdf, self.data
        self._set_font("small_size")
        text = (
            f"{self.label('title', listnr=d.listnr)} · {d.course_code} {d.course_name} · {d.term}"
        )
        if d.is_preview:
            pdf.set_text_color(*rgb(self.style["preview_colour"]))
            text += f" · {self.label('preview')}"
        pdf.cell(0, 5, self._fit(self.safe(text), pdf.epw), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)

    def _footer(self) -> None:
        pdf, d = self.pdf, self.data
        y = self.bottom + 3
        pdf.set_draw_color(*rgb(self.style["rule_colour"]))
        pdf.set_line_width(0.2)
        pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
        self._set_font("small_size")
        left = self.label("footer_list", listnr=d.listnr)
        if d.is_preview:
            left += f" · {self.label('preview')}"
        half = pdf.epw / 2
        pdf.set_xy(pdf.l_margin, y + 1)
        pdf.cell(half, 4, self.safe(left))
        page = self.label("footer_page", page=pdf.page_no(), pages=NB_ALIAS)
        pdf.cell(half, 4, page, align="R")

    # -- the table ----------------------------------------------------------------------------

    def _columns(self) -> list[tuple[str, float, str]]:
        """``(key, width, align)`` of each printed column; the comment takes what is left."""
        spec = self.template["columns"]
        keys = ["pnr", "last_name", "first_name", "grade"]
        if any(row.ects_grade for row in self.data.rows):
            keys.append("ects_grade")
        keys += ["grade_date", "points"]
        columns = [
            (key, float(spec[key]["width"]), "R" if key == "points" else "L") for key in keys
        ]
        used = sum(width for _, width, _ in columns)
        columns.append(("comment", self.pdf.epw - used, "L"))
        return columns

    def _table_header(self) -> None:
        pdf = self.pdf
        height = float(self.style["row_height"]) + 1
        pdf.set_fill_color(*rgb(self.style["header_fill"]))
        pdf.rect(pdf.l_margin, pdf.y, pdf.epw, height, style="F")
        self._set_font("table_size", bold=True)
        x = pdf.l_margin
        for key, width, align in self.columns:
            pdf.set_xy(x, pdf.y)
            text = self._fit(self.safe(self.label("columns", key)), width - 2 * pdf.c_margin)
            pdf.cell(width, height, text, align=align)
            x += width
        pdf.set_xy(pdf.l_margin, pdf.y + height)
        self._set_font("table_size")

    def _table(self) -> None:
        pdf, d = self.pdf, self.data
        row_height = float(self.style["row_height"])
        stripe = rgb(self.style["stripe_fill"])
        separator = self.label("decimal_separator")
        max_comment = int(self.style["comment_max_chars"])
        inner = [(key, width - 2 * pdf.c_margin) for key, width, _ in self.columns]
        offsets: list[float] = []
        x = pdf.l_margin
        for _, width, _ in self.columns:
            offsets.append(x)
            x += width
        layout = list(zip(self.columns, offsets, inner, strict=True))
        safe, fit = self.safe, self._fit
        self._table_header()
        for index, row in enumerate(d.rows):
            if pdf.y + row_height > self.bottom:
                pdf.add_page()
                self._table_header()
            y = pdf.y
            if index % 2:
                pdf.set_fill_color(*stripe)
                pdf.rect(pdf.l_margin, y, pdf.epw, row_height, style="F")
            values = {
                "pnr": safe(format_pnr(row.pnr)),
                "last_name": safe(row.last_name),
                "first_name": safe(row.first_name),
                "grade": safe(row.grade) if row.grade else "",
                "ects_grade": safe(row.ects_grade) if row.ects_grade else "",
                "grade_date": row.grade_date.isoformat() if row.grade_date else "",
                "points": format_points(row.points, separator),
                "comment": safe(row.comment[: max_comment + 1]) if row.comment else "",
            }
            for (key, width, align), x, (_, room) in layout:
                text = values[key]
                if not text:
                    continue
                if key == "comment" and len(row.comment or "") > max_comment:
                    text = text[: max_comment - 1].rstrip() + ELLIPSIS
                pdf.set_xy(x, y)
                pdf.cell(width, row_height, fit(text, room), align=align)
            pdf.set_xy(pdf.l_margin, y + row_height)

    def _fit(self, text: str, width: float) -> str:
        return fit(self.pdf, text, width)

    def _signature_block(self) -> None:
        pdf = self.pdf
        needed = 48.0
        if pdf.y + needed > self.bottom:
            pdf.add_page()
        pdf.ln(8)
        self._set_font("subtitle_size", bold=True)
        pdf.cell(0, 6, self.safe(self.label("signature", "heading")), new_x="LMARGIN", new_y="NEXT")
        self._set_font("text_size")
        pdf.cell(0, 5, self.safe(self.label("signature", "text")), new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.3)
        wide, gap = float(self.style["signature_width"]), 10.0
        narrow = pdf.epw - wide - gap
        left, right = pdf.l_margin, pdf.l_margin + wide + gap
        self._set_font("small_size")
        for labels in (("signature", "date"), ("name", None)):
            y = pdf.y + 12
            pdf.line(left, y, left + wide, y)
            pdf.set_xy(left, y + 0.5)
            pdf.cell(wide, 4, self.safe(self.label("signature", labels[0])))
            if labels[1] is not None:
                pdf.line(right, y, right + narrow, y)
                pdf.set_xy(right, y + 0.5)
                pdf.cell(narrow, 4, self.safe(self.label("signature", labels[1])))
            pdf.set_xy(pdf.l_margin, y + 4.5)
