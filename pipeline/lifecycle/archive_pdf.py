"""The printable archive list (arkivlista) of a result list, as a PDF/A-3b file.

Owns the page layout (identity block, the table of every row with its header repeated on each
page, page footer "Sida x av y", the examiner's signature lines), the PDF/A plumbing (XMP
metadata, an sRGB OutputIntent, embedded fonts, attached files as PDF/A-3 associated files),
making every drawn string safe for the font, and writing the file atomically.

Callers supply the data (:class:`ArchiveListData`: identity, rows in print order, the bytes
of any machine-readable attachments) and the target path; choosing the archive folder, the
file name and when to render is theirs. A list without ``approved_at`` is a *preview*
(förhandsgranskning) for the examiner: marked on every page, with no approval time and no
signature lines. Labels, widths, sizes and colours live in ``templates/archive_pdf.yaml``.
The font is DejaVu Sans, taken from matplotlib's data folder (found without importing
matplotlib) or, failing that, from the system's fonts-dejavu package.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

import fpdf
from fpdf import FPDF
from fpdf.enums import OutputIntentSubType
from fpdf.fonts import TTFFont
from fpdf.output import PDFICCProfile

from pipeline import files, resources

SWEDISH_TIME: Final = ZoneInfo("Europe/Stockholm")
LANGUAGES: Final = ("sv", "en")
FILE_MODE: Final = 0o640
_TEMPLATE: Final = "archive_pdf.yaml"
_FAMILY: Final = "DejaVuSans"
_MONO_FAMILY: Final = "DejaVuSansMono"
_FONT_FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_MONO_FILE: Final = "DejaVuSansMono.ttf"
_SYSTEM_FONT_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
)
# Spreadsheets an archive list was made from are its source; CSV/JSON exports are its data.
_SOURCE_SUFFIXES: Final = frozenset({".xlsx", ".xls", ".ods"})
_MIME_TYPES: Final = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}
# The page-count placeholder holds an invisible separator, which _SafeText drops from any
# caller's text, so no student's comment can turn into the page count.
_NB_ALIAS: Final = "\u2063nb\u2063"
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ELLIPSIS: Final = "…"


@dataclass(frozen=True)
class ArchiveRow:
    """One student's result as printed; ``pnr`` is the 12-digit personnummer."""

    pnr: str
    last_name: str
    first_name: str
    grade: str | None
    ects_grade: str | None
    grade_date: dt.date | None
    points: decimal.Decimal | None
    comment: str | None


@dataclass(frozen=True)
class ArchiveListData:
    """Everything printed on one archive list.

    ``kind`` is ``t33`` (results on a module) or ``t34`` (final course grades). ``rows`` are
    printed in the order given. ``approved_at`` of ``None`` makes a preview; a naive datetime is
    taken as UTC, as the database stores it. ``attachments`` maps file names to their bytes.
    """

    listnr: int
    kind: str
    course_code: str
    course_name: str
    module_code: str | None
    module_name: str | None
    term: str
    scale: str
    examiner: str
    reporter: str
    version: int
    content_hash: str
    rows: list[ArchiveRow]
    approved_at: dt.datetime | None = None
    approved_via: str | None = None
    corrects_listnr: int | None = None
    attachments: dict[str, bytes] = field(default_factory=dict)

    @property
    def is_preview(self) -> bool:
        return self.approved_at is None


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
    pdf_bytes = _Renderer(data, template, language).render()
    files.write_bytes(target, pdf_bytes, durable=True)
    return target


def font_dir() -> Path:
    """The folder holding DejaVu Sans regular and bold: matplotlib's copy, else the system's."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        candidates += [
            Path(location) / "mpl-data" / "fonts" / "ttf"
            for location in spec.submodule_search_locations
        ]
    candidates += _SYSTEM_FONT_DIRS
    for folder in candidates:
        if all((folder / name).is_file() for name in _FONT_FILES.values()):
            return folder
    raise FileNotFoundError(
        "DejaVu Sans not found: install matplotlib (or the fonts-dejavu-core package)"
    )


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile for the PDF/A OutputIntent, made by Pillow's LittleCMS."""
    # Lazy for start-up time only: LittleCMS is loaded once, when the first PDF is drawn.
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def swedish_time(moment: dt.datetime) -> dt.datetime:
    """``moment`` in Swedish local time; a naive value is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(SWEDISH_TIME)


def format_pnr(pnr: str) -> str:
    """``YYYYMMDD-NNNN`` for a 12-digit number; anything else is shown as given."""
    if len(pnr) == 12 and pnr.isdigit():
        return f"{pnr[:8]}-{pnr[8:]}"
    return pnr


class _SafeText:
    """Makes any value printable with the embedded font.

    Text is NFC-normalised (so a decomposed å becomes the font's å), white space of any kind
    becomes one space, invisible format characters are dropped, and control, surrogate,
    private-use, unassigned and any character the font lacks are replaced by U+FFFD (or "?").
    """

    def __init__(self, supported: Iterable[int]) -> None:
        self._supported = frozenset(supported)
        self._replacement = "\ufffd" if 0xFFFD in self._supported else "?"
        self._chars: dict[str, str] = {}

    def __call__(self, value: object) -> str:
        text = value if isinstance(value, str) else str(value)
        if text.isascii() and text.isprintable():
            return text
        text = unicodedata.normalize("NFC", text)
        chars = self._chars
        out = []
        for ch in text:
            mapped = chars.get(ch)
            if mapped is None:
                mapped = chars[ch] = self._map(ch)
            out.append(mapped)
        return " ".join("".join(out).split())

    def _map(self, ch: str) -> str:
        if ch.isspace():
            return " "
        category = unicodedata.category(ch)
        if category == "Cf":
            return ""
        if category in ("Cc", "Cs", "Co", "Cn") or ord(ch) not in self._supported:
            return self._replacement
        return ch


class _ArchivePDF(FPDF):
    """FPDF whose page header and footer are drawn by the renderer."""

    on_header: Callable[[], None] | None = None
    on_footer: Callable[[], None] | None = None

    def header(self) -> None:
        if self.on_header is not None:
            self.on_header()

    def footer(self) -> None:
        if self.on_footer is not None:
            self.on_footer()


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class _Renderer:
    """One rendering of one list; holds the document while it is drawn."""

    def __init__(self, data: ArchiveListData, template: dict[str, Any], language: str) -> None:
        self.data = data
        self.template = template
        self.language = language
        self.style: dict[str, Any] = template["style"]
        self.moment = swedish_time(data.approved_at or dt.datetime.now(dt.UTC))
        self.pdf = _ArchivePDF(
            orientation="portrait", unit="mm", format="A4", enforce_compliance="PDFA_3B"
        )
        self.pdf.alias_nb_pages(_NB_ALIAS, align="L")
        self.pdf.set_auto_page_break(False)
        margin = float(self.style["margin"])
        self.pdf.set_margins(margin, margin, margin)
        self.bottom = self.pdf.h - margin
        self.fonts = font_dir()
        for style, name in _FONT_FILES.items():
            self.pdf.add_font(_FAMILY, style, self.fonts / name)
        regular, bold = self.pdf.fonts[_FAMILY.lower()], self.pdf.fonts[_FAMILY.lower() + "B"]
        assert isinstance(regular, TTFFont) and isinstance(bold, TTFFont)
        supported = set(regular.cmap) & set(bold.cmap)
        self.mono = _MONO_FAMILY if (self.fonts / _MONO_FILE).is_file() else _FAMILY
        if self.mono != _FAMILY:
            self.pdf.add_font(self.mono, "", self.fonts / _MONO_FILE)
        self.safe = _SafeText(supported)
        self.columns = self._columns()

    # -- labels -------------------------------------------------------------------------------

    def label(self, *keys: str, **values: object) -> str:
        node: Any = self.template
        for key in keys:
            node = node[key]
        text = str(node[self.language])
        return text.format(**values) if values else text

    def optional_label(self, group: str, key: str | None) -> str:
        """The label for ``key`` under ``group``, or ``key`` itself when there is none."""
        if key is None:
            return ""
        entry = self.template.get(group, {}).get(key)
        return str(entry[self.language]) if entry else key

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
        when = self.moment.isoformat(timespec="seconds")
        description = (
            f"{d.course_code} {d.course_name}; {d.term}; version {d.version}; "
            f"SHA-256 {d.content_hash}"
        )

        def clean(text: str) -> str:
            return xml_escape(_XML_INVALID.sub("\ufffd", text), {'"': "&quot;"})

        return "\n".join(
            [
                '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
                ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
                '  <rdf:Description rdf:about=""',
                '    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"',
                '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
                '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
                '    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">',
                "   <pdfaid:part>3</pdfaid:part>",
                "   <pdfaid:conformance>B</pdfaid:conformance>",
                "   <dc:format>application/pdf</dc:format>",
                "   <dc:title><rdf:Alt>"
                f'<rdf:li xml:lang="x-default">{clean(self._document_title())}</rdf:li>'
                "</rdf:Alt></dc:title>",
                "   <dc:description><rdf:Alt>"
                f'<rdf:li xml:lang="x-default">{clean(description)}</rdf:li>'
                "</rdf:Alt></dc:description>",
                "   <dc:creator><rdf:Seq>"
                f"<rdf:li>{clean(d.examiner)}</rdf:li>"
                "</rdf:Seq></dc:creator>",
                "   <dc:language><rdf:Bag>"
                f"<rdf:li>{self.language}</rdf:li>"
                "</rdf:Bag></dc:language>",
                f"   <xmp:CreateDate>{when}</xmp:CreateDate>",
                f"   <xmp:ModifyDate>{when}</xmp:ModifyDate>",
                f"   <xmp:MetadataDate>{when}</xmp:MetadataDate>",
                "   <xmp:CreatorTool>resultat</xmp:CreatorTool>",
                f"   <pdf:Producer>fpdf2 {clean(fpdf.__version__)}</pdf:Producer>",
                "  </rdf:Description>",
                " </rdf:RDF>",
                "</x:xmpmeta>",
            ]
        )

    def _embed_attachments(self) -> None:
        # The EmbeddedFiles name tree must list its keys sorted as PDF strings.
        named = sorted(
            ((_attachment_name(name), content) for name, content in self.data.attachments.items()),
            key=lambda item: _pdf_string_bytes(item[0]),
        )
        for name, content in named:
            suffix = Path(name).suffix.lower()
            relationship = "Source" if suffix in _SOURCE_SUFFIXES else "Data"
            self.pdf.embed_file(
                bytes=content,
                basename=name,
                mime_type=_MIME_TYPES.get(suffix, "application/octet-stream"),
                associated_file_relationship=relationship,
                desc=self.label("title", listnr=self.data.listnr),
                creation_date=self.moment,
                modification_date=self.moment,
                compress=True,
            )

    # -- blocks -------------------------------------------------------------------------------

    def _set_font(self, size_key: str, *, bold: bool = False, mono: bool = False) -> None:
        family = self.mono if mono else _FAMILY
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
            pdf.set_text_color(*_rgb(self.style["preview_colour"]))
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
            pdf.set_text_color(*_rgb(self.style["preview_colour"]))
            text += f" · {self.label('preview')}"
        pdf.cell(0, 5, self._fit(self.safe(text), pdf.epw), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)

    def _footer(self) -> None:
        pdf, d = self.pdf, self.data
        y = self.bottom + 3
        pdf.set_draw_color(*_rgb(self.style["rule_colour"]))
        pdf.set_line_width(0.2)
        pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
        self._set_font("small_size")
        left = self.label("footer_list", listnr=d.listnr)
        if d.is_preview:
            left += f" · {self.label('preview')}"
        half = pdf.epw / 2
        pdf.set_xy(pdf.l_margin, y + 1)
        pdf.cell(half, 4, self.safe(left))
        page = self.label("footer_page", page=pdf.page_no(), pages=_NB_ALIAS)
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
        pdf.set_fill_color(*_rgb(self.style["header_fill"]))
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
        stripe = _rgb(self.style["stripe_fill"])
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
                "points": _format_points(row.points, separator),
                "comment": safe(row.comment[: max_comment + 1]) if row.comment else "",
            }
            for (key, width, align), x, (_, room) in layout:
                text = values[key]
                if not text:
                    continue
                if key == "comment" and len(row.comment or "") > max_comment:
                    text = text[: max_comment - 1].rstrip() + _ELLIPSIS
                pdf.set_xy(x, y)
                pdf.cell(width, row_height, fit(text, room), align=align)
            pdf.set_xy(pdf.l_margin, y + row_height)

    def _fit(self, text: str, width: float) -> str:
        """``text`` cut with an ellipsis so that it fits ``width`` mm in the current font."""
        pdf = self.pdf
        font = pdf.current_font
        assert isinstance(font, TTFFont)
        widths = font.cw
        scale = pdf.font_size_pt * 0.001 / pdf.k
        limit = width / scale
        if sum(widths[ord(c)] for c in text) <= limit:
            return text
        limit -= widths[ord(_ELLIPSIS)]
        total = 0.0
        for i, ch in enumerate(text):
            total += widths[ord(ch)]
            if total > limit:
                return text[:i].rstrip() + _ELLIPSIS
        return text

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


def _attachment_name(name: str) -> str:
    """``name`` without the characters a PDF file name cannot carry."""
    return _XML_INVALID.sub("_", name.replace("/", "_").replace("\\", "_")) or "_"


def _pdf_string_bytes(text: str) -> bytes:
    """The bytes fpdf2 writes for ``text`` as a PDF string (ASCII, else UTF-16BE with BOM)."""
    if text.isascii():
        return text.encode("ascii")
    return b"\xfe\xff" + text.encode("utf-16-be")


def _format_points(points: decimal.Decimal | None, separator: str) -> str:
    if points is None:
        return ""
    if not points.is_finite():
        return str(points)
    return format(points, "f").replace(".", separator)
