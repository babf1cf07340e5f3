"""Twilio's incoming-SMS webhook, driven over real HTTP on 127.0.0.1 with signatures made by
twilio's own RequestValidator. The handler is a scripted fake: what a reply means is not this
module's business, only that nothing unsigned reaches it."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from pipeline.app import App
from pipeline.messages.sms_webhook import MAX_BODY_BYTES, make_server_for
from pipeline.settings import DATABASE_ENV, create_workspace

TOKEN = "e" * 32
EXAMINER_MOBILE = "+46701740640"  # PTS's range for fiction
PUBLIC_URL = "https://resultat.example.se/sms"
# What Twilio posts for an incoming SMS, blank fields included (they are signed too).
FORM = {
    "AccountSid": "AC" + "0" * 32,
    "MessageSid": "SM" + "1" * 32,
    "From": EXAMINER_MOBILE,
    "To": "+46701740600",
    "Body": "4711 480213",
    "NumMedia": "0",
    "FromCity": "",
    "FromCountry": "SE",
}


@dataclass
class FakeHandler:
    """Answers every reply with a fixed text and remembers what it got."""

    reply: str = "Lista 4711 är attesterad <tack> & hej då"
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, from_number: str, body: str) -> str:
        self.calls.append((from_number, body))
        return self.reply


@dataclass
class Webhook:
    url: str
    handler: FakeHandler


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def open_app(tmp_path: Path, *, webhook_url: str | None = None, token: str | None = TOKEN) -> App:
    """A workspace of its own: the webhook keeps only the SIDs it saw, so SQLite suffices."""
    root = tmp_path / "ws"
    create_workspace(root)
    # No message's age is asked of Twilio here (no REST API in these tests): the replay
    # window and the seen-SID check are tested through it in test_approval_hardened.py.
    config = root / "resultat.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "webhook_max_age_seconds = 600", "webhook_max_age_seconds = 0"
        ),
        encoding="utf-8",
    )
    if webhook_url:
        config = root / "resultat.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("[sms]\n", f'[sms]\nwebhook_url = "{webhook_url}"\n'))
    env = {DATABASE_ENV: f"sqlite:///{root / 'var' / 'test.db'}"}
    if token:
        env["RESULTAT_TWILIO_TOKEN"] = token
    return App.open(root, actor="testadmin", admin=True, env=env)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Webhook]]:
    """Start the webhook server on a free loopback port (stopped after the test)."""
    running: list[tuple[object, threading.Thread, App]] = []

    def run(*, webhook_url: str | None = None, token: str | None = TOKEN) -> Webhook:
        app = open_app(tmp_path, webhook_url=webhook_url, token=token)
        handler = FakeHandler()
        server = make_server_for(app, handler, host="127.0.0.1", port=0)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        running.append((server, thread, app))
        return Webhook(url=f"http://127.0.0.1:{server.server_port}/sms", handler=handler)

    yield run
    for server, thread, app in running:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]
        thread.join(timeout=5)
        app.close()


def sign(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def request(
    url: str,
    *,
    form: dict[str, str] | None = None,
    signature: str | None = None,
    method: str = "POST",
    data: bytes | None = None,
) -> Answer:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    if data is None and form is not None:
        data = urlencode(form).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())


def test_signed_reply_reaches_the_handler_and_gets_twiml(start: Callable[..., Webhook]) -> None:
    hook = start()
    answer = request(hook.url, form=FORM, signature=sign(hook.url, FORM))

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert hook.handler.calls == [(EXAMINER_MOBILE, "4711 480213")]
    assert b"&lt;tack&gt; &amp; hej" in answer.body
    root = ET.fromstring(answer.body)
    assert root.tag == "Response"
    assert [m.text for m in root.findall("Message")] == ["Lista 4711 är attesterad <tack> & hej då"]


def test_empty_reply_is_an_empty_response(start: Callable[..., Webhook]) -> None:
    hook = start()
    hook.handler.reply = ""
    answer = request(hook.url, form=FORM, signature=sign(hook.url, FORM))
    assert answer.status == 200
    root = ET.fromstring(answer.body)
    assert root.tag == "Response" and list(root) == []


@pytest.mark.parametrize("case", ["missing", "empty", "other-token", "garbage"])
def test_unsigned_or_badly_signed_request_is_refused(
    start: Callable[..., Webhook], case: str
) -> None:
    hook = start()
    signature = {
        "missing": None,
        "empty": "",
        "other-token": sign(hook.url, FORM, token="d" * 32),
        "garbage": "forged",
    }[case]
    answer = request(hook.url, form=FORM, signature=signature)
    assert answer.status == 403
    assert hook.handler.calls == []


def test_altered_body_breaks_the_signature(start: Callable[..., Webhook]) -> None:
    hook = start()
    signature = sign(hook.url, FORM)
    answer = request(hook.url, form={**FORM, "Body": "4711 999999"}, signature=signature)
    assert answer.status == 403
    assert hook.handler.calls == []


def test_signature_covers_the_public_url_behind_a_proxy(start: Callable[..., Webhook]) -> None:
    hook = start(webhook_url=PUBLIC_URL)
    assert request(hook.url, form=FORM, signature=sign(hook.url, FORM)).status == 403
    assert hook.handler.calls == []
    assert request(hook.url, form=FORM, signature=sign(PUBLIC_URL, FORM)).status == 200
    assert hook.handler.calls == [(EXAMINER_MOBILE, "4711 480213")]


def test_without_a_token_everything_is_refused(start: Callable[..., Webhook]) -> None:
    hook = start(token=None)
    answer = request(hook.url, form=FORM, signature=sign(hook.url, FORM))
    assert answer.status == 403
    assert hook.handler.calls == []


def test_only_post_is_allowed(start: Callable[..., Webhook]) -> None:
    hook = start()
    answer = request(hook.url, method="GET", signature=sign(hook.url, {}))
    assert answer.status == 405
    assert answer.headers["Allow"] == "POST"
    assert hook.handler.calls == []


def test_oversized_body_is_refused(start: Callable[..., Webhook]) -> None:
    hook = start()
    big = {**FORM, "Body": "x" * (MAX_BODY_BYTES + 1)}
    answer = request(hook.url, form=big, signature=sign(hook.url, big))
    assert answer.status == 413
    assert hook.handler.calls == []
