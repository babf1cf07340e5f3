"""Generated data for the benchmark: a template workspace and filled workbooks to drop.

Owns building, once per benchmark run, a workspace whose database holds an invented registry
(generated personnummer with valid check digits, invented names, addresses under
``example.se``) and the result lists the scenarios need, issued through the real code
(:func:`pipeline.lists.create.create_t33`, :func:`pipeline.xlsx.workbook.issue`), and filling the
issued
workbooks as a teacher would. Filling patches the issued file's sheet XML (grade as text,
grade date as a real date cell, points as a number) instead of a slow openpyxl round trip;
the result is what Excel writes for typed cells. None of this is timed.

Each scenario gets a fresh copy of the template (:func:`fresh_workspace`), so every run starts
from the same database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

from python_calamine import CalamineWorkbook
from sqlalchemy import insert

from pipeline.app import App
from pipeline.demo.data import FIRST_NAMES, LAST_NAMES
from pipeline.domain import personnummer
from pipeline.lists.create import create_t33
from pipeline.lists.students import StudentSources
from pipeline.models import Course, Examiner, Module, Staff, Student
from pipeline.settings import create_workspace
from pipeline.xlsx import workbook
from pipeline.xlsx.reader import META_SHEET

TERM: Final = "HT2026"
COURSE: Final = "BE1001"
MODULE: Final = "2010"
COURSE_START: Final = dt.date(2026, 8, 31)
GRADE_DATE: Final = dt.date(2026, 10, 30)
REPORTER: Final = "bench_rapp"
EXAMINER: Final = "bench_exam"
GRADES: Final = ("U", "3", "4", "5")
#: Files of the template workspace besides the database; the rest is made by ``create_workspace``.
TEMPLATE_FILES: Final = ("resultat.toml", "var/secret.key")


@dataclass(frozen=True)
class Plan:
    """How much data to make: list counts and sizes per scenario."""

    batch_lists: int
    batch_rows: int
    latency_lists: int
    latency_rows: int
    large_rows: int
    issue_lists: int
    seed: int = 2026

    @property
    def students(self) -> int:
        return max(self.large_rows, self.batch_rows, self.latency_rows, 1000)


@dataclass
class Dataset:
    """The template workspace and, per scenario, the filled workbooks to drop."""

    template: Path
    batch: list[Path] = field(default_factory=list)
    latency: list[Path] = field(default_factory=list)
    large: Path | None = None
    #: Lists that stay unfilled, for issue-rate measurements (same size as batch lists).
    issue_listnrs: list[int] = field(default_factory=list)
    large_listnr: int | None = None
    #: A filled 100-row (batch-size) and the large workbook, for the side-by-side comparison.
    small_sample: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


MANIFEST: Final = "dataset.json"


def save_manifest(root: Path, plan: Plan, data: Dataset) -> None:
    body = {
        "plan": plan.__dict__,
        "template": str(data.template),
        "batch": [str(p) for p in data.batch],
        "latency": [str(p) for p in data.latency],
        "large": str(data.large) if data.large else None,
        "issue_listnrs": data.issue_listnrs,
        "large_listnr": data.large_listnr,
        "small_sample": str(data.small_sample) if data.small_sample else None,
    }
    (root / MANIFEST).write_text(json.dumps(body, indent=1), encoding="utf-8")


def load_manifest(root: Path, plan: Plan) -> Dataset | None:
    """The dataset an earlier run left under ``root`` for the same plan, if any."""
    try:
        body = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if body.get("plan") != plan.__dict__:
        return None
    return Dataset(
        template=Path(body["template"]),
        batch=[Path(p) for p in body["batch"]],
        latency=[Path(p) for p in body["latency"]],
        large=Path(body["large"]) if body["large"] else None,
        issue_listnrs=list(body["issue_listnrs"]),
        large_listnr=body["large_listnr"],
        small_sample=Path(body["small_sample"]) if body["small_sample"] else None,
    )


def _names(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def seed_registry(app: App, plan: Plan) -> list[str]:
    """One course with one module (TH), an examiner, a reporter and ``plan.students``
    students, written through the ORM; returns the students' personnummer in id order."""
    rng = random.Random(plan.seed)
    with app.db.session() as session:
        course = Course(
            code=COURSE,
            name_sv="Prestandamätning i Python",
            name_en="Benchmarking in Python",
            credits=Decimal("7.5"),
            scale="TH",
            ects_scale="AF",
            start_date=COURSE_START,
        )
        session.add(course)
        session.flush()
        session.add(
            Module(
                course_id=course.id,
                code=MODULE,
                name_sv="Tentamen",
                name_en="Written examination",
                credits=Decimal("7.5"),
                scale="TH",
            )
        )
        examiner = Staff(
            username=EXAMINER,
            name="Eva Examinatorsson",
            email="eva.examinatorsson@example.se",
            mobile="+46701740610",
            language="sv",
        )
        reporter = Staff(
            username=REPORTER,
            name="Rut Rapportör",
            email="rut.rapportor@example.se",
            mobile="+46701740611",
            language="sv",
        )
        session.add_all([examiner, reporter])
        session.flush()
        session.add(Examiner(course_id=course.id, staff_id=examiner.id, from_term="VT2020"))
        seen: set[str] = set()
        rows = []
        while len(rows) < plan.students:
            pnr = personnummer.generate(rng).digits
            if pnr in seen:
                continue
            seen.add(pnr)
            first, last = _names(rng)
            n = len(rows)
            rows.append(
                {
                    "pnr": pnr,
                    "first_name": first,
                    "last_name": last,
                    "email": f"student{n}@student.example.se",
                    "lms_username": f"stud{n}@student.example.se",
                }
            )
        session.execute(insert(Student), rows)
    return [r["pnr"] for r in rows]


def _create(app: App, students: Sequence[str]) -> int:
    return create_t33(
        app,
        course_code=COURSE,
        module_code=MODULE,
        term=TERM,
        sources=StudentSources(students=list(students)),
        reporter=REPORTER,
    )


def _excel_serial(day: dt.date) -> int:
    return (day - dt.date(1899, 12, 30)).days


_EMPTY_CELL: Final = re.compile(r'<c r="([A-Z]+)(\d+)"( s="\d+")?(?: t="n")?(?:></c>|/>)')


def fill_workbook(source: Path, target: Path, *, seed: int = 0) -> Path:
    """Fill every input row of an issued workbook as a teacher would, by patching its XML.

    About 95% of the students get a grade (U, 3, 4, 5), a grade date as a real date cell
    (every tenth as ISO text) and exam points; every 25th a comment; the rest stay blank
    (no result). The action cell keeps "Spara utkast" (save draft)."""
    rng = random.Random(seed)
    book = CalamineWorkbook.from_path(str(source))
    meta = {str(r[0]): r[1] for r in book.get_sheet_by_name(META_SHEET).to_python() if r and r[0]}
    letters: dict[str, str] = json.loads(str(meta["columns"]))
    first_row = int(str(meta["first_row"]).split(".")[0])
    columns = {letters[f]: f for f in ("grade", "grade_date", "points", "comment") if f in letters}
    serial = _excel_serial(GRADE_DATE)
    blank_rows: set[int] = set()

    def patch(match: re.Match[str]) -> str:
        col, row, style = match.group(1), int(match.group(2)), match.group(3) or ""
        name = columns.get(col)
        if name is None or row < first_row:
            return match.group(0)
        i = row - first_row
        if name == "grade":
            if rng.random() < 0.05:
                blank_rows.add(row)
                return match.group(0)
            return f'<c r="{col}{row}"{style} t="inlineStr"><is><t>{GRADES[i % 4]}</t></is></c>'
        if row in blank_rows:
            return match.group(0)
        if name == "grade_date":
            if i % 10 == 9:
                text = GRADE_DATE.isoformat()
                return f'<c r="{col}{row}"{style} t="inlineStr"><is><t>{text}</t></is></c>'
            return f'<c r="{col}{row}"{style}><v>{serial}</v></c>'
        if name == "points":
            return f'<c r="{col}{row}"{style}><v>{10 + i % 30}.5</v></c>'
        if name == "comment" and i % 25 == 24:
            return f'<c r="{col}{row}"{style} t="inlineStr"><is><t>Kompletterad å/ä/ö</t></is></c>'
        return match.group(0)

    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = _EMPTY_CELL.sub(patch, data.decode("utf-8")).encode("utf-8")
            zout.writestr(info, data)
    return target


def _issue_and_fill(
    app: App, listnr: int, issued_dir: Path, filled_dir: Path, *, seed: int
) -> Path:
    issued = workbook.issue(app, listnr, target=issued_dir / f"{listnr}.xlsx")
    return fill_workbook(issued.path, filled_dir / f"{listnr}.xlsx", seed=seed)


def build(root: Path, plan: Plan, echo: Callable[[str], object] = print) -> Dataset:
    """Make the template workspace under ``root`` and every filled workbook the plan needs."""
    template = root / "template"
    create_workspace(template)
    app = App.open(template, actor="bench", admin=True)
    data = Dataset(template=template)
    issued_dir = root / "issued"
    try:
        started = time.perf_counter()
        pnrs = seed_registry(app, plan)
        data.timings["registry"] = time.perf_counter() - started

        def blocks(size: int, count: int, offset: int = 0) -> list[list[str]]:
            per_cycle = max(1, len(pnrs) // size)
            return [
                pnrs[((offset + i) % per_cycle) * size : ((offset + i) % per_cycle + 1) * size]
                for i in range(count)
            ]

        echo(f"  creating and filling {plan.batch_lists} lists x {plan.batch_rows} rows (batch)")
        started = time.perf_counter()
        for i, students in enumerate(blocks(plan.batch_rows, plan.batch_lists)):
            listnr = _create(app, students)
            data.batch.append(
                _issue_and_fill(app, listnr, issued_dir, root / "drops" / "batch", seed=i)
            )
        data.timings["batch"] = time.perf_counter() - started
        data.small_sample = data.batch[0]

        echo(f"  creating {plan.issue_lists} lists x {plan.batch_rows} rows (issue rate)")
        for students in blocks(plan.batch_rows, plan.issue_lists, offset=plan.batch_lists):
            data.issue_listnrs.append(_create(app, students))

        echo(f"  creating and filling {plan.latency_lists} lists x {plan.latency_rows} rows")
        for i, students in enumerate(blocks(plan.latency_rows, plan.latency_lists)):
            listnr = _create(app, students)
            data.latency.append(
                _issue_and_fill(app, listnr, issued_dir, root / "drops" / "latency", seed=i)
            )

        echo(f"  creating and filling one list x {plan.large_rows} rows")
        started = time.perf_counter()
        data.large_listnr = _create(app, pnrs[: plan.large_rows])
        data.large = _issue_and_fill(
            app, data.large_listnr, issued_dir, root / "drops" / "large", seed=1
        )
        data.timings["large"] = time.perf_counter() - started
    finally:
        app.close()
    save_manifest(root, plan, data)
    return data


def fresh_workspace(data: Dataset, target: Path) -> Path:
    """A new workspace at ``target`` with a copy of the template's database and key."""
    if target.exists():
        shutil.rmtree(target)
    names = [*TEMPLATE_FILES, *(f"var/{p.name}" for p in (data.template / "var").glob("*.db*"))]
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(data.template / name, target / name)
    create_workspace(target)
    return target


def drop(files: Sequence[Path], workspace: Path, *, age_seconds: float = 60.0) -> None:
    """Put ``files`` in the workspace's inbox as if they had been dropped ``age_seconds`` ago."""
    inbox = workspace / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    then = time.time() - age_seconds
    for path in files:
        target = inbox / path.name
        shutil.copyfile(path, target)
        if age_seconds:
            os.utime(target, (then, then))
