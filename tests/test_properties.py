"""Property tests (hypothesis): personnummer in every written form, grade mapping, and the
reader and the whole inbox pass on randomly damaged workbooks.

Examples are bounded so the module runs in seconds; the known tricky inputs are pinned with
``@example`` so a regression shows on every run, not only when the search happens on it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import math
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from pipeline.app import App
from pipeline.domain import personnummer
from pipeline.domain.personnummer import Personnummer, PersonnummerError
from pipeline.domain.scales import load_scales
from pipeline.intake.claim import PROCESSING
from pipeline.intake.inbox import Inbox
from pipeline.models import FileOutcome
from pipeline.settings import create_workspace
from pipeline.xlsx import workbook
from pipeline.xlsx.reader import Limits, UnreadableFile, read_result_workbook
from tests import hostile
from tests.factories import fill, new_exam_list, seed
from tests.smtp_server import set_section

TODAY = dt.date(2026, 11, 28)
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- personnummer


@st.composite
def valid_numbers(draw: st.DrawFn) -> Personnummer:
    born = draw(st.dates(min_value=dt.date(1890, 1, 1), max_value=TODAY))
    samordning = draw(st.booleans())
    serial = draw(st.integers(0, 999))
    day = born.day + (60 if samordning else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    digits = f"{born.year:04d}{born:%m}{day:02d}{serial:03d}{personnummer.luhn_digit(nine)}"
    return Personnummer(digits)


def written_forms(p: Personnummer) -> list[str]:
    """Every form staff write: 12 digits with and without '-', 10 digits with '-' or '+'
    (100 years or older) and without, as typed in a spreadsheet cell."""
    d = p.digits
    short = p.short(today=TODAY)
    forms = [d, f"{d[:8]}-{d[8:]}", short]
    if short[6] == "-":
        forms.append(d[2:])  # without a separator the century is the latest possible one
    return forms


@given(valid_numbers(), st.sampled_from(["", " ", "  ", "\t"]), st.sampled_from(["", "'"]))
@QUICK
def test_every_written_form_normalises_to_the_same_twelve_digits(
    p: Personnummer, space: str, apostrophe: str
) -> None:
    for form in written_forms(p):
        parsed = personnummer.parse(f"{space}{apostrophe}{form}{space}", today=TODAY)
        assert parsed == p, form
        assert personnummer.parse(f'="{form}"', today=TODAY) == p
    assert p.is_samordningsnummer == (int(p.digits[6:8]) > 60)
    assert personnummer.parse(p.long(), today=TODAY).long() == p.long()
    assert personnummer.parse(p.short(today=TODAY), today=TODAY).short(today=TODAY) == p.short(
        today=TODAY
    )


@given(valid_numbers(), st.integers(2, 11), st.integers(1, 9))
@QUICK
def test_one_wrong_digit_is_never_taken_for_another_number(
    p: Personnummer, position: int, delta: int
) -> None:
    """The check digit catches every single wrong digit of the ten that carry it."""
    digits = list(p.digits)
    digits[position] = str((int(digits[position]) + delta) % 10)
    with pytest.raises(PersonnummerError) as raised:
        personnummer.parse("".join(digits), today=TODAY)
    assert raised.value.slug in {"pnr-check-digit", "pnr-invalid-date"}


ANYTHING = st.one_of(
    st.text(),
    st.text(alphabet="0123456789-+ .,eE'=\"/:T"),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.booleans(),
    st.none(),
    st.binary(),
    st.lists(st.integers(), max_size=3),
)


@given(ANYTHING)
@QUICK
@example("")
@example("19900101-12345")
@example("900230-1234")
@example(199001011234)
@example(1.99001011234e11)
@example("1990-01-01")
@example(dt.date(1990, 1, 1))
@example("٢٠٠١٠١٠١١٢٣٤")  # Arabic-Indic digits: \d matches them, int() reads them
@example("19900101-1234\n")
@example(math.nan)
def test_parse_raises_only_personnummer_error(value: Any) -> None:
    try:
        parsed = personnummer.parse(value, today=TODAY)
    except PersonnummerError as exc:
        assert exc.slug.startswith("pnr-")
        return
    assert re.fullmatch(r"[0-9]{12}", parsed.digits)
    assert personnummer.luhn_digit(parsed.digits[2:11]) == int(parsed.digits[11])


@given(valid_numbers(), st.text(max_size=20), st.text(max_size=20))
@QUICK
def test_mask_text_hides_every_form_in_free_text(p: Personnummer, before: str, after: str) -> None:
    assume(not before[-1:].isdigit() and not after[:1].isdigit())
    assume(not re.search(r"[0-9]{4}", before + after))  # no number of its own to mask
    for form in [*written_forms(p), f"{p.digits[2:8]} {p.digits[8:]}"]:
        masked = personnummer.mask_text(before + form + after)
        assert form not in masked
        # What stays is the birth year and month, nothing of the rest (the serial's digits may
        # still appear inside them: 200001080001 keeps "200001").
        kept = 6 if sum(ch.isdigit() for ch in form) == 12 else 4
        assert masked == before + form[:kept] + "**-****" + after


# --------------------------------------------------------------------------- grades

SCALES = load_scales()
WHITESPACE = st.text(alphabet=" \t\n\u00a0\u2003", max_size=3)


@st.composite
def typed_grades(draw: st.DrawFn) -> tuple[str, str, str]:
    """(scale, grade, what a teacher typed for it): any case, whitespace around."""
    scale = draw(st.sampled_from(sorted(SCALES)))
    grade = draw(st.sampled_from(SCALES[scale].grades))
    cased = "".join(ch.upper() if draw(st.booleans()) else ch.lower() for ch in grade)
    return scale, grade, draw(WHITESPACE) + cased + draw(WHITESPACE)


@given(typed_grades())
@QUICK
def test_grade_typed_in_any_case_with_spaces_maps_to_the_scale(typed: tuple[str, str, str]) -> None:
    scale, grade, text = typed
    assert SCALES[scale].normalize(text) == grade
    assert SCALES[scale].normalize(grade) == grade


@given(st.sampled_from(sorted(SCALES)), st.one_of(ANYTHING, st.sampled_from([4.0, 3, 5.0, "vg"])))
@QUICK
def test_normalize_is_idempotent_and_never_raises(scale: str, value: Any) -> None:
    first = SCALES[scale].normalize(value)
    assert first is None or first in SCALES[scale].grades
    if first is not None:
        assert SCALES[scale].normalize(first) == first


def test_numbers_map_onto_numeric_grades() -> None:
    th = SCALES["TH"]
    assert [th.normalize(v) for v in (3, 4.0, decimal.Decimal("5"), "4 ", 4.5, -3)] == [
        "3",
        "4",
        "5",
        "4",
        None,
        None,
    ]
    assert th.normalize(math.nan) is None and th.normalize(None) is None


# --------------------------------------------------------------------------- damaged workbooks


class Sources:
    """Real workbooks to damage: issued, filled, a review workbook, and LibreOffice-saved."""

    def __init__(self, root: Path) -> None:
        create_workspace(root)
        set_section(
            root,
            "inbox",
            {"stable_seconds": 0.05, "scan_interval": 1.0, "max_file_mb": 50, "max_rows": 50000},
        )
        self.app = App.open(
            root,
            actor="testadmin",
            admin=True,
            env={"RESULTAT_DATABASE_URL": f"sqlite:///{root}/var/p.db"},
        )
        s = seed(self.app, students=4)
        listnr = new_exam_list(self.app)
        issued = workbook.issue(self.app, listnr).path
        filled = fill(
            issued,
            {p: {"grade": "4", "grade_date": dt.date(2026, 11, 2)} for p in s.pnrs[:2]},
            target=root / "var" / "filled.xlsx",
        )
        data = Path(__file__).parent / "data"
        self.files = {
            "issued": issued.read_bytes(),
            "filled": filled.read_bytes(),
            "ods": (data / "t33_saved_by_libreoffice.ods").read_bytes(),
            "lo-xlsx": (data / "t33_saved_by_libreoffice.xlsx").read_bytes(),
        }
        self.files["rezipped"] = hostile.rezip(hostile.members_of(self.files["filled"]))
        self.root = root
        self.counter = 0

    def path(self, data: bytes, suffix: str = ".xlsx") -> Path:
        self.counter += 1
        target = self.root / "var" / "mutants" / f"m{self.counter}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    made = Sources(tmp_path_factory.mktemp("properties") / "ws")
    try:
        yield made
    finally:
        made.app.close()


@st.composite
def damaged(draw: st.DrawFn, files: dict[str, bytes]) -> bytes:
    """A workbook with one kind of damage, each parameter drawn so hypothesis can shrink."""
    data = files[draw(st.sampled_from(sorted(files)))]
    kind = draw(st.sampled_from(["flip", "truncate", "drop", "duplicate", "garbage", "cut-xml"]))
    if kind == "flip":
        out = bytearray(data)
        for at in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=12)):
            out[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    parts = hostile.members_of(data)
    name = draw(st.sampled_from(list(parts)))
    if kind == "drop":
        del parts[name]
        return hostile.rezip(parts)
    if kind == "duplicate":
        return hostile.rezip(parts, extra=[hostile.deflated(name, parts[name])])
    if kind == "garbage":
        parts[name] = draw(st.binary(max_size=300))
        return hostile.rezip(parts)
    parts[name] = parts[name][: draw(st.integers(0, len(parts[name])))]
    return hostile.rezip(parts)


_T = re.compile(rb"<t>([^<]*)</t>|<t xml:space=\"preserve\">([^<]*)</t>|<v>([^<]*)</v>")
TRICKY = st.sampled_from(
    ["", "0", "-1", "A", "1", "ZZZZ", "B0", "XFD1048576", "1e3", "[]", '"x"', "{}",
     '{"pnr": ""}', '{"pnr": 5}', '{"pnr": "A", "grade": "ZZZZ"}', "null", "\u00a0"]
)  # fmt: skip


@st.composite
def altered(draw: st.DrawFn, files: dict[str, bytes]) -> bytes:
    """A well-formed workbook whose cell texts (metadata and input sheet) were changed: the
    zip and the XML are sound, the values are anything."""
    data = files[draw(st.sampled_from(["issued", "filled"]))]
    parts = hostile.members_of(data)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(["xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"]))
        cells = list(_T.finditer(parts[name]))
        match = cells[draw(st.integers(0, len(cells) - 1))]
        group = next(g for g in (1, 2, 3) if match.group(g) is not None)
        text = draw(st.one_of(TRICKY, st.text(max_size=30)))
        escaped = (
            text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")
        )
        escaped = re.sub(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", b"", escaped)
        xml = parts[name]
        parts[name] = xml[: match.start(group)] + escaped + xml[match.end(group) :]
    return hostile.rezip(parts)


def _read(sources: Sources, data: bytes, suffix: str = ".xlsx") -> None:
    with contextlib.suppress(UnreadableFile):
        read_result_workbook(sources.path(data, suffix), Limits())


def _zip_crashes(sources: Sources) -> list[tuple[bytes, str]]:
    """Damage the zip library reports with something else than BadZipFile."""
    ods = bytearray(sources.files["ods"])
    directory = ods.rfind(b"PK\x05\x06")
    first = int.from_bytes(ods[directory + 16 : directory + 20], "little")
    # The mimetype member (first in an ods) claims compression method 99 (AES).
    ods[8:10] = ods[first + 10 : first + 12] = (99).to_bytes(2, "little")
    named = bytearray(sources.files["rezipped"])  # names flagged as UTF-8
    named[named.rfind(b"xl/styles.xml")] = 0xFF
    return [(bytes(ods), ".ods"), (bytes(named), ".xlsx")]


@given(st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_reader_on_damaged_bytes_raises_only_unreadable_file(
    sources: Sources, data: st.DataObject
) -> None:
    for pinned, suffix in _zip_crashes(sources):
        _read(sources, pinned, suffix)
    mutant = data.draw(damaged(sources.files))
    _read(sources, mutant, data.draw(st.sampled_from([".xlsx", ".ods", ".xlsm"])))


#: Metadata values the reader takes apart before the HMAC is checked.
META_CRASHES = [("action_cell", ""), ("columns", '{"pnr": 5}'), ("columns", '"x"')]


def _meta(sources: Sources, key: str, value: str) -> bytes:
    parts = hostile.members_of(sources.files["issued"])
    xml = parts["xl/worksheets/sheet2.xml"]
    found = re.search(rb"<t>" + key.encode() + rb"</t>.*?<t>([^<]*)</t>", xml, re.S)
    assert found
    parts["xl/worksheets/sheet2.xml"] = xml[: found.start(1)] + value.encode() + xml[found.end(1) :]
    return hostile.rezip(parts)


@given(st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_reader_on_altered_cell_values_raises_only_unreadable_file(
    sources: Sources, data: st.DataObject
) -> None:
    for key, value in META_CRASHES:
        _read(sources, _meta(sources, key, value))
    _read(sources, data.draw(altered(sources.files)))


@given(st.data())
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_inbox_pass_answers_every_damaged_file(sources: Sources, data: st.DataObject) -> None:
    app = sources.app
    mutants = data.draw(
        st.lists(st.one_of(damaged(sources.files), altered(sources.files)), min_size=3, max_size=6)
    )
    mutants.append(_meta(sources, *META_CRASHES[0]))
    mutants.append(_zip_crashes(sources)[1][0])
    names = []
    for data_ in mutants:
        sources.counter += 1
        name = f"skadad-{sources.counter}.xlsx"
        (app.settings.inbox / name).write_bytes(data_)
        names.append(name)
    results = {r.original_name: r for r in Inbox(app).process_once()}
    assert set(results) == set(names)
    for name in names:
        result = results[name]
        assert result.outcome in {FileOutcome.ACCEPTED, FileOutcome.REJECTED, FileOutcome.DUPLICATE}
        assert result.receipt is not None and result.receipt.is_file(), name
    assert list((app.settings.inbox / PROCESSING).iterdir()) == []


def test_mutation_helper_damages_for_real() -> None:
    """The damage helper used elsewhere changes what it is given (a check of the check)."""
    rng = random.Random(3)
    source = hostile.zip_bytes([hostile.deflated("a.xml", b"<a>" + b"x" * 500 + b"</a>")])
    assert all(hostile.mutations(source, rng) != source for _ in range(20))
