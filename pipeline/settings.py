"""Workspace settings: parsed once, here, by typed helpers.

A workspace is a folder with a ``resultat.toml`` and the runtime folders ``inbox/``, ``outbox/``,
``archive/`` and ``var/``. Nothing else in the package reads the environment; callers get a
:class:`Settings` and pass it on. Secrets never live in ``resultat.toml``: the HMAC key comes
from ``RESULTAT_HMAC_KEY`` or from ``var/secret.key`` (mode 0600, created by ``init``).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pipeline import resources
from pipeline.errors import WorkspaceError
from pipeline.settings_channels import (
    MailinSettings,
    MailSettings,
    SmsSettings,
    parse_mail,
    parse_mailin,
    parse_sms,
)

CONFIG_NAME: Final = "resultat.toml"
KEY_FILE: Final = "var/secret.key"
HOME_ENV: Final = "RESULTAT_HOME"
DATABASE_ENV: Final = "RESULTAT_DATABASE_URL"
LANG_ENV: Final = "RESULTAT_LANG"
KEY_ENV: Final = "RESULTAT_HMAC_KEY"
RUNTIME_DIRS: Final = ("inbox", "outbox", "archive", "var")

#: The configuration ``init`` writes: ``templates/resultat.toml`` as shipped (read by
#: :func:`default_config`).
DEFAULT_CONFIG_NAME: Final = "resultat.toml"


def default_config() -> str:
    """The text of the default ``resultat.toml`` (the package's, never a workspace's own)."""
    return resources.read_text("templates", DEFAULT_CONFIG_NAME, None)


@dataclass(frozen=True)
class SealSettings:
    """Paths (relative to the workspace unless absolute) of the seal's keys: ``key`` the
    Ed25519 key of chain heads and packages, ``pdf_*`` the archive PDF's PAdES seal."""

    key: str = "var/seal/ed25519.pem"
    pdf_certificate: str = "var/seal/pdf-seal.crt"
    pdf_key: str = "var/seal/pdf-seal.key"
    pdf_chain: str | None = None


@dataclass(frozen=True)
class InboxSettings:
    stable_seconds: float = 1.0
    scan_interval: float = 10.0
    max_file_bytes: int = 50 * 1024 * 1024
    max_rows: int = 50_000
    #: Files dropped in the top-level inbox/ are taken (the answer goes to the person the
    #: workbook names); each person's inbox/<username>/ is always taken.
    shared: bool = True
    #: Refuse a file in inbox/<username>/ whose owner is not that person's OS login.
    check_owner: bool = False


@dataclass(frozen=True)
class Contacts:
    maintainers: str = "resultat-support@example.se"
    student_office: str = "utbildningsstod@example.se"


@dataclass(frozen=True)
class ApprovalSettings:
    code_valid_hours: float = 72.0
    max_attempts: int = 5
    #: A list locked after ``max_attempts`` wrong codes opens again after this many hours;
    #: 0: only an administrator unlocks it (``resultat unlock LISTNR --admin``).
    lock_cooldown_hours: float = 0.0


@dataclass(frozen=True)
class DeadlineSettings:
    """Due dates and reminders: a list is due ``working_days`` Swedish working days after its
    exam date (or its creation); examiners are reminded after ``approval_days`` days."""

    working_days: int = 15
    approval_days: int = 5
    reminder_hour: int = 8


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline needs to know about one workspace."""

    root: Path
    database_url: str
    inbox_settings: InboxSettings = field(default_factory=InboxSettings)
    contacts: Contacts = field(default_factory=Contacts)
    language: str = "sv"
    mail: MailSettings = field(default_factory=MailSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    deadlines: DeadlineSettings = field(default_factory=DeadlineSettings)
    #: Office address per department (``[offices]``); the student office when none is set.
    offices: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    hmac_key_env: str | None = None
    seal: SealSettings = field(default_factory=SealSettings)
    mailin: MailinSettings = field(default_factory=MailinSettings)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def lists_dir(self) -> Path:
        """The current workbook of every list (the administrators'; each person gets theirs
        in ``outbox/<username>/``)."""
        return self.var / "lists"

    @property
    def receipts_dir(self) -> Path:
        """Every receipt and marked copy (the administrators' copy; each person gets theirs in
        ``outbox/<username>/``)."""
        return self.var / "receipts"

    @property
    def review_dir(self) -> Path:
        """Every review workbook, preview and chart (the examiner gets theirs delivered)."""
        return self.var / "review"

    @property
    def office_outbox(self) -> Path:
        """The student office's outbox: LADOK files, archive lists to print, the overview."""
        return self.outbox / "utbildningsstod"

    def seal_path(self, name: str) -> Path:
        """A seal path from ``[seal]`` (``key``, ``pdf_certificate``, ``pdf_key``)."""
        return self.root / str(getattr(self.seal, name))

    @property
    def head_path(self) -> Path:
        """The signed chain head, outside the database."""
        return self.var / "chain-head.json"

    @property
    def key_path(self) -> Path:
        return self.root / KEY_FILE

    def hmac_key(self) -> bytes:
        """The key that signs issued workbooks."""
        if self.hmac_key_env:
            return self.hmac_key_env.encode("utf-8")
        try:
            return bytes.fromhex(self.key_path.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            raise WorkspaceError.text("errors.workspace.no-key-file", path=self.key_path) from None
        except ValueError:
            raise WorkspaceError.text("errors.workspace.bad-key-file", path=self.key_path) from None


def _resolve_url(url: str, root: Path) -> str:
    """Make a relative SQLite path relative to the workspace, not the current directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((root / url[len(prefix) :]).resolve())
    return url


def workspace_root(explicit: Path | None = None, env: dict[str, str] | None = None) -> Path:
    """The workspace: ``explicit``, else ``RESULTAT_HOME``, else the current folder."""
    env = dict(os.environ) if env is None else env
    if explicit is not None:
        return explicit.resolve()
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).resolve()
    return Path.cwd().resolve()


def interface_language(root: Path, env: dict[str, str] | None = None) -> str:
    """The language of the command line's own messages for a workspace at ``root``.

    ``RESULTAT_LANG`` (sv or en) if set, else the workspace's ``[language] default``, else
    Swedish. Never raises: it is asked before (and when) the arguments fail to parse, when
    the workspace may be missing or broken.
    """
    env = dict(os.environ) if env is None else env
    if env.get(LANG_ENV) in ("sv", "en"):
        return env[LANG_ENV]
    try:
        raw = tomllib.loads((root / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return "sv"
    language = raw.get("language", {}).get("default", "sv")
    return language if language in ("sv", "en") else "sv"


def load(root: Path, env: dict[str, str] | None = None) -> Settings:
    """Parse ``root/resultat.toml`` (and the few environment overrides) into :class:`Settings`."""
    env = dict(os.environ) if env is None else env
    config_path = root / CONFIG_NAME
    if not config_path.is_file():
        raise WorkspaceError.text("errors.workspace.missing", root=root)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError.text(
            "errors.workspace.bad-toml", path=config_path, detail=exc
        ) from exc
    db = raw.get("database", {})
    url = env.get(DATABASE_ENV) or db.get("url") or "sqlite:///var/resultat.db"
    inbox = raw.get("inbox", {})
    contacts = raw.get("contacts", {})
    language = raw.get("language", {}).get("default", "sv")
    if language not in ("sv", "en"):
        raise WorkspaceError.text("errors.workspace.bad-language", path=config_path)
    return Settings(
        root=root,
        database_url=_resolve_url(str(url), root),
        inbox_settings=InboxSettings(
            stable_seconds=float(inbox.get("stable_seconds", 1.0)),
            scan_interval=float(inbox.get("scan_interval", 10.0)),
            max_file_bytes=int(float(inbox.get("max_file_mb", 50)) * 1024 * 1024),
            max_rows=int(inbox.get("max_rows", 50_000)),
            shared=bool(inbox.get("shared", True)),
            check_owner=bool(inbox.get("check_owner", False)),
        ),
        contacts=Contacts(
            maintainers=str(contacts.get("maintainers", Contacts.maintainers)),
            student_office=str(contacts.get("student_office", Contacts.student_office)),
        ),
        language=language,
        mail=parse_mail(raw.get("mail", {}), env),
        sms=parse_sms(raw.get("sms", {}), env),
        deadlines=DeadlineSettings(
            working_days=int(raw.get("deadlines", {}).get("working_days", 15)),
            approval_days=int(raw.get("deadlines", {}).get("approval_days", 5)),
            reminder_hour=int(raw.get("deadlines", {}).get("reminder_hour", 8)),
        ),
        offices={str(k): str(v) for k, v in raw.get("offices", {}).items()},
        approval=ApprovalSettings(
            code_valid_hours=float(raw.get("approval", {}).get("code_valid_hours", 72)),
            max_attempts=int(raw.get("approval", {}).get("max_attempts", 5)),
            lock_cooldown_hours=float(raw.get("approval", {}).get("lock_cooldown_hours", 0)),
        ),
        raw=raw,
        hmac_key_env=env.get(KEY_ENV) or None,
        seal=_seal(raw.get("seal", {})),
        mailin=parse_mailin(raw.get("mailin", {}), env),
    )


def _seal(section: dict[str, Any]) -> SealSettings:
    chain = section.get("pdf_chain")
    return SealSettings(
        key=str(section.get("key", SealSettings.key)),
        pdf_certificate=str(section.get("pdf_certificate", SealSettings.pdf_certificate)),
        pdf_key=str(section.get("pdf_key", SealSettings.pdf_key)),
        pdf_chain=str(chain) if chain else None,
    )


def create_workspace(root: Path) -> list[Path]:
    """Create the config (if missing), the runtime folders and the key file. Idempotent."""
    created: list[Path] = []
    root.mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_NAME
    if not config.exists():
        config.write_text(default_config(), encoding="utf-8")
        created.append(config)
    for name in RUNTIME_DIRS:
        path = root / name
        if not path.is_dir():
            path.mkdir(parents=True)
            created.append(path)
    key = root / KEY_FILE
    if not key.exists():
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        created.append(key)
    return created
