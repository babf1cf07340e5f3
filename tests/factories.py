"""Small generated registries written straight to the database, for tests that are not about
the registry import itself. Every personnummer is generated with a valid check digit."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from pipeline.app import App
from pipeline.domain import personnummer
from pipeline.models import (
    Course,
    Examiner,
    ExamSignup,
    Module,
    Registration,
    Staff,
    Student,
    Teacher,
)

TERM = "HT2026"
EXAM_DATE = dt.date(2026, 10, 30)
COURSE_START = dt.date(2026, 8, 31)
NAMES = [
    ("Åsa", "Öberg"),
    ("Märta", "Ängström"),
    ("Björn", "Åkesson"),
    ("Linnéa", "Sjöström"),
    ("Örjan", "Bäckström"),
    ("Kåre", "Lindén"),
    ("Ebba", "Nordqvist"),
    ("Tove", "Hägg"),
]


@dataclass
class Seeded:
    pnrs: list[str] = field(default_factory=list)
    teacher: str = "lärare1"
    examiner: str = "exam1"


def seed(app: App, *, students: int = 8, seed_value: int = 7, teacher_lang: str = "sv") -> Seeded:
    """One course DV1599 (TH, ECTS AF) with modules 2010 (TH) and 2020 (UG), an examiner,
    a teacher, ``students`` students all registered and signed up for the 2010 sitting."""
    rng = random.Random(seed_value)
    out = Seeded()
    with app.db.session() as s:
        course = Course(
            code="DV1599",
            name_sv="Programmering i Python",
            name_en="Programming in Python",
            credits=Decimal("7.5"),
            scale="TH",
            ects_scale="AF",
            start_date=COURSE_START,
        )
        s.add(course)
        s.flush()
        m2010 = Module(
            course_id=course.id,
            code="2010",
            name_sv="Tentamen",
            name_en="Written exam",
            credits=Decimal("4.5"),
            scale="TH",
        )
        m2020 = Module(
            course_id=course.id,
            code="2020",
            name_sv="Laborationer",
            name_en="Labs",
            credits=Decimal("3.0"),
            scale="UG",
        )
        s.add_all([m2010, m2020])
        examiner = Staff(
            username=out.examiner,
            name="Eva Examinatorsson",
            email="exam1@example.se",
            mobile="+46701740605",
            language="sv",
        )
        teacher = Staff(
            username=out.teacher,
            name="Lars Lärare",
            email="larare1@example.se",
            mobile="+46701740606",
            language=teacher_lang,
        )
        s.add_all([examiner, teacher])
        s.flush()
        s.add(Examiner(course_id=course.id, staff_id=examiner.id, from_term="VT2020"))
        s.add(Teacher(course_id=course.id, staff_id=teacher.id, from_term="VT2020"))
        used: set[str] = set()
        for i in range(students):
            while True:
                pnr = personnummer.generate(rng).digits
                if pnr not in used:
                    used.add(pnr)
                    break
            first, last = NAMES[i % len(NAMES)]
            student = Student(
                pnr=pnr,
                first_name=first,
                last_name=f"{last}{i // len(NAMES) or ''}",
                email=f"student{i}@example.se",
                lms_username=f"stud{i}",
            )
            s.add(student)
            s.flush()
            s.add(Registration(student_id=student.id, course_id=course.id, term=TERM))
            s.add(ExamSignup(student_id=student.id, module_id=m2010.id, exam_date=EXAM_DATE))
            out.pnrs.append(pnr)
    return out


def text_of(part: Any) -> str:
    """The decoded text of a mail part (its payload, as UTF-8); of a mail with attachments,
    its body (the first text part)."""
    if part.is_multipart():
        part = next(p for p in part.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def fill(
    path: Path,
    rows: Mapping[str, Mapping[str, Any]],
    *,
    action: str | None = None,
    target: Path | None = None,
) -> Path:
    """Fill an issued workbook as a teacher would: by personnummer, column header names."""
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    header_row = next(
        r for r in range(1, 40) if str(ws.cell(row=r, column=1).value or "").startswith("Person")
    )
    headers = {str(ws.cell(row=header_row, column=c).value): c for c in range(1, ws.max_column + 1)}
    keys = {
        "grade": ("Betyg", "Grade"),
        "ects_grade": ("ECTS-betyg", "ECTS grade"),
        "grade_date": ("Betygsdatum", "Grade date"),
        "points": ("Skrivningspoäng", "Exam points"),
        "comment": ("Kommentar", "Comment"),
        "pnr": ("Personnummer", "Personal identity number"),
        "remove": ("Ta bort", "Remove"),
    }

    def col(name: str) -> int:
        return next(headers[h] for h in keys[name] if h in headers)

    by_pnr = {}
    for r in range(header_row + 1, ws.max_row + 1):
        value = ws.cell(row=r, column=1).value
        if value:
            by_pnr[str(value).replace("-", "")] = r
    for pnr, values in rows.items():
        r = by_pnr[pnr.replace("-", "")]
        for name, value in values.items():
            ws.cell(row=r, column=col(name), value=value)
    if action is not None:
        ws["B13"] = action
    out = target or path
    wb.save(out)
    return out


def new_exam_list(app: App, *, reporter: str = "lärare1") -> int:
    """A T33 list for DV1599/2010 with everyone signed up for the sitting."""
    from pipeline.lists.create import create_t33
    from pipeline.lists.students import StudentSources

    return create_t33(
        app,
        course_code="DV1599",
        module_code="2010",
        term=TERM,
        sources=StudentSources(exam_date=EXAM_DATE),
        reporter=reporter,
    )


def sent_code(app: App, listnr: int) -> str:
    """Dispatch queued messages (file backend) and read the newest code for ``listnr``, as
    the examiner's phone would show it."""
    import json
    import re

    from pipeline.messages import outbox

    outbox.drain(app)
    texts = sorted((app.settings.var / "sms").glob("*.json"), key=lambda p: -int(p.stem))
    for path in texts:
        body = json.loads(path.read_text("utf-8"))["body"]
        if str(listnr) in body:
            match = re.search(r"(?<!\d)(\d{6})(?!\d)", body)
            if match:
                return match.group(1)
    raise AssertionError(f"no code for {listnr} in var/sms")
