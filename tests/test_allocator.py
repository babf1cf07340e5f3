"""The inbox's process keeps memory freed by one file for the next
(``pipeline.intake.allocator``)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

#: Resident size before, while holding, and after freeing 48 MB in blocks of 8 MB, as a
#: large workbook's buffers are; printed in MB by a fresh interpreter.
PROBE = """
import os, sys
from pipeline.intake.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory() and keep_freed_memory()  # applied once, and says so again
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = rss()
blocks = [b"x" * (8 << 20) for _ in range(6)]  # written, so resident
held = rss()
del blocks
print(before, held, rss())
"""


def _probe(mode: str) -> tuple[float, float, float]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    before, held, after = map(float, done.stdout.split())
    return before, held, after


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_buffers_stay_with_the_process_only_when_asked() -> None:
    before, held, after = _probe("default")
    assert held - before > 45
    assert after - before < 5  # glibc's default: handed back at once
    before, held, after = _probe("tuned")
    assert held - before > 45
    assert after - before > 45  # kept for the next file
