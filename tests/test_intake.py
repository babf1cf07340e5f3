"""The T33 intake loop end to end: new list → issued workbook → filled → inbox → receipt."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from pipeline.app import App
from pipeline.audit import verify_chain
from pipeline.errors import NotFound
from pipeline.intake.inbox import Inbox
from pipeline.lists.create import create_t33
from pipeline.lists.digest import hash_at_hand, hash_content, plain_row, stored_content
from pipeline.lists.query import get_list_head, read_list_head
from pipeline.lists.students import StudentSources
from pipeline.models import (
    AuditEvent,
    FileOutcome,
    InboxFile,
    ListEntry,
    ListState,
    ResultList,
    Staff,
)
from pipeline.texts import t
from pipeline.xlsx import contract, workbook
from tests.factories import TERM, fill, new_exam_list, seed


def test_filled_workbook_is_accepted_and_submitted(app: App) -> None:
    s = seed(app, students=5)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    drop = app.settings.inbox / "mina betyg.xlsx"
    fill(
        issued.path,
        {
            s.pnrs[0]: {"grade": "4", "grade_date": dt.date(2026, 11, 2), "points": 31.5},
            s.pnrs[1]: {"grade": " u ", "grade_date": "2026-11-02"},
        },
        action="Skicka till examinator",
        target=drop,
    )
    results = Inbox(app).process_once()
    assert [r.outcome for r in results] == [FileOutcome.ACCEPTED]
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        assert rl.state == ListState.AWAITING_APPROVAL
        assert rl.version == 2
        entries = {e.student.pnr: e for e in rl.entries}
        assert entries[s.pnrs[0]].grade == "4"
        assert entries[s.pnrs[0]].grade_date == dt.date(2026, 11, 2)
        assert float(entries[s.pnrs[0]].points or 0) == 31.5
        assert entries[s.pnrs[1]].grade == "U"
        assert entries[s.pnrs[2]].grade is None
        actions = (
            session.execute(
                select(AuditEvent.action).where(AuditEvent.listnr == listnr).order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        assert actions == ["list.create", "list.results", "list.submit", "approval.requested"]
        record = session.execute(select(InboxFile)).scalar_one()
        assert record.outcome == FileOutcome.ACCEPTED and record.listnr == listnr
    receipt = results[0].receipt
    assert receipt is not None
    text = receipt.read_text(encoding="utf-8")
    assert "GODTAGEN" in text and "skickad till examinator" in text
    assert "2 av 5 studenter har betyg" in text
    assert "utbildningsstod@example.se" in text and "resultat-support@example.se" in text
    # The original is kept, not in the inbox any more, and a fresh workbook is issued.
    assert not drop.exists()
    assert results[0].kept_at is not None and results[0].kept_at.read_bytes()
    meta = load_workbook(issued.path)["_resultat"]
    assert {
        meta.cell(row=r, column=1).value: meta.cell(row=r, column=2).value for r in range(1, 10)
    }["version"] == "2"


def test_receipt_in_english_for_english_staff(app: App) -> None:
    s = seed(app, students=2, teacher_lang="en")
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {s.pnrs[0]: {"grade": "X", "grade_date": "2026-11-02"}},
        target=app.settings.inbox / "x.xlsx",
    )
    [result] = Inbox(app).process_once()
    text = result.receipt.read_text(encoding="utf-8") if result.receipt else ""
    assert "REJECTED" in text
    assert 'The grade "X" is not on the grading scale TH (U, 3, 4, 5).' in text
    row = next(
        r
        for r in range(16, 18)
        if str(load_workbook(issued.path).worksheets[0][f"A{r}"].value).replace("-", "")
        == s.pnrs[0]
    )
    assert f"sheet Results, row {row}, column D (Grade): The grade" in text


def test_every_row_rule_reported_at_its_cell(app: App) -> None:
    s = seed(app, students=8)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    fill(
        issued.path,
        {
            s.pnrs[0]: {"grade": "VG", "grade_date": "2026-11-02"},  # not on TH
            s.pnrs[1]: {"grade": "3", "grade_date": "2026/11/02"},  # not ISO
            s.pnrs[2]: {"grade": "3", "grade_date": future},  # in the future
            s.pnrs[3]: {"grade": "3", "grade_date": "2026-01-10"},  # before course start
            s.pnrs[4]: {"grade": "5"},  # grade without date
            s.pnrs[5]: {"grade_date": "2026-11-02"},  # date without grade
            s.pnrs[6]: {"grade": "4", "grade_date": "2026-11-02", "points": "många"},
            s.pnrs[7]: {"grade": "4", "grade_date": "2026-11-02", "points": -2},
        },
        target=app.settings.inbox / "fel.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED
    row_of = {}
    ws = load_workbook(issued.path).worksheets[0]
    for r in range(16, 24):
        row_of[str(ws.cell(row=r, column=1).value).replace("-", "")] = r
    got = {(p.slug, p.row, p.column) for p in result.problems}
    # DV1599/2010 has no ECTS column: A pnr, B surname, C given name, D grade, E date, F points
    expected = {
        ("grade-not-in-scale", row_of[s.pnrs[0]], "D"),
        ("date-format", row_of[s.pnrs[1]], "E"),
        ("date-in-future", row_of[s.pnrs[2]], "E"),
        ("date-before-course-start", row_of[s.pnrs[3]], "E"),
        ("grade-without-date", row_of[s.pnrs[4]], "E"),
        ("date-without-grade", row_of[s.pnrs[5]], "D"),
        ("points-not-number", row_of[s.pnrs[6]], "F"),
        ("points-negative", row_of[s.pnrs[7]], "F"),
    }
    assert got == expected
    with app.db.session() as session:
        assert (
            session.execute(select(ListEntry.grade).where(ListEntry.grade.is_not(None))).first()
            is None
        )
        rl = session.execute(select(ResultList)).scalar_one()
        assert rl.version == 1 and rl.state == ListState.DRAFT
    # The marked workbook: bad cells red with a comment.
    marked = next(app.settings.receipts_dir.glob("*_fel.xlsx"))
    mws = load_workbook(marked).worksheets[0]
    cell = mws[f"D{row_of[s.pnrs[0]]}"]
    assert cell.fill.fgColor.rgb.endswith("FF7C80")
    assert cell.comment is not None and "VG" in cell.comment.text
    text = result.receipt.read_text(encoding="utf-8") if result.receipt else ""
    assert "8 problem hittades" in text


def test_stale_workbook_refused_with_fresh_one(app: App) -> None:
    s = seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    old = app.root / "old.xlsx"
    shutil.copy(issued.path, old)
    fill(
        issued.path,
        {s.pnrs[0]: {"grade": "3", "grade_date": "2026-11-02"}},
        target=app.settings.inbox / "a.xlsx",
    )
    Inbox(app).process_once()
    fill(
        old,
        {s.pnrs[1]: {"grade": "4", "grade_date": "2026-11-02"}},
        target=app.settings.inbox / "b.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED
    assert [p.slug for p in result.problems] == ["stale-version"]
    text = result.receipt.read_text(encoding="utf-8") if result.receipt else ""
    assert f"outbox/lärare1/{listnr}.xlsx" in text
    assert (app.settings.outbox / "lärare1" / f"{listnr}.xlsx").is_file()
    with app.db.session() as session:
        entries = {e.student.pnr: e.grade for e in session.execute(select(ListEntry)).scalars()}
    assert entries[s.pnrs[1]] is None and entries[s.pnrs[0]] == "3"


def test_tampered_identity_and_roster_refused(app: App) -> None:
    seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    # 1. the hidden metadata (version bumped to dodge staleness) → HMAC fails
    wb = load_workbook(issued.path)
    meta = wb["_resultat"]
    for r in range(1, 20):
        if meta.cell(row=r, column=1).value == "version":
            meta.cell(row=r, column=2, value="9")
    wb.save(app.settings.inbox / "meta.xlsx")
    # 2. the visible listnr changed
    wb = load_workbook(issued.path)
    wb.worksheets[0]["B4"] = listnr + 1
    wb.save(app.settings.inbox / "ident.xlsx")
    # 3. the roster in the hidden sheet extended with another student
    wb = load_workbook(issued.path)
    meta = wb["_resultat"]
    meta.cell(row=meta.max_row + 1, column=2, value="199001011239")
    wb.save(app.settings.inbox / "roster.xlsx")
    results = {r.original_name: r for r in Inbox(app).process_once()}
    expected = {
        "meta.xlsx": "tampered-signature",
        "ident.xlsx": "tampered-listnr",
        "roster.xlsx": "tampered-signature",
    }
    for name, slug in expected.items():
        assert results[name].outcome == FileOutcome.REJECTED
        assert [p.slug for p in results[name].problems] == [slug], name
        receipt = results[name].receipt
        assert receipt is not None
        text = receipt.read_text(encoding="utf-8")
        assert t(f"problems.{slug}", "sv").split("{", 1)[0] in text
    assert results["ident.xlsx"].problems[0].row == 4


def test_student_not_on_list_and_duplicate_rows(app: App) -> None:
    s = seed(app, students=4)
    listnr = create_t33(
        app,
        course_code="DV1599",
        module_code="2010",
        term=TERM,
        sources=StudentSources(students=s.pnrs[:3]),
        reporter="lärare1",
    )
    issued = workbook.issue(app, listnr)
    wb = load_workbook(issued.path)
    ws = wb.worksheets[0]
    ws.protection.sheet = False
    ws["A16"] = f"{s.pnrs[3][:8]}-{s.pnrs[3][8:]}"  # a registered student not on this list
    ws["A17"] = ws["A18"].value  # the same student twice
    for r in (16, 17, 18):
        ws[f"D{r}"] = "3"
        ws[f"E{r}"] = "2026-11-02"
    wb.save(app.settings.inbox / "roster.xlsx")
    [result] = Inbox(app).process_once()
    got = sorted((p.slug, p.row) for p in result.problems)
    # Row 17 now holds row 18's personnummer beside its own names: the roster as issued.
    assert got == [("duplicate-row", 18), ("not-on-list", 16), ("tampered-row-pnr", 17)]


def test_excel_mangled_personnummer_explained(app: App) -> None:
    s = seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    wb = load_workbook(issued.path)
    ws = wb.worksheets[0]
    ws["A16"] = float(s.pnrs[0])
    ws["A17"] = dt.datetime(2019, 1, 1)
    wb.save(app.settings.inbox / "mangled.xlsx")
    [result] = Inbox(app).process_once()
    got = sorted((p.slug, p.row, p.column) for p in result.problems)
    assert got == [("pnr-as-date", 17, "A"), ("pnr-as-number", 16, "A")]
    text = result.receipt.read_text(encoding="utf-8") if result.receipt else ""
    assert "blivit ett tal" in text and "blivit ett datum" in text


def test_duplicate_drop_applied_once(app: App) -> None:
    s = seed(app, students=2)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    filled = fill(
        issued.path,
        {s.pnrs[0]: {"grade": "5", "grade_date": "2026-11-02"}},
        target=app.root / "filled.xlsx",
    )
    shutil.copy(filled, app.settings.inbox / "first.xlsx")
    [first] = Inbox(app).process_once()
    shutil.copy(filled, app.settings.inbox / "again.xlsx")
    [second] = Inbox(app).process_once()
    assert first.outcome == FileOutcome.ACCEPTED
    assert second.outcome == FileOutcome.DUPLICATE
    text = second.receipt.read_text(encoding="utf-8") if second.receipt else ""
    assert "DUBBLETT" in text and "first.xlsx" in text
    with app.db.session() as session:
        rl = session.execute(select(ResultList)).scalar_one()
        assert rl.version == 2
        n = (
            session.execute(select(AuditEvent).where(AuditEvent.action == "list.results"))
            .scalars()
            .all()
        )
        assert len(n) == 1
    assert second.kept_at is not None and second.kept_at.exists()


def test_corrupt_and_unknown_files_rejected_and_kept(app: App) -> None:
    seed(app, students=1)
    inbox = app.settings.inbox
    (inbox / "trasig.xlsx").write_bytes(b"PK\x03\x04 this is not really a zip file")
    (inbox / "bytes.xlsx").write_bytes(bytes(range(256)) * 10)
    (inbox / "empty.xlsx").write_bytes(b"")
    from openpyxl import Workbook

    other = Workbook()
    other.active["A1"] = "någon annan tabell"  # type: ignore[index]
    other.save(inbox / "annan.xlsx")
    results = {r.original_name: r for r in Inbox(app).process_once()}
    assert set(results) == {"trasig.xlsx", "bytes.xlsx", "empty.xlsx", "annan.xlsx"}
    for name, result in results.items():
        assert result.outcome == FileOutcome.REJECTED, name
        assert result.kept_at is not None and result.kept_at.exists()
        assert result.receipt is not None and "AVVISAD" in result.receipt.read_text("utf-8")
    assert results["annan.xlsx"].problems[0].slug == "unknown-kind"
    assert results["bytes.xlsx"].problems[0].slug == "not-a-spreadsheet"
    assert list(inbox.glob("*.xlsx")) == []


def test_lock_and_temp_files_ignored(app: App) -> None:
    inbox = app.settings.inbox
    names = [
        "~$betyg.xlsx",
        ".~lock.betyg.xlsx#",
        "~abc.tmp",
        "betyg.xlsx.tmp",
        "Thumbs.db",
        "half.xlsx.part",
    ]
    # Other dot-files are answered and set aside: tests/test_inbox_every_file.py.
    for name in names:
        (inbox / name).write_bytes(b"x")
    assert Inbox(app).process_once() == []
    for name in names:
        assert (inbox / name).exists()


def test_submitting_a_list_without_grades_keeps_it_a_draft(app: App) -> None:
    seed(app, students=2)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(issued.path, {}, action="Skicka till examinator", target=app.settings.inbox / "t.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    text = result.receipt.read_text("utf-8") if result.receipt else ""
    assert "inga betyg ännu" in text
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        assert rl.state == ListState.DRAFT


def test_a_lists_plain_head_holds_what_the_stored_list_holds(app: App) -> None:
    """Checking reads the list's head in one plain query: the same values as the ORM list,
    with the reporter's language, and no language for a reporter not in the registry."""
    seed(app, students=2, teacher_lang="en")
    listnr = new_exam_list(app)
    with app.db.read_session() as session:
        stored = get_list_head(session, listnr)
        head = read_list_head(session, listnr)
        assert stored.module is not None and head.module is not None
        assert (head.id, head.listnr, head.kind, head.state, head.version, head.reporter) == (
            stored.id,
            stored.listnr,
            stored.kind,
            stored.state,
            stored.version,
            stored.reporter,
        )
        assert head.options == (stored.options or {})
        assert (head.course.scale, head.course.ects_scale, head.course.start_date) == (
            "TH",
            "AF",
            stored.course.start_date,
        )
        assert (head.module.scale, head.module.ects_scale) == (
            stored.module.scale,
            stored.module.ects_scale,
        )
        assert contract.ects_scale_code(head) == contract.ects_scale_code(stored)
        assert head.reporter_language == "en"
        with pytest.raises(NotFound, match=str(listnr + 100)):
            read_list_head(session, listnr + 100)
    with app.db.session() as session:
        get_list_head(session, listnr).reporter = "gäst9"  # left the registry
    with app.db.read_session() as session:
        assert read_list_head(session, listnr).reporter_language is None


def test_the_intake_is_a_literal_list_of_stages_in_order() -> None:
    from pipeline.intake import stages

    assert [stage.__name__ for stage in stages.STAGES] == [
        "preflight",
        "folder",
        "duplicate",
        "identify",
        "result_workbook",
        "review_workbook",
        "lms_export",
        "order_form",
        "settings_form",
        "confirmation_form",
        "signed_scan",
        "unknown",
    ]
    source = Path(stages.__file__).read_text(encoding="utf-8")
    literal = source.split("STAGES: Final[Sequence[Stage]] = (", 1)[1].split(")", 1)[0]
    assert [line.strip().rstrip(",") for line in literal.strip().splitlines()] == [
        stage.__name__ for stage in stages.STAGES
    ]


def test_a_new_kind_of_file_is_one_more_stage_before_unknown(app: App) -> None:
    """A stage added to the list takes the files that are its kind; the others go on."""
    from pipeline.intake import stages
    from pipeline.intake.dropped import DroppedFile, Kind, record, relative
    from pipeline.intake.outcomes import Accepted, Outcome, Refused
    from pipeline.intake.receipts import ReceiptData, write_receipt

    seen: list[str] = []

    def note_file(ctx: DroppedFile) -> Outcome | None:
        seen.append(ctx.claimed.original_name)
        if not ctx.claimed.path.read_bytes().startswith(b"NOTE"):
            return None
        data = ReceiptData("accepted", ctx.claimed.original_name, ctx.received, "")
        receipt = write_receipt(ctx.app.settings, ctx.stem(None), data)
        with ctx.app.db.session() as session:
            record(
                session,
                ctx,
                status=FileOutcome.ACCEPTED,
                kind=Kind.UNKNOWN,
                listnr=None,
                receipt=receipt,
            )
        return Accepted(None, receipt)

    (app.settings.inbox / "a.txt").write_text("NOTE hello", encoding="utf-8")
    (app.settings.inbox / "b.txt").write_text("hello", encoding="utf-8")
    inbox = Inbox(app, stages=[*stages.STAGES[:-1], note_file, stages.STAGES[-1]])
    results = {r.original_name: r for r in inbox.process_once()}
    assert sorted(seen) == ["a.txt", "b.txt"]
    assert isinstance(results["a.txt"].concluded, Accepted)
    assert results["a.txt"].outcome == FileOutcome.ACCEPTED
    assert results["a.txt"].kept_at is not None
    assert results["a.txt"].kept_at.parent.name == ".processed"
    refused = results["b.txt"]
    assert refused.outcome == FileOutcome.REJECTED
    assert isinstance(refused.concluded, Refused)
    assert [p.slug for p in refused.problems] == ["unknown-kind"]
    with app.db.session() as session:
        kept = {
            r.original_name: r.stored_path for r in session.execute(select(InboxFile)).scalars()
        }
    assert kept["a.txt"] == relative(app, results["a.txt"].kept_at)


def test_each_outcome_is_its_own_type(app: App) -> None:
    s = seed(app, students=2)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {s.pnrs[0]: {"grade": "4", "grade_date": "2026-11-02"}},
        target=app.settings.inbox / "ok.xlsx",
    )
    fill(issued.path, {s.pnrs[0]: {"grade": "Q"}}, target=app.settings.inbox / "bad.xlsx")
    results = {r.original_name: r.concluded for r in Inbox(app).process_once()}
    assert type(results["ok.xlsx"]).__name__ == "Accepted"
    assert type(results["bad.xlsx"]).__name__ == "Refused"
    shutil.copy(
        app.settings.inbox
        / ".processed"
        / next(
            p.name
            for p in (app.settings.inbox / ".processed").iterdir()
            if p.name.endswith("ok.xlsx")
        ),
        app.settings.inbox / "again.xlsx",
    )
    (again,) = Inbox(app).process_once()
    assert type(again.concluded).__name__ == "Duplicate"
    assert again.outcome == FileOutcome.DUPLICATE


def test_the_intake_catalogue_has_every_key_in_both_languages() -> None:
    import yaml

    root = Path(__file__).parents[1] / "templates" / "texts"

    def flat(node: object, prefix: str = "") -> set[str]:
        if isinstance(node, dict):
            return {k for key, value in node.items() for k in flat(value, f"{prefix}{key}.")}
        return {prefix[:-1]}

    sv, en = (
        flat(yaml.safe_load((root / f"intake.{lang}.yaml").read_text(encoding="utf-8")))
        for lang in ("sv", "en")
    )
    assert sv == en and "problems.tampered-signature" in sv
    for key in sv:
        assert t(key, "sv") != t(key, "en"), key


def test_no_swedish_literal_is_left_in_the_intake() -> None:
    """People-facing words come from the catalogue: no Swedish letter in the intake's code."""
    folder = Path(__file__).parents[1] / "pipeline" / "intake"
    found = [
        f"{path.name}:{number}"
        for path in sorted(folder.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(letter in line for letter in "åäöÅÄÖ")
    ]
    assert found == []


def _sent_to_examiner(app: App) -> int:
    s = seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {s.pnrs[0]: {"grade": "4", "grade_date": "2026-11-02"}},
        action="Skicka till examinator",
        target=app.settings.inbox / "betyg.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    return listnr


def test_review_workbook_outcomes_approved_refused_and_sent_back(app: App) -> None:
    from pipeline.intake.outcomes import Approved, Refused
    from tests.factories import sent_code

    listnr = _sent_to_examiner(app)
    code = sent_code(app, listnr)
    review = app.settings.review_dir / f"{listnr}_v2_granskning.xlsx"
    wb = load_workbook(review)
    wb.worksheets[0]["B13"] = f"{(int(code) + 1) % 1_000_000:06d}"
    wb.save(app.settings.inbox / "wrong.xlsx")
    [wrong] = Inbox(app).process_once()
    assert isinstance(wrong.concluded, Refused)
    assert [p.slug for p in wrong.problems] == ["approval-wrong-code"]
    text = wrong.receipt.read_text(encoding="utf-8") if wrong.receipt else ""
    assert t("problems.approval-wrong-code", "sv", listnr=listnr, left=4) in text
    wb.worksheets[0]["B13"] = code
    wb.save(app.settings.inbox / "right.xlsx")
    [right] = Inbox(app).process_once()
    assert isinstance(right.concluded, Approved) and right.outcome == FileOutcome.ACCEPTED


def test_review_workbook_with_a_reason_sends_the_list_back(app: App) -> None:
    from pipeline.intake.outcomes import SentBack

    listnr = _sent_to_examiner(app)
    review = app.settings.review_dir / f"{listnr}_v2_granskning.xlsx"
    wb = load_workbook(review)
    reason_cell = next(
        row[1].value
        for row in wb["_resultat"].iter_rows(min_col=1, max_col=2)
        if row[0].value == "reason_cell"
    )
    wb.worksheets[0][str(reason_cell)] = "Fel datum"
    wb.save(app.settings.inbox / "back.xlsx")
    [back] = Inbox(app).process_once()
    assert isinstance(back.concluded, SentBack)
    assert "SKICKAD TILLBAKA" in (back.receipt.read_text(encoding="utf-8") if back.receipt else "")
    with app.db.session() as session:
        state = session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one()
    assert state == ListState.DRAFT


def test_a_workbook_for_an_approved_list_is_refused_naming_its_state_in_words(app: App) -> None:
    from pipeline.lifecycle import approval
    from tests.factories import sent_code

    listnr = _sent_to_examiner(app)
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    issued = workbook.issue(app, listnr, target=app.settings.var / "after.xlsx")
    fill(issued.path, {}, target=app.settings.inbox / "after.xlsx")
    [result] = Inbox(app).process_once()
    assert [p.slug for p in result.problems] == ["list-wrong-state"]
    text = result.receipt.read_text(encoding="utf-8") if result.receipt else ""
    assert '"attesterad"' in text and "approved" not in text


def test_a_missing_column_is_named_in_the_readers_language() -> None:
    import pandas as pd

    from pipeline.intake import checks

    loaded = checks.load_schema(
        "t33_workbook",
        params={
            "grades": ["U", "3", "4", "5"],
            "failing": ["U"],
            "ects_grades": [],
            "ects_failing": [],
            "today": "2026-12-01",
            "course_start": "2026-01-01",
            "remove_marks": ["X"],
        },
    )
    frame = pd.DataFrame(
        {"pnr": ["19900101-1239"], "grade_date": [None], "points": [None], "comment": [None]}
    )
    [problem] = checks.run_schema(loaded, frame, sheet="S", letters={})
    assert (problem.slug, problem.field) == ("missing-column", "grade")
    assert problem.message("sv") == t("problems.missing-column", "sv", field="Betyg")
    assert problem.message("en") == t("problems.missing-column", "en", field="Grade")


def test_the_results_events_hash_from_rows_at_hand_is_the_databases(app: App) -> None:
    """The ``list.results`` event hashes the rows the intake has just written, not the list
    read back: the hash must be exactly what the database's rows hash to, for every kind of
    value (decimals and whole scores, dates, text with quotes and non-ASCII)."""
    s = seed(app, students=6)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {
            s.pnrs[0]: {"grade": "4", "grade_date": dt.date(2026, 11, 2), "points": 31.5},
            s.pnrs[1]: {"grade": "U", "grade_date": "2026-11-02", "points": 17},
            s.pnrs[2]: {"grade": "5", "grade_date": "2026-11-03", "comment": 'Omtenta "B" – åäö'},
            s.pnrs[3]: {"grade": "3", "grade_date": "2026-11-03", "points": 0.005},
        },
        target=app.settings.inbox / "blandat.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    with app.db.session() as session:
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == "list.results")
        ).scalar_one()
        stored = stored_content(session, listnr)
        assert stored is not None and stored.rows == 6
        assert event.details["content_hash"] == stored.content_hash
        assert verify_chain(session).ok


def test_rows_at_hand_of_another_type_are_left_to_the_database() -> None:
    identity = {"listnr": 1, "kind": "T33", "course": "DV1599", "module": None}
    row = ("199001011234", "Ek", "Eva", "3", None, dt.date(2026, 1, 2), Decimal("1.50"), None)
    assert hash_at_hand(identity, [row]) == hash_content(identity, [plain_row(*row)])
    timed = (*row[:5], dt.datetime(2026, 1, 2), *row[6:])
    assert hash_at_hand(identity, [timed]) is None
    assert hash_at_hand(identity, [(*row[:6], Decimal("1.505"), None)]) is None
    assert hash_at_hand(identity, [(*row[:6], 1.5, None)]) is None
    assert hash_at_hand(identity, [(*row[:3], 3, *row[4:])]) is None  # a grade not text
    assert hash_at_hand(identity, [(*row[:6], Decimal("sNaN"), None)]) is None
    assert hash_at_hand(identity, [(*row[:6], Decimal("Infinity"), None)]) is None


def test_rows_at_hand_hash_as_the_general_encoder_does_with_repeated_values() -> None:
    """Dates and scores are shown once per list and reused: every row still hashes as
    ``json.dumps`` of its plain row would, whatever repeats and whatever is missing."""
    identity = {"listnr": 7, "kind": "T33", "course": "DV1599", "module": "1010", "term": "HT26"}
    days = [None, dt.date(2026, 1, 2), dt.date(2026, 12, 31)]
    scores = [None, Decimal("1.5"), Decimal("1.50"), Decimal("0"), Decimal("-3.25"), Decimal("17")]
    rows = [
        (
            f"19900101{n:04d}",
            ["Ek", 'Å"sa\\', "Öberg\n"][n % 3],
            "Eva" if n % 5 else "Ünal – \u00e9",
            [None, "3", "U", "VG"][n % 4],
            None if n % 2 else "A",
            days[n % len(days)],
            scores[n % len(scores)],
            None if n % 7 else f"kommentar {n} \t <&>",
        )
        for n in range(60)
    ]
    assert hash_at_hand(identity, rows) == hash_content(
        identity, map(lambda r: plain_row(*r), rows)
    )
    assert hash_at_hand(identity, []) == hash_content(identity, [])


def test_the_issued_workbook_names_examiner_and_reporter_from_the_directory(app: App) -> None:
    seed(app, students=2)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    ws = load_workbook(issued.path).worksheets[0]
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        names: dict[str, str] = {
            u: n for u, n in session.execute(select(Staff.username, Staff.name))
        }
        examiner, reporter = rl.examiner, rl.reporter
    assert examiner and reporter and examiner in names and reporter in names
    examiner_row = contract.IDENTITY_ROW + 5
    assert ws.cell(row=examiner_row, column=2).value == f"{names[examiner]} ({examiner})"
    assert ws.cell(row=examiner_row + 1, column=2).value == f"{names[reporter]} ({reporter})"
