"""Registry import: what LADOK and the staff directory (BARD) supply, upserted into the database.

Owns reading registry files (CSV separated by ``,``, ``;`` or tab, UTF-8 with or without BOM;
the first sheet of an XLSX/ODS workbook), recognising each file's kind from its header row,
checking every row (the pandera schema in ``schemas/registry/<kind>.yaml``, then cross-checks
against the database and duplicates within the file) and the idempotent upsert: one
transaction and one audit event per file. Rejected rows come back as located
:class:`~pipeline.intake.report.Problem` objects while the good rows of the same file are imported.
Printing is the caller's; :func:`format_results` makes the text.

Row numbers are the ones a person sees (the header is row 1 of a CSV; a workbook's own row
numbers). Personnummer only ever leave this module masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App, require_admin
from pipeline.domain import deadlines, personnummer
from pipeline.intake import report
from pipeline.intake.report import Problem
from pipeline.models import (
    Base,
    Course,
    Examiner,
    ExamSignup,
    Module,
    PriorResult,
    Registration,
    Staff,
    Student,
    Teacher,
)
from pipeline.registry.crosschecks import (
    Context,
    Extras,
    check_examiners,
    check_module_credits,
    check_module_results,
    check_modules,
    check_registrations,
    check_teachers,
    no_references,
)
from pipeline.registry.rows import (
    Record,
    Rows,
    check_duplicates,
    mask_value,
    prepare,
    register_checks,
    run_schema,
    type_rows,
)
from pipeline.registry.sources import KIND_ORDER, KINDS, FileProblem, Table, read_table

AUDIT_ACTION: Final = "registry.import"


@dataclass
class ImportResult:
    """What happened to one file: counts, rejected rows, file-level problems and warnings."""

    path: Path
    kind: str | None
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.rejected})

    @property
    def ok(self) -> bool:
        return not self.problems and not self.rejected


@dataclass(frozen=True)
class _Storage:
    """How one kind is stored: the model, the attributes that identify a stored row, which
    file column fills which attribute, and the cross-checks that resolve references."""

    model: type[Base]
    key: tuple[str, ...]
    attributes: dict[str, str]
    check: Callable[[Rows, Context], Extras] = no_references
    after: Callable[[Rows, Context, list[Record]], list[Record]] | None = None


_NAMES: Final = {"name_sv": "name_sv", "name_en": "name_en"}
_STORAGE: Final[dict[str, _Storage]] = {
    "courses": _Storage(
        Course,
        ("code",),
        {
            "course_code": "code",
            **_NAMES,
            "credits": "credits",
            "scale": "scale",
            "ects_scale": "ects_scale",
            "start_date": "start_date",
            "department": "department",
        },
    ),
    "modules": _Storage(
        Module,
        ("course_id", "code"),
        {
            "module_code": "code",
            **_NAMES,
            "credits": "credits",
            "scale": "scale",
            "ects_scale": "ects_scale",
        },
        check_modules,
        check_module_credits,
    ),
    "staff": _Storage(
        Staff,
        ("username",),
        {c: c for c in ("username", "name", "email", "mobile", "language", "os_login", "office")},
    ),
    "examiners": _Storage(
        Examiner,
        ("course_id", "staff_id", "from_term"),
        {"from_term": "from_term", "to_term": "to_term"},
        check_examiners,
    ),
    "teachers": _Storage(
        Teacher,
        ("course_id", "staff_id", "from_term"),
        {"from_term": "from_term", "to_term": "to_term"},
        check_teachers,
    ),
    "students": _Storage(
        Student,
        ("pnr",),
        {
            "personnummer": "pnr",
            **{c: c for c in ("first_name", "last_name", "email", "lms_username")},
        },
    ),
    "registrations": _Storage(
        Registration,
        ("student_id", "course_id", "term"),
        {"term": "term"},
        check_registrations,
    ),
    "signups": _Storage(
        ExamSignup,
        ("student_id", "module_id", "exam_date"),
        {"exam_date": "exam_date"},
        check_module_results,
    ),
    "prior_results": _Storage(
        PriorResult,
        ("student_id", "module_id", "grade_date"),
        {"grade_date": "grade_date"},
        check_module_results,
    ),
}


def _records(rows: Rows, storage: _Storage, extras: Extras) -> list[Record]:
    """Rows without problems as model values; a column the file lacks is left as stored."""
    present = [(c, a) for c, a in storage.attributes.items() if c in rows.letters]
    return [
        Record(row, {**{a: v[c] for c, a in present}, **extras.get(row, {})})
        for row, v in rows.good()
    ]


def _upsert(
    session: Session, model: type[Base], key: tuple[str, ...], records: list[Record]
) -> tuple[int, int, int]:
    """Insert new rows, update changed ones, in bulk; returns (added, changed, unchanged)."""
    if not records:
        return 0, 0, 0
    attributes = sorted({name for record in records for name in record.values})
    table: Any = model
    stored: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    query = select(table.id, *(getattr(table, name) for name in attributes))
    for found in session.execute(query):
        values = dict(zip(attributes, found[1:], strict=True))
        stored[tuple(values[name] for name in key)] = (found[0], values)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for record in records:
        existing = stored.get(tuple(record.values[name] for name in key))
        if existing is None:
            inserts.append(record.values)
        elif any(existing[1][name] != value for name, value in record.values.items()):
            updates.append({"id": existing[0], **record.values})
        else:
            unchanged += 1
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        session.execute(update(table), updates)
    return len(inserts), len(updates), unchanged


# ---------------------------------------------------------------------------------------------
# The public operations


def _expected_headers() -> str:
    return " | ".join(f"{spec.kind}: {', '.join(spec.columns)}" for spec in KINDS.values())


def _finish(problems: list[Problem], headers: dict[str, str]) -> list[Problem]:
    """Problems as the person sees them: the file's own header names, personnummer masked."""
    out = []
    for problem in problems:
        column = problem.field or ""
        out.append(
            replace(
                problem,
                field=headers.get(column, problem.field),
                value=mask_value(column, problem.value),
            )
        )
    return sorted(out, key=lambda p: (p.row or 0, p.column or "", p.slug))


def _import_one(app: App, path: Path, table: Table, today: dt.date) -> ImportResult:
    kind, positions = str(table.kind), table.positions
    spec = KINDS[kind]
    result = ImportResult(path=path, kind=kind)
    headers = {
        column: table.headers[positions[column]] for column in spec.columns if column in positions
    }
    used = set(headers.values())
    ignored = [h for h in table.headers if h and h not in used]
    if ignored:
        result.warnings.append(
            Problem(
                slug="registry-ignored-columns",
                params={"columns": personnummer.mask_text(", ".join(ignored))},
                sheet=table.sheet,
            )
        )
    rows = prepare(table, spec, positions)
    run_schema(rows, app.root)
    type_rows(rows)
    check_duplicates(rows, headers)
    storage = _STORAGE[kind]
    with app.db.session() as session:
        ctx = Context(session=session, workspace=app.root, today=today)
        records = _records(rows, storage, storage.check(rows, ctx))
        if storage.after is not None:
            records = storage.after(rows, ctx, records)
        added, changed, unchanged = _upsert(session, storage.model, storage.key, records)
        result.added, result.changed, result.unchanged = added, changed, unchanged
        result.rejected = _finish(rows.problems, headers)
        result.warnings.extend(rows.warnings)
        audit.record(
            session,
            actor=app.actor,
            action=AUDIT_ACTION,
            admin=True,
            details={
                "file": path.name,
                "kind": kind,
                "added": added,
                "changed": changed,
                "unchanged": unchanged,
                "rejected_rows": result.rejected_rows,
            },
        )
    return result


def import_files(
    app: App, paths: Sequence[Path], *, admin: bool, today: dt.date | None = None
) -> list[ImportResult]:
    """Import registry files, in dependency order whatever order they are given in.

    Each file is one transaction with one audit event; a file whose kind is not recognised or
    that cannot be read changes nothing and reports why in ``problems``. Results come back in
    the order the files were imported, unrecognised files last. ``today`` (default: the Swedish
    date today) is the limit for grade dates.
    """
    require_admin(admin, "Registerimport")
    register_checks()
    today = today or deadlines.swedish_date()
    readable: list[tuple[int, Path, Table]] = []
    failed: list[ImportResult] = []
    for order, raw_path in enumerate(paths):
        path = Path(raw_path)
        try:
            table = read_table(path)
        except FileProblem as exc:
            problem = Problem(slug=exc.slug, params=exc.params)
            failed.append(ImportResult(path=path, kind=None, problems=[problem]))
            continue
        if table.kind is None:
            shown = personnummer.mask_text(", ".join(h for h in table.headers if h))
            problem = Problem(
                slug="unknown-registry-kind",
                params={"headers": shown, "expected": _expected_headers()},
                sheet=table.sheet,
            )
            failed.append(ImportResult(path=path, kind=None, problems=[problem]))
            continue
        readable.append((order, path, table))
    readable.sort(key=lambda item: (KIND_ORDER.index(str(item[2].kind)), item[0]))
    results = [_import_one(app, path, table, today) for _, path, table in readable]
    if any(r.kind == "staff" and (r.added or r.changed) for r in results):
        # Lazy: people's folders (and their forms) are made only when the staff changed.
        from pipeline.people.furnish import furnish

        furnish(app)
    return results + failed


def _position(problem: Problem, words: dict[str, str]) -> str:
    """Sheet, row and column, naming the column by the header as written in the file."""
    parts = []
    if problem.sheet:
        parts.append(words["sheet"].format(sheet=problem.sheet))
    if problem.row is not None:
        parts.append(words["row"].format(row=problem.row))
    if problem.column:
        label = f"{problem.column} ({problem.field})" if problem.field else problem.column
        parts.append(words["column"].format(column=label))
    return ", ".join(parts)


def format_results(
    results: Sequence[ImportResult], language: str = "sv", workspace: Path | None = None
) -> str:
    """Per file: kind and counts, then every problem with its row, column and reason."""
    texts = report.messages(language, workspace)
    words = texts["registry"]

    def line(problem: Problem, prefix: str = "") -> str:
        where = _position(problem, texts["position"])
        message = problem.message(language, workspace)
        return f"  {prefix}{where}: {message}" if where else f"  {prefix}{message}"

    lines: list[str] = []
    totals = {"added": 0, "changed": 0, "unchanged": 0, "rejected": 0}
    for result in results:
        kind = words["kinds"].get(result.kind, result.kind) if result.kind else None
        counts = {
            "added": result.added,
            "changed": result.changed,
            "unchanged": result.unchanged,
            "rejected": result.rejected_rows,
        }
        for name, count in counts.items():
            totals[name] += count
        lines.append(
            words["summary"].format(
                file=result.path.name, kind=kind or words["unknown_kind"], **counts
            )
        )
        lines.extend(line(problem) for problem in result.problems)
        lines.extend(line(problem) for problem in result.rejected)
        lines.extend(line(problem, f"{words['warning']}: ") for problem in result.warnings)
    if len(results) > 1:
        lines.append(words["total"].format(**totals))
    return "\n".join(lines)
