"""The ``resultat`` command line: turns arguments into library calls and errors into messages.

The library never prints or exits; this package does both. :mod:`~pipeline.cli.core` holds
the command tree and the global options, :mod:`~pipeline.cli.parser_texts` the parser's own
words; the commands are grouped in :mod:`~pipeline.cli.lists`, :mod:`~pipeline.cli.flow`
and :mod:`~pipeline.cli.daily` (importing them registers them). Every command's help ends
with an example.
"""

from __future__ import annotations

from pipeline.cli import daily, flow, lists
from pipeline.cli.core import app, main, state

__all__ = ["app", "daily", "flow", "lists", "main", "state"]
