"""SMS: the two backends (``file`` writes ``var/sms/<id>.json``; ``twilio`` uses the twilio
client, which never reads the environment: settings are the only place that does).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from pipeline import files
from pipeline.messages.channels import ChannelUnavailable, SendError
from pipeline.models import Message
from pipeline.settings import Settings
from pipeline.settings_channels import SmsSettings

log = logging.getLogger("resultat.outbox")

TWILIO_TIMEOUT: Final = 30.0

# Twilio's client falls back to TWILIO_* environment variables for what it is not given; empty
# values keep it from reading the environment (settings are the only place that does).
_TWILIO_ENVIRONMENT: Final = {
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_EDGE": "",
    "TWILIO_REGION": "",
}


class FileSms:
    """Writes each SMS as ``var/sms/<id>.json`` (``to``, ``from``, ``body``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> str:
        target = self.settings.var / "sms" / f"{message.id}.json"
        record = {
            "id": message.id,
            "to": message.recipient,
            "from": self.settings.sms.from_number,
            "body": message.body,
        }
        data = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
        files.write_bytes(target, data.encode("utf-8"))
        return target.relative_to(self.settings.root).as_posix()

    def close(self) -> None:
        """A file sink holds no connection: nothing to close."""


class TwilioSms:
    """Sends through Twilio's Messages API; the message's SID is the provider id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None

    def send(self, message: Message) -> str:
        from twilio.base.exceptions import TwilioRestException  # lazy, kept for start-up time

        client = self._connect()
        try:
            created = client.messages.create(
                to=message.recipient, from_=self.settings.sms.from_number, body=message.body
            )
        except TwilioRestException as exc:
            # An answer about this message (bad number, ...): the next may well go through.
            raise SendError(f"Twilio HTTP {exc.status}, error {exc.code}: {exc.msg}") from exc
        except Exception as exc:
            raise ChannelUnavailable(f"Twilio: {type(exc).__name__}: {exc}") from exc
        return str(created.sid)

    def _connect(self) -> Any:
        if self._client is None:
            self._client = twilio_client(self.settings.sms)
        return self._client

    def close(self) -> None:
        self._client = None


def twilio_client(sms: SmsSettings) -> Any:
    """A twilio REST client for the ``[sms]`` settings.

    ``api_base_url`` replaces ``https://api.twilio.com`` for the API domain that holds the
    Messages resource (``client.api.base_url``); the tests point it at a local server.
    """
    from twilio.http.http_client import TwilioHttpClient  # lazy, kept for start-up time
    from twilio.rest import Client  # lazy, kept for start-up time

    if not sms.account_sid or not sms.auth_token:
        raise ChannelUnavailable("RESULTAT_TWILIO_SID and RESULTAT_TWILIO_TOKEN must be set")
    client = Client(
        sms.account_sid,
        sms.auth_token,
        http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT),
        environment=dict(_TWILIO_ENVIRONMENT),
    )
    if sms.api_base_url:
        client.api.base_url = sms.api_base_url.rstrip("/")
    return client
