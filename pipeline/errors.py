"""Exceptions for broken processing and refused commands.

A teacher's typo is never an exception: it is a problem in a :class:`pipeline.intake.report.Report`.
These are for things the caller must stop on; the CLI turns them into messages (in the
person's language, through :meth:`ResultatError.render`) and exit codes.

An error is raised either with a catalogue key and its parameters —
``NotFound.text("errors.no-list", listnr=1001)``, the way for people-facing messages — or,
while a module is still being converted, with a finished message.
"""

from __future__ import annotations

from typing import Any, Self

from pipeline import texts


class ResultatError(Exception):
    """Base class: a message meant for the person running the command."""

    exit_code = 1

    def __init__(self, message: str = "", *, key: str | None = None, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(message or (texts.t(key, texts.DEFAULT_LANGUAGE, **params) if key else ""))

    @classmethod
    def text(cls, key: str, **params: Any) -> Self:
        """The error whose message is the catalogue text ``key`` filled with ``params``."""
        return cls(key=key, **params)

    def render(self, lang: str, workspace: Any = None) -> str:
        """The message in ``lang`` (the finished message if raised without a key)."""
        if self.key is None:
            return str(self)
        return texts.t(self.key, lang, workspace, **self.params)


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
