"""Hostile files in the inbox: each is refused with a clear receipt, in bounded time and
memory, its original kept under ``inbox/.rejected/``, and the daemon goes on taking files.

Most tests share one ``resultat watch`` process (started once for the module, on SQLite) and
drop one file each; the last one checks that the daemon is still alive, that its peak memory
stayed bounded, and that a good workbook dropped after all of them is accepted. Files that
kill the daemon get a daemon of their own. The hostile bytes come from ``tests/hostile.py``.

Then hostile people: approval codes tried over every channel, for the wrong list or version,
from the wrong phone; codes and personnummer looked for in the database, the log and the
output of whole runs; and who else on the machine can read what the pipeline writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from pipeline.app import App
from pipeline.intake.claim import PROCESSING
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import by_sms
from pipeline.models import FileOutcome, InboxFile
from pipeline.shown import shown
from pipeline.xlsx import workbook
from tests import hostile
from tests.factories import fill, new_exam_list, seed
from tests.loopback_proc import (
    Daemon,
    configure,
    drop,
    environment,
    in_processing,
    wait_until,
    waiting_in_inbox,
)
from tests.smtp_server import set_section

GRADE_DATE = dt.date(2026, 11, 2)
DATA = Path(__file__).parent / "data"
#: Seconds from drop to receipt that count as "refused quickly" (stability wait included).
QUICK = 20.0
#: Peak resident memory the daemon may reach while it handles one file (it idles at ~200 MB).
MEMORY_LIMIT_KB = 1_000_000


@dataclass
class Handled:
    outcome: FileOutcome
    receipt: str
    kept: Path
    seconds: float
    peak_kb: int  # the daemon's peak resident memory while it handled the file


class Inbound:
    """One workspace with a running daemon; drop a file and wait for what became of it."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.env = environment(url)
        self.app = App.open(root, actor="testadmin", admin=True, env=self.env)
        self.daemon = Daemon(root, self.env)
        seeded = seed(self.app, students=6)
        self.pnrs = seeded.pnrs
        self.carrier_list = new_exam_list(self.app)
        self.carrier = workbook.issue(self.app, self.carrier_list).path.read_bytes()
        self.spare_lists = [new_exam_list(self.app) for _ in range(10)]

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def filled(self, rows: dict[str, dict[str, object]]) -> bytes:
        """A fresh list's workbook, filled (each call uses another list)."""
        listnr = self.spare_lists.pop(0)
        issued = workbook.issue(self.app, listnr).path
        target = self.root / "var" / f"filled-{listnr}.xlsx"
        return fill(issued, rows, target=target).read_bytes()

    def start(self) -> None:
        self.daemon.start()
        wait_until(self.daemon.watching, timeout=60, what="the daemon")

    def record(self, name: str) -> InboxFile | None:
        with self.app.db.session() as session:
            return session.execute(
                select(InboxFile).where(InboxFile.original_name == name)
            ).scalar_one_or_none()

    def send(self, name: str, data: bytes, *, timeout: float = 60) -> Handled:
        self.daemon.reset_peak()
        started = time.monotonic()
        drop(self.inbox, name, data)
        return self.await_(name, started, timeout=timeout)

    def await_(self, name: str, started: float, *, timeout: float = 60) -> Handled:
        def done() -> InboxFile | None:
            self.daemon.sample_memory()
            assert self.daemon.alive(), "the daemon died, " + self.daemon.death()
            record = self.record(name)
            # Recorded (committed) first, then moved: wait for both.
            if record is None or not (self.root / str(record.stored_path)).exists():
                return None
            return record

        record = wait_until(done, timeout=timeout, interval=0.1, what=f"a receipt for {name!r}")
        seconds = time.monotonic() - started
        receipt = (self.root / str(record.receipt_path)).read_text("utf-8")
        peak = self.daemon.sample_memory()
        return Handled(record.outcome, receipt, self.root / str(record.stored_path), seconds, peak)

    def close(self) -> None:
        self.daemon.stop()
        self.app.close()


def _inbound(root: Path, **inbox: object) -> Inbound:
    configure(root, inbox=dict(inbox) if inbox else None)
    return Inbound(root, f"sqlite:///{root / 'var' / 'resultat.db'}")


@pytest.fixture(scope="module")
def inbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbound]:
    """The shared daemon, with the default limits (50 MB, 50 000 rows)."""
    ws = _inbound(tmp_path_factory.mktemp("hostile") / "ws")
    ws.start()
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[Inbound]:
    """A daemon of its own, for a file that may kill it."""
    ws = _inbound(tmp_path / "ws")
    ws.start()
    try:
        yield ws
    finally:
        ws.close()


def _refused(handled: Handled, *phrases: str) -> None:
    assert handled.outcome == FileOutcome.REJECTED, handled.receipt
    assert "AVVISAD" in handled.receipt
    for phrase in phrases:
        assert phrase in handled.receipt, (phrase, handled.receipt)
    assert handled.kept.parent.name == ".rejected" and handled.kept.is_file()
    assert handled.seconds < QUICK, handled.seconds
    assert handled.peak_kb < MEMORY_LIMIT_KB, f"peak {handled.peak_kb} kB"


# --------------------------------------------------------------------------- archives


@pytest.mark.parametrize(
    ("inflated_mb", "detail"),
    [(400, "för stor uppackad"), (30, "misstänkt zip-bomb")],
    ids=["inflates-to-400MB", "ratio-1000"],
)
def test_zip_bomb_refused(inbound: Inbound, inflated_mb: int, detail: str) -> None:
    data = hostile.zip_bomb(inflated_mb)
    assert len(data) < 500_000
    handled = inbound.send(f"bomb-{inflated_mb}.xlsx", data)
    _refused(handled, detail)
    assert handled.kept.read_bytes() == data


@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"])
def test_zip_member_that_lies_about_its_size_is_not_inflated(inbound: Inbound, member: str) -> None:
    """The headers say a few kB; the deflate stream holds 2 GB of spaces."""
    data = hostile.lying_zip_bomb(inbound.carrier, member, 2048)
    handled = inbound.send(f"lying-{member.rsplit('/', 1)[1]}.xlsx", data)
    _refused(handled)


#: XML parts of an issued workbook; the first two are the sheets the reader parses.
PARTS = [
    "xl/worksheets/sheet1.xml",
    "xl/worksheets/sheet2.xml",
    "xl/workbook.xml",
    "xl/styles.xml",
    "docProps/core.xml",
    "[Content_Types].xml",
]


@pytest.mark.parametrize(
    "member",
    PARTS,
)
def test_xml_entity_expansion_refused_in_any_part(inbound: Inbound, member: str) -> None:
    data = hostile.with_entity_bomb(inbound.carrier, member)
    handled = inbound.send(f"laughs-{member.replace('/', '_')}.xlsx", data)
    _refused(handled, "DTD")


def test_entity_bomb_in_a_workbook_with_mistakes_is_answered_without_expanding_it(
    inbound: Inbound,
) -> None:
    """The marked copy of a workbook with mistakes is made with openpyxl, which parses every
    part: the bomb must not go off there either."""
    bad = inbound.filled({inbound.pnrs[0]: {"grade": "Q", "grade_date": GRADE_DATE}})
    handled = inbound.send("laughs-styles-fel.xlsx", hostile.with_entity_bomb(bad, "xl/styles.xml"))
    assert handled.outcome == FileOutcome.REJECTED
    assert handled.seconds < QUICK and handled.peak_kb < MEMORY_LIMIT_KB
    # Refused for the DTD, or read and refused for the grade: never expanded.
    assert "DTD" in handled.receipt or "Q" in handled.receipt, handled.receipt


# --------------------------------------------------------------------------- macros, encryption

MACRO = "innehåller makron"


@pytest.mark.parametrize("suffix", ["xlsm", "xlsx"])
def test_workbook_with_a_vba_project_refused(inbound: Inbound, suffix: str) -> None:
    data = hostile.with_macros(inbound.carrier)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("xl/vbaProject.bin").startswith(b"\xd0\xcf\x11\xe0")
    _refused(inbound.send(f"makro.{suffix}", data), MACRO)


def test_vba_project_under_another_part_name_refused(inbound: Inbound) -> None:
    data = hostile.with_macros(inbound.carrier, part="xl/makro1.bin")
    _refused(inbound.send("makro-annat-namn.xlsm", data), MACRO)


def test_password_protected_workbook_refused(inbound: Inbound) -> None:
    data = hostile.encrypted_workbook()
    _refused(inbound.send("lösenord.xlsx", data), "lösenordsskyddad")


def test_workbook_encrypted_by_msoffcrypto_refused(inbound: Inbound) -> None:
    """A real issued workbook, really encrypted with msoffcrypto-tool (a test dependency)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    source = io.BytesIO(inbound.carrier)
    out = io.BytesIO()
    OOXMLFile(source).encrypt("hemligt", out)
    _refused(inbound.send("krypterad.xlsx", out.getvalue()), "lösenordsskyddad")


# --------------------------------------------------------------------------- size


def test_million_rows_under_the_default_limit_refused_quickly(inbound: Inbound) -> None:
    data = hostile.with_rows(inbound.carrier, 1_000_000)
    assert len(data) < 50 * 1024 * 1024
    handled = inbound.send("miljon-rader.xlsx", data)
    _refused(handled, "för stor uppackad", "högst 120 MB")


def test_row_limit_is_configurable(workspace: Path) -> None:
    set_section(
        workspace,
        "inbox",
        {"stable_seconds": 0.1, "scan_interval": 1.0, "max_file_mb": 1, "max_rows": 20},
    )
    app = App.open(workspace, actor="testadmin", admin=True)
    try:
        seed(app, students=3)
        issued = workbook.issue(app, new_exam_list(app)).path.read_bytes()
        (app.settings.inbox / "rader.xlsx").write_bytes(hostile.with_rows(issued, 40))
        (app.settings.inbox / "stor.xlsx").write_bytes(os.urandom(1024 * 1024 + 1))
        results = {r.original_name: r for r in Inbox(app).process_once()}
        assert [p.slug for p in results["rader.xlsx"].problems] == ["too-many-rows"]
        assert [p.slug for p in results["stor.xlsx"].problems] == ["file-too-large"]
        receipt = (results["rader.xlsx"].receipt or Path()).read_text("utf-8")
        assert "högst 20" in receipt
    finally:
        app.close()


@pytest.mark.slow
def test_a_far_away_cell_does_not_kill_the_daemon(own_daemon: Inbound) -> None:
    parts = hostile.members_of(own_daemon.carrier)
    sheet = parts["xl/worksheets/sheet1.xml"]
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"</sheetData>", far + b"</sheetData>")
    data = hostile.rezip(parts)
    assert len(data) < 10_000
    handled = own_daemon.send("långt-bort.xlsx", data, timeout=30)
    _refused(handled)
    assert re.search(r"läsaren avbröts|rader|kolumn", handled.receipt), handled.receipt


@pytest.mark.slow
def test_repeated_cells_in_an_ods_are_refused_in_bounded_memory(own_daemon: Inbound) -> None:
    source = (DATA / "t33_saved_by_libreoffice.ods").read_bytes()
    parts = hostile.members_of(source)
    content = parts["content.xml"].decode("utf-8")
    bomb = (
        '<table:table-row table:number-rows-repeated="100000"><table:table-cell '
        'table:number-columns-repeated="100" office:value-type="string"><text:p>x</text:p>'
        "</table:table-cell></table:table-row>"
    )
    at = content.index('<table:table-row table:style-name="ro1" table:number-rows-repeated=')
    parts["content.xml"] = (content[:at] + bomb + content[at:]).encode("utf-8")
    data = hostile.rezip(parts)
    assert len(data) < 50_000
    handled = own_daemon.send("upprepad.ods", data, timeout=60)
    _refused(handled)
    assert re.search(r"läsaren avbröts|för många rader", handled.receipt), handled.receipt


# --------------------------------------------------------------------------- not spreadsheets


def test_random_bytes_named_xlsx_refused(inbound: Inbound) -> None:
    data = os.urandom(5000)
    _refused(inbound.send("slump.xlsx", data), "inte ett kalkylark")


def test_empty_file_refused(inbound: Inbound) -> None:
    handled = inbound.send("tom.xlsx", b"")
    _refused(handled, "Filen är tom")
    assert handled.kept.stat().st_size == 0


def test_truncated_workbook_refused(inbound: Inbound) -> None:
    _refused(inbound.send("avhuggen.xlsx", inbound.carrier[:3000]), "inte ett kalkylark")


# --------------------------------------------------------------------------- races on the file


def test_file_still_written_after_it_looked_stable_is_answered_and_kept(inbound: Inbound) -> None:
    """A writer that pauses longer than the stability delay: the daemon takes what is there
    (and says it cannot read it); what the writer adds afterwards lands in the kept original,
    which is never lost. Dropping the finished file again works."""
    target = inbound.inbox / "långsam.xlsx"
    data = inbound.filled({inbound.pnrs[1]: {"grade": "4", "grade_date": GRADE_DATE}})
    started = time.monotonic()
    with target.open("wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        handled = inbound.await_("långsam.xlsx", started)
        fh.write(data[len(data) // 2 :])
    _refused(handled, "inte ett kalkylark")
    assert handled.kept.read_bytes() == data
    again = inbound.send("långsam igen.xlsx", data)
    assert again.outcome == FileOutcome.ACCEPTED, again.receipt


def test_file_deleted_before_it_is_taken_leaves_nothing_behind(app: App) -> None:
    path = app.settings.inbox / "borta.xlsx"
    path.write_bytes(b"x")
    path.unlink()
    assert Inbox(app).take([path]) == []
    assert list((app.settings.inbox / PROCESSING).iterdir()) == []


def test_same_name_dropped_again_while_the_first_is_processed(inbound: Inbound) -> None:
    """A name is not an identity: the file that replaced the first under the same name is a
    file of its own, with its own receipt; both originals are kept."""
    first = os.urandom(3000)
    drop(inbound.inbox, "samma.xlsx", first)
    wait_until(lambda: not (inbound.inbox / "samma.xlsx").exists(), timeout=30)
    second = inbound.carrier
    drop(inbound.inbox, "samma.xlsx", second)
    wait_until(lambda: not waiting_in_inbox(inbound.inbox), timeout=30)
    wait_until(lambda: not in_processing(inbound.inbox), timeout=30)
    with inbound.app.db.session() as session:
        records = list(
            session.execute(
                select(InboxFile)
                .where(InboxFile.original_name == "samma.xlsx")
                .order_by(InboxFile.id)
            ).scalars()
        )
    assert [r.outcome for r in records] == [FileOutcome.REJECTED, FileOutcome.ACCEPTED]
    assert [(inbound.root / str(r.stored_path)).read_bytes() for r in records] == [first, second]
    assert len({r.receipt_path for r in records}) == 2


# --------------------------------------------------------------------------- names


NAMES = {
    "backslashes": "betyg ..\\..\\..\\etc\\passwd.xlsx",
    "dash": "-rf --no-preserve-root.xlsx",
    "spaces": "   betyg   .xlsx",
    "nfd": "A\u030angstro\u0308m.xlsx",
    "rtl-override": "betyg\u202excod.xlsx",
    "emoji": "📊 betyg 🎓.xlsx",
    "escape-sequence": "\x1b[2J\x1b[31mröd.xlsx",
    "tab-and-bell": "a\tb\x07.xlsx",
    "percent-and-braces": "%s %d {listnr} $(id).xlsx",
}


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_odd_file_names_get_a_receipt_and_are_kept(inbound: Inbound, name: str) -> None:
    data = os.urandom(1000) + name.encode("utf-8", "surrogateescape")
    handled = inbound.send(name, data)
    # Shown escaped in the receipt (control and bidi characters as <U+XXXX>), kept as named.
    _refused(handled, f"Fil: {shown(name)}\n")
    assert handled.kept.read_bytes() == data
    assert handled.kept.parent == inbound.inbox / ".rejected"
    assert handled.kept.name.endswith("__" + name)


def test_hidden_names_are_answered_and_set_aside(inbound: Inbound) -> None:
    """Names starting with a dot (``../x`` cannot be a name; ``..x`` can) are hidden files:
    never taken, but answered (a receipt) and set aside, kept (issue 16)."""
    data = {name: os.urandom(200) for name in ("..\\..\\x.xlsx", ".betyg.xlsx")}
    for name, raw in data.items():
        drop(inbound.inbox, name, raw)
    marker = inbound.send("efter-dolda.xlsx", os.urandom(200))
    assert marker.outcome == FileOutcome.REJECTED
    for name, raw in data.items():
        record = wait_until(partial(inbound.record, name), timeout=10, what=name)
        assert not (inbound.inbox / name).exists()
        assert (record.kind, record.outcome) == ("set-aside", FileOutcome.REJECTED)
        kept = inbound.root / str(record.stored_path)
        assert kept.parent.name == ".set-aside" and kept.read_bytes() == raw
        assert "dold" in (inbound.root / str(record.receipt_path)).read_text("utf-8")


FORGED = "2026-01-01 00:00:00,000 INFO resultat.inbox: forged entry"


def test_newline_in_a_file_name_cannot_forge_a_log_line(inbound: Inbound) -> None:
    name = f"betyg\n{FORGED}.xlsx"
    handled = inbound.send(name, os.urandom(500))
    _refused(handled)
    log = (inbound.root / "var" / "log" / "resultat.log").read_text("utf-8")
    assert not any(line.startswith(FORGED) for line in log.splitlines())


def test_name_that_is_not_utf8_gets_a_receipt(own_daemon: Inbound) -> None:
    name = os.fsdecode(b"betyg-\xff\xfe.xlsx")
    drop(own_daemon.inbox, name, os.urandom(700))

    def answered() -> bool:
        assert own_daemon.daemon.alive()
        if [n for n in waiting_in_inbox(own_daemon.inbox) + in_processing(own_daemon.inbox)
                if "betyg-" in n]:  # fmt: skip
            return False
        with own_daemon.app.db.session() as session:
            records = [
                r
                for r in session.execute(select(InboxFile)).scalars()
                if r.original_name.startswith("betyg-")
            ]
        return bool(records) and (own_daemon.root / str(records[0].receipt_path)).is_file()

    wait_until(answered, timeout=10, what="a receipt for a non-UTF-8 name")


@pytest.mark.slow
def test_very_long_name_does_not_stop_the_daemon(own_daemon: Inbound) -> None:
    name = "b" * 245 + ".xlsx"
    handled = own_daemon.send(name, os.urandom(800), timeout=30)
    _refused(handled)
    assert own_daemon.daemon.alive()


# --------------------------------------------------------------------------- links


def test_symlinks_in_the_inbox_are_never_followed_but_set_aside(
    inbound: Inbound, tmp_path: Path
) -> None:
    outside = tmp_path / "utanför"
    outside.mkdir()
    secret = outside / "annans.xlsx"
    secret.write_bytes(inbound.filled({inbound.pnrs[2]: {"grade": "5", "grade_date": GRADE_DATE}}))
    before = secret.stat()
    links = {
        "länk.xlsx": secret,
        "länk-mapp.xlsx": outside,
        "länk-död.xlsx": outside / "finns-inte.xlsx",
        "länk-hemlig.xlsx": inbound.root / "var" / "secret.key",
    }
    for name, target in links.items():
        (inbound.inbox / name).symlink_to(target)
    # A good file dropped after the links: once it is answered the links have been seen.
    marker = inbound.send("efter-länkarna.xlsx", os.urandom(100))
    assert marker.outcome == FileOutcome.REJECTED
    for name, target in links.items():
        record = wait_until(partial(inbound.record, name), timeout=10, what=name)
        assert not os.path.lexists(inbound.inbox / name), name
        # The link itself was moved aside, still pointing where it pointed: never followed.
        link = inbound.root / str(record.stored_path)
        assert link.parent.name == ".set-aside" and link.is_symlink(), name
        assert os.readlink(link) == str(target), name
        assert record.kind == "set-aside", name
    after = secret.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert list(outside.iterdir()) == [secret]


def test_symlink_planted_in_the_processing_area_is_not_followed(app: App, tmp_path: Path) -> None:
    secret = tmp_path / "hemlig.xlsx"
    secret.write_bytes(b"not for the inbox")
    planted = app.settings.inbox / PROCESSING
    planted.mkdir(parents=True, exist_ok=True)
    (planted / "20260101T000000-abcdef__hemlig.xlsx").symlink_to(secret)
    assert Inbox(app).process_once() == []
    assert secret.read_bytes() == b"not for the inbox"
    assert not list(app.settings.receipts_dir.glob("*.txt"))
    with app.db.session() as session:
        assert session.execute(select(InboxFile)).first() is None


def test_hard_link_is_taken_as_a_dropped_file_and_the_other_name_stays(
    inbound: Inbound, tmp_path: Path
) -> None:
    """A hard link is a file: its bytes are a drop like any other and its name moves to the
    processed area. The other name of the same file (outside the inbox) stays where it is,
    unchanged: nothing is ever written to a dropped file."""
    outside = tmp_path / "original.xlsx"
    data = inbound.filled({inbound.pnrs[3]: {"grade": "3", "grade_date": GRADE_DATE}})
    outside.write_bytes(data)
    outside.chmod(0o644)
    inode = outside.stat().st_ino
    started = time.monotonic()
    os.link(outside, inbound.inbox / "hårdlänk.xlsx")
    handled = inbound.await_("hårdlänk.xlsx", started)
    assert handled.outcome == FileOutcome.ACCEPTED, handled.receipt
    assert handled.kept.stat().st_ino == inode == outside.stat().st_ino
    assert outside.read_bytes() == data and outside.stat().st_nlink == 2
    # Not even its mode: the processing areas are what keeps kept originals private.
    assert outside.stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------- the end


def test_daemon_survived_everything_and_still_accepts_a_good_file(inbound: Inbound) -> None:
    data = inbound.filled({inbound.pnrs[4]: {"grade": "5", "grade_date": GRADE_DATE}})
    handled = inbound.send("till-sist.xlsx", data)
    assert handled.outcome == FileOutcome.ACCEPTED, handled.receipt
    assert "GODTAGEN" in handled.receipt
    assert inbound.daemon.alive() and inbound.daemon.starts == 1
    assert handled.peak_kb < MEMORY_LIMIT_KB
    errors = inbound.daemon.errors()
    assert "Traceback" not in errors, errors[-3000:]


# --------------------------------------------------------------------------- formula cells

FORMULAS = {
    "first_name": '=HYPERLINK("http://example.se/x","Klicka")',
    "last_name": "+46 70 123",
    "comment": "-",
    "other": "@SUMMA(A1:A9)",
}


def _cells(path: Path) -> list[tuple[str, str, object, str]]:
    """Every cell of every sheet: (sheet, coordinate, value, data type)."""
    wb = load_workbook(path)
    return [
        (ws.title, c.coordinate, c.value, c.data_type)
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if c.value is not None
    ]


def _starts_formula(value: object) -> bool:
    return isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def formula_registry(app: App, tmp_path: Path) -> tuple[App, int, list[str]]:
    """A registry imported from CSV whose names start with = + - @ (kept as data)."""
    from pipeline.registry import importer as registry

    s = seed(app, students=4)
    rows = [
        (s.pnrs[0], FORMULAS["first_name"], "Ek"),
        (s.pnrs[1], "Ada", FORMULAS["last_name"]),
        (s.pnrs[2], FORMULAS["other"], "-Lind"),
    ]
    csv = tmp_path / "studenter.csv"
    lines = ["personnummer;first_name;last_name;email"]
    for i, (pnr, first, last) in enumerate(rows):
        quoted = ['"' + v.replace('"', '""') + '"' for v in (first, last)]
        lines.append(f"{pnr};{quoted[0]};{quoted[1]};student{i}@example.se")
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [result] = registry.import_files(app, [csv], admin=True)
    assert not result.problems, result.problems
    from pipeline.models import Student

    with app.db.session() as session:
        stored = {st.pnr: (st.first_name, st.last_name) for st in session.scalars(select(Student))}
    assert stored[s.pnrs[0]] == (FORMULAS["first_name"], "Ek")  # kept as data, unescaped
    assert stored[s.pnrs[1]] == ("Ada", FORMULAS["last_name"])
    return app, new_exam_list(app), s.pnrs


def test_formula_like_names_and_comments_are_plain_text_in_every_file_we_write(
    formula_registry: tuple[App, int, list[str]],
) -> None:
    from pipeline.lifecycle import approval
    from pipeline.messages import outbox, overview
    from tests.factories import sent_code

    app, listnr, pnrs = formula_registry
    issued = workbook.issue(app, listnr).path
    rows = {
        pnrs[0]: {"grade": "4", "grade_date": GRADE_DATE, "comment": "=1+1"},
        pnrs[1]: {"grade": "3", "grade_date": GRADE_DATE, "comment": "@dator"},
        pnrs[2]: {"grade": "5", "grade_date": GRADE_DATE, "comment": "-"},
    }
    target = fill(issued, rows, action="Skicka till examinator", target=app.settings.var / "f.xlsx")
    _as_text_cells(target, {"=1+1", "@dator", "-"})
    shutil.copy(target, app.settings.inbox / "formler.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    outbox.drain(app)
    overview.write_overview(app)
    written = [
        app.settings.lists_dir / f"{listnr}.xlsx",
        *sorted((app.settings.review_dir).glob(f"{listnr}_v*_granskning.xlsx")),
        app.settings.office_outbox / "ladok" / f"{listnr}_manuell.xlsx",
        app.settings.office_outbox / "status.xlsx",
    ]
    for path in written:
        for sheet, ref, value, kind in _cells(path):
            assert kind != "f", (path.name, sheet, ref, value)
    tsv = (app.settings.office_outbox / "ladok" / f"{listnr}.tsv").read_text("utf-8")
    for line in tsv.splitlines():
        assert not any(_starts_formula(f) for f in line.split("\t")), line
    with app.db.session() as session:
        from pipeline.lists import content
        from pipeline.models import ResultList

        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        csv_bytes, _ = content.approved_data(rl, rl.content_hash or "")
        comments = {e.student.pnr: e.comment for e in rl.entries}
    assert comments[pnrs[0]] == "=1+1" and comments[pnrs[2]] == "-"  # kept as data
    for record in csv.reader(io.StringIO(csv_bytes.decode("utf-8"))):
        assert not any(_starts_formula(f) for f in record), record


def _as_text_cells(path: Path, values: set[str]) -> None:
    """Make cells holding ``values`` text cells, as Excel stores what a user typed as text
    (openpyxl would otherwise store '=1+1' as a formula)."""
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value in values:
                    cell.data_type = "s"
    wb.save(path)


def test_formula_like_comment_survives_a_round_trip_through_the_fresh_workbook(
    formula_registry: tuple[App, int, list[str]],
) -> None:
    from pipeline.models import AuditEvent, ResultList

    app, listnr, pnrs = formula_registry
    issued = workbook.issue(app, listnr).path
    first = fill(
        issued,
        {pnrs[0]: {"grade": "4", "grade_date": GRADE_DATE, "comment": "-"}},
        target=app.settings.var / "1.xlsx",
    )
    shutil.copy(first, app.settings.inbox / "1.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    # Continue in the fresh workbook: only another student's grade is added.
    fresh = app.settings.lists_dir / f"{listnr}.xlsx"
    second = fill(
        fresh,
        {pnrs[1]: {"grade": "5", "grade_date": GRADE_DATE}},
        target=app.settings.var / "2.xlsx",
    )
    shutil.copy(second, app.settings.inbox / "2.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        comment = next(e.comment for e in rl.entries if e.student.pnr == pnrs[0])
        last = session.execute(
            select(AuditEvent)
            .where(AuditEvent.action == "list.results", AuditEvent.listnr == listnr)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).scalar_one()
    assert last.details["columns"] == ["student_id", "field", "old", "new"]
    changes: list[list[Any]] = last.details["changes"]  # type: ignore[assignment]
    changed = {(student_id, field) for student_id, field, _old, _new in changes}
    assert comment == "-"
    assert all(field != "comment" for _, field in changed), last.details["changes"]


def test_marked_copy_keeps_a_teachers_text_cells_as_text(inbound: Inbound) -> None:
    """The marked copy of a teacher's workbook keeps their text cells as text."""
    bad = inbound.filled(
        {inbound.pnrs[5]: {"grade": "Q", "grade_date": GRADE_DATE, "comment": "=2+2"}}
    )
    path = inbound.root / "var" / "marked-source.xlsx"
    path.write_bytes(bad)
    _as_text_cells(path, {"=2+2"})
    handled = inbound.send("formel-fel.xlsx", path.read_bytes())
    assert handled.outcome == FileOutcome.REJECTED
    marked = re.search(r"(outbox/[^/\s]+/\S+_fel\.xlsx)", handled.receipt)
    assert marked, handled.receipt
    cells = _cells(inbound.root / marked.group(1))
    assert not [c for c in cells if c[3] == "f"], cells


# --------------------------------------------------------------------------- hostile people
# Approval codes: what tests/test_approval.py and tests/test_sms_webhook.py do not cover yet.


def _awaiting(app: App, pnrs: list[str], *, name: str) -> tuple[int, str]:
    from tests.factories import sent_code

    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr).path
    rows = {p: {"grade": "4", "grade_date": GRADE_DATE} for p in pnrs[:2]}
    fill(issued, rows, action="Skicka till examinator", target=app.settings.inbox / name)
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    return listnr, sent_code(app, listnr)


def _review_with(app: App, listnr: int, code: str, name: str, version: int | None = None) -> Path:
    pattern = f"{listnr}_v{version or '*'}_granskning.xlsx"
    review = max((app.settings.review_dir).glob(pattern), key=lambda p: p.stat().st_mtime)
    wb = load_workbook(review)
    wb.worksheets[0]["B13"] = code
    target = app.settings.inbox / name
    wb.save(target)
    return target


def test_wrong_codes_from_every_channel_count_towards_one_lock(app: App) -> None:
    from pipeline.lifecycle import approval

    s = seed(app, students=3)
    listnr, code = _awaiting(app, s.pnrs, name="betyg.xlsx")
    wrong = [f"{(int(code) + k) % 10**6:06d}" for k in range(1, 6)]
    answers = [
        by_sms.reply(app, "+46701740605", f"{listnr} {wrong[0]}"),
        by_sms.reply(app, "0701740605", f"{listnr} {wrong[1]}"),
    ]
    assert all("Fel kod" in a for a in answers), answers
    for k in (2, 3):
        _review_with(app, listnr, wrong[k], f"fel-{k}.xlsx")
        [result] = Inbox(app).process_once()
        assert result.outcome == FileOutcome.REJECTED
    assert approval.approve(app, listnr, wrong[4]).slug == "approval-locked"
    # Locked for every channel, the right code included.
    assert "spärrad" in by_sms.reply(app, "+46701740605", f"{listnr} {code}")
    assert approval.approve(app, listnr, code).slug == "approval-locked"
    _review_with(app, listnr, code, "rätt.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED


def test_code_works_only_for_its_own_list_and_version(app: App) -> None:
    from pipeline.lifecycle import approval

    s = seed(app, students=4)
    first, first_code = _awaiting(app, s.pnrs, name="ett.xlsx")
    second, second_code = _awaiting(app, s.pnrs[2:], name="två.xlsx")
    if first_code != second_code:
        assert approval.approve(app, second, first_code).slug == "approval-wrong-code"
    # Sent back and sent again unchanged: a new version, a new code; the old one is void.
    assert approval.reject(app, first, "Kontrollera datumen").ok
    fresh = app.settings.lists_dir / f"{first}.xlsx"
    fill(fresh, {}, action="Skicka till examinator", target=app.settings.inbox / "igen.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    from tests.factories import sent_code

    new_code = sent_code(app, first)
    if new_code != first_code:
        assert approval.approve(app, first, first_code).slug == "approval-wrong-code"
    # The review workbook of the earlier version carries that version: even the valid code
    # typed into it is refused, since the examiner did not see these rows.
    with app.db.session() as session:
        from pipeline.models import ResultList

        version = session.execute(
            select(ResultList.version).where(ResultList.listnr == first)
        ).scalar_one()
    _review_with(app, first, new_code, "gammal-granskning.xlsx", version=version - 1)
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED
    assert "ändrats" in (result.receipt or Path()).read_text("utf-8")
    assert approval.approve(app, first, new_code).ok


def test_sms_from_another_registered_staff_number_is_refused(app: App) -> None:
    from pipeline.models import AuditEvent, ListState, ResultList, Staff

    s = seed(app, students=3)
    listnr, code = _awaiting(app, s.pnrs, name="betyg.xlsx")
    # The reporter has a registered mobile too: not the examiner of this list.
    with app.db.session() as session:
        teacher = session.execute(select(Staff).where(Staff.username == s.teacher)).scalar_one()
        assert teacher.mobile
        mobile = teacher.mobile
    assert "kan inte tas emot" in by_sms.reply(app, mobile, f"{listnr} {code}")
    with app.db.session() as session:
        state = session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one()
        refused = session.execute(
            select(AuditEvent).where(AuditEvent.action == "approval.refused-sender")
        ).scalar_one()
    assert state == ListState.AWAITING_APPROVAL
    assert mobile[-6:] not in str(refused.details)
    assert by_sms.reply(app, "+46701740605", f"{listnr} {code}").startswith("Lista")


def test_codes_are_never_stored_or_logged_in_clear(tmp_path: Path) -> None:
    """The whole flow through the CLI with debug logging: no code in any table, in the log or
    in what the commands print. Only the SMS itself (the phone: var/sms/) holds it."""
    from sqlalchemy import MetaData

    from tests.loopback_proc import all_text_columns, run_cli

    root = tmp_path / "ws"
    ws = _inbound(root)
    try:
        app = ws.app
        fill(
            workbook.issue(app, ws.carrier_list).path,
            {p: {"grade": "5", "grade_date": GRADE_DATE} for p in ws.pnrs[:3]},
            action="Skicka till examinator",
            target=app.settings.inbox / "betyg.xlsx",
        )
        outputs = [run_cli(root, ws.env, "-v", "process"), run_cli(root, ws.env, "-v", "dispatch")]
        ws.env["LOGNAME"] = "exam1"  # the examiner runs approve and resend-code as themselves
        first = _code_from_sink(root, ws.carrier_list)
        wrong = f"{(int(first) + 1) % 10**6:06d}"
        outputs.append(run_cli(root, ws.env, "-v", "approve", str(ws.carrier_list), wrong))
        outputs.append(run_cli(root, ws.env, "-v", "resend-code", str(ws.carrier_list)))
        outputs.append(run_cli(root, ws.env, "-v", "dispatch"))
        second = _code_from_sink(root, ws.carrier_list)
        assert second != first
        outputs.append(run_cli(root, ws.env, "-v", "approve", str(ws.carrier_list), second))
        outputs.append(run_cli(root, ws.env, "-v", "dispatch"))
        assert [o.returncode for o in outputs] == [0, 0, 1, 0, 0, 0, 0], outputs
        metadata = MetaData()
        metadata.reflect(app.db.engine)
        with app.db.engine.connect() as connection:
            dump = "\n".join(
                all_text_columns(connection.execute(table.select()))
                for table in metadata.sorted_tables
            )
        assert "approval_challenges" in metadata.tables and len(dump) > 10_000
        log = (root / "var" / "log" / "resultat.log").read_text("utf-8")
        printed = "".join(o.stdout + o.stderr for o in outputs)
        receipts = "".join(p.read_text("utf-8") for p in app.settings.receipts_dir.glob("*.txt"))
        for code in (first, second):
            for where, text in (("database", dump), ("log", log), ("output", printed),
                                ("receipts", receipts)):  # fmt: skip
                assert not re.search(rf"(?<!\d){code}(?!\d)", text), (code, where)
    finally:
        ws.close()


def _code_from_sink(root: Path, listnr: int) -> str:
    import json

    for path in sorted((root / "var" / "sms").glob("*.json"), key=lambda p: -int(p.stem)):
        body = json.loads(path.read_text("utf-8"))["body"]
        found = re.search(rf'"{listnr} (\d{{6}})"', body)
        if found:
            return found.group(1)
    raise AssertionError("no code in var/sms")


# --------------------------------------------------------------------------- the demo's traces


@dataclass
class DemoRun:
    root: Path
    output: str
    pnrs: set[str]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``resultat -v demo`` as a separate process (debug logging, the usual umask 022)."""
    import subprocess

    from tests.loopback_proc import resultat_command

    root = tmp_path_factory.mktemp("demo") / "ws"
    env = environment(f"sqlite:///{root / 'var' / 'resultat.db'}")
    proc = subprocess.run(
        [*resultat_command(), "-v", "--workspace", str(root), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pnrs: set[str] = set()
    for path in (root / "var" / "demo" / "registry").iterdir():
        if path.suffix == ".xlsx":
            cells = [str(c[2]) for c in _cells(path)]
            text = "\n".join(cells)
        else:
            text = path.read_text("utf-8-sig")
        pnrs |= {"".join(m) for m in re.findall(r"(?<!\d)(\d{8})-?(\d{4})(?!\d)", text)}
    assert len(pnrs) >= 250
    return DemoRun(root, proc.stdout + proc.stderr, pnrs)


def test_personnummer_masked_in_every_log_line_of_a_demo(demo_run: DemoRun) -> None:
    log = (demo_run.root / "var" / "log" / "resultat.log").read_text("utf-8")
    assert log.count("\n") > 50
    # Every number written in any accepted form (12 or 10 digits, with or without - or +).
    written = re.compile(r"(?<!\d)(\d{2})?(\d{6})[-+ ]?(\d{4})(?!\d)")
    short = {p[2:] for p in demo_run.pnrs}
    for where, text in (("var/log/resultat.log", log), ("stdout and stderr", demo_run.output)):
        leaked = sorted(
            m.group(0)
            for m in written.finditer(text)
            if (m.group(1) or "") + m.group(2) + m.group(3) in demo_run.pnrs
            or m.group(2) + m.group(3) in short
        )
        assert leaked == [], (where, leaked[:5])


def _modes(root: Path, *folders: str) -> dict[str, int]:
    found = {}
    for folder in folders:
        base = root / folder
        for path in [base, *base.rglob("*")]:
            found[path.relative_to(root).as_posix()] = path.stat().st_mode & 0o777
    return found


def test_outputs_and_archive_packages_are_not_readable_by_others(demo_run: DemoRun) -> None:
    modes = _modes(demo_run.root, "outbox", "archive", "var/mail", "var/sms")
    files = {p: m for p, m in modes.items() if (demo_run.root / p).is_file()}
    assert any(p.startswith("outbox/utbildningsstod/ladok/") for p in files)
    assert any(p.startswith("outbox/utbildningsstod/print/") for p in files)
    assert any(p.startswith("archive/") and p.endswith(".tsv") for p in files)
    assert {p: oct(m) for p, m in files.items() if m & 0o007} == {}
    packages = {p: m for p, m in modes.items() if re.match(r"archive/\d{4}/\d+", p)}
    assert packages and {p: oct(m) for p, m in packages.items() if m & 0o007} == {}
    assert {p: oct(m) for p, m in modes.items() if m & 0o002} == {}  # nothing world-writable


def test_database_and_log_are_not_readable_by_others(demo_run: DemoRun) -> None:
    modes = _modes(demo_run.root, "var/resultat.db", "var/log/resultat.log")
    assert {p: oct(m) for p, m in modes.items() if m & 0o007} == {}


def test_kept_originals_are_not_readable_by_others(demo_run: DemoRun) -> None:
    modes = _modes(demo_run.root, "inbox/.processed", "inbox/.rejected")
    kept = [p for p in modes if "/" in p.split("inbox/", 1)[1]]
    assert kept
    readable = {
        p: oct(m)
        for p, m in modes.items()
        if m & 0o004 and (p in kept) and modes[p.rsplit("/", 1)[0]] & 0o001
    }
    assert readable == {}
