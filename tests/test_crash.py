"""Crash safety: ``resultat watch`` killed with SIGKILL at random moments and at chosen ones.

The random test runs the real daemon as a separate process on a workspace whose mail goes to
a real SMTP server (aiosmtpd) and whose SMS go to a fake Twilio, both on loopback, drops a few
hundred files over time (valid workbooks, invalid ones, exact copies, review workbooks with
wrong and right approval codes, stale workbooks, junk), kills the daemon at least twelve times
and restarts it, then lets it finish and checks what was promised: every file ended processed
or rejected exactly once with exactly one receipt, every accepted row is stored once, every
message reached its receiver, nothing was lost or left in ``inbox/.processing``, and the
audit log verifies.

The chosen-moment tests kill a ``resultat process`` or ``resultat dispatch`` at one exact
point (a wrapper around one function sends SIGKILL to its own process there), then run the
real command again, so each window of the pipeline is shown to be covered, not just likely
to be hit. One of them shows the one thing a crash can cause twice: a message the provider
accepted just before the process died is sent again on recovery, with the same Message-ID.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from pipeline import audit
from pipeline.app import App
from pipeline.messages import outbox
from pipeline.models import (
    AuditEvent,
    FileOutcome,
    InboxFile,
    ListState,
    Message,
    MessageStatus,
    ResultList,
    Staff,
    utcnow,
)
from pipeline.xlsx import workbook
from pipeline.xlsx.reader import META_SHEET
from tests.factories import fill, new_exam_list, seed
from tests.fake_twilio import FakeTwilio
from tests.loopback_proc import (
    Daemon,
    configure,
    drop,
    environment,
    in_processing,
    kept,
    message_ids,
    run_cli,
    sms_requests,
    wait_until,
    waiting_in_inbox,
)
from tests.smtp_server import SmtpServer

SUBMIT = "Skicka till examinator"
DRAFT = "Spara utkast"
GRADE_DATE = dt.date(2026, 11, 2)
STALE_AFTER = outbox.STALE_AFTER + dt.timedelta(minutes=1)


def _sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / 'var' / 'resultat.db'}"


def _loopback(
    root: Path, url: str, smtp: SmtpServer, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, str]]:
    configure(root, smtp=smtp, twilio=twilio)
    env = environment(url)
    for key, value in env.items():
        if key.startswith("RESULTAT_"):
            monkeypatch.setenv(key, value)
    return root, env


@pytest.fixture
def loopback_ws(
    tmp_path: Path,
    db_url: str,
    smtp_server: SmtpServer,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, dict[str, str]]:
    """A workspace (SQLite or PostgreSQL) whose mail and SMS go to the loopback servers."""
    return _loopback(tmp_path / "ws", db_url, smtp_server, fake_twilio, monkeypatch)


@pytest.fixture
def sqlite_loopback_ws(
    tmp_path: Path,
    smtp_server: SmtpServer,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, dict[str, str]]:
    """The same on SQLite only, for the tests that kill at chosen points."""
    root = tmp_path / "ws"
    return _loopback(root, _sqlite_url(root), smtp_server, fake_twilio, monkeypatch)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _grades(i: int, pnrs: list[str]) -> dict[str, dict[str, object]]:
    pattern = ["5", "4", "3", "U", None, "4", "3", "5"]
    rows: dict[str, dict[str, object]] = {}
    for j, pnr in enumerate(pnrs):
        grade = pattern[(i + j) % len(pattern)]
        if grade is not None:
            rows[pnr] = {"grade": grade, "grade_date": GRADE_DATE, "points": 10 + j}
    return rows


def _filled(
    issued: Path, rows: Mapping[str, Mapping[str, object]], action: str, tmp: Path
) -> bytes:
    out = fill(issued, rows, action=action, target=tmp / "fill.xlsx")
    return out.read_bytes()


def _review_with(app: App, listnr: int, code: str) -> bytes:
    review = max(
        (app.settings.review_dir).glob(f"{listnr}_v*_granskning.xlsx"),
        key=lambda p: int(p.name.split("_v")[1].split("_")[0]),
    )
    wb = load_workbook(review)
    wb.worksheets[0]["B13"] = code
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


_CODE_SMS = re.compile(r'"(\d+) (\d{6})"')  # the reply the SMS asks for: "LISTNR CODE"


@dataclass
class Plan:
    """What the test drops, and what each file must end as."""

    drops: dict[str, bytes] = field(default_factory=dict)
    expect: dict[str, set[FileOutcome]] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    grades: dict[int, dict[str, dict[str, object]]] = field(default_factory=dict)
    submitted: set[int] = field(default_factory=set)
    approved: set[int] = field(default_factory=set)

    def add(self, name: str, data: bytes, *outcomes: FileOutcome) -> None:
        assert name not in self.drops
        self.drops[name] = data
        self.expect[name] = set(outcomes)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_watch_killed_at_random_moments_loses_nothing_and_does_nothing_twice(
    loopback_ws: tuple[Path, dict[str, str]],
    smtp_server: SmtpServer,
    fake_twilio: FakeTwilio,
    tmp_path: Path,
) -> None:
    root, env = loopback_ws
    rng = random.Random(20261128)
    app = App.open(root, actor="testadmin", admin=True)
    try:
        _run_chaos(app, root, env, rng, smtp_server, fake_twilio, tmp_path)
    finally:
        app.close()


LISTS = 24
KILLS = 12


def _run_chaos(
    app: App,
    root: Path,
    env: dict[str, str],
    rng: random.Random,
    smtp_server: SmtpServer,
    fake_twilio: FakeTwilio,
    tmp_path: Path,
) -> None:
    seeded = seed(app, students=8)
    with app.db.session() as session:
        teacher = session.execute(select(Staff).where(Staff.username == "lärare1")).scalar_one()
        teacher.mail_copies = True  # a mail per receipt: more messages through the outbox
    plan = Plan()
    waves: list[list[str]] = [[] for _ in range(6)]
    later: dict[str, list[tuple[str, bytes]]] = {}  # dropped once the first file is taken
    listnrs = []
    for i in range(LISTS):
        listnr = new_exam_list(app)
        listnrs.append(listnr)
        issued = workbook.issue(app, listnr).path
        rows = _grades(i, seeded.pnrs)
        submit = i % 3 != 2
        plan.grades[listnr] = rows
        if submit:
            plan.submitted.add(listnr)
        good = _filled(issued, rows, SUBMIT if submit else DRAFT, tmp_path)
        wave = waves[i % len(waves)]
        # The original and an exact copy: one is applied, the other is a duplicate.
        plan.add(f"L{listnr}-betyg.xlsx", good)
        plan.add(f"L{listnr}-kopia.xlsx", good)
        plan.pairs.append((f"L{listnr}-betyg.xlsx", f"L{listnr}-kopia.xlsx"))
        wave += [f"L{listnr}-betyg.xlsx", f"L{listnr}-kopia.xlsx"]
        bad_rows = {seeded.pnrs[0]: {"grade": "Q", "grade_date": "30/10/2026"}}
        plan.add(
            f"L{listnr}-fel.xlsx",
            _filled(issued, bad_rows, SUBMIT, tmp_path),
            FileOutcome.REJECTED,
        )
        waves[(i + 3) % len(waves)].append(f"L{listnr}-fel.xlsx")
        if not submit:
            # Issued from version 1 after version 2 exists: refused as stale.
            stale_rows = {seeded.pnrs[1]: {"grade": "5", "grade_date": GRADE_DATE}}
            name = f"L{listnr}-gammal.xlsx"
            plan.add(name, _filled(issued, stale_rows, DRAFT, tmp_path), FileOutcome.REJECTED)
            later[f"L{listnr}-betyg.xlsx"] = [(name, plan.drops[name])]
    for k in range(90):
        kind = k % 3
        if kind == 0:
            name, data = f"skrap-{k:03d}.xlsx", rng.randbytes(rng.randint(1, 4000))
        elif kind == 1:
            name, data = f"tom-{k:03d}.xlsx", b""
        else:
            name, data = f"anteckning-{k:03d}.txt", f"anteckning {k}\n".encode()
        plan.add(name, data, FileOutcome.REJECTED)
        waves[k % len(waves)].append(name)

    daemon = Daemon(root, env).start()
    started = time.monotonic()
    next_kill: float | None = None  # drawn once the daemon says it is watching
    next_wave = started + 1.0
    dropped: set[str] = set()
    codes_seen: set[int] = set()
    pending_review: dict[int, list[tuple[str, bytes]]] = {}
    deadline = started + 420

    def drop_named(name: str, data: bytes) -> None:
        assert name not in dropped, name
        if name not in plan.drops:
            plan.drops[name] = data
        drop(root / "inbox", name, data)
        dropped.add(name)

    def taken(name: str) -> bool:
        return name in kept(root / "inbox")

    def pump() -> None:
        """Drop what is due: waves, files that follow earlier ones, review workbooks."""
        nonlocal next_wave
        if waves and time.monotonic() >= next_wave:
            for name in waves.pop(0):
                drop_named(name, plan.drops[name])
            next_wave = time.monotonic() + 2.0
        for first, follow in list(later.items()):
            if first in dropped and taken(first):
                for name, data in follow:
                    drop_named(name, data)
                del later[first]
        for request in list(fake_twilio.messages):
            match = _CODE_SMS.search(request.form.get("Body", ""))
            if not match:
                continue
            listnr, code = int(match.group(1)), match.group(2)
            if listnr in codes_seen or listnr not in plan.submitted:
                continue
            codes_seen.add(listnr)
            right = _review_with(app, listnr, code)
            steps: list[tuple[str, bytes]] = []
            if listnr % 4 == 0:
                wrong = _review_with(app, listnr, f"{(int(code) + 1) % 10**6:06d}")
                plan.expect[f"L{listnr}-attest-fel.xlsx"] = {FileOutcome.REJECTED}
                steps.append((f"L{listnr}-attest-fel.xlsx", wrong))
            plan.expect[f"L{listnr}-attest.xlsx"] = set()
            steps.append((f"L{listnr}-attest.xlsx", right))
            if listnr % 2 == 0:
                plan.expect[f"L{listnr}-attest-kopia.xlsx"] = set()
                plan.pairs.append((f"L{listnr}-attest.xlsx", f"L{listnr}-attest-kopia.xlsx"))
                steps.append((f"L{listnr}-attest-kopia.xlsx", right))
            else:
                plan.expect[f"L{listnr}-attest.xlsx"] = {FileOutcome.ACCEPTED}
            plan.approved.add(listnr)
            pending_review[listnr] = steps
        for listnr, steps in list(pending_review.items()):
            # One step at a time: the wrong code is refused before the right one arrives.
            if not steps:
                del pending_review[listnr]
                continue
            previous = [n for n in dropped if n.startswith(f"L{listnr}-attest")]
            if all(taken(n) for n in previous):
                drop_named(*steps.pop(0))

    # Chaos: drop on schedule and kill the daemon at random moments, restarting it at once.
    while daemon.kills < KILLS or waves:
        assert time.monotonic() < deadline, "the chaos phase did not finish in time"
        assert daemon.alive(), "the daemon stopped on its own, " + daemon.death()
        pump()
        if next_kill is None and daemon.watching():
            # Most kills land while files are processed or recovered, some in the idle loop.
            next_kill = time.monotonic() + rng.uniform(0.2, 2.5)
        if next_kill is not None and time.monotonic() >= next_kill:
            daemon.kill()
            daemon.start()
            next_kill = None
        time.sleep(0.05)

    # Calm: let the daemon finish everything that can be finished without a clock jump.
    def settled() -> bool:
        pump()
        if later or pending_review or waiting_in_inbox(root / "inbox"):
            return False
        if in_processing(root / "inbox"):
            return False
        with app.db.session() as session:
            statuses = Counter(session.execute(select(Message.status)).scalars())
            stuck = session.scalar(
                select(Message.id)
                .where(
                    Message.status == MessageStatus.SENDING,
                    Message.next_attempt_at < utcnow() - dt.timedelta(seconds=5),
                )
                .limit(1)
            )
        if stuck is not None:
            # Left 'sending' by a kill: taken back after STALE_AFTER. Jump the clock, as the
            # daemon would do by itself ten minutes later (a code SMS may be among them).
            outbox.drain(app, now=utcnow() + STALE_AFTER)
            return False
        return not set(plan.submitted) - codes_seen and not statuses[MessageStatus.QUEUED]

    try:
        wait_until(settled, timeout=max(30.0, deadline - time.monotonic()), interval=0.3,
                   what="the daemon to finish")  # fmt: skip
    finally:
        assert daemon.alive(), "the daemon stopped on its own, " + daemon.death()
        daemon.stop()
    assert daemon.kills >= KILLS

    # Messages left 'sending' by a killed dispatcher are taken back after STALE_AFTER: jump
    # the clock past it, as a later run of the daemon would.
    outbox.drain(app, now=utcnow() + STALE_AFTER)
    _check_files(app, root, plan, dropped)
    _check_database(app, plan, listnrs)
    _check_messages(app, smtp_server, fake_twilio, daemon.kills)
    print(  # shown with -s: what this run went through
        f"\n{len(dropped)} files, {daemon.kills} kills, {len(smtp_server.received)} mails and "
        f"{len(fake_twilio.messages)} SMS received, {time.monotonic() - started:.0f} s"
    )


def _check_files(app: App, root: Path, plan: Plan, dropped: set[str]) -> None:
    inbox = root / "inbox"
    assert dropped == set(plan.drops), "not every planned file was dropped"
    assert waiting_in_inbox(inbox) == [] and in_processing(inbox) == []
    originals = kept(inbox)
    assert set(originals) == dropped, "files lost or invented"
    assert {n: len(p) for n, p in originals.items() if len(p) != 1} == {}
    with app.db.session() as session:
        records = list(session.execute(select(InboxFile)).scalars())
    by_name: dict[str, list[InboxFile]] = {}
    for record in records:
        by_name.setdefault(record.original_name, []).append(record)
    assert {n: len(r) for n, r in by_name.items() if len(r) != 1} == {}, "a file recorded twice"
    assert set(by_name) == dropped
    receipts = set()
    outcomes: dict[str, FileOutcome] = {}
    for name, [record] in by_name.items():
        [path] = originals[name]
        area = ".rejected" if record.outcome == FileOutcome.REJECTED else ".processed"
        assert path.parent.name == area, (name, record.outcome)
        assert record.stored_path == path.relative_to(root).as_posix()
        assert record.sha256 == _sha(path.read_bytes()) == _sha(plan.drops[name])
        assert record.finished_at is not None and record.receipt_path
        receipt = root / record.receipt_path
        text = receipt.read_text("utf-8")
        assert f"Fil: {name}" in text, (name, text)
        receipts.add(receipt.name)
        outcomes[name] = record.outcome
    assert len(receipts) == len(dropped), "two files share a receipt"
    on_disk = {p.name for p in app.settings.receipts_dir.glob("*.txt")}
    assert on_disk == receipts, "receipts without a file, or files without a receipt"
    for name, expected in plan.expect.items():
        if expected:
            assert outcomes[name] in expected, (name, outcomes[name])
    for first, second in plan.pairs:
        assert sorted([outcomes[first], outcomes[second]]) == sorted(
            [FileOutcome.ACCEPTED, FileOutcome.DUPLICATE]
        ), (first, second, outcomes[first], outcomes[second])


def _check_database(app: App, plan: Plan, listnrs: list[int]) -> None:
    with app.db.session() as session:
        assert audit.verify_chain(session).ok
        events = Counter(
            (e.listnr, e.action) for e in session.execute(select(AuditEvent)).scalars()
        )
        for listnr in listnrs:
            rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
            stored = {
                e.student.pnr: (e.grade, e.grade_date, e.points) for e in rl.entries if e.grade
            }
            expected = {
                pnr: (v["grade"], GRADE_DATE, v["points"]) for pnr, v in plan.grades[listnr].items()
            }
            assert {k: (g, d, int(p or 0)) for k, (g, d, p) in stored.items()} == expected, listnr
            # Applied exactly once: one change event, one version step.
            assert events[(listnr, "list.results")] == 1, listnr
            assert rl.version == 2, listnr
            if listnr in plan.approved:
                assert rl.state == ListState.APPROVED, listnr
                assert events[(listnr, "list.approve")] == 1, listnr
                ladok = app.settings.office_outbox / "ladok" / f"{listnr}.tsv"
                assert len(ladok.read_text("utf-8").splitlines()) == len(expected)
            elif listnr in plan.submitted:
                assert rl.state == ListState.AWAITING_APPROVAL, listnr
            else:
                assert rl.state == ListState.DRAFT, listnr


def _check_messages(app: App, smtp: SmtpServer, twilio: FakeTwilio, kills: int) -> None:
    """Every message reached its receiver; a second copy only of a message whose send was
    cut by a kill (recorded as requeued), never more than one per kill."""
    with app.db.session() as session:
        messages = list(session.execute(select(Message)).scalars())
    assert messages and all(m.status == MessageStatus.SENT for m in messages)
    interrupted = {m.id for m in messages if "requeued" in (m.last_error or "")}
    emails = {outbox.message_id(m, app.settings): m for m in messages if m.channel == "email"}
    received = message_ids(smtp)
    assert set(received) == set(emails), "an email missing at the SMTP server, or one extra"
    sms: dict[tuple[str, str], Message] = {
        (m.recipient, m.body): m for m in messages if m.channel == "sms"
    }
    assert len(sms) == len([m for m in messages if m.channel == "sms"])
    texts: Counter[tuple[str, str]] = Counter()
    for (to, body), n in sms_requests(twilio).items():
        texts[(to, outbox.scrub_code(body))] += n
    assert set(texts) == set(sms), "an SMS missing at Twilio, or one extra"
    twice = {mid: n for mid, n in received.items() if n > 1}
    twice_sms = {key: n for key, n in texts.items() if n > 1}
    for mid, n in twice.items():
        assert emails[mid].id in interrupted and n <= 1 + emails[mid].attempts, mid
    for key, n in twice_sms.items():
        assert sms[key].id in interrupted and n <= 1 + sms[key].attempts, key
    extra = sum(n - 1 for n in twice.values()) + sum(n - 1 for n in twice_sms.values())
    assert extra <= kills
    kinds = Counter(m.kind for m in messages)
    assert kinds["approval_code"] >= 1 and kinds["examiner_review"] >= 1 and kinds["approved"]


# --------------------------------------------------------------------------- chosen moments

#: Runs a resultat command in which one function SIGKILLs the process before or after it runs
#: (its n-th call). argv: module, attribute path, "before"|"after", n, then the CLI arguments.
#: The target "sqlalchemy.orm:Session.commit" with "after" counts only the commits that record
#: an InboxFile: the moment a file's outcome is committed, whatever the code around it does.
KILL_AT = textwrap.dedent(
    """
    import importlib, os, signal, sys
    module, attr, when, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    owner = importlib.import_module(module)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = [0]
    if attr == "Session.commit":
        from sqlalchemy import event
        from pipeline.models import InboxFile
        @event.listens_for(owner, "before_flush")
        def mark(session, context, instances):
            if any(isinstance(o, InboxFile) for o in session.new):
                session.info["records_a_file"] = True
    def counts(args):
        return attr != "Session.commit" or bool(args[0].info.pop("records_a_file", False))
    def wrapper(*args, **kwargs):
        counted = counts(args)
        calls[0] += counted
        if counted and calls[0] == nth and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if counted and calls[0] == nth and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, name, wrapper)
    from pipeline.cli import main
    sys.argv = ["resultat", *sys.argv[5:]]
    main()
    """
)


def _killed_at(
    root: Path, env: dict[str, str], target: str, when: str, *args: str, nth: int = 1
) -> None:
    module, _, attr = target.partition(":")
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT, module, attr, when, str(nth), "--workspace", str(root),
         *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


def _version_of(path: Path) -> int:
    wb = load_workbook(path, read_only=True)
    try:
        meta = {row[0]: row[1] for row in wb[META_SHEET].iter_rows(values_only=True) if row[0]}
    finally:
        wb.close()
    return int(str(meta["version"]))


@pytest.fixture
def dropped_submission(
    sqlite_loopback_ws: tuple[Path, dict[str, str]],
) -> tuple[Path, dict[str, str], App, int, str]:
    """A workspace with one list whose filled workbook (sent to the examiner) lies in inbox/."""
    root, env = sqlite_loopback_ws
    app = App.open(root, actor="testadmin", admin=True)
    seeded = seed(app, students=4)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr).path
    rows = _grades(0, seeded.pnrs)
    fill(issued, rows, action=SUBMIT, target=root / "inbox" / "betyg.xlsx")
    return root, env, app, listnr, "betyg.xlsx"


#: Points inside the processing of one workbook: (function, before/after).
POINTS = [
    ("pipeline.intake.stages:_sha256", "after"),  # claimed, nothing else done
    ("pipeline.lifecycle.review:review_files", "after"),  # review files written, not committed
    ("pipeline.intake.receipts:write_receipt", "after"),  # receipt written, not committed
    ("sqlalchemy.orm:Session.commit", "after"),  # committed; fresh workbook not yet written
    ("pipeline.intake.inbox:Inbox._finish", "before"),  # committed and re-issued, not moved
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "when"), POINTS, ids=["claimed", "review-files", "receipt", "committed", "finish"]
)
def test_process_killed_at_a_chosen_point_is_finished_by_the_next_run(
    dropped_submission: tuple[Path, dict[str, str], App, int, str], target: str, when: str
) -> None:
    root, env, app, listnr, name = dropped_submission
    try:
        _killed_at(root, env, target, when, "process")
        assert waiting_in_inbox(root / "inbox") == []
        assert len(in_processing(root / "inbox")) == 1, "the claim is kept for recovery"
        recovery = run_cli(root, env, "process")
        assert recovery.returncode == 0, recovery.stderr
        assert in_processing(root / "inbox") == []
        assert {n: [p.parent.name for p in ps] for n, ps in kept(root / "inbox").items()} == {
            name: [".processed"]
        }
        with app.db.session() as session:
            records = list(session.execute(select(InboxFile)).scalars())
            rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
            events = Counter(e.action for e in session.execute(select(AuditEvent)).scalars())
            assert audit.verify_chain(session).ok
            state, version = rl.state, rl.version
            kinds = Counter(m.kind for m in session.execute(select(Message)).scalars())
        assert [(r.original_name, r.outcome) for r in records] == [(name, FileOutcome.ACCEPTED)]
        assert (state, version) == (ListState.AWAITING_APPROVAL, 2)
        assert events["list.results"] == 1 and events["list.submit"] == 1
        assert events["approval.requested"] == 1
        # Exactly once each, the reporter's receipt mail included (mail copies are on).
        assert kinds == Counter(
            {"examiner_review": 1, "approval_code": 1, "reporter_forwarded": 1, "receipt_copy": 1}
        )
        receipts = sorted(p.name for p in app.settings.receipts_dir.glob("*.txt"))
        assert receipts == [Path(records[0].receipt_path or "").name]
    finally:
        app.close()


@pytest.mark.slow
def test_fresh_workbook_is_written_even_when_the_run_died_after_the_commit(
    dropped_submission: tuple[Path, dict[str, str], App, int, str],
) -> None:
    root, env, app, listnr, _ = dropped_submission
    try:
        _killed_at(root, env, "sqlalchemy.orm:Session.commit", "after", "process")
        assert _version_of(app.settings.lists_dir / f"{listnr}.xlsx") == 1
        assert run_cli(root, env, "process").returncode == 0
        with app.db.session() as session:
            version = session.execute(
                select(ResultList.version).where(ResultList.listnr == listnr)
            ).scalar_one()
        assert version == 2
        assert _version_of(app.settings.lists_dir / f"{listnr}.xlsx") == version
    finally:
        app.close()


@pytest.mark.slow
def test_message_accepted_by_the_provider_just_before_a_crash_is_sent_again_with_its_id(
    dropped_submission: tuple[Path, dict[str, str], App, int, str],
    smtp_server: SmtpServer,
    fake_twilio: FakeTwilio,
) -> None:
    """The one window the outbox cannot close: the receiver has the message, the process dies
    before it records that. The message stays 'sending'; after STALE_AFTER it is sent again —
    an email with the same Message-ID (a receiver can drop the copy), an SMS as the same text
    (Twilio's API has no idempotency key: the phone shows it twice). Nothing is lost."""
    root, env, app, _, _ = dropped_submission
    try:
        # `process` takes the file and sends what it queued: the first email goes to the SMTP
        # server, and the process dies before marking it sent.
        _killed_at(root, env, "pipeline.messages.dispatch:_mark_sent", "before", "process")
        assert len(smtp_server.received) == 1
        with app.db.session() as session:
            statuses = Counter(m.status for m in session.execute(select(Message)).scalars())
        assert statuses[MessageStatus.SENDING] == 1
        # Within STALE_AFTER nothing is sent twice: the message might still be on its way.
        assert run_cli(root, env, "dispatch").returncode == 0
        assert len(smtp_server.received) == len(message_ids(smtp_server))
        outbox.drain(app, now=utcnow() + STALE_AFTER)
        ids = message_ids(smtp_server)
        assert sorted(ids.values()) == [1] * (len(ids) - 1) + [2]
        with app.db.session() as session:
            messages = list(session.execute(select(Message)).scalars())
        assert all(m.status == MessageStatus.SENT for m in messages)
        assert set(ids) == {
            outbox.message_id(m, app.settings) for m in messages if m.channel == "email"
        }
        assert len(fake_twilio.messages) == 1
        # The same for an SMS: Twilio took it, the process died before recording it.
        _sms_twice(root, env, app, fake_twilio)
    finally:
        app.close()


def _sms_twice(root: Path, env: dict[str, str], app: App, twilio: FakeTwilio) -> None:
    from pipeline.lifecycle import approval

    with app.db.session() as session:
        listnr = session.execute(select(ResultList.listnr)).scalar_one()
    approval.resend_code(app, listnr)
    before = len(twilio.messages)
    with app.db.session() as session:
        queued = [
            m.kind
            for m in session.execute(
                select(Message).where(Message.status == MessageStatus.QUEUED).order_by(Message.id)
            ).scalars()
        ]
    nth = queued.index("code_resent") + 1
    _killed_at(root, env, "pipeline.messages.dispatch:_mark_sent", "before", "dispatch", nth=nth)
    assert len(twilio.messages) == before + 1
    outbox.drain(app, now=utcnow() + STALE_AFTER)
    texts = Counter(r.form["Body"] for r in twilio.messages[before:])
    assert list(texts.values()) == [2], "the resent code arrives twice, as the same text"


@pytest.mark.slow
def test_file_that_failed_for_a_passing_reason_is_taken_again_without_a_restart(
    tmp_path: Path,
) -> None:
    root = configure(tmp_path / "ws")
    env = environment(_sqlite_url(root))
    receipts = root / "var" / "receipts"  # where every receipt is written first
    receipts.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(root, env).start()
    try:
        wait_until(daemon.watching, timeout=60, what="the daemon")
        receipts.rmdir()
        receipts.write_text("not a folder: writing a receipt fails for a while")
        drop(root / "inbox", "skräp.xlsx", b"junk")
        wait_until(lambda: in_processing(root / "inbox"), timeout=30, what="the claim")
        time.sleep(2.0)  # the attempt has failed by now
        assert in_processing(root / "inbox"), "kept for a later attempt"
        receipts.unlink()
        receipts.mkdir()
        wait_until(
            lambda: not in_processing(root / "inbox") and list(receipts.glob("*.txt")),
            timeout=20,
            what="the file to be taken again",
        )
        assert daemon.alive()
    finally:
        daemon.stop()
