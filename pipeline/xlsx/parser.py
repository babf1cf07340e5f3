"""The daemon's side of the spreadsheet parser's process (:mod:`pipeline.xlsx.parse_worker`).

Owns starting the long-lived parser process (one per process that reads files, started on
first use), handing it checked bytes and getting back sheet names and rows, and turning its
death into a refusal of the one file: an abort, a panic that escaped, a blown address space
or a signal is ``parser-crashed``, running past its time is ``parser-timeout``; the next file
gets a fresh process. Leaves the checks before parsing to :mod:`pipeline.xlsx.safety`.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import fcntl
import io
import itertools
import os
import pickle
import selectors
import signal
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Sequence
from operator import call, itemgetter
from typing import Any, Final

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
from pipeline.xlsx.safety import Limits, UnreadableFile

#: Columns a sheet may use; far beyond any workbook we issue.
MAX_COLUMNS: Final = 300
#: Address space of the parser's process (the 20,000-row list needs about a tenth of it).
PARSER_MEMORY_BYTES: Final = 2 << 30
#: CPU seconds the parser may use for one request, and wall seconds it is waited for.
PARSER_CPU_SECONDS: Final = 60
PARSER_TIMEOUT_SECONDS: Final = 90.0
#: Size asked for the pipes to and from the parser's process (Linux's default ceiling).
PIPE_BYTES: Final = 1 << 20

_tokens = itertools.count(1)


class _Values(pickle.Unpickler):
    """Unpickles what the parser's process sends: plain values and date/time types only, so
    that a parser taken over by a file cannot hand the daemon code to run."""

    _ALLOWED: Final = {
        ("datetime", name): getattr(dt, name)
        for name in ("date", "datetime", "time", "timedelta", "timezone")
    }

    def find_class(self, module: str, name: str) -> Any:
        found = self._ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name}")
        return found


class ParserProcess:
    """One parser process, restarted after it dies; requests one at a time (thread-safe)."""

    def __init__(
        self,
        *,
        memory_bytes: int = PARSER_MEMORY_BYTES,
        cpu_seconds: int = PARSER_CPU_SECONDS,
        timeout: float = PARSER_TIMEOUT_SECONDS,
    ) -> None:
        self.memory_bytes, self.cpu_seconds, self.timeout = memory_bytes, cpu_seconds, timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.started = 0  # processes started, for tests and logs

    def request(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        with self.lock:
            fresh = self.proc is None or self.proc.poll() is not None
            try:
                proc = self._process()
                _write(proc, message)
            except (BrokenPipeError, OSError):
                if fresh:
                    self.stop()
                    raise UnreadableFile("parser-crashed") from None
                self.stop()  # it had died between two files: once more, with a fresh one
                proc = self._process()
                try:
                    _write(proc, message)
                except OSError:
                    self.stop()
                    raise UnreadableFile("parser-crashed") from None
            return self._answer(proc)

    def _answer(self, proc: subprocess.Popen[bytes]) -> tuple[Any, ...]:
        deadline = time.monotonic() + self.timeout
        try:
            head = _read_exact(proc, FRAME.size, deadline)
            (size,) = FRAME.unpack(head)
            payload = _read_exact(proc, size, deadline)
            answer: tuple[Any, ...] = _Values(io.BytesIO(payload)).load()
        except TimeoutError:
            self.stop()
            raise UnreadableFile("parser-timeout", seconds=round(self.timeout)) from None
        except (EOFError, OSError, pickle.UnpicklingError, ValueError) as exc:
            code = self.stop()
            if code == -signal.SIGXCPU:
                raise UnreadableFile("parser-timeout", seconds=self.cpu_seconds) from exc
            raise UnreadableFile("parser-crashed") from exc
        return answer

    def _process(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pipeline.xlsx.parse_worker",
                    str(self.memory_bytes),
                    str(self.cpu_seconds),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # a Rust abort's backtrace is no log line of ours
                env={**os.environ, "RUST_BACKTRACE": "0"},
                start_new_session=True,  # a Ctrl-C at the daemon's terminal is the daemon's
            )
            self.started += 1
            _widen(self.proc)
        return self.proc

    def stop(self) -> int | None:
        """End the process (if any); its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            return proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def _widen(proc: subprocess.Popen[bytes]) -> None:
    """Pipes of :data:`PIPE_BYTES` where the system allows (Linux): a large workbook's
    megabytes cross in a few hand-overs between the two processes instead of one per 64 KB."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(stream.fileno(), setsize, PIPE_BYTES)


def _write(proc: subprocess.Popen[bytes], message: tuple[Any, ...]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(encode(message))
    proc.stdin.flush()


def _read_exact(proc: subprocess.Popen[bytes], size: int, deadline: float) -> bytes:
    """``size`` bytes of the process's answer; EOFError when it ends, TimeoutError past
    ``deadline``."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffer = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while len(buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                if proc.poll() is None:
                    proc.kill()
                raise TimeoutError
            chunk = os.read(fd, min(size - len(buffer), 1 << 24))
            if not chunk:
                raise EOFError
            buffer += chunk
    return bytes(buffer)


_shared: tuple[int, ParserProcess] | None = None
_shared_lock = threading.Lock()


def shared_parser() -> ParserProcess:
    """This process's parser process (a forked child gets its own, never its parent's)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), ParserProcess())
        return _shared[1]


def _stop_shared() -> None:
    if _shared is not None and _shared[0] == os.getpid():
        _shared[1].stop()


atexit.register(_stop_shared)


class SheetCells:
    """A sheet's cells from A1, a rectangle ``height`` rows high: by columns as the parser's
    process sends them (``columns``), or as rows when it gave ragged ones (``columns`` is
    ``None``). The rows are made from the columns when first asked for."""

    def __init__(
        self,
        height: int,
        columns: list[list[Any]] | None = None,
        rows: list[list[Any]] | None = None,
    ) -> None:
        self.height, self.columns, self._rows = height, columns, rows

    @property
    def width(self) -> int:
        if self.columns is not None:
            return len(self.columns)
        return max(map(len, self.rows()), default=0)

    def rows(self) -> list[list[Any]]:
        if self._rows is None:
            assert self.columns is not None
            if self.columns:
                self._rows = list(map(list, zip(*self.columns, strict=True)))
            else:
                self._rows = [[] for _ in range(self.height)]
        return self._rows

    def column(self, position: int) -> list[Any]:
        """The column's cells top to bottom; IndexError past the sheet's width (or, given
        ragged rows, past a row's end)."""
        if self.columns is not None:
            return self.columns[position]
        return list(map(itemgetter(position), self.rows()))

    def cell(self, row: int, column: int) -> Any:
        """The value at 0-based ``(row, column)``; ``None`` outside the sheet."""
        if self.columns is not None:
            inside = 0 <= row < self.height and 0 <= column < len(self.columns)
            return self.columns[column][row] if inside else None
        rows = self.rows()
        if 0 <= row < len(rows) and 0 <= column < len(rows[row]):
            return rows[row][column]
        return None


class Book:
    """A workbook open in the parser's process: its sheet names, and rows on request."""

    def __init__(self, parser: ParserProcess, data: bytes) -> None:
        self.parser, self.data = parser, data
        self.token = next(_tokens)
        self.sheet_names: list[str] = []
        self.prefetched: dict[tuple[str, int], tuple[Any, ...]] = {}
        self.columnar = False

    def open(
        self,
        prefetch: Sequence[str],
        max_rows: int,
        *,
        whole_up_to: int = 0,
        columnar: bool | None = None,
    ) -> None:
        if columnar is not None:
            self.columnar = columnar
        request = ("open", self.token, self.data, tuple(prefetch), whole_up_to)
        flags = (True,) if self.columnar else ()
        answer = _checked(self.parser.request((*request, max_rows, MAX_COLUMNS, *flags)))
        self.sheet_names = list(answer[1])
        self.prefetched = {(name, max_rows): found for name, found in answer[2].items()}

    def sheet(self, name: str, max_rows: int) -> SheetCells:
        answer = self.prefetched.pop((name, max_rows), None)
        if answer is None:
            flags = (True,) if self.columnar else ()
            request = ("rows", self.token, name, max_rows, MAX_COLUMNS, *flags)
            answer = self.parser.request(request)
            if answer[0] == "reopen":  # another book was opened in between
                self.open((), max_rows)
                answer = self.parser.request(request)
        return _sheet_cells(_checked(answer))

    def rows(self, name: str, max_rows: int) -> list[list[Any]]:
        return self.sheet(name, max_rows).rows()


def _checked(answer: tuple[Any, ...]) -> tuple[Any, ...]:
    if answer[0] == "refused":
        raise UnreadableFile(answer[1], **answer[2])
    if answer[0] not in ("ok", "columns"):
        raise UnreadableFile("parser-crashed")
    return answer


def _sheet_cells(answer: tuple[Any, ...]) -> SheetCells:
    """A sheet's answer as cells; what the parser's process sent does not add up (a process
    taken over by a file, say): ``parser-crashed``."""
    try:
        if answer[0] == "ok":
            rows = answer[1]
            if type(rows) is not list or not all(type(row) is list for row in rows):
                raise TypeError("rows")
            return SheetCells(len(rows), rows=rows)
        height, sent = answer[1], answer[2]
        if type(height) is not int or type(sent) is not list:
            raise TypeError("columns")
        return SheetCells(height, columns=[_column(height, item) for item in sent])
    except (ValueError, TypeError, OverflowError, IndexError) as exc:
        raise UnreadableFile("parser-crashed") from exc


def _column(height: int, item: Any) -> list[Any]:
    """One column as sent by :func:`pipeline.xlsx.parse_worker.by_columns`, as values again."""
    kinds, texts, floats, dates, others = item
    if type(kinds) is not bytes or len(kinds) != height:
        raise ValueError("kinds")
    counts = {kind: kinds.count(kind) for kind in (TEXT, FLOAT, DATE, OTHER)}
    if sum(counts.values()) != height:
        raise ValueError("kinds")
    if type(texts) is str:
        text_values = texts.split(SEPARATOR) if counts[TEXT] else []
    elif type(texts) is list and all(type(text) is str for text in texts):
        text_values = texts
    else:
        raise TypeError("texts")
    if len(text_values) != counts[TEXT]:
        raise ValueError("texts")
    if counts[TEXT] == height:
        return text_values
    float_values, days = array(FLOATS), array(DATES)
    float_values.frombytes(floats)
    days.frombytes(dates)
    if type(others) is not list:
        raise TypeError("others")
    if (len(float_values), len(days), len(others)) != (counts[FLOAT], counts[DATE], counts[OTHER]):
        raise ValueError("counts")
    # Each cell's value is the next of its kind's: one C-level pass over the kinds.
    nexts: list[Any] = [None] * 256
    nexts[TEXT] = iter(text_values).__next__
    nexts[FLOAT] = iter(float_values).__next__
    nexts[DATE] = map(dt.date.fromordinal, days).__next__
    nexts[OTHER] = iter(others).__next__
    return list(map(call, map(nexts.__getitem__, kinds)))


def open_book(
    data: bytes,
    *,
    limits: Limits | None = None,
    prefetch: Sequence[str] = (),
    whole_up_to: int = 0,
    columnar: bool = False,
) -> Book:
    """A workbook from the bytes :func:`~pipeline.xlsx.safety.read_checked` checked (never
    the file again). The rows of the sheets in ``prefetch`` that exist, or of every sheet
    when the book has at most ``whole_up_to``, come in the same round trip: each trip to the
    parser's process costs a wake-up of two processes, which a busy machine makes dear.
    ``columnar``: sheets come by columns (:meth:`Book.sheet`), the cheaper form for a large
    one."""
    book = Book(shared_parser(), data)
    book.open(prefetch, (limits or Limits()).max_rows, whole_up_to=whole_up_to, columnar=columnar)
    return book


def sheet_rows(book: Book, name: str, limits: Limits) -> list[list[Any]]:
    """The sheet's cells as rows from A1, padded to a rectangle; refused when a cell lies
    past ``MAX_COLUMNS`` or past ``limits.max_rows`` (+100 for the header)."""
    return book.rows(name, limits.max_rows)
