"""The spreadsheet parser's own process: ``python -m pipeline.xlsx.parse_worker MEM CPU``.

Owns running python-calamine on bytes that passed :mod:`pipeline.xlsx.safety`, under
resource limits set here, in a process of its own: an abort, a Rust panic, a blown address
space or a runaway loop inside the parser ends this process, never the daemon
(:mod:`pipeline.xlsx.parser` starts a fresh one and refuses the one file). Also owns the
refusal of a sheet whose cells reach too far, from the parser's own view of the sheet's
extent, before its cells are turned into Python values.

The protocol, on stdin and stdout: frames of an 8-byte big-endian length and a pickle.
Requests are ``("open", token, data, prefetch, whole_up_to, max_rows, max_columns)`` (the rows
of the sheets in ``prefetch``, or of every sheet when there are at most ``whole_up_to``, come
with the sheet names) and ``("rows", token, name, max_rows, max_columns)``; either may end
with ``True`` to have each sheet sent by columns (:mod:`pipeline.xlsx.frames`). Answers are
``("ok", ...)``, ``("columns", height, columns)``, ``("refused", slug, params)`` or
``("reopen",)`` when the book asked for is not the one open. The process keeps one book open
and ends at the end of its input. It imports only the standard library and the parser.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import pickle
import resource
import sys
from array import array
from collections.abc import Sequence
from itertools import compress, repeat
from typing import IO, Any

from python_calamine import CalamineWorkbook

from pipeline.xlsx.frames import (
    DATE,
    DATES,
    FLOAT,
    FLOATS,
    FRAME,
    OTHER,
    SEPARATOR,
    TEXT,
    encode,
)


def _read_frame(source: IO[bytes]) -> Any:
    head = source.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    payload = source.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)  # from the daemon that started us, never from a file


def _limit(memory_bytes: int) -> None:
    """No core files, and an address space the parser cannot grow past."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _allow_cpu(seconds: int) -> None:
    """CPU time for the next request: the limit is on the process's total, so it is moved
    past what is used so far; the kernel ends the process (SIGXCPU) when it is reached."""
    if seconds <= 0:
        return
    used = resource.getrusage(resource.RUSAGE_SELF)
    total = int(used.ru_utime + used.ru_stime) + seconds + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        total = min(total, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (total, hard))


def _parser_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the parser failing on the file: any ``Exception``, or a Rust panic
    inside calamine, which pyo3 raises as ``PanicException``, a ``BaseException``."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


_KIND_OF = {str: TEXT, float: FLOAT, dt.date: DATE}
#: ``bytes.translate`` tables: a column's kinds to 1 where the cell is of that kind, else 0.
_SELECT = {kind: bytes(int(i == kind) for i in range(256)) for kind in (TEXT, FLOAT, DATE, OTHER)}


def by_columns(rows: list[list[Any]]) -> tuple[Any, ...]:
    """A sheet's rows (a rectangle, as calamine gives them) as ``("columns", height,
    columns)`` (:mod:`pipeline.xlsx.frames`); ragged rows as they are, ``("ok", rows)``."""
    if len(set(map(len, rows))) > 1:
        return ("ok", rows)
    columns = []
    for cells in zip(*rows, strict=True):
        if set(map(type, cells)) == {str}:  # told in one C-level pass: most columns are
            kinds = bytes((TEXT,)) * len(cells)
            texts: Sequence[Any] = cells
        else:
            kinds = bytes(map(_KIND_OF.get, map(type, cells), repeat(OTHER)))
            texts = list(compress(cells, kinds.translate(_SELECT[TEXT])))
        joined: str | list[str] = SEPARATOR.join(texts)
        if joined.count(SEPARATOR) != max(len(texts) - 1, 0):
            joined = list(texts)
        floats = dates = b""
        others: list[Any] = []
        if FLOAT in kinds:
            floats = array(FLOATS, compress(cells, kinds.translate(_SELECT[FLOAT]))).tobytes()
        if DATE in kinds:
            days = map(dt.date.toordinal, compress(cells, kinds.translate(_SELECT[DATE])))
            dates = array(DATES, days).tobytes()
        if OTHER in kinds:
            others = list(compress(cells, kinds.translate(_SELECT[OTHER])))
        columns.append((kinds, joined, floats, dates, others))
    return ("columns", len(rows), columns)


class _Worker:
    def __init__(self) -> None:
        self.book: CalamineWorkbook | None = None
        self.token: int | None = None
        self.columnar = False  # sheets sent by columns (the request's last flag)

    def handle(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        kind, token = request[0], request[1]
        if kind == "open":
            data, prefetch, whole_up_to, max_rows, max_columns, *flags = request[2:]
            self.columnar = bool(flags and flags[0])
            self.book, self.token = None, None
            try:
                book = CalamineWorkbook.from_filelike(io.BytesIO(data))
                names = list(book.sheet_names)
            except MemoryError:
                return ("refused", "parser-out-of-memory", {})
            except BaseException as exc:
                if not _parser_failure(exc):
                    raise
                return ("refused", "spreadsheet-damaged", {})
            self.book, self.token = book, token
            if len(names) <= whole_up_to:
                prefetch = names
            rows = {
                name: self.rows(name, max_rows, max_columns) for name in prefetch if name in names
            }
            return ("ok", names, rows)
        if self.book is None or token != self.token:
            return ("reopen",)
        name, max_rows, max_columns, *flags = request[2:]
        self.columnar = bool(flags and flags[0])
        return self.rows(name, max_rows, max_columns)

    def rows(self, name: str, max_rows: int, max_columns: int) -> tuple[Any, ...]:
        assert self.book is not None
        try:
            sheet = self.book.get_sheet_by_name(name)
            end = sheet.end  # the last cell's (row, column), 0-based; None for an empty sheet
            if end is not None:
                rows, columns = end[0] + 1, end[1] + 1
                if columns > max_columns:
                    found = {"column": columns, "limit": max_columns}
                    return ("refused", "too-many-columns", found)
                if rows > max_rows + 100:
                    return ("refused", "too-many-rows", {"rows": rows, "limit": max_rows})
            cells = sheet.to_python(skip_empty_area=False)
            return by_columns(cells) if self.columnar else ("ok", cells)
        except MemoryError:
            return ("refused", "parser-out-of-memory", {})
        except BaseException as exc:
            if not _parser_failure(exc):
                raise
            return ("refused", "spreadsheet-damaged", {})


def main(argv: list[str]) -> int:
    memory_bytes, cpu_seconds = int(argv[0]), int(argv[1])
    _limit(memory_bytes)
    source, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    worker = _Worker()
    while (request := _read_frame(source)) is not None:
        _allow_cpu(cpu_seconds)
        out.write(encode(worker.handle(request)))
        out.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RUST_BACKTRACE", "0")
    raise SystemExit(main(sys.argv[1:]))
