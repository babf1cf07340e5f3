"""How the C allocator treats memory a finished file gives back (glibc only).

Reading a workbook makes a few buffers of its inflated sheet (several MB for a large list),
and the parser's own. By default glibc maps such a block on its own and unmaps it when freed
(until its own threshold has crept up past their size), and hands the top of its heap back
as soon as a few MB lie free there, so every large file faults the same pages in again: on
this project's benchmark machine that was 7-10 ms of a 20,000-row list's 150 ms to read and
check. A process that takes file after file gets blocks up to ``MMAP_THRESHOLD`` from its
heap and keeps up to ``TRIM_THRESHOLD`` free at the heap's top for the next file (per malloc
arena; each worker process has its own). Memory below a block still in use stays with the
process either way, as with glibc's defaults once its threshold has risen. Blocks above
``MMAP_THRESHOLD`` are still mapped and unmapped on their own.

The setting is process-wide: call :func:`keep_freed_memory` from the entry point of a
process that takes file after file (the daemon's command, ``resultat process``), never as a
side effect of constructing a library object. The parser's own process
(:mod:`pipeline.xlsx.parse_worker`) does without it: measured, it changed nothing there.

Elsewhere (musl, macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

#: ``mallopt`` parameters, from glibc's ``malloc.h``.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Requests up to this size come from the heap (glibc's own ceiling for its dynamic choice).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of the heap that is kept rather than handed back.
TRIM_THRESHOLD = 128 << 20

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the thresholds above to this process, once; whether they were applied."""
    global _done
    if _done is None:
        _done = False
        if sys.platform.startswith("linux"):
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):  # not glibc
                return False
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            _done = bool(
                mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            )
    return _done
