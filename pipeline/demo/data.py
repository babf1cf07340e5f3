"""Demo and test data: an invented, BTH-like registry as LADOK and BARD would supply it.

Owns writing the registry files (courses, modules, staff, examiners, teachers, students,
registrations, exam sign-ups, prior results) that ``resultat demo`` imports and the tests use,
and the constants a demo needs to carry on from them (course and module codes, who examines and who
teaches). Everything is deterministic for a seed and a date. Nobody is real: personnummer are
generated with valid check digits, names are random combinations, addresses are under
``example.se`` and mobile numbers come from the range PTS reserves for fiction
(+46 70-174 06 05 … 99). Importing the files is :mod:`pipeline.registry.importer`'s job.

The files deliberately vary what the importer must handle: ``,`` and ``;`` separators, with
and without a byte order mark, one workbook (``students.xlsx``), personnummer written in
several forms.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook

from pipeline.domain import personnummer, terms
from pipeline.xlsx.cells import escape_cell

COURSE_CODES: Final = ("DV1599", "PA1414", "ME1003")
MODULE_CODES: Final[dict[str, tuple[str, ...]]] = {
    "DV1599": ("2010", "2020"),
    "PA1414": ("TEN1", "PRO1"),
    "ME1003": ("0010",),
}
# The modules with a written exam; students sign up for their sitting on the exam date.
EXAM_MODULES: Final = (("DV1599", "2010"), ("PA1414", "TEN1"))
# Modules some students have already passed (prior results, dated the lab date).
PASSED_MODULES: Final = (("DV1599", "2020"), ("PA1414", "PRO1"))
EXAMINERS: Final[dict[str, str]] = {"DV1599": "anlq", "PA1414": "masd", "ME1003": "dast"}
FORMER_EXAMINER: Final = "kahg"  # examined PA1414 until two years before the demo term
TEACHER: Final = "jobe"  # teaches DV1599 and reports its results, but is not its examiner
ENGLISH_SPEAKER: Final = "dast"
OFFICE_CLERK: Final = "peak"  # works at the student office (Utbildningsstöd)
#: Who reports on which course (the registry's ``teachers``) besides its examiner.
TEACHERS: Final[dict[str, tuple[str, ...]]] = {"DV1599": (TEACHER,), "PA1414": (TEACHER,)}

# username, name, mobile (blank: none registered), language
STAFF: Final = (  # i18n: not people-facing: generated registry data
    ("anlq", "Anna Lindqvist", "+46701740605", "sv"),
    ("jobe", "Johan Bergström", "+46701740606", "sv"),
    ("masd", "Maria Södergren", "+46701740607", "sv"),
    ("dast", "David Stone", "+46701740608", "en"),
    ("kahg", "Karin Hägglund", "+46701740609", "sv"),
    ("peak", "Per Åkerlund", "", "sv"),
)
STAFF_USERNAMES: Final = tuple(row[0] for row in STAFF)

# code, name_sv, name_en, credits, scale, ects_scale
COURSES: Final = (  # i18n: not people-facing: generated registry data
    ("DV1599", "Programmering i Python", "Programming in Python", "7.5", "TH", "AF"),
    ("PA1414", "Programvaruutveckling", "Software Development", "7.5", "UG", ""),
    ("ME1003", "Mekanik för ingenjörer", "Mechanics for Engineers", "6", "AF", ""),
)
# course, code, name_sv, name_en, credits, scale, ects_scale
MODULES: Final = (  # i18n: not people-facing: generated registry data
    ("DV1599", "2010", "Tentamen", "Written examination", "4.5", "TH", ""),
    ("DV1599", "2020", "Laborationer", "Laboratory work", "3", "UG", ""),
    ("PA1414", "TEN1", "Tentamen", "Written examination", "5", "UV", ""),
    ("PA1414", "PRO1", "Projekt", "Project", "2.5", "UG", ""),
    ("ME1003", "0010", "Tentamen", "Written examination", "6", "AF", ""),
)

FIRST_NAMES: Final = (  # i18n: not people-facing: generated registry data
    "Åsa", "Björn", "Märta", "Örjan", "Göran", "Linnéa", "Sören", "Åke", "Ingrid", "Elin",
    "Måns", "Tove", "Ylva", "Jöns", "Hampus", "Lovisa", "Ebba", "Axel", "Saga", "Oskar",
    "Wilma", "Nils", "Stina", "Kåre", "Signe", "Mårten", "Frida", "Gösta", "Klara", "Viggo",
)  # fmt: skip
LAST_NAMES: Final = (  # i18n: not people-facing: generated registry data
    "Åberg", "Öberg", "Ström", "Lindqvist", "Näslund", "Sjöström", "Bäckström", "Ekström",
    "Hägglund", "Åkesson", "Lövgren", "Söderlund", "Nyström", "Björklund", "Wästberg", "Fröjd",
    "Håkansson", "Jönsson", "Blom", "Dahl", "Grönvall", "Holmér", "Kärrman", "Ljungqvist",
    "Rosén", "Sandgren", "Tällberg", "Vikström", "Ångström", "Älvsjö",
)  # fmt: skip

_REGISTERED_SHARE: Final = {"DV1599": 0.8, "PA1414": 0.65, "ME1003": 0.4}
_SIGNED_UP_SHARE: Final = 0.85
_PASSED_SHARE: Final = 0.25


@dataclass(frozen=True)
class DemoCalendar:
    """The dates the demo registry holds, derived from ``today``.

    ``term`` is the current term unless it started less than three weeks ago (then the one
    before), so that the course start, the lab date and the exam date all lie before today.
    """

    today: dt.date
    term: str
    start_date: dt.date
    lab_date: dt.date
    exam_date: dt.date


def _previous_term(term: str) -> str:
    season, year = term[:2], int(term[2:])
    return f"VT{year}" if season == "HT" else f"HT{year - 1}"


def _term_dates(term: str) -> tuple[dt.date, dt.date, dt.date]:
    """Start (Monday), lab date and exam date (Fridays) of a term, by ISO week as BTH plans."""
    year = int(term[2:])
    start_week, lab_week, exam_week = (36, 42, 44) if term.startswith("HT") else (3, 10, 12)
    return (
        dt.date.fromisocalendar(year, start_week, 1),
        dt.date.fromisocalendar(year, lab_week, 5),
        dt.date.fromisocalendar(year, exam_week, 5),
    )


def demo_calendar(today: dt.date | None = None) -> DemoCalendar:
    """The term and dates :func:`write_registry` uses for ``today`` (default: the date today)."""
    today = today or dt.date.today()
    term = terms.term_of(today)
    start, lab, exam = _term_dates(term)
    if (today - start).days < 21:
        term = _previous_term(term)
        start, lab, exam = _term_dates(term)
    exam = min(exam, today - dt.timedelta(days=7))
    lab = min(lab, exam - dt.timedelta(days=7))
    return DemoCalendar(today=today, term=term, start_date=start, lab_date=lab, exam_date=exam)


@dataclass(frozen=True)
class DemoStudent:
    pnr: personnummer.Personnummer
    first_name: str
    last_name: str
    email: str
    lms_username: str


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def make_students(rng: random.Random, count: int, today: dt.date) -> list[DemoStudent]:
    """``count`` invented students aged 19–45, a handful with samordningsnummer."""
    samordning = set(rng.sample(range(count), min(count, max(1, count // 60))))
    seen_pnr: set[str] = set()
    seen_names: set[str] = set()
    students: list[DemoStudent] = []
    for index in range(count):
        while True:
            birth = today - dt.timedelta(days=rng.randrange(19 * 365, 45 * 365))
            pnr = personnummer.generate(rng, birth=birth, samordning=index in samordning)
            if pnr.digits not in seen_pnr:
                seen_pnr.add(pnr.digits)
                break
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        stem = f"{_ascii(first)[:2]}{_ascii(last)[:2]}"
        number = rng.randrange(10, 100)
        while f"{stem}{number}" in seen_names:
            number += 1
        acronym = f"{stem}{number}"
        seen_names.add(acronym)
        students.append(
            DemoStudent(
                pnr=pnr,
                first_name=first,
                last_name=last,
                email=f"{_ascii(first)}.{_ascii(last)}.{acronym}@student.example.se",
                lms_username=f"{acronym}@student.example.se",
            )
        )
    return students


def _staff_email(name: str) -> str:
    first, last = name.split(maxsplit=1)
    return f"{_ascii(first)}.{_ascii(last)}@example.se"


def _write_csv(
    path: Path, header: list[str], rows: list[list[Any]], *, delimiter: str = ",", bom: bool
) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows([[escape_cell(cell) for cell in row] for row in rows])
    return path


def _write_xlsx(path: Path, title: str, header: list[str], rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    sheet.append(header)
    for row in rows:
        sheet.append([escape_cell(cell) for cell in row])
    for column in sheet.iter_cols(min_row=2):
        for cell in column:
            cell.number_format = "@"  # text, so a spreadsheet never turns a number into a date
    # Fixed document dates keep the file the same for the same seed and day.
    stamp = dt.datetime(2026, 1, 1)
    workbook.properties.created = stamp
    workbook.properties.modified = stamp
    workbook.save(path)
    return path


def write_registry(
    folder: Path,
    *,
    seed: int = 2026,
    students: int = 300,
    today: dt.date | None = None,
) -> dict[str, Path]:
    """Write a complete demo registry into ``folder``; returns kind -> file.

    The term and dates come from :func:`demo_calendar` for ``today``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cal = demo_calendar(today)
    rng = random.Random(seed)
    people = make_students(rng, students, cal.today)
    year = int(cal.term[2:])
    current_from = f"HT{year - 2}"

    registered: dict[str, list[DemoStudent]] = {code: [] for code in COURSE_CODES}
    registrations: list[list[Any]] = []
    for student in people:
        for code in COURSE_CODES:
            if rng.random() < _REGISTERED_SHARE[code]:
                registered[code].append(student)
                registrations.append([student.pnr.digits, code, cal.term])
    signups = [
        [student.pnr.long(), course, module, cal.exam_date.isoformat()]
        for course, module in EXAM_MODULES
        for student in registered[course]
        if rng.random() < _SIGNED_UP_SHARE
    ]
    prior = [
        [student.pnr.long(), course, module, "G", cal.lab_date.isoformat()]
        for course, module in PASSED_MODULES
        for student in registered[course]
        if rng.random() < _PASSED_SHARE
    ]
    start = cal.start_date.isoformat()
    examiners = [[course, user, current_from, ""] for course, user in EXAMINERS.items()]
    examiners.append(["PA1414", FORMER_EXAMINER, f"VT{year - 4}", f"VT{year - 2}"])

    return {
        "courses": _write_csv(
            folder / "courses.csv",
            ["course_code", "name_sv", "name_en", "credits", "scale", "ects_scale", "start_date"],
            [[*course, start] for course in COURSES],
            bom=False,
        ),
        "modules": _write_csv(
            folder / "modules.csv",
            ["course_code", "module_code", "name_sv", "name_en", "credits", "scale", "ects_scale"],
            [list(module) for module in MODULES],
            delimiter=";",
            bom=True,
        ),
        "staff": _write_csv(
            folder / "staff.csv",
            ["username", "name", "email", "mobile", "language", "office"],
            [
                [user, name, _staff_email(name), mobile, lang, "ja" if user == OFFICE_CLERK else ""]
                for user, name, mobile, lang in STAFF
            ],
            bom=False,
        ),
        "examiners": _write_csv(
            folder / "examiners.csv",
            ["course_code", "username", "from_term", "to_term"],
            examiners,
            delimiter=";",
            bom=False,
        ),
        "teachers": _write_csv(
            folder / "teachers.csv",
            ["course_code", "teacher", "from_term", "to_term"],
            [[c, u, current_from, ""] for c, users in TEACHERS.items() for u in users],
            bom=False,
        ),
        "students": _write_xlsx(
            folder / "students.xlsx",
            "Studenter",  # i18n: not people-facing: the sheet name of a registry export
            ["personnummer", "first_name", "last_name", "email", "lms_username"],
            [[s.pnr.long(), s.first_name, s.last_name, s.email, s.lms_username] for s in people],
        ),
        "registrations": _write_csv(
            folder / "registrations.csv",
            ["personnummer", "course_code", "term"],
            registrations,
            bom=True,
        ),
        "signups": _write_csv(
            folder / "signups.csv",
            ["personnummer", "course_code", "module_code", "exam_date"],
            signups,
            bom=False,
        ),
        "prior_results": _write_csv(
            folder / "prior_results.csv",
            ["personnummer", "course_code", "module_code", "grade", "grade_date"],
            prior,
            bom=False,
        ),
    }
