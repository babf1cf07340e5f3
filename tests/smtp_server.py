"""Loopback servers for tests: a real SMTP server (aiosmtpd) on 127.0.0.1 and helpers that
point a workspace's [mail]/[sms] sections at test servers. Loaded as a pytest plugin."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pipeline.app import App

SMTP_USER = "resultat"
SMTP_PASSWORD = "test-smtp-password"  # smtplib's AUTH takes ASCII only
SENDER = "resultat@example.se"
EXAMINER = "examinator.eva@example.se"
OFFICE = "utbildningsstod@example.se"
# PTS keeps 070-1740605..699 for fiction: never anyone's phone.
MOBILE = "070-174 06 40"
MOBILE_E164 = "+46701740640"
FROM_NUMBER = "+46701740600"


# --------------------------------------------------------------------------- the SMTP server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1 that requires a login and records every message it accepts."""

    port: int
    received: list[Received] = field(default_factory=list)
    refuse: bool = False
    require_auth: bool = True
    logins: list[tuple[str, str]] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 Try again later"
        login = session.auth_data.login.decode() if session.auth_data else None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, login)
        )
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            pair = (auth_data.login.decode(), auth_data.password.decode())
            self.logins.append(pair)
            if pair == (SMTP_USER, SMTP_PASSWORD):
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            loop=asyncio.new_event_loop(),
            auth_required=self.require_auth,
            auth_require_tls=False,
            authenticator=self.authenticate,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- workspace set-up


def set_section(root: Path, name: str, values: dict[str, Any]) -> None:
    """Replace the ``[name]`` section of the workspace's resultat.toml."""
    config = root / "resultat.toml"
    body = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    text, count = re.subn(
        rf"^\[{name}\]\n.*?(?=^\[|\Z)",
        lambda _: f"[{name}]\n{body}\n",
        config.read_text(encoding="utf-8"),
        flags=re.S | re.M,
    )
    assert count == 1
    config.write_text(text, encoding="utf-8")


@pytest.fixture
def reopen(app: App) -> Iterator[Callable[..., App]]:
    """Rewrite [mail]/[sms] and open the workspace again (closed after the test)."""
    opened: list[App] = []

    def configure(*, mail: dict[str, Any] | None = None, sms: dict[str, Any] | None = None) -> App:
        if mail is not None:
            set_section(app.root, "mail", mail)
        if sms is not None:
            set_section(app.root, "sms", sms)
        opened.append(App.open(app.root, actor="testadmin", admin=True))
        return opened[-1]

    yield configure
    for application in opened:
        application.close()


def smtp_config(server: SmtpServer) -> dict[str, Any]:
    return {
        "backend": "smtp",
        "sender": SENDER,
        "host": "127.0.0.1",
        "port": server.port,
        "user": SMTP_USER,
        "security": "none",
    }


@pytest.fixture
def smtp_app(
    smtp_server: SmtpServer, reopen: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> App:
    monkeypatch.setenv("RESULTAT_SMTP_PASSWORD", SMTP_PASSWORD)
    return reopen(mail=smtp_config(smtp_server))
