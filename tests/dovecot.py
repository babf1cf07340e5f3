"""A real Dovecot IMAP server on 127.0.0.1 for the drop-by-mail tests, configured in a
temporary folder: passwd-file login, Maildir storage, no TLS; and the tests' helpers (mails as
a mail client writes them, a workspace reading the server, what the SMTP server got). Loaded
as a pytest plugin (tests/conftest.py).

Dovecot runs in the foreground (``-F``) as a child of the test process. Its login process must
not run as root, so under root the login, internal and mail user is ``nobody`` (the folder is
given to it); otherwise everything runs as the current user.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Final

import pytest
from imap_tools import MailBoxUnencrypted
from sqlalchemy import select

from pipeline.app import App
from pipeline.mailin import poll
from pipeline.mailin.take import MailResult
from pipeline.messages import outbox
from pipeline.models import InboxFile, MailinMail, Student
from pipeline.people.furnish import furnish
from pipeline.xlsx import workbook
from tests.factories import fill, new_exam_list, seed
from tests.smtp_server import SMTP_PASSWORD, Received, SmtpServer, set_section, smtp_config

DOVECOT: Final = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER: Final = "resultat"
PASSWORD: Final = "test-imap-password"


def available() -> bool:
    return os.access(DOVECOT, os.X_OK)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> tuple[str, str, int, int]:
    """(user, group, uid, gid) Dovecot's processes run as."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam("nobody")
    else:
        entry = pwd.getpwuid(os.geteuid())
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid


CONFIG: Final = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
first_valid_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class Dovecot:
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        user, group, uid, gid = _run_as()
        (self.root / "home").mkdir(parents=True)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
        config = self.root / "dovecot.conf"
        config.write_text(
            CONFIG.format(root=self.root, user=user, group=group, uid=uid, gid=gid, port=self.port),
            encoding="utf-8",
        )
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            os.chown(self.root / "home", uid, gid)
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with self.client():
                    return
            except Exception:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"Dovecot did not start: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text("utf-8", "replace")[-3000:] if path.is_file() else ""

    def client(self) -> MailBoxUnencrypted:
        return MailBoxUnencrypted("127.0.0.1", self.port, timeout=10).login(USER, PASSWORD)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """A mail as if received: appended to ``folder`` (IMAP APPEND)."""
        with self.client() as box:
            box.append(raw, folder)

    def count(self, folder: str) -> int:
        with self.client() as box:
            if not box.folder.exists(folder):
                return 0
            return int(box.folder.status(folder, ["MESSAGES"])["MESSAGES"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def settings(self, **extra: object) -> dict[str, object]:
        """A ``[mailin]`` section for this server."""
        return {
            "enabled": True,
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "user": USER,
            "poll_seconds": 0.5,
            **extra,
        }


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not available():
        pytest.skip(f"no Dovecot at {DOVECOT}: install dovecot-imapd (.ci/run does)")
    # Not under pytest's tmp_path: its 0700 parents keep the unprivileged mail user out.
    root = Path(tempfile.mkdtemp(prefix="resultat-dovecot-"))
    server = Dovecot(root, _free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- helpers

TEACHER = "larare1@example.se"
EXAMINER = "exam1@example.se"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
GRADE_DATE = "2026-11-02"


def letter(
    sender: str,
    subject: str,
    *,
    files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
    body: str = "Hej!\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """A mail as a mail client writes it, and its Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "resultat@example.se"
    msg["Subject"] = subject
    mid = message_id or make_msgid(domain="example.se")
    msg["Message-ID"] = mid
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype=XLSX[0], subtype=XLSX[1], filename=name)
    return msg.as_bytes(), mid


def configure_mail(root: Path, smtp: SmtpServer, server: Dovecot, **mailin: Any) -> None:
    set_section(root, "mail", smtp_config(smtp))
    set_section(root, "mailin", server.settings(**mailin))


@pytest.fixture
def mail_app(
    app: App, smtp_server: SmtpServer, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[App]:
    seed(app)
    furnish(app)
    monkeypatch.setenv("RESULTAT_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("RESULTAT_IMAP_PASSWORD", PASSWORD)
    configure_mail(app.root, smtp_server, dovecot)
    opened = App.open(app.root, actor="testadmin", admin=True)
    try:
        yield opened
    finally:
        opened.close()


def reopen(app: App, smtp: SmtpServer, server: Dovecot, **mailin: Any) -> App:
    configure_mail(app.root, smtp, server, **mailin)
    return App.open(app.root, actor="testadmin", admin=True)


def filled(app: App, tmp: Path, name: str = "betyg.xlsx", count: int = 3) -> bytes:
    with app.db.read_session() as session:
        pnrs = [s.pnr for s in session.execute(select(Student)).scalars()][:count]
    listnr = new_exam_list(app)
    return fill(
        workbook.issue(app, listnr).path,
        {p: {"grade": "4", "grade_date": GRADE_DATE} for p in pnrs},
        action="Skicka till examinator",
        target=tmp / name,
    ).read_bytes()


def take(app: App) -> list[MailResult]:
    """One pass over the mailbox, then what it queued is sent (to the SMTP server)."""
    results = poll.poll_once(app)
    outbox.drain(app)
    return results


def to(smtp: SmtpServer, address: str) -> list[Received]:
    return [r for r in smtp.received if address in r.rcpt_tos]


def replies(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    """The mails to ``address`` that answer one of theirs (in a thread)."""
    found = [r.parsed() for r in to(smtp, address)]
    return [m for m in found if str(m["Subject"] or "").startswith("Re:")]


def mails(app: App) -> list[MailinMail]:
    with app.db.read_session() as session:
        return list(session.execute(select(MailinMail).order_by(MailinMail.id)).scalars())


def files_of(app: App) -> list[InboxFile]:
    with app.db.read_session() as session:
        return list(session.execute(select(InboxFile).order_by(InboxFile.id)).scalars())
