"""The framing between the daemon and the parser's process: an 8-byte big-endian length,
then a pickle. Owns only the layout, so that neither side imports the other."""

from __future__ import annotations

import pickle
import struct
from typing import Any, Final

FRAME: Final = struct.Struct(">Q")


def encode(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(payload)) + payload
