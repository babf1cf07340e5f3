"""The settings of the ways people are reached: outgoing mail (``[mail]``), SMS (``[sms]``)
and drops by mail (``[mailin]``), each parsed from its ``resultat.toml`` section and the
environment (secrets come only from there). :class:`pipeline.settings.Settings` holds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import WorkspaceError


@dataclass(frozen=True)
class MailSettings:
    """Outgoing email. ``backend`` "file" writes .eml files under ``var/mail/``; "smtp" sends
    through yagmail. The SMTP password comes from ``RESULTAT_SMTP_PASSWORD`` only."""

    backend: str = "file"
    sender: str = "resultat@example.se"
    host: str = "localhost"
    port: int = 587
    user: str | None = None
    password: str | None = None
    security: str = "starttls"  # "starttls" | "ssl" | "none"


@dataclass(frozen=True)
class SmsSettings:
    """Outgoing SMS. ``backend`` "file" writes under ``var/sms/``; "twilio" uses the twilio
    client. Account SID and auth token come from ``RESULTAT_TWILIO_SID`` and
    ``RESULTAT_TWILIO_TOKEN`` only; ``api_base_url`` points the client elsewhere (tests)."""

    backend: str = "file"
    from_number: str = "+46701740600"
    account_sid: str | None = None
    auth_token: str | None = None
    api_base_url: str | None = None
    webhook_url: str | None = None  # the public URL Twilio posts replies to (for signatures)
    #: A reply older than this (Twilio's own time of the message, asked of its REST API) is
    #: refused as a replay; 0 turns the age check off (the seen-MessageSid check stays).
    webhook_max_age_seconds: float = 600.0


@dataclass(frozen=True)
class MailinSettings:
    """Drop by mail (``[mailin]``, README "Drop by mail"): ``security`` "ssl", "starttls" or
    "none" (loopback); ``after`` "move" (to ``done_folder``/``refused_folder``) or "flag";
    ``require_auth`` the receiving server's authserv-id. Password: ``RESULTAT_IMAP_PASSWORD``."""

    enabled: bool = False
    host: str = "localhost"
    port: int = 993
    security: str = "ssl"  # "ssl" | "starttls" | "none"
    user: str = ""
    password: str | None = None
    folder: str = "INBOX"
    done_folder: str = "resultat/done"
    refused_folder: str = "resultat/refused"
    after: str = "move"  # "move" | "flag"
    poll_seconds: float = 60.0
    idle: bool = True
    max_message_bytes: int = 25 * 1024 * 1024
    max_attachments: int = 10
    require_auth: str | None = None
    #: For crash tests only: stop this many seconds at ``pause_at`` ("fetched": a mail read,
    #: nothing committed; "claimed": its attachments claimed, no stage run yet).
    pause_at: str | None = None
    pause_seconds: float = 0.0


def parse_mail(section: dict[str, Any], env: dict[str, str]) -> MailSettings:
    backend = str(section.get("backend", "file"))
    if backend not in ("file", "smtp"):
        raise WorkspaceError.text("errors.workspace.bad-mail-backend", value=backend)
    return MailSettings(
        backend=backend,
        sender=str(section.get("sender", MailSettings.sender)),
        host=str(section.get("host", MailSettings.host)),
        port=int(section.get("port", MailSettings.port)),
        user=section.get("user"),
        password=env.get("RESULTAT_SMTP_PASSWORD") or None,
        security=str(section.get("security", MailSettings.security)),
    )


def parse_mailin(section: dict[str, Any], env: dict[str, str]) -> MailinSettings:
    security = str(section.get("security", MailinSettings.security))
    after = str(section.get("after", MailinSettings.after))
    if security not in ("ssl", "starttls", "none") or after not in ("move", "flag"):
        raise WorkspaceError.text("mailin.bad-settings", security=security, after=after)
    default = MailinSettings()
    return MailinSettings(
        enabled=bool(section.get("enabled", False)),
        host=str(section.get("host", default.host)),
        port=int(section.get("port", 993 if security == "ssl" else 143)),
        security=security,
        user=str(section.get("user", "")),
        password=env.get("RESULTAT_IMAP_PASSWORD") or None,
        folder=str(section.get("folder", default.folder)),
        done_folder=str(section.get("done_folder", default.done_folder)),
        refused_folder=str(section.get("refused_folder", default.refused_folder)),
        after=after,
        poll_seconds=float(section.get("poll_seconds", default.poll_seconds)),
        idle=bool(section.get("idle", True)),
        max_message_bytes=int(float(section.get("max_message_mb", 25)) * 1024 * 1024),
        max_attachments=int(section.get("max_attachments", default.max_attachments)),
        require_auth=str(section["require_auth"]) if section.get("require_auth") else None,
        pause_at=str(section["pause_at"]) if section.get("pause_at") else None,
        pause_seconds=float(section.get("pause_seconds", 0.0)),
    )


def parse_sms(section: dict[str, Any], env: dict[str, str]) -> SmsSettings:
    backend = str(section.get("backend", "file"))
    if backend not in ("file", "twilio"):
        raise WorkspaceError.text("errors.workspace.bad-sms-backend", value=backend)
    return SmsSettings(
        backend=backend,
        from_number=str(section.get("from_number", SmsSettings.from_number)),
        account_sid=env.get("RESULTAT_TWILIO_SID") or None,
        auth_token=env.get("RESULTAT_TWILIO_TOKEN") or None,
        api_base_url=section.get("api_base_url") or None,
        webhook_url=section.get("webhook_url") or None,
        webhook_max_age_seconds=float(
            section.get("webhook_max_age_seconds", SmsSettings.webhook_max_age_seconds)
        ),
    )
