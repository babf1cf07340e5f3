"""Archive packages: BagIt layout, modes, verification against tampering on disk and in the
audit log, append-only refusal, and no temporary folder left behind."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import bagit
import pytest
from sqlalchemy import delete, select, update

from pipeline import audit
from pipeline.app import App
from pipeline.errors import InvalidRequest
from pipeline.lifecycle import archive
from pipeline.lifecycle import verify as archive_check
from pipeline.lifecycle.archive import PackageFile
from pipeline.models import AuditEvent, Course, ListKind, ListState, ResultList

LISTNR = 1001
YEAR = 2026
LADOK_TSV = "DV1599\t2010\t199001012380\t4\t2026-10-30\tÅsa Öberg <asa.oberg@example.se>\n"
RECEIVED = "received/20261128T1200-ab12cd__betyg.xlsx"
RECEIVED_BYTES = b"PK\x03\x04 fake workbook bytes \x00\xff"
NOTE = "kommentarer/examinator-åäö.txt"
NOTE_TEXT = "Granskad och signerad av examinator Märta Ängström; inga ändringar. ÅÄÖ åäö\n"
BAG_INFO = {
    "Source-Organization": "Blekinge Tekniska Högskola",
    "Contact-Name": "Märta Ängström",
    "Resultat-Listnr": str(LISTNR),
}


def record_events(app: App) -> list[int]:
    """A few events of list 1001, with one of another list in between; the ids of 1001's."""
    events: list[tuple[str, int, dict[str, Any]]] = [
        ("list.create", LISTNR, {"kind": "t33", "course": "DV1599"}),
        ("list.create", 2002, {"kind": "t33"}),
        ("list.approve", LISTNR, {"by": "exam1", "note": "Godkänd, åäö"}),
        ("list.registered", LISTNR, {"version": 3}),
        ("list.signed", LISTNR, {"signed_by": "Märta Ängström"}),
    ]
    with app.db.session() as session:
        recorded = [
            audit.record(session, actor="testadmin", action=action, listnr=listnr, details=details)
            for action, listnr, details in events
        ]
    # An event joins the chain, and gets its id, when its transaction commits.
    ids = [event.id for event in recorded if event.listnr == LISTNR]
    return ids


def make_files(tmp_path: Path) -> list[PackageFile]:
    source = tmp_path / "1001.tsv"
    source.write_text(LADOK_TSV, encoding="utf-8")
    return [
        PackageFile("ladok/1001.tsv", source=source),
        PackageFile(RECEIVED, content=RECEIVED_BYTES),
        PackageFile(NOTE, content=NOTE_TEXT.encode("utf-8")),
    ]


@pytest.fixture
def package(app: App, tmp_path: Path) -> tuple[Path, list[int]]:
    ids = record_events(app)
    path = archive.create_package(
        app, LISTNR, make_files(tmp_path), year=YEAR, bag_info=dict(BAG_INFO)
    )
    return path, ids


def manifest(path: Path, algorithm: str) -> dict[str, str]:
    lines = (path / f"manifest-{algorithm}.txt").read_text(encoding="utf-8").splitlines()
    return {name: digest for digest, name in (line.split(None, 1) for line in lines)}


def events_in(path: Path) -> list[dict[str, Any]]:
    document = json.loads((path / "data/audit/events.json").read_text(encoding="utf-8"))
    assert document["listnr"] == LISTNR
    events: list[dict[str, Any]] = document["events"]
    return events


def leftovers(app: App) -> list[str]:
    year_dir = app.settings.archive / str(YEAR)
    return (
        sorted(p.name for p in year_dir.iterdir() if p.name.startswith("."))
        if year_dir.exists()
        else []
    )


def test_package_layout_manifests_events_and_modes(
    app: App, package: tuple[Path, list[int]]
) -> None:
    path, ids = package
    assert path == app.settings.archive / "2026" / "1001"
    assert sorted(p.name for p in path.iterdir()) == [
        "bag-info.txt",
        "bagit.txt",
        "data",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha256.txt.sig",
        "tagmanifest-sha512.txt",
    ]
    assert "BagIt-Version: " in (path / "bagit.txt").read_text(encoding="utf-8")
    info = bagit.Bag(str(path)).info
    for key, value in BAG_INFO.items():
        assert info[key] == value
    assert info["External-Identifier"] == "resultat/2026/1001"
    assert info["Payload-Oxum"].endswith(".4")

    payload = {
        p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()
    }
    data_files = {name for name in payload if name.startswith("data/")}
    assert data_files == {
        "data/ladok/1001.tsv",
        f"data/{RECEIVED}",
        f"data/{NOTE}",
        "data/audit/events.json",
    }
    assert payload["data/ladok/1001.tsv"].decode("utf-8") == LADOK_TSV
    assert payload[f"data/{RECEIVED}"] == RECEIVED_BYTES
    assert payload[f"data/{NOTE}"].decode("utf-8") == NOTE_TEXT
    for algorithm in ("sha256", "sha512"):
        listed = manifest(path, algorithm)
        assert set(listed) == data_files
        for name in data_files:
            assert listed[name] == hashlib.new(algorithm, payload[name]).hexdigest()

    events = events_in(path)
    assert [e["id"] for e in events] == ids
    assert [e["action"] for e in events] == [
        "list.create",
        "list.approve",
        "list.registered",
        "list.signed",
    ]
    assert events[1]["details"] == {"by": "exam1", "note": "Godkänd, åäö"}
    with app.db.session() as session:
        rows = session.execute(select(AuditEvent).where(AuditEvent.id.in_(ids))).scalars()
        stored = {row.id: (row.prev_hash, row.hash) for row in rows}
    assert {e["id"]: (e["prev_hash"], e["hash"]) for e in events} == stored

    for item in [path, *path.rglob("*")]:
        mode = stat.S_IMODE(item.stat().st_mode)
        assert mode == (0o750 if item.is_dir() else 0o640), item
    assert leftovers(app) == []


def test_fresh_package_verifies(app: App, package: tuple[Path, list[int]]) -> None:
    path, _ = package
    assert archive.find_packages(app) == [path]
    assert archive.find_packages(app, LISTNR) == [path]
    assert archive.find_packages(app, 9999) == []
    check = archive_check.verify_package(path)
    assert (check.listnr, check.ok, check.problems) == (LISTNR, True, [])
    report = archive_check.verify(app)
    assert report.ok
    assert report.audit_ok
    assert report.audit_events == 5
    assert report.audit_first_broken_id is None
    text = archive_check.format_report(report, root=app.root)
    assert re.search(r"^ +OK +1001 +archive/2026/1001$", text, re.M), text
    assert "Granskningsloggen: OK, 5 händelser" in text
    assert "FEL" not in text
    english = archive_check.format_report(report, "en")
    assert "Audit log: OK, 5 events" in english
    assert json.loads(json.dumps(report.as_dict())) == {
        "ok": True,
        "findings": [],
        "packages": [{"listnr": LISTNR, "path": str(path), "ok": True, "problems": []}],
        "audit": {"ok": True, "events": 5, "first_broken_id": None, "reason": ""},
    }


@pytest.mark.parametrize("how", ["flip", "append"])
def test_changed_byte_fails_naming_the_file(
    app: App, package: tuple[Path, list[int]], how: str
) -> None:
    path, _ = package
    target = path / "data/ladok/1001.tsv"
    content = bytearray(target.read_bytes())
    if how == "flip":
        content[0] ^= 0x01  # same size: only the checksums can tell
    else:
        content += b"x"  # bagit stops at Payload-Oxum; the report must still name the file
    target.write_bytes(bytes(content))

    check = archive_check.verify_package(path)
    assert not check.ok
    named = [p for p in check.problems if p.startswith("data/ladok/1001.tsv:")]
    assert any("sha256-kontrollsumman stämmer inte" in p for p in named), check.problems
    assert any("sha512-kontrollsumman stämmer inte" in p for p in named), check.problems
    assert not any("events.json" in p or RECEIVED in p for p in check.problems)

    report = archive_check.verify(app, LISTNR)
    assert not report.ok
    assert report.audit_ok
    text = archive_check.format_report(report, root=app.root)
    assert re.search(r"^ +FEL +1001 +archive/2026/1001$", text, re.M), text
    assert "data/ladok/1001.tsv: sha256" in text
    assert "Resultat: fel hittades" in text


def test_deleted_file_fails_naming_it(app: App, package: tuple[Path, list[int]]) -> None:
    path, _ = package
    (path / "data" / NOTE).unlink()
    check = archive_check.verify_package(path, language="en")
    assert not check.ok
    assert f"data/{NOTE}: listed in the manifest but missing from the package" in check.problems


def test_changed_audit_row_breaks_chain_and_package_match(
    app: App, package: tuple[Path, list[int]]
) -> None:
    path, ids = package
    changed = ids[1]
    with app.db.session() as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.id == changed).values(details={"by": "någon"})
        )
    report = archive_check.verify(app)
    assert not report.ok
    assert not report.audit_ok
    assert report.audit_first_broken_id == changed
    assert report.audit_reason == "content does not match its hash"
    [check] = report.packages
    assert check.problems == [
        f"Granskningshändelse {changed} har ändrats i databasen efter arkiveringen (details)"
    ]
    # The package itself is untouched: on its own it still validates.
    assert archive_check.verify_package(path).ok
    text = archive_check.format_report(report)
    assert f"kedjan bruten vid händelse {changed}" in text
    english = archive_check.format_report(archive_check.verify(app, language="en"), "en")
    assert f"chain broken at event {changed} (content does not match its hash)" in english
    assert f"Audit event {changed} was changed in the database after archiving" in english


def test_deleted_audit_row_breaks_chain_at_next_id(
    app: App, package: tuple[Path, list[int]]
) -> None:
    _, ids = package
    removed = ids[2]
    with app.db.session() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == removed))
    report = archive_check.verify(app, LISTNR)
    assert not report.audit_ok
    assert report.audit_first_broken_id == ids[3]
    assert report.audit_reason == "link to the previous event is broken"
    [check] = report.packages
    assert check.problems == [
        f"Granskningshändelse {removed} i paketet finns inte längre i databasen"
    ]


def test_deleting_the_last_audit_row_is_caught_by_the_package(
    app: App, package: tuple[Path, list[int]]
) -> None:
    # The chain alone cannot see its newest event vanish; the archived copy can.
    _, ids = package
    with app.db.session() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[-1]))
    report = archive_check.verify(app)
    assert report.audit_ok
    assert not report.ok
    assert report.packages[0].problems == [
        f"Granskningshändelse {ids[-1]} i paketet finns inte längre i databasen"
    ]


def test_later_events_of_the_list_are_fine(app: App, package: tuple[Path, list[int]]) -> None:
    with app.db.session() as session:
        audit.record(session, actor="testadmin", action="list.archived", listnr=LISTNR)
    assert archive_check.verify(app).ok


def test_rewritten_events_file_is_caught_even_with_fresh_manifests(
    app: App, package: tuple[Path, list[int]]
) -> None:
    path, ids = package
    file = path / "data/audit/events.json"
    document = json.loads(file.read_text(encoding="utf-8"))
    document["events"][0]["actor"] = "mallory"
    file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    check = archive_check.verify_package(path)
    assert f"data/audit/events.json: händelse {ids[0]} stämmer inte med sin kontrollsumma" in (
        check.problems
    )
    assert any(p.startswith("data/audit/events.json: sha256") for p in check.problems)


def test_same_package_twice_is_refused_and_untouched(
    app: App, package: tuple[Path, list[int]], tmp_path: Path
) -> None:
    path, _ = package
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    with pytest.raises(InvalidRequest, match="redan arkiverad"):
        archive.create_package(
            app, LISTNR, [PackageFile("x.txt", content=b"ny")], year=YEAR, bag_info={}
        )
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    assert leftovers(app) == []


BAD_NAMES = [
    "../escape.txt",
    "ladok/../../escape.txt",
    "/etc/passwd",
    "",
    "a//b",
    "./a",
    "a\\b",
    "audit/events.json",
]


def test_bad_names_are_refused(app: App) -> None:
    for name in BAD_NAMES:
        with pytest.raises(InvalidRequest, match=r"filnamn|events\.json"):
            archive.create_package(
                app, LISTNR, [PackageFile(name, content=b"x")], year=YEAR, bag_info={}
            )
    assert archive.find_packages(app) == []
    assert not (app.settings.archive.parent / "escape.txt").exists()
    assert leftovers(app) == []


def test_missing_source_and_file_folder_clash_are_refused(app: App, tmp_path: Path) -> None:
    for files in (
        [PackageFile("a.txt", source=tmp_path / "missing.txt")],
        [PackageFile("a", content=b"1"), PackageFile("a/b", content=b"2")],
        [PackageFile("a", content=b"1"), PackageFile("a", content=b"2")],
        [PackageFile("audit", content=b"1")],
        [PackageFile("audit/events.json/x", content=b"1")],
        [PackageFile("a")],
    ):
        with pytest.raises(InvalidRequest):
            archive.create_package(app, LISTNR, files, year=YEAR, bag_info={})
    assert archive.find_packages(app) == []


def test_failure_while_building_leaves_nothing(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_events(app)
    real_make_bag = bagit.make_bag

    def make_bag_then_disk_full(*args: Any, **kwargs: Any) -> Any:
        real_make_bag(*args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bagit, "make_bag", make_bag_then_disk_full)
    with pytest.raises(OSError, match="No space left"):
        archive.create_package(app, LISTNR, make_files(tmp_path), year=YEAR, bag_info={})
    assert archive.find_packages(app) == []
    assert leftovers(app) == []
    monkeypatch.setattr(bagit, "make_bag", real_make_bag)
    path = archive.create_package(app, LISTNR, make_files(tmp_path), year=YEAR, bag_info={})
    assert archive_check.verify_package(path).ok


def test_find_packages_skips_unfinished_builds(app: App, package: tuple[Path, list[int]]) -> None:
    path, _ = package
    (path.parent / ".tmp-1002-abc").mkdir()
    (app.settings.archive / "README.txt").write_text("x", encoding="utf-8")
    assert archive.find_packages(app) == [path]


def test_archived_list_without_package_is_reported(app: App) -> None:
    with app.db.session() as session:
        course = Course(
            code="DV1599",
            name_sv="Programmering i Python",
            name_en="Programming in Python",
            credits=Decimal("7.5"),
            scale="TH",
            ects_scale="AF",
            start_date=dt.date(2026, 8, 31),
        )
        session.add(course)
        session.flush()
        session.add(
            ResultList(
                listnr=1003,
                kind=ListKind.T33,
                course_id=course.id,
                term="HT2026",
                state=ListState.ARCHIVED,
                reporter="lärare1",
            )
        )
    report = archive_check.verify(app)
    assert not report.ok
    [check] = report.packages
    assert check.listnr == 1003
    assert check.problems == ["Lista 1003 är arkiverad i databasen men har inget arkivpaket"]


def test_package_validates_with_bagit_alone(package: tuple[Path, list[int]]) -> None:
    path, _ = package
    bag = bagit.Bag(str(path))
    assert bag.validate(fast=False)
    assert sorted(bag.algorithms) == ["sha256", "sha512"]
