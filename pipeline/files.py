"""The one atomic writer: every file the system writes goes through here.

A file is written to a temporary name in its own folder and renamed into place, so a reader
(a teacher with the file open, a clerk's file browser, a backup) sees the old file or the new
one, never half of one; on any failure the temporary file is removed and the target is left
as it was. Owns: the temporary name, the mode (0640 unless told), the optional fsync and the
rename. Leaves to callers: where a file goes and what is in it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Protocol

FILE_MODE: Final = 0o640


@contextlib.contextmanager
def atomic_path(target: Path, *, mode: int = FILE_MODE, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; renamed onto ``target`` on success.

    For writers that want a file name (``workbook.save(name)``, ``figure.savefig(name)``).
    With ``durable`` the bytes are flushed to disk before the rename.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(target: Path, data: bytes, *, mode: int = FILE_MODE, durable: bool = False) -> Path:
    """Write ``data`` to ``target`` atomically; returns ``target``.

    The same steps as :func:`atomic_path`, but the bytes go through the temporary file's own
    descriptor: no second open of it by name (each open or chmod by name is a path lookup,
    and every accepted file writes several files)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=target.suffix, dir=target.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def write_text(target: Path, text: str, *, mode: int = FILE_MODE, durable: bool = False) -> Path:
    """Write ``text`` as UTF-8 to ``target`` atomically; returns ``target``."""
    return write_bytes(target, text.encode("utf-8"), mode=mode, durable=durable)


class Savable(Protocol):
    """Anything with ``save(filename)``: our :class:`~pipeline.xlsx.sheetxml.SheetDocument`
    or an openpyxl ``Workbook``."""

    def save(self, filename: str, /) -> Any: ...


def save(document: Savable, target: Path, *, mode: int = FILE_MODE) -> Path:
    """Save a workbook (anything with ``save(filename)``) to ``target`` atomically."""
    with atomic_path(target, mode=mode) as tmp:
        document.save(str(tmp))
    return Path(target)
