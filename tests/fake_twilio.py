"""A local HTTP server that speaks enough of Twilio's Messages API for the real twilio client.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields ``To``, ``From``,
``Body`` and HTTP basic auth (account SID, auth token) is answered ``201`` with a JSON body
shaped like Twilio's; wrong credentials get ``401``, other paths ``404``, each with Twilio's
error JSON. Every request is recorded (method, path, basic-auth pair, form fields). A test can
queue other answers with :meth:`FakeTwilio.fail_next` (e.g. 400 code 21211, invalid number).
``GET .../Messages/{Sid}.json`` answers a message put there with :meth:`FakeTwilio.receive`
(an incoming SMS, with Twilio's ``date_sent``), else ``404``.

Use the ``fake_twilio`` fixture (import it into a test module or list this module in
``pytest_plugins``); point the client at it with ``[sms] api_base_url = fake.url``.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs

import pytest

# Shaped like real credentials, valid nowhere.
ACCOUNT_SID: Final = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN: Final = "f" * 32
API_VERSION: Final = "2010-04-01"


@dataclass
class RecordedRequest:
    method: str
    path: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    headers: dict[str, str]
    created_sid: str | None = None  # the message SID when the request created one


@dataclass
class FakeTwilio:
    """The server's state; ``url`` is what ``api_base_url`` should be set to."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _inbound: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(
        self, status: int = 500, code: int = 20500, message: str = "fake failure"
    ) -> None:
        """Answer the next Messages request with this error instead of creating a message."""
        payload = {"code": code, "message": message, "more_info": "", "status": status}
        with self._lock:
            self._failures.append((status, payload))

    def receive(self, sid: str, *, sender: str, to: str, body: str, sent: dt.datetime) -> None:
        """An incoming SMS as Twilio keeps it: what ``GET .../Messages/{sid}.json`` answers."""
        when = format_datetime(sent.astimezone(dt.UTC), usegmt=True)
        with self._lock:
            self._inbound[sid] = {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": body,
                "date_created": when,
                "date_sent": when,
                "date_updated": when,
                "direction": "inbound",
                "from": sender,
                "sid": sid,
                "status": "received",
                "to": to,
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
            }

    @property
    def messages(self) -> list[RecordedRequest]:
        """The requests that created a message (answered 201)."""
        return [r for r in self.requests if r.created_sid is not None]

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            expected = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
            one = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/"
            if request.method == "GET" and request.path.startswith(one):
                if request.auth != (self.account_sid, self.auth_token):
                    return 401, _error(20003, "Authenticate", 401)
                found = self._inbound.get(request.path[len(one) :].removesuffix(".json"))
                if found is None:
                    return 404, _error(20404, "The requested resource was not found", 404)
                return 200, found
            if request.method != "POST" or request.path != expected:
                return 404, _error(20404, "The requested resource was not found", 404)
            if request.auth != (self.account_sid, self.auth_token):
                return 401, _error(20003, "Authenticate", 401)
            if self._failures:
                return self._failures.pop(0)
            sid = f"SM{next(self._serial):032x}"
            request.created_sid = sid
        now = format_datetime(dt.datetime.now(dt.UTC), usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return 201, {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": request.form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": request.form.get("From"),
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": request.form.get("To"),
            "uri": f"{uri}.json",
        }


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": "", "status": status}


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except ValueError:
        return None
    return user, password


def _handler_for(state: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            request = RecordedRequest(
                method=self.command,
                path=self.path.split("?", 1)[0],
                auth=_basic_auth(self.headers.get("Authorization")),
                form=form,
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            status, payload = state.answer(request)
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A running fake Twilio on 127.0.0.1 (a free port); ``.url``, ``.requests``."""
    state = FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
