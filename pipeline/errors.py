"""Exceptions for broken processing and refused commands.

A teacher's typo is never an exception: it is a problem in a :class:`pipeline.intake.report.Report`.
These are for things the caller must stop on; the CLI turns them into messages and exit codes.
"""

from __future__ import annotations


class ResultatError(Exception):
    """Base class: a message meant for the person running the command."""

    exit_code = 1


class WorkspaceError(ResultatError):
    """The workspace is missing, incomplete or misconfigured."""


class AdminRequired(ResultatError):
    """An administration-mode command was run without ``--admin``."""

    exit_code = 3


class NotFound(ResultatError):
    """A list, course, module, student or staff member does not exist."""

    exit_code = 4


class InvalidRequest(ResultatError):
    """Arguments that cannot be carried out (wrong state, bad source, ...)."""

    exit_code = 2
