"""Tamper tests (issue 16): each forgery on a fresh workspace, SQLite and PostgreSQL; ``resultat
verify`` exits non-zero and names it, and the untampered workspace verifies clean."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import json
from pathlib import Path
from typing import Any

import bagit
import pikepdf
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from pipeline import seal
from pipeline.app import App
from pipeline.cli import app as cli_app
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import after_approval as lifecycle
from pipeline.lifecycle import approval
from pipeline.lifecycle.archive_guard import TamperedRecords
from pipeline.lifecycle.archive_pdf_seal import pdf_seal_problems
from pipeline.messages import outbox
from pipeline.models import AuditEvent, FileOutcome, ListEntry, Message, ResultList, Student
from pipeline.xlsx import workbook
from tests.factories import fill, new_exam_list, seed, sent_code

pytestmark = pytest.mark.slow  # each test takes a list through approval and archiving

runner = CliRunner()
GRADES = {0: "5", 1: "4", 2: "3"}


def _approved(app: App, pnrs: list[str], name: str) -> int:
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {pnrs[i]: {"grade": g, "grade_date": dt.date(2026, 11, 2)} for i, g in GRADES.items()},
        action="Skicka till examinator",
        target=app.settings.inbox / name,
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    return listnr


@pytest.fixture
def world(app: App) -> dict[str, Any]:
    """List ``approved`` (approved only) and list ``archived`` (registered, signed, archived)."""
    s = seed(app, students=4)
    archived = _approved(app, s.pnrs, "betyg1.xlsx")
    assert lifecycle.registered(app, archived) == 3
    package = lifecycle.signed(app, archived)
    approved = _approved(app, s.pnrs, "betyg2.xlsx")
    return {"approved": approved, "archived": archived, "package": package, "pnrs": s.pnrs}


def verify_cli(app: App) -> tuple[int, list[dict[str, Any]], str]:
    """``resultat verify --json`` and the text report: exit code, findings, text."""
    env = {"RESULTAT_DATABASE_URL": app.settings.database_url}
    args = ["--workspace", str(app.root), "verify"]
    as_json = runner.invoke(cli_app, [*args, "--json"], env=env)
    text = runner.invoke(cli_app, args, env=env)
    assert as_json.exit_code == text.exit_code, text.output
    document = json.loads(as_json.stdout)
    return as_json.exit_code, document["findings"], text.stdout


def kinds(findings: list[dict[str, Any]]) -> set[str]:
    return {f["kind"] for f in findings}


def _grade_of(app: App, listnr: int, pnr: str, grade: str) -> None:
    with app.db.session() as session:
        list_id = session.execute(
            select(ResultList.id).where(ResultList.listnr == listnr)
        ).scalar_one()
        student = session.execute(select(Student.id).where(Student.pnr == pnr)).scalar_one()
        session.execute(
            update(ListEntry)
            .where(ListEntry.list_id == list_id, ListEntry.student_id == student)
            .values(grade=grade)
        )


def test_untampered_workspace_verifies_clean(app: App, world: dict[str, Any]) -> None:
    code, findings, text = verify_cli(app)
    assert (code, findings) == (0, []), text
    assert "allt stämmer" in text
    # the seal can be checked without our code: the signature is raw Ed25519 over the file
    package: Path = world["package"]
    public = seal.load_public(app.settings.archive / seal.PUBLIC_NAME)
    assert public is not None
    manifest = (package / "tagmanifest-sha256.txt").read_bytes()
    assert seal.verifies(public, manifest, (package / "tagmanifest-sha256.txt.sig").read_bytes())
    # the archive list is sealed (pyHanko's validation) and still PDF/A-3b with the data
    [pdf] = (package / "data/print").glob("*.pdf")
    assert pdf_seal_problems(app.settings, pdf.read_bytes()) == []
    with pikepdf.open(pdf) as document:
        meta = document.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("3", "B")
        files = document.attachments
        name = f"{world['archived']}_attesterad.json"
        embedded = json.loads(files[name].get_file().read_bytes())
        assert sorted(r["grade"] for r in embedded["rows"] if r["grade"]) == ["3", "4", "5"]
        assert "/Sig" in {str(f.get("/FT")) for f in document.Root.AcroForm.Fields}
    head = json.loads(app.settings.head_path.read_text(encoding="utf-8"))
    with app.db.session() as session:
        last = session.execute(select(func.max(AuditEvent.id))).scalar_one()
    assert head["id"] == last


@pytest.mark.parametrize("which", ["approved", "archived"])
def test_grade_edited_in_the_database_is_named_by_list_row_and_field(
    app: App, world: dict[str, Any], which: str
) -> None:
    listnr = world[which]
    _grade_of(app, listnr, world["pnrs"][1], "5")
    code, findings, text = verify_cli(app)
    assert code != 0
    [changed] = [f for f in findings if f["kind"] == "field-changed"]
    assert (changed["listnr"], changed["row"]) == (listnr, 2)
    assert "fältet grade är '5'" in text and f"Lista {listnr}, rad 2" in text
    # and the steps that act on it refuse, audit it and mail the administrators
    if which == "approved":
        with pytest.raises(TamperedRecords):
            lifecycle.registered(app, listnr)
        with app.db.session() as session:
            actions = session.execute(
                select(AuditEvent.action).where(AuditEvent.listnr == listnr)
            ).scalars()
            assert "list.tampered" in set(actions)
        outbox.dispatch(app)
        mails = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in (app.settings.var / "mail").glob("*.eml")
        ]
        [warning] = [m for m in mails if "stämmer inte med det som attesterades" in m["Subject"]]
        assert warning["To"] == app.settings.contacts.maintainers
        assert f"resultat verify {listnr}" in warning.get_content()
        # no student got the forged grade: no result mail was ever queued for the list
        with app.db.session() as session:
            kinds_queued = set(
                session.execute(select(Message.kind).where(Message.listnr == listnr)).scalars()
            )
        assert "student_result" not in kinds_queued and "tampered" in kinds_queued


def test_rows_deleted_are_named(app: App, world: dict[str, Any]) -> None:
    listnr = world["approved"]
    with app.db.session() as session:
        list_id = session.execute(
            select(ResultList.id).where(ResultList.listnr == listnr)
        ).scalar_one()
        first = session.execute(
            select(func.min(ListEntry.id)).where(ListEntry.list_id == list_id)
        ).scalar_one()
        session.execute(delete(ListEntry).where(ListEntry.id == first))
    code, findings, _ = verify_cli(app)
    assert code != 0
    [deleted] = [f for f in findings if f["kind"] == "row-deleted"]
    assert (deleted["listnr"], deleted["row"]) == (listnr, 1)


def test_tail_events_deleted_are_counted(app: App, world: dict[str, Any]) -> None:
    with app.db.session() as session:
        last = session.execute(select(func.max(AuditEvent.id))).scalar_one()
        session.execute(delete(AuditEvent).where(AuditEvent.id > last - 2))
    code, findings, text = verify_cli(app)
    assert code != 0
    [tail] = [f for f in findings if f["kind"] == "tail-deleted"]
    assert tail["event_id"] == last - 1
    assert f"2 händelser har tagits bort från slutet, från och med händelse {last - 1}" in text


def test_middle_event_edited_breaks_the_chain_there(app: App, world: dict[str, Any]) -> None:
    with app.db.session() as session:
        middle = session.execute(
            select(AuditEvent.id).where(AuditEvent.action == "list.submit").limit(1)
        ).scalar_one()
        session.execute(update(AuditEvent).where(AuditEvent.id == middle).values(actor="mallory"))
    code, findings, text = verify_cli(app)
    assert code != 0
    assert findings[0]["kind"] == "chain-content-changed"
    assert findings[0]["event_id"] == middle
    assert f"kedjan bruten vid händelse {middle}" in text


def _rewrite_manifests(package: Path) -> None:
    """What a forger with the files but not the key does: every BagIt manifest recomputed."""
    bag = bagit.Bag(str(package))
    bag.save(processes=1, manifests=True)


def test_archive_file_edited_with_manifests_recomputed(app: App, world: dict[str, Any]) -> None:
    package: Path = world["package"]
    approved = package / "data/approved/approved.json"
    document = json.loads(approved.read_text(encoding="utf-8"))
    document["rows"][1]["grade"] = "5"
    approved.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    _rewrite_manifests(package)
    assert bagit.Bag(str(package)).is_valid()  # bagit alone is fooled
    code, findings, _ = verify_cli(app)
    assert code != 0
    found = kinds(findings)
    assert {"package-signature", "approved-hash"} <= found
    assert all(f["listnr"] == world["archived"] for f in findings)
    signature = next(f for f in findings if f["kind"] == "package-signature")
    assert signature["file"] == str(package / "tagmanifest-sha256.txt.sig")


def test_archive_events_file_edited_is_the_archives_fault(app: App, world: dict[str, Any]) -> None:
    package: Path = world["package"]
    file = package / "data/audit/events.json"
    document = json.loads(file.read_text(encoding="utf-8"))
    document["events"][0]["actor"] = "mallory"
    file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    _rewrite_manifests(package)
    code, findings, _ = verify_cli(app)
    assert code != 0
    found = kinds(findings)
    assert "event-hash" in found and "package-signature" in found
    assert not found & {"db-event-changed", "db-event-deleted", "chain-content-changed"}


def test_seal_key_swapped(app: App, world: dict[str, Any]) -> None:
    key_path = app.settings.seal_path("key")
    key_path.unlink()
    seal.load_key(key_path)  # a new key where the old one was
    code, findings, _ = verify_cli(app)
    assert code != 0
    assert "seal-key-mismatch" in kinds(findings)
    # and replacing the exported public key too is caught by the chain and the packages
    public = app.settings.archive / seal.PUBLIC_NAME
    public.chmod(0o644)
    public.write_bytes(seal.public_pem(seal.load_key(key_path).public_key()))
    code, findings, _ = verify_cli(app)
    assert code != 0
    assert {"seal-key-swapped", "package-signature"} <= kinds(findings)


def test_forged_package_signed_with_another_key_fails(app: App, world: dict[str, Any]) -> None:
    package: Path = world["package"]
    stranger = Ed25519PrivateKey.generate()
    manifest = (package / "tagmanifest-sha256.txt").read_bytes()
    (package / "tagmanifest-sha256.txt.sig").write_bytes(stranger.sign(manifest))
    code, findings, _ = verify_cli(app)
    assert code != 0 and "package-signature" in kinds(findings)


def test_verify_without_a_database_is_an_error_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.settings import create_workspace

    root = tmp_path / "ws"
    create_workspace(root)
    monkeypatch.delenv("RESULTAT_DATABASE_URL", raising=False)
    result = runner.invoke(cli_app, ["--workspace", str(root), "verify"])
    assert result.exit_code != 0
    assert "Ingen databas hittades" in result.output
    assert not (root / "var" / "resultat.db").exists()
    assert hashlib.sha256(b"").hexdigest()  # (nothing else written)
    assert sorted(p.name for p in (root / "var").iterdir()) == ["secret.key"]


def test_pdf_edited_after_sealing(app: App, world: dict[str, Any]) -> None:
    package: Path = world["package"]
    [pdf] = (package / "data/print").glob("*.pdf")
    data = pdf.read_bytes()
    # an incremental update appended after the seal: what a PDF editor does on save
    pdf.write_bytes(data + b"\n1 0 obj\n<< /Title (forged) >>\nendobj\n%%EOF\n")
    _rewrite_manifests(package)
    code, findings, _ = verify_cli(app)
    assert code != 0
    [seal_finding] = [f for f in findings if f["kind"] == "pdf-seal"]
    assert seal_finding["file"] == str(pdf)
    assert seal_finding["listnr"] == world["archived"]
