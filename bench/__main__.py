"""``python -m bench``: see :mod:`bench.run` and ``bench/README.md``; ``--history N`` runs
:mod:`bench.history` instead."""

from __future__ import annotations

import sys

if any(arg == "--history" or arg.startswith("--history=") for arg in sys.argv[1:]):
    from bench.history import main
else:
    from bench.run import main

sys.exit(main())
