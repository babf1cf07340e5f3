"""Drop by mail, exactly once: the real ``resultat watch`` killed with SIGKILL between
fetching a mail from the real Dovecot and committing its outcome (issue 17, point 6)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pipeline.app import App
from pipeline.mailin.take import PAUSE_MARK
from pipeline.models import FileOutcome
from tests.dovecot import (
    PASSWORD,
    TEACHER,
    Dovecot,
    configure_mail,
    files_of,
    filled,
    letter,
    mails,
    replies,
)
from tests.loopback_proc import Daemon, environment, run_cli
from tests.smtp_server import SmtpServer, set_section


def _kill_env(root: Path, db_url: str) -> dict[str, str]:
    return environment(db_url, RESULTAT_IMAP_PASSWORD=PASSWORD)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["fetched", "claimed"])
def test_a_killed_watch_loses_and_doubles_nothing(
    mail_app: App,
    smtp_server: SmtpServer,
    dovecot: Dovecot,
    tmp_path: Path,
    db_url: str,
    point: str,
) -> None:
    """SIGKILL of the real daemon between fetching a mail and committing its outcome; the
    next run takes it exactly once: one record, one receipt, the mail in resultat/done."""
    raw, mid = letter(TEACHER, "Betyg", files=[("betyg.xlsx", filled(mail_app, tmp_path))])
    configure_mail(mail_app.root, smtp_server, dovecot, pause_at=point, pause_seconds=60)
    set_section(
        mail_app.root,
        "inbox",
        {"stable_seconds": 0.2, "scan_interval": 1.0, "max_file_mb": 50, "max_rows": 50000},
    )
    env = _kill_env(mail_app.root, db_url)
    dovecot.deliver(raw)
    daemon = Daemon(mail_app.root, env).start()
    mark = mail_app.settings.var / PAUSE_MARK
    deadline = time.monotonic() + 60
    while not mark.is_file() and time.monotonic() < deadline and daemon.alive():
        time.sleep(0.1)
    assert mark.read_text("utf-8") == point, daemon.output()
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=30)
    assert dovecot.count("INBOX") == 1  # not put away: its outcome was never committed

    configure_mail(mail_app.root, smtp_server, dovecot)  # no pause this time
    daemon = Daemon(mail_app.root, env, name="again").start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not replies(smtp_server, TEACHER):
            time.sleep(0.2)
        time.sleep(1.0)  # anything doubled would come now
    finally:
        daemon.stop()
    assert [f.outcome for f in files_of(mail_app)] == [FileOutcome.ACCEPTED]
    [row] = mails(mail_app)
    assert row.status == "done"
    receipts = replies(smtp_server, TEACHER)
    assert len(receipts) == 1 and receipts[0]["In-Reply-To"] == mid
    assert dovecot.count("INBOX") == 0 and dovecot.count("resultat/done") == 1
    assert list((mail_app.settings.inbox / ".processing").iterdir()) == []
    assert run_cli(mail_app.root, env, "process").returncode == 0
    assert len(files_of(mail_app)) == 1 and len(replies(smtp_server, TEACHER)) == 1
