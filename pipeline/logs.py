"""Logging set-up: one line per event, personnummer masked in every line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pipeline.shown import shown


class MaskingFilter(logging.Filter):
    """Rewrites each record's message so no personnummer reaches a handler unmasked."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Lazy for start-up time: personnummer imports numpy (about 45 ms), which a command
        # that logs nothing (`resultat status`) should not pay.
        from pipeline.domain.personnummer import mask_text

        message = record.getMessage()
        # Control characters (a newline in a file name) could forge log lines: escape them.
        # Bidirectional and other format characters too: the one way text is shown escaped.
        masked = shown(mask_text(message))
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
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        log_file = log_dir / "resultat.log"
        # Created private: even masked, the log is about people.
        os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640))
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(MaskingFilter())
        root.addHandler(handler)
    root.propagate = False
