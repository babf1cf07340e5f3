"""What a stage of the intake concluded for one dropped file: one small typed result each.

A stage returns one of these (or ``None``: "not mine, go on"). By the time it does, the file's
receipt is written and its :class:`~pipeline.models.InboxFile` record committed; what is left
is moving the original, which :class:`pipeline.intake.inbox.Inbox` does by the outcome's
:attr:`kept_as` (``.processed/`` or ``.rejected/``). Nothing here is a state of a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pipeline.intake.report import Problem
from pipeline.models import FileOutcome


@dataclass(frozen=True)
class _Concluded:
    listnr: int | None
    receipt: Path | None
    problems: tuple[Problem, ...] = ()
    kept_as: ClassVar[FileOutcome] = FileOutcome.ACCEPTED
    #: Which section of ``templates/receipt.<lang>.txt`` the receipt shows.
    receipt_status: ClassVar[str] = "accepted"


@dataclass(frozen=True)
class Accepted(_Concluded):
    """A result workbook applied to its list (saved as a draft or submitted)."""


@dataclass(frozen=True)
class Approved(_Concluded):
    """A review workbook whose approval code the examiner entered: the list is approved."""

    receipt_status: ClassVar[str] = "approved"


@dataclass(frozen=True)
class SentBack(_Concluded):
    """A review workbook with the examiner's reason: the list goes back to its reporter."""

    receipt_status: ClassVar[str] = "sent_back"


@dataclass(frozen=True)
class Merged(_Concluded):
    """A learning-platform export merged into a workbook the teacher checks and drops again."""


@dataclass(frozen=True)
class Refused(_Concluded):
    """Nothing applied: unreadable, of no known kind, or failing its checks (``problems``)."""

    kept_as: ClassVar[FileOutcome] = FileOutcome.REJECTED
    receipt_status: ClassVar[str] = "rejected"


@dataclass(frozen=True)
class Duplicate(_Concluded):
    """The same bytes were accepted before; ``earlier`` says which file, when."""

    earlier: str = ""
    kept_as: ClassVar[FileOutcome] = FileOutcome.DUPLICATE
    receipt_status: ClassVar[str] = "duplicate"


@dataclass(frozen=True)
class AlreadyDone:
    """A file whose record was committed by a worker that died before moving it: it is
    moved by its ``recorded`` outcome (and its list's workbook written again)."""

    listnr: int | None
    recorded: FileOutcome
    receipt: Path | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def kept_as(self) -> FileOutcome:
        return self.recorded


Outcome = Accepted | Approved | SentBack | Merged | Refused | Duplicate | AlreadyDone
