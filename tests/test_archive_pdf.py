"""The archive list PDF: PDF/A-3b plumbing, attachments, and what a reader sees on the pages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import random
import stat
from pathlib import Path
from typing import Any

import pikepdf
import pypdf
import pytest
import yaml

from pipeline.domain import personnummer
from pipeline.lifecycle.archive_pdf import render_archive_pdf
from pipeline.lifecycle.pdf_data import ArchiveListData, ArchiveRow
from pipeline.lifecycle.pdf_layout import format_pnr
from pipeline.resources import default_dir

SURNAMES = ("Åberg", "Öhman", "Ängström", "Sjöö", "Bäckström", "Lindqvist", "Nyström")
GIVEN_NAMES = ("Åsa", "Örjan", "Märta", "Li", "Zoë")
APPROVED_AT = dt.datetime(2026, 11, 3, 13, 5, 0)  # naive UTC, as stored: 14:05 in Stockholm
BASE14 = {
    "Courier",
    "Courier-Bold",
    "Courier-Oblique",
    "Courier-BoldOblique",
    "Helvetica",
    "Helvetica-Bold",
    "Helvetica-Oblique",
    "Helvetica-BoldOblique",
    "Times-Roman",
    "Times-Bold",
    "Times-Italic",
    "Times-BoldItalic",
    "Symbol",
    "ZapfDingbats",
}


def make_rows(count: int, *, ects: bool = True) -> list[ArchiveRow]:
    rng = random.Random(1)
    rows = []
    for i in range(count):
        rows.append(
            ArchiveRow(
                pnr=personnummer.generate(rng).digits,
                last_name=f"{SURNAMES[i % len(SURNAMES)]}{i:03d}",
                first_name=GIVEN_NAMES[i % len(GIVEN_NAMES)],
                grade=("U", "3", "4", "5")[i % 4],
                ects_grade=("F", "C", "B", "A")[i % 4] if ects else None,
                grade_date=dt.date(2026, 10, 30),
                points=decimal.Decimal("21.5") if i % 3 else None,
                comment="Komplettering inlämnad" if i % 10 == 0 else None,
            )
        )
    return rows


def make_data(rows: list[ArchiveRow], **changes: Any) -> ArchiveListData:
    payload = json.dumps([format_pnr(r.pnr) for r in rows]).encode()
    data = ArchiveListData(
        listnr=1234,
        kind="t33",
        course_code="DV1599",
        course_name="Programmering för ingenjörer",
        module_code="2010",
        module_name="Tentamen",
        term="HT2026",
        scale="TH (U, 3, 4, 5)",
        examiner="Anna Lindqvist (anlq)",
        reporter="Björn Ström (bjst)",
        version=2,
        content_hash=hashlib.sha256(payload).hexdigest(),
        rows=rows,
        approved_at=APPROVED_AT,
        approved_via="sms",
        attachments={
            "approved.csv": "pnr;betyg\r\nåäö;5\r\n".encode(),
            "approved.json": payload,
        },
    )
    return dataclasses.replace(data, **changes)


def page_texts(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


@pytest.fixture(scope="module")
def approved(tmp_path_factory: pytest.TempPathFactory) -> tuple[ArchiveListData, Path]:
    data = make_data(make_rows(120))
    target = tmp_path_factory.mktemp("archive") / "arkivlista-1234.pdf"
    assert render_archive_pdf(data, target) == target
    return data, target


@pytest.fixture(scope="module")
def approved_texts(approved: tuple[ArchiveListData, Path]) -> list[str]:
    return page_texts(approved[1])


def test_xmp_declares_pdfa_3b_and_describes_the_list(
    approved: tuple[ArchiveListData, Path],
) -> None:
    with pikepdf.open(approved[1]) as pdf:
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "3"
        assert meta["pdfaid:conformance"] == "B"
        assert "Arkivlista 1234" in meta["dc:title"]
        assert meta["xmp:CreateDate"] == "2026-11-03T14:05:00+01:00"
        assert pdf.pdf_version >= "1.7"
        assert "/Info" not in pdf.trailer  # nothing for the XMP to disagree with
        assert len(pdf.trailer.ID) == 2


def test_output_intent_embeds_an_srgb_icc_profile(approved: tuple[ArchiveListData, Path]) -> None:
    with pikepdf.open(approved[1]) as pdf:
        intents = pdf.Root.OutputIntents
        assert len(intents) == 1
        intent = intents[0]
        assert intent.S == pikepdf.Name.GTS_PDFA1
        profile = intent.DestOutputProfile
        assert isinstance(profile, pikepdf.Stream)
        assert int(profile.N) == 3
        icc = profile.read_bytes()
        assert icc[36:40] == b"acsp"  # the ICC file signature
        assert icc[16:20] == b"RGB "


def _assert_embedded(font: pikepdf.Object) -> None:
    assert str(font.BaseFont).lstrip("/").split("+")[-1] not in BASE14
    if font.Subtype == pikepdf.Name.Type0:
        descendants = font.DescendantFonts
        assert len(descendants) >= 1
        for descendant in descendants:
            _assert_embedded(descendant)
        return
    descriptor = font.FontDescriptor
    assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), font


def test_every_font_is_embedded(approved: tuple[ArchiveListData, Path]) -> None:
    with pikepdf.open(approved[1]) as pdf:
        seen = 0
        for page in pdf.pages:
            for font in page.Resources.Font.values():
                _assert_embedded(font)
                seen += 1
        assert seen >= 2 * len(pdf.pages)  # regular and bold on every page
        # Nothing anywhere in the file names a font that is not embedded.
        for obj in pdf.objects:
            if (
                isinstance(obj, pikepdf.Dictionary)
                and obj.get("/Type") == pikepdf.Name.Font
                and obj.get("/Subtype") != pikepdf.Name.CIDFontType2
            ):
                _assert_embedded(obj)


def test_attachments_are_pdfa3_associated_files_with_exact_bytes(
    approved: tuple[ArchiveListData, Path],
) -> None:
    data, target = approved
    with pikepdf.open(target) as pdf:
        attached = pdf.attachments
        assert set(attached) == set(data.attachments)
        for name, content in data.attachments.items():
            spec = attached[name]
            assert spec.get_file().read_bytes() == content
            assert spec.obj.AFRelationship == pikepdf.Name.Data
        assert attached["approved.csv"].get_file().mime_type == "text/csv"
        assert attached["approved.json"].get_file().mime_type == "application/json"
        associated = {str(spec.UF) for spec in pdf.Root.AF}
        assert associated == set(data.attachments)


def test_pages_show_every_row_and_the_page_numbers(
    approved: tuple[ArchiveListData, Path], approved_texts: list[str]
) -> None:
    data = approved[0]
    count = len(approved_texts)
    assert count > 1
    text = "\n".join(approved_texts)
    for row in data.rows:
        assert format_pnr(row.pnr) in text
        assert row.last_name in text
    assert sum(text.count(format_pnr(row.pnr)) for row in data.rows) == len(data.rows)
    # Rows are printed in the order given.
    positions = [text.index(format_pnr(row.pnr)) for row in data.rows]
    assert positions == sorted(positions)
    for number, page in enumerate(approved_texts, start=1):
        assert f"Sida {number} av {count}" in page
        assert "Lista 1234" in page
        assert "Personnummer" in page  # the table header is repeated
    assert "Sida 1 av" in approved_texts[0] and f"Sida {count} av {count}" in approved_texts[-1]


def test_first_page_identifies_the_list_and_the_approval(approved_texts: list[str]) -> None:
    first = approved_texts[0]
    for expected in (
        "Arkivlista 1234",
        "T33",
        "DV1599 Programmering för ingenjörer",
        "2010 Tentamen",
        "HT2026",
        "TH (U, 3, 4, 5)",
        "Anna Lindqvist (anlq)",
        "Björn Ström (bjst)",
        "2026-11-03 14:05:00+01:00 via sms",
        "approved.csv",
        "ECTS",
        "2026-10-30",
        "21,5",
    ):
        assert expected in first, expected
    assert "FÖRHANDSGRANSKNING" not in "\n".join(approved_texts)


def test_content_hash_and_signature_lines_are_printed(
    approved: tuple[ArchiveListData, Path], approved_texts: list[str]
) -> None:
    text = "\n".join(approved_texts)
    assert approved[0].content_hash in text.replace(" ", "").replace("\n", "")
    last = approved_texts[-1]
    for label in ("Examinatorns underskrift", "Datum", "Namnförtydligande"):
        assert label in last


def test_preview_is_marked_and_has_no_approval(tmp_path: Path) -> None:
    data = make_data(make_rows(60), approved_at=None, approved_via=None)
    target = render_archive_pdf(data, tmp_path / "preview.pdf")
    texts = page_texts(target)
    assert len(texts) > 1
    for page in texts:
        assert "FÖRHANDSGRANSKNING – ej attesterad" in page
    text = "\n".join(texts)
    assert "Ej attesterad" in text
    assert " via sms" not in text
    assert "Examinatorns underskrift" not in text


def test_english_labels(tmp_path: Path) -> None:
    data = make_data(make_rows(60), approved_at=None, corrects_listnr=1200)
    target = render_archive_pdf(data, tmp_path / "en.pdf", language="en")
    texts = page_texts(target)
    count = len(texts)
    text = "\n".join(texts)
    for expected in (
        "Archive list 1234",
        "Correction of list 1200",
        "PREVIEW – not approved",
        "Surname",
        "Given name",
        f"Page 1 of {count}",
        f"Page {count} of {count}",
        "Not approved",
        "21.5",
    ):
        assert expected in text, expected
    assert "Sida" not in text and "Efternamn" not in text


def test_correction_and_no_ects_column(tmp_path: Path) -> None:
    data = make_data(
        make_rows(5, ects=False),
        corrects_listnr=1200,
        kind="t34",
        module_code=None,
        module_name=None,
    )
    text = "\n".join(page_texts(render_archive_pdf(data, tmp_path / "r.pdf")))
    assert "Rättelse av lista 1200" in text
    assert "T34" in text
    assert "ECTS" not in text
    assert "Modul" not in text
    assert "Examinatorns underskrift" in text


def test_unusual_text_is_drawn_safely(tmp_path: Path) -> None:
    rng = random.Random(1)
    awkward = [
        "a\u030aberg",  # decomposed å
        "Null\x00byte",
        "Lone\ud800surrogate",
        "Private\ue000use",
        "Zero\u200bwidth",
        "\u202eRight-to-left",
        "Emoji 🧪 test",
        "中文",
        "Tab\tand\nnewline",
        "x" * 400,
    ]
    rows = [
        ArchiveRow(
            pnr=personnummer.generate(rng).digits,
            last_name=name,
            first_name=name,
            grade=name,
            ects_grade=None,
            grade_date=None,
            points=decimal.Decimal("1E+1"),
            comment=name * 3,
        )
        for name in awkward
    ]
    data = make_data(rows, examiner="Ex <&\"'> \x07aminer", course_name="Kurs\udfff")
    target = render_archive_pdf(data, tmp_path / "odd.pdf")
    text = "\n".join(page_texts(target))
    for row in rows:
        assert format_pnr(row.pnr) in text
    assert "åberg" in text
    assert "Null\ufffdbyte" in text
    assert "Private\ufffduse" in text
    assert "Zerowidth" in text
    assert "Tab and newline" in text
    assert "…" in text and "x" * 400 not in text
    with pikepdf.open(target) as pdf:
        assert pdf.open_metadata()["pdfaid:part"] == "3"


def test_long_comments_are_truncated(tmp_path: Path) -> None:
    rows = make_rows(3)
    long = "Uppgiften lämnades in efter deadline och bedömdes därför " * 5
    rows[1] = dataclasses.replace(rows[1], comment=long)
    text = "\n".join(page_texts(render_archive_pdf(make_data(rows), tmp_path / "c.pdf")))
    assert "Uppgiften" in text
    assert long.strip() not in text
    assert "…" in text


def test_file_is_replaced_atomically_with_mode_0640(tmp_path: Path) -> None:
    target = tmp_path / "arkivlista.pdf"
    target.write_bytes(b"old")
    render_archive_pdf(make_data(make_rows(3)), target)
    assert target.read_bytes().startswith(b"%PDF-1.7")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["arkivlista.pdf"]


def test_same_approved_list_gives_the_same_bytes(tmp_path: Path) -> None:
    data = make_data(make_rows(10))
    one = render_archive_pdf(data, tmp_path / "one.pdf").read_bytes()
    two = render_archive_pdf(data, tmp_path / "two.pdf").read_bytes()
    assert one == two


def _font_sizes(path: Path) -> set[int]:
    """Every font size set on the first page (the operands of its ``Tf`` operators)."""
    with pikepdf.open(path) as pdf:
        return {
            round(float(instruction.operands[1]))
            for instruction in pikepdf.parse_content_stream(pdf.pages[0])
            if str(instruction.operator) == "Tf"
        }


def test_workspace_template_wins(tmp_path: Path) -> None:
    shipped = default_dir("templates")
    texts = yaml.safe_load((shipped / "texts" / "lifecycle.sv.yaml").read_text("utf-8"))
    texts["lifecycle"]["pdf"]["title"] = "Arkivexemplar {listnr}"
    (tmp_path / "templates" / "texts").mkdir(parents=True)
    (tmp_path / "templates" / "texts" / "lifecycle.sv.yaml").write_text(
        yaml.safe_dump(texts, allow_unicode=True), encoding="utf-8"
    )
    look = yaml.safe_load((shipped / "archive_pdf.yaml").read_text("utf-8"))
    look["style"]["title_size"] = 30
    (tmp_path / "templates" / "archive_pdf.yaml").write_text(
        yaml.safe_dump(look, allow_unicode=True), encoding="utf-8"
    )
    target = render_archive_pdf(make_data(make_rows(3)), tmp_path / "w.pdf", workspace=tmp_path)
    assert "Arkivexemplar 1234" in page_texts(target)[0]
    default = render_archive_pdf(make_data(make_rows(3)), tmp_path / "d.pdf")
    assert "Arkivexemplar" not in page_texts(default)[0]
    assert 30 in _font_sizes(target) and 30 not in _font_sizes(default)


def test_rejects_unknown_language_and_empty_attachment(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="language"):
        render_archive_pdf(make_data(make_rows(1)), tmp_path / "x.pdf", language="de")
    with pytest.raises(ValueError, match="empty"):
        render_archive_pdf(make_data(make_rows(1), attachments={"a.csv": b""}), tmp_path / "x.pdf")
    assert list(tmp_path.iterdir()) == []
