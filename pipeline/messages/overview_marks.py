"""What each overview file (``status.xlsx``) shows, as a fingerprint kept in ``var/``, so a pass
whose rows are the same does not rewrite it (issue 19: ``process`` must not rewrite the
overview when nothing on it changed). Owned by :mod:`pipeline.messages.overview`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pipeline import files

#: In ``var/``: the fingerprint of the rows each overview file shows, by the file's path.
ROWS_MARK: Final = ".overview-rows.json"


def fingerprint(rows: Sequence[object], day: dt.date, language: str) -> str:
    """What the file shows: its rows (frozen dataclasses, so their repr is their values, or
    their :func:`~pipeline.messages.overview_splice.row_keys`), the day (overdue days count
    on, the sheet says when it was made) and the language."""
    text = repr((day.isoformat(), language, list(rows)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _known(var: Path) -> dict[str, object]:
    try:
        found = json.loads((var / ROWS_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def marked(var: Path, path: Path) -> str | None:
    """The fingerprint recorded for ``path`` when it was last written (None: none known)."""
    found = _known(var).get(str(path))
    return found if isinstance(found, str) else None


def mark(var: Path, path: Path, shown: str) -> None:
    """Record that ``path`` now shows ``shown`` (after it was written)."""
    known = _known(var)
    known[str(path)] = shown
    files.write_text(var / ROWS_MARK, json.dumps(known, sort_keys=True))
