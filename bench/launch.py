"""Run one command; report its wall time, CPU time and peak RSS: ``python -S launch.py OUT CMD``.

Why a separate small process: on Linux a child's ``ru_maxrss`` includes the memory of the
process it was forked from, before ``exec``. Forked straight from the benchmark (which holds
the generated data) every child would seem as big as the benchmark. This launcher is tiny, so
what ``wait4`` reports for its child is the child's own peak. Writes JSON to OUT and exits
with the child's exit code. Standard library only; meant to run with ``-S``.
"""

import json
import os
import sys
import time


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(args[0], args)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    with open(out, "w", encoding="utf-8") as fh:
        # CPU seconds (user + system) of the child: less skewed than wall time by other work on
        # the machine (it leaves out the waiting for a core, not the slower cores).
        cpu = usage.ru_utime + usage.ru_stime
        json.dump({"wall": wall, "cpu": cpu, "peak_rss_mb": rss_mb, "returncode": code}, fh)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
