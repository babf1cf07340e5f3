"""``status.xlsx`` rewritten at the cost of the rows that changed (issue 19), not of every row
it shows. Owned by :mod:`pipeline.messages.overview`.

Each shown row's finished sheet XML (its ``<row>``: inline strings, the shared style ids, its
row number left out) is kept in ``var/.overview-sheet/`` by the row's fingerprint (the sha1 of
its values). A rewrite has openpyxl write the whole workbook as before but with only the rows
not kept on the first sheet — its styles (registered in one order, ``overview._lists_sheet``), the
second sheet, workbook and content types are openpyxl's, copied byte for byte — and splices
the kept rows and the new ones into that sheet in order, numbered from 2. The file goes
through :func:`pipeline.files.atomic_path`; what is kept is only what the file shows (rows
that left it are dropped), and a kept row is used only for the same file, language, layout,
openpyxl and this format, so nothing of one file reaches another.

The kept rows are disposable: a missing, unreadable or foreign store means every row is
written by openpyxl again (a first pass, a new language or layout).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import openpyxl

from pipeline import files

#: In ``var/``: one store of kept rows per overview file.
STORE_DIR: Final = ".overview-sheet"
SHEET: Final = "xl/worksheets/sheet1.xml"
#: zlib level of that sheet: 3.8 MB for 5,037 rows in 19 ms at 1 (390 KB), 68 ms at 6 (311 KB).
SHEET_LEVEL: Final = 1
#: Raised when the row XML or the fixed style ids change: older stores are not used.
FORMAT: Final = 1
#: Where a kept row's number goes (never in a workbook: XML cannot hold it).
_NUMBER: Final = b"\x00"
_ROW: Final = re.compile(rb'<row r="\d+".*?</row>', re.S)
#: The row's number in ``<row r="7"`` and each ``<c r="B7"`` (text holds no ``<``).
_REF: Final = re.compile(rb'(<(?:row|c) r="[A-Z]*)\d+"')


def row_keys(rows: Sequence[object]) -> list[str]:
    """Each row's fingerprint: its values (a frozen dataclass's repr)."""
    return [hashlib.sha1(repr(row).encode("utf-8")).hexdigest() for row in rows]


def store_path(var: Path, path: Path) -> Path:
    return var / STORE_DIR / f"{hashlib.sha256(str(path).encode('utf-8')).hexdigest()[:32]}.rows"


def save(
    path: Path,
    rows: Sequence[Any],
    keys: Sequence[str],
    *,
    var: Path,
    setting: str,
    build: Callable[[list[Any]], Any],
) -> Path:
    """Write ``path`` showing ``rows`` (``keys`` their :func:`row_keys`). ``build(fresh)``
    makes the openpyxl workbook with ``fresh`` as the first sheet's rows and everything else
    as for all ``rows``; ``setting`` names what the rows' XML depends on besides their values
    (language, layout)."""
    store = store_path(var, path)
    setting = f"{FORMAT}:{openpyxl.__version__}:{setting}"
    kept = _load(store, setting)
    fresh = [i for i, key in enumerate(keys) if key not in kept]
    with files.atomic_path(path) as tmp:
        # openpyxl writes the package (the fresh rows only) where the file will be; it is then
        # written again there with every row, and renamed into place.
        build([rows[i] for i in fresh]).save(str(tmp))
        with zipfile.ZipFile(tmp) as package:
            parts = [(info, package.read(info)) for info in package.infolist()]
        sheet = next(data for info, data in parts if info.filename == SHEET)
        start = sheet.index(b"</row>") + len(b"</row>")  # after the header, row 1
        end = sheet.index(b"</sheetData>")
        written = _ROW.findall(sheet, start, end)
        if len(written) != len(fresh):
            raise RuntimeError(f"{SHEET}: {len(written)} rows written for {len(fresh)}")
        for i, xml in zip(fresh, written, strict=True):
            kept[keys[i]] = _REF.sub(rb"\g<1>" + _NUMBER + b'"', xml)
        body = b"".join(kept[key].replace(_NUMBER, b"%d" % n) for n, key in enumerate(keys, 2))
        sheet = sheet[:start] + body + sheet[end:]
        with zipfile.ZipFile(tmp, "w") as out:
            for info, data in parts:
                if info.filename == SHEET:  # the one large part: the fastest deflate (issue 19)
                    out.writestr(info, sheet, compresslevel=SHEET_LEVEL)
                else:
                    out.writestr(info, data)
    if fresh or len(kept) != len(set(keys)):
        _keep(store, setting, keys, kept)
    return path


def _load(store: Path, setting: str) -> dict[str, bytes]:
    try:
        head, _, body = store.read_bytes().partition(b"\n")
        found = json.loads(head)
        if found["setting"] != setting:
            return {}
        kept: dict[str, bytes] = {}
        at = 0
        for key, length in found["rows"]:
            kept[str(key)] = body[at : at + int(length)]
            at += int(length)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return kept if at == len(body) else {}


def _keep(store: Path, setting: str, keys: Sequence[str], kept: dict[str, bytes]) -> None:
    """Only the rows the file now shows, each once."""
    shown = list(dict.fromkeys(keys))
    head = json.dumps({"setting": setting, "rows": [[key, len(kept[key])] for key in shown]})
    files.write_bytes(store, head.encode("utf-8") + b"\n" + b"".join(kept[key] for key in shown))
