"""``resultat verify``: the database, the audit chain, its signed end, the seal and every
archive package, each checked against the others; every difference named.

Owns :func:`open_existing` (a workspace whose database must already exist: verify never
creates one), :func:`verify` (one streamed walk of the chain, every list's records against
it, the signed head, the seal keys, every package on its own and against the chain) and
:func:`format_report` (the report in a person's language, words from the catalogue
``lifecycle.verify.*``). The package checks are :mod:`pipeline.lifecycle.archive_check`'s, the
record, head and seal checks :mod:`pipeline.lifecycle.archive_records`'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select

from pipeline.app import App
from pipeline.db import current_revision, make_engine
from pipeline.errors import InvalidRequest, WorkspaceError
from pipeline.lifecycle import archive_records as records
from pipeline.lifecycle.archive import find_packages
from pipeline.lifecycle.archive_check import (
    Issue,
    PackageCheck,
    check_of,
    database_issues,
    listnr_of,
    package_issues,
    verify_package,
)
from pipeline.lifecycle.archive_check_since import check_records, save_checkpoint
from pipeline.models import ListState, ResultList
from pipeline.settings import load
from pipeline.texts import DEFAULT_LANGUAGE, LANGUAGES, has, t

__all__ = ["PackageCheck", "VerifyReport", "format_report", "open_existing", "verify",
           "verify_package"]  # fmt: skip

#: The audit chain's reasons (:func:`pipeline.audit.verify_chain`) and their catalogue keys.
_AUDIT_REASONS: Final = {
    "link to the previous event is broken": "link-broken",
    "content does not match its hash": "content-changed",
}


@dataclass(frozen=True)
class VerifyReport:
    """Packages checked, the whole audit chain (first broken event id when broken), and the
    findings about the database's records, the chain's end and the seal."""

    packages: list[PackageCheck]
    audit_ok: bool
    audit_events: int
    audit_first_broken_id: int | None
    audit_reason: str
    findings: tuple[Issue, ...] = ()
    language: str = DEFAULT_LANGUAGE

    @property
    def ok(self) -> bool:
        return self.audit_ok and not self.findings and all(c.ok for c in self.packages)

    def problems(self) -> list[str]:
        return [issue.text(self.language) for issue in self.findings]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (for ``resultat verify --json``): every finding with its
        kind, list, row, event id and file."""
        found = [_finding(issue, None, self.language) for issue in self.findings]
        if not self.audit_ok:
            reason = _AUDIT_REASONS.get(self.audit_reason, self.audit_reason)
            message = _audit_reason(self.audit_reason, self.language)
            found.insert(0, {"kind": f"chain-{reason}", "listnr": None, "row": None,
                             "event_id": self.audit_first_broken_id, "file": None,
                             "message": message})  # fmt: skip
        for check in self.packages:
            found.extend(_finding(issue, check.path, self.language) for issue in check.issues)
        return {
            "ok": self.ok,
            "findings": found,
            "packages": [
                {
                    "listnr": check.listnr,
                    "path": str(check.path),
                    "ok": check.ok,
                    "problems": list(check.problems),
                }
                for check in self.packages
            ],
            "audit": {
                "ok": self.audit_ok,
                "events": self.audit_events,
                "first_broken_id": self.audit_first_broken_id,
                "reason": self.audit_reason,
            },
        }


def _finding(issue: Issue, package: Path | None, language: str) -> dict[str, Any]:
    file = issue.file
    if package is not None and file is not None:
        file = str(package / file)
    return {
        "kind": issue.slug,
        "listnr": issue.listnr,
        "row": issue.row,
        "event_id": issue.event,
        "file": file,
        "message": issue.text(language),
    }


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidRequest(t("lifecycle.unknown-language", DEFAULT_LANGUAGE, language=language))


def _audit_reason(reason: str, language: str) -> str:
    key = f"lifecycle.verify.audit-reasons.{_AUDIT_REASONS.get(reason, '-')}"
    return t(key, language) if has(key, language) else reason


def open_existing(root: Path, *, actor: str | None = None) -> App:
    """The workspace at ``root`` with its database as it is: a missing database (a SQLite
    file that is not there, a PostgreSQL database or schema without our tables) is an error,
    never a new empty one, and nothing is migrated."""
    settings = load(root)
    url = settings.database_url
    shown = url.split("@")[-1] if "@" in url else url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        if not Path(url.split("///", 1)[1]).is_file():
            raise WorkspaceError.text("lifecycle.verify.no-database", url=shown)
    else:
        engine = make_engine(url)
        try:
            revision = current_revision(engine)
        except Exception as exc:  # any driver error: cannot reach it
            raise WorkspaceError.text("lifecycle.verify.no-database", url=shown) from exc
        finally:
            engine.dispose()
        if revision is None:
            raise WorkspaceError.text("lifecycle.verify.no-database", url=shown)
    return App.open(root, actor=actor, migrate=False)


def verify(
    app: App, listnr: int | None = None, *, language: str = "sv", full: bool = False
) -> VerifyReport:
    """Everything (or one list's records and package), from the database and the files: the
    chain from the signed checkpoint on (every list's current state against it), or from the
    start with ``full``; a run over everything that finds nothing writes a new checkpoint."""
    _check_language(language)
    paths = find_packages(app, listnr)
    checks: list[PackageCheck] = []
    settings = app.settings
    with app.db.read_session() as session:
        checked = check_records(session, settings, listnr, full=full)
        facts = checked.facts
        findings = checked.findings
        findings += records.head_issues(session, settings, facts)
        findings += records.seal_issues(settings, facts)
        for path in paths:
            number = listnr_of(path, language)
            issues = package_issues(path, number) + database_issues(session, path, number)
            issues += records.signature_issues(settings, path, number)
            issues += records.approved_vs_chain(path, number, facts)
            issues += records.pdf_issues(settings, path, number)
            checks.append(check_of(number, path, issues, language))
        query = select(ResultList.listnr).where(ResultList.state == ListState.ARCHIVED)
        if listnr is not None:
            query = query.where(ResultList.listnr == listnr)
        archived = set(session.execute(query).scalars())
    for number in sorted(archived - {check.listnr for check in checks}):
        issue = Issue("archived-no-package", {"listnr": number}, number)
        checks.append(check_of(number, settings.archive, [issue], language))
    chain = facts.check
    unique = {issue.key: issue for issue in findings}
    report = VerifyReport(
        packages=checks,
        audit_ok=chain.ok,
        audit_events=facts.events,
        audit_first_broken_id=chain.first_broken_id,
        audit_reason=chain.reason,
        findings=tuple(unique.values()),
        language=language,
    )
    if report.ok and listnr is None:
        save_checkpoint(settings, checked)
    return report


def format_report(report: VerifyReport, language: str = "sv", *, root: Path | None = None) -> str:
    """The report as text for a person: one line per package (OK, or FEL/FAILED followed by
    its problems), the audit chain, and a summary. Paths are shown relative to ``root``."""
    _check_language(language)

    def text(key: str, **params: Any) -> str:
        return t(f"lifecycle.verify.{key}", language, **params)

    lines: list[str] = []
    failed = sum(1 for check in report.packages if not check.ok)
    if report.packages:
        lines.append(text("heading", count=len(report.packages), failed=failed))
    else:
        lines.append(text("no-packages"))
    for check in report.packages:
        verdict = text("ok") if check.ok else text("failed")
        lines.append(f"  {verdict:<6} {check.listnr:>6}  {_shown(check.path, root)}")
        lines.extend(f"           - {problem}" for problem in check.problems)
    if report.audit_ok:
        lines.append(text("audit-ok", events=report.audit_events))
    else:
        reason = _audit_reason(report.audit_reason, language)
        lines.append(
            text(
                "audit-broken",
                id=report.audit_first_broken_id,
                reason=reason,
                events=report.audit_events,
            )
        )
    lines.extend(f"  {text('failed'):<6} {issue.text(language)}" for issue in report.findings)
    lines.append(text("summary-ok") if report.ok else text("summary-failed"))
    return "\n".join(lines) + "\n"


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)
