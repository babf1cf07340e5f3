"""Everyone's folders made and stocked: ``inbox/<username>/``, ``outbox/<username>/`` and the
student office's, each outbox with the forms a person fills in (the order workbook
``bestallning.xlsx``, the settings workbook ``installningar.xlsx``; the office's confirmation
workbook ``bekraftelse.xlsx``).

Owns :func:`furnish`, run by ``init`` and after each registry import: idempotent, a form
already there is rewritten only when it is missing. What a form holds is its own module's
(:mod:`pipeline.forms`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.app import App
from pipeline.people import directory, folders


def furnish(app: App) -> list[Path]:
    """Make every person's and the office's folders (and forms); returns what was made."""
    with app.db.read_session() as session:
        people = directory.everyone(session)
    made = folders.make(app.settings, [p.username for p in people])
    made.extend(_forms(app, people))
    return made


def _forms(app: App, people: list[directory.Person]) -> list[Path]:
    # Lazy: the forms' writers need openpyxl and the schemas, not needed for the folders.
    from pipeline.forms import stock

    return stock.stock_outboxes(app, people)
