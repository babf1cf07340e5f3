"""The workspace's seal: its Ed25519 key, the public key anyone can check with, the signed
chain head.

Owns the seal key (``[seal] key``, default ``var/seal/ed25519.pem``, mode 0600, created on first
use), its public half exported as ``archive/seal-public.pem`` (PEM, so ``openssl pkeyutl
-verify -pubin -inkey archive/seal-public.pem -rawin ...`` checks a signature without this
system), raw Ed25519 signatures over bytes, and the chain head file ``var/chain-head.json``:
the newest audit event's id and hash, signed, written after each commit that appended to the
chain, so events deleted from the end of the chain are noticed. Deciding what is signed
(tag manifests, heads) and checking it against the database is left to callers
(:mod:`pipeline.lifecycle.archive`, :mod:`pipeline.lifecycle.verify`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pipeline import files

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

PUBLIC_NAME: Final = "seal-public.pem"
HEAD_NAME: Final = "chain-head.json"
HEAD_FORMAT: Final = "resultat-chain-head/1"
KEY_MODE: Final = 0o600


def load_key(path: Path, *, create: bool = True) -> Ed25519PrivateKey:
    """The private seal key at ``path``; a new one is made (mode 0600) when there is none."""
    # Lazy for start-up time: a command that appends nothing to the chain (``status``) never
    # needs cryptography; App.open only prepares the head sink.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not path.exists() and create:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return loaded


def public_pem(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization  # lazy: see load_key

    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public(path: Path) -> Ed25519PublicKey | None:
    """The public key in the PEM file ``path``; None when missing or not an Ed25519 key."""
    # Lazy: see load_key.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, Ed25519PublicKey) else None


def fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what the chain and packages record."""
    from cryptography.hazmat.primitives import serialization  # lazy: see load_key

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def export_public(key: Ed25519PrivateKey, archive: Path) -> Path:
    """Write ``archive/seal-public.pem`` when it is missing (never replaced silently)."""
    target = archive / PUBLIC_NAME
    if not target.exists():
        files.write_bytes(target, public_pem(key.public_key()))  # 0640, as all of archive/
    return target


def verifies(public: Ed25519PublicKey, data: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature  # lazy: see load_key

    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------- chain head


@dataclass(frozen=True)
class Head:
    """The chain's end as last written: event id, its hash, the key that signed it."""

    id: int
    hash: str
    key: str
    signature: bytes

    def signed_bytes(self) -> bytes:
        return head_bytes(self.id, self.hash)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            "id": self.id,
            "hash": self.hash,
            "key": self.key,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }


def head_bytes(event_id: int, event_hash: str) -> bytes:
    """What a head signature covers: three lines, format, id, hash."""
    return f"{HEAD_FORMAT}\n{event_id}\n{event_hash}\n".encode("ascii")


def sign_head(key: Ed25519PrivateKey, event_id: int, event_hash: str) -> Head:
    signature = key.sign(head_bytes(event_id, event_hash))
    return Head(event_id, event_hash, fingerprint(key.public_key()), signature)


def read_head(path: Path) -> Head | None:
    """The head in ``path``; None when there is none. Raises ValueError when unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    try:
        return Head(
            int(document["id"]),
            str(document["hash"]),
            str(document["key"]),
            base64.b64decode(document["signature"], validate=True),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def write_head(path: Path, key: Ed25519PrivateKey, event_id: int, event_hash: str) -> Head:
    """Sign and write the head, unless the file already holds a newer one (two processes
    committing in turn may hand theirs over in the other order)."""
    try:
        current = read_head(path)
    except ValueError:
        current = None
    if current is not None and current.id > event_id:
        return current
    head = sign_head(key, event_id, event_hash)
    # Atomic (a reader sees the old head or the new one, never a mix) but not fsynced: the
    # head is written after the commit it names, so a head lost to a power cut is only an
    # older one, and verify then checks up to that older event (never a false "tail
    # deleted"); the next commit writes a current one. The fsync was 1.7 ms of every drop.
    files.write_text(path, json.dumps(head.as_dict(), indent=2) + "\n")
    return head


def head_sink(key_path: Path, head_path: Path) -> Callable[[int, str], None]:
    """What the database sessions call after a commit that appended to the chain."""

    loaded: dict[tuple[int, int], Ed25519PrivateKey] = {}

    def sink(event_id: int, event_hash: str) -> None:
        write_head(head_path, _key(), event_id, event_hash)

    def _key() -> Ed25519PrivateKey:
        # Parsed once per key file (a PEM load for every commit is measurable); a replaced
        # file (other inode or mtime) is read again.
        try:
            stat = key_path.stat()
        except FileNotFoundError:
            return load_key(key_path)
        marker = (stat.st_ino, stat.st_mtime_ns)
        if marker not in loaded:
            loaded.clear()
            loaded[marker] = load_key(key_path)
        return loaded[marker]

    return sink
