"""Logging set-up: one line per event, personnummer masked in every line."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.personnummer import mask_text


class MaskingFilter(logging.Filter):
    """Rewrites each record's message so no personnummer reaches a handler unmasked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        record.msg = masked
        record.args = None
        return True


def configure(log_dir: Path | None, *, verbose: bool = False) -> None:
    root = logging.getLogger("resultat")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stream = logging.StreamHandler()
    stream.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handlers: list[logging.Handler] = [stream]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_dir / "resultat.log", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(MaskingFilter())
        root.addHandler(handler)
    root.propagate = False
