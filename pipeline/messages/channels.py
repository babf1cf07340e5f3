"""What every sending backend is: the :class:`Transport` protocol and its two failures.

:class:`ChannelUnavailable` (the backend cannot be used at all: nothing is attempted) and
:class:`SendError` (this one message was refused) are internal control flow of the
dispatcher, which records them on the message and retries; no person reads them as a
command's message, so they stay outside :class:`~pipeline.errors.ResultatError`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pipeline.models import Message

log = logging.getLogger("resultat.outbox")


class Transport(Protocol):
    """Sends one message and returns the provider's id for it (or where it was written)."""

    def send(self, message: Message) -> str: ...

    def close(self) -> None: ...


class ChannelUnavailable(Exception):
    """The backend cannot be reached at all (connection, login): the rest of this run's
    messages on the channel are failed with the same error rather than tried one by one."""


class SendError(Exception):
    """The provider refused this one message."""
