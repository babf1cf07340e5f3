"""Building blocks of the archive list PDF: fonts, colour profile, safe text, PDF/A metadata.

Owns finding DejaVu Sans (matplotlib's data folder, found without importing matplotlib, or the
system's fonts-dejavu package), the sRGB OutputIntent profile, Swedish local time, making any
string printable with the embedded font (:class:`SafeText`), fitting text to a width, the XMP
packet and the PDF/A-3 associated files. The page layout is :mod:`pipeline.lifecycle.archive_pdf`'s.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

import fpdf
from fpdf import FPDF
from fpdf.fonts import TTFFont

SWEDISH_TIME: Final = ZoneInfo("Europe/Stockholm")
FAMILY: Final = "DejaVuSans"
MONO_FAMILY: Final = "DejaVuSansMono"
FONT_FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
MONO_FILE: Final = "DejaVuSansMono.ttf"
SYSTEM_FONT_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
)
# Spreadsheets an archive list was made from are its source; CSV/JSON exports are its data.
SOURCE_SUFFIXES: Final = frozenset({".xlsx", ".xls", ".ods"})
MIME_TYPES: Final = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}
# The page-count placeholder holds an invisible separator, which SafeText drops from any
# caller's text, so no student's comment can turn into the page count.
NB_ALIAS: Final = "\u2063nb\u2063"
XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
ELLIPSIS: Final = "…"


def font_dir() -> Path:
    """The folder holding DejaVu Sans regular and bold: matplotlib's copy, else the system's."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        candidates += [
            Path(location) / "mpl-data" / "fonts" / "ttf"
            for location in spec.submodule_search_locations
        ]
    candidates += SYSTEM_FONT_DIRS
    for folder in candidates:
        if all((folder / name).is_file() for name in FONT_FILES.values()):
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


class SafeText:
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


class ArchivePDF(FPDF):
    """FPDF whose page header and footer are drawn by the renderer."""

    on_header: Callable[[], None] | None = None
    on_footer: Callable[[], None] | None = None

    def header(self) -> None:
        if self.on_header is not None:
            self.on_header()

    def footer(self) -> None:
        if self.on_footer is not None:
            self.on_footer()


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def xmp_metadata(
    *, title: str, description: str, creator: str, language: str, moment: dt.datetime
) -> str:
    """The PDF/A-3b XMP packet: identification, title, description, creator, dates."""
    when = moment.isoformat(timespec="seconds")

    def clean(text: str) -> str:
        return xml_escape(XML_INVALID.sub("\ufffd", text), {'"': "&quot;"})

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
            f'<rdf:li xml:lang="x-default">{clean(title)}</rdf:li>'
            "</rdf:Alt></dc:title>",
            "   <dc:description><rdf:Alt>"
            f'<rdf:li xml:lang="x-default">{clean(description)}</rdf:li>'
            "</rdf:Alt></dc:description>",
            f"   <dc:creator><rdf:Seq><rdf:li>{clean(creator)}</rdf:li></rdf:Seq></dc:creator>",
            f"   <dc:language><rdf:Bag><rdf:li>{language}</rdf:li></rdf:Bag></dc:language>",
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


def embed_attachments(
    pdf: FPDF, attachments: dict[str, bytes], *, description: str, moment: dt.datetime
) -> None:
    """Attach every file as a PDF/A-3 associated file (spreadsheets as Source, else Data)."""
    # The EmbeddedFiles name tree must list its keys sorted as PDF strings.
    named = sorted(
        ((attachment_name(name), content) for name, content in attachments.items()),
        key=lambda item: pdf_string_bytes(item[0]),
    )
    for name, content in named:
        suffix = Path(name).suffix.lower()
        relationship = "Source" if suffix in SOURCE_SUFFIXES else "Data"
        pdf.embed_file(
            bytes=content,
            basename=name,
            mime_type=MIME_TYPES.get(suffix, "application/octet-stream"),
            associated_file_relationship=relationship,
            desc=description,
            creation_date=moment,
            modification_date=moment,
            compress=True,
        )


def fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut with an ellipsis so that it fits ``width`` mm in the current font."""
    font = pdf.current_font
    assert isinstance(font, TTFFont)
    widths = font.cw
    scale = pdf.font_size_pt * 0.001 / pdf.k
    limit = width / scale
    if sum(widths[ord(c)] for c in text) <= limit:
        return text
    limit -= widths[ord(ELLIPSIS)]
    total = 0.0
    for i, ch in enumerate(text):
        total += widths[ord(ch)]
        if total > limit:
            return text[:i].rstrip() + ELLIPSIS
    return text


def attachment_name(name: str) -> str:
    """``name`` without the characters a PDF file name cannot carry."""
    return XML_INVALID.sub("_", name.replace("/", "_").replace("\\", "_")) or "_"


def pdf_string_bytes(text: str) -> bytes:
    """The bytes fpdf2 writes for ``text`` as a PDF string (ASCII, else UTF-16BE with BOM)."""
    if text.isascii():
        return text.encode("ascii")
    return b"\xfe\xff" + text.encode("utf-16-be")


def format_points(points: decimal.Decimal | None, separator: str) -> str:
    if points is None:
        return ""
    if not points.is_finite():
        return str(points)
    return format(points, "f").replace(".", separator)
