"""Helpers for tests that run ``resultat`` as a separate process against loopback servers.

A :class:`Daemon` is one ``resultat watch`` process on a workspace (started, killed with
SIGKILL, stopped with SIGTERM, its peak memory read from ``/proc``); :func:`configure` points a
workspace at the test database and, when given, at the aiosmtpd server and the fake Twilio of
``tests.smtp_server`` / ``tests.fake_twilio``; the counting helpers say what the receivers got.
Nothing here reaches into the pipeline's internals: the daemon is driven through its files and
its database, as an administrator would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pipeline.settings import DATABASE_ENV, create_workspace
from pipeline.texts import LANGUAGES, t
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.smtp_server import SMTP_PASSWORD, SmtpServer, set_section, smtp_config

#: Folders of the inbox (as in pipeline.intake.inbox; repeated so a test reads like the README).
PROCESSING = ".processing"
#: What ``watch`` prints once it has started, in either language (up to the inbox's path).
WATCHING = tuple(t("cli.watch.started", lang).split("{")[0].strip() for lang in LANGUAGES)
PROCESSED = ".processed"
REJECTED = ".rejected"


def resultat_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m pipeline.cli``."""
    script = Path(sys.executable).with_name("resultat")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "pipeline.cli"]


def configure(
    root: Path,
    *,
    smtp: SmtpServer | None = None,
    twilio: FakeTwilio | None = None,
    inbox: dict[str, Any] | None = None,
) -> Path:
    """Create the workspace at ``root`` (if needed) and rewrite its ``resultat.toml``.

    ``inbox`` replaces the ``[inbox]`` section (quick defaults for tests when not given);
    ``smtp``/``twilio`` switch the mail and SMS backends to the loopback servers.
    """
    create_workspace(root)
    values = {
        "stable_seconds": 0.2,
        "scan_interval": 1.0,
        "max_file_mb": 50,
        "max_rows": 50000,
    }
    values.update(inbox or {})
    set_section(root, "inbox", values)
    if smtp is not None:
        set_section(root, "mail", smtp_config(smtp))
    if twilio is not None:
        set_section(
            root,
            "sms",
            {"backend": "twilio", "from_number": "+46701740600", "api_base_url": twilio.url},
        )
    return root


def environment(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a daemon: the test database and the loopback servers' secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESULTAT_")}
    env.update(
        {
            DATABASE_ENV: db_url,
            "RESULTAT_SMTP_PASSWORD": SMTP_PASSWORD,
            "RESULTAT_TWILIO_SID": ACCOUNT_SID,
            "RESULTAT_TWILIO_TOKEN": AUTH_TOKEN,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def run_cli(
    root: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``resultat --workspace ROOT ARGS...`` to completion (output captured)."""
    return subprocess.run(
        [*resultat_command(), "--workspace", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Daemon:
    """One ``resultat watch`` process; output goes to ``var/daemon-<n>.out``/``.err``."""

    def __init__(self, root: Path, env: dict[str, str], *, name: str = "watch") -> None:
        self.root = root
        self.env = env
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.peak_kb = 0

    def start(self) -> Daemon:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        logs = self.root / "var"
        logs.mkdir(parents=True, exist_ok=True)
        out = (logs / f"{self.name}-{self.starts}.out").open("wb")
        err = (logs / f"{self.name}-{self.starts}.err").open("wb")
        try:
            self.proc = subprocess.Popen(
                [*resultat_command(), "--workspace", str(self.root), "watch"],
                env=self.env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        finally:
            out.close()
            err.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sample_memory(self) -> int:
        """Peak resident memory so far (kB, ``VmHWM``), remembered across samples."""
        if self.alive():
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return self.peak_kb
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        return self.peak_kb

    def reset_peak(self) -> None:
        """Start a new peak-memory measurement (Linux: clear_refs 5 resets VmHWM)."""
        if self.alive():
            with contextlib.suppress(OSError):
                Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.peak_kb = 0

    def kill(self) -> None:
        """SIGKILL: no handler runs, no file is closed, no transaction is finished."""
        if self.alive():
            assert self.proc is not None
            self.sample_memory()
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.kills += 1

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (the daemon stops between files), SIGKILL if it does not stop in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.sample_memory()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode

    def output(self) -> str:
        """What the current run printed so far (``watch`` says so once it has started)."""
        path = self.root / "var" / f"{self.name}-{self.starts}.out"
        return path.read_text("utf-8", errors="replace") if path.is_file() else ""

    def watching(self) -> bool:
        out = self.output()
        return self.alive() and any(marker in out for marker in WATCHING)

    def death(self) -> str:
        """How the current run ended, for an assertion message: exit status and stderr."""
        code = self.proc.poll() if self.proc is not None else None
        text = self.errors()
        shown = text if len(text) < 3000 else text[:1500] + "\n[...]\n" + text[-1500:]
        return f"exit status {code}:\n{shown}"

    def errors(self) -> str:
        """Everything the daemon wrote to stderr, over all its runs."""
        logs = self.root / "var"
        return "".join(
            (logs / f"{self.name}-{n}.err").read_text("utf-8", errors="replace")
            for n in range(1, self.starts + 1)
            if (logs / f"{self.name}-{n}.err").is_file()
        )


def drop(inbox: Path, name: str, data: bytes) -> Path:
    """Put a file in the inbox the way a file manager's copy does: write, then rename."""
    temporary = inbox / f".drop-{secrets.token_hex(4)}.part"  # hidden: never taken
    temporary.write_bytes(data)
    target = inbox / name
    temporary.rename(target)
    return target


def drop_file(inbox: Path, name: str, source: Path) -> Path:
    temporary = inbox / f".drop-{secrets.token_hex(4)}.part"
    shutil.copyfile(source, temporary)
    target = inbox / name
    temporary.rename(target)
    return target


def wait_until(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll ``condition`` until it is truthy; ``AssertionError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(interval)


def waiting_in_inbox(inbox: Path) -> list[str]:
    """Names still lying in the drop zone (hidden and temporary files excluded)."""
    return sorted(
        e.name for e in os.scandir(inbox) if not e.name.startswith(".") and not e.is_dir()
    )


def kept(inbox: Path) -> dict[str, list[Path]]:
    """Every kept original, by its original name (the part after the claim id)."""
    found: dict[str, list[Path]] = {}
    for area in (PROCESSED, REJECTED):
        folder = inbox / area
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            original = path.name.split("__", 1)[1] if "__" in path.name else path.name
            found.setdefault(original, []).append(path)
    return found


def in_processing(inbox: Path) -> list[str]:
    folder = inbox / PROCESSING
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def message_ids(server: SmtpServer) -> Counter[str]:
    """How many times each Message-ID arrived at the SMTP server."""
    return Counter(str(r.parsed()["Message-ID"]) for r in list(server.received))


def sms_requests(twilio: FakeTwilio) -> Counter[tuple[str, str]]:
    """How many times each (recipient, text) was accepted by the fake Twilio."""
    return Counter((r.form.get("To", ""), r.form.get("Body", "")) for r in twilio.messages)


def all_text_columns(rows: Iterable[Any]) -> str:
    """Every value of every row, as text (for grepping a database dump)."""
    return "\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)
