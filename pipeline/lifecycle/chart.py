"""The grade-distribution chart attached to the examiner's review email.

Owns drawing one small bar chart as PNG. Counting the grades, choosing the title and where
the file goes are the caller's. matplotlib is imported inside the function (with the Agg
backend, no display needed), so importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pipeline import files

WIDTH_INCHES: Final = 4.8
HEIGHT_INCHES: Final = 3.0
DPI: Final = 100
BAR_COLOUR: Final = "#2a6f97"


def grade_chart_png(counts: list[tuple[str, int]], target: Path, *, title: str) -> Path:
    """Draw ``counts`` (grade, number of students) in the given order as a bar chart and save
    it as PNG at ``target`` (written atomically). Returns ``target``."""
    # Lazy for start-up time only: matplotlib is slow to import and only review mails need it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    grades = [str(grade) for grade, _ in counts]
    values = [int(count) for _, count in counts]
    # A Figure without pyplot: no global state, safe in a daemon and in threads.
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(grades)))
    bars = axes.bar(positions, values, color=BAR_COLOUR, width=0.6)
    axes.set_xticks(positions, grades)
    axes.bar_label(bars, labels=[str(v) for v in values], padding=2, fontsize=9)
    axes.set_title(title, fontsize=10)
    axes.set_ylim(0, max([*values, 1]) * 1.2)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()

    with files.atomic_path(target) as tmp:
        # No software/version metadata: the same counts give the same bytes.
        figure.savefig(tmp, format="png", metadata={"Software": None})
    return target
