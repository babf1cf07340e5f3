"""What happens to a list after the examiner's decision: outputs, registration, archiving.

Owns: rendering the archive list (PDF/A, and the preview the examiner gets), the files for
LADOK and the student office when a list is approved, ``registered`` (definitive entry in
LADOK done: each student gets one email with only their own result) and ``signed`` (the
signed paper list: the list becomes a BagIt package under ``archive/<year>/<listnr>/``).
The approval itself is :mod:`pipeline.lifecycle.approval`'s.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App
from pipeline.domain.scales import get_scale
from pipeline.errors import InvalidRequest
from pipeline.lifecycle import archive, archive_guard, ladok
from pipeline.lifecycle.archive import bag_info_of
from pipeline.lifecycle.pdf_data import ArchiveListData, ArchiveRow
from pipeline.lists import state
from pipeline.lists.content import approved_data
from pipeline.lists.query import get_list, previous_results
from pipeline.lists.state import Role
from pipeline.messages import outbox
from pipeline.models import (
    ApprovalChallenge,
    ChallengeStatus,
    InboxFile,
    ListState,
    ResultList,
    Staff,
    utcnow,
)
from pipeline.people import roles
from pipeline.sessions import session_of
from pipeline.texts import t


def _staff(session: Session, username: str | None) -> Staff | None:
    if not username:
        return None
    return session.execute(select(Staff).where(Staff.username == username)).scalar_one_or_none()


def _label(staff: Staff | None, username: str | None) -> str:
    return f"{staff.name} ({staff.username})" if staff else (username or "")


def _name(obj: Any, language: str) -> str:
    return str(obj.name_en if language == "en" and obj.name_en else obj.name_sv)


def render_pdf(
    app: App,
    result_list: ResultList,
    chash: str,
    *,
    target: Path,
    language: str,
    preview: bool = False,
    approved_via: str | None = None,
) -> Path:
    # Kept lazy for start-up time only: fpdf2 takes about half a second to import, and most
    # commands never draw a PDF.
    from pipeline.lifecycle.archive_pdf import render_archive_pdf
    from pipeline.lifecycle.archive_pdf_seal import seal_pdf

    session = session_of(result_list)
    course, module = result_list.course, result_list.module
    scale = get_scale(module.scale if module else course.scale, app.root)
    old = previous_results(session, result_list)
    word = t("lifecycle.previously", language, app.root)

    def comment(entry: Any) -> str | None:
        before = old.get(entry.student_id)
        if before is None:
            return str(entry.comment) if entry.comment else None
        shown = f"{word}: {before.grade or '–'}"
        if before.grade_date:
            shown += f" ({before.grade_date.isoformat()})"
        return f"{shown}. {entry.comment}" if entry.comment else shown

    rows = [
        ArchiveRow(
            pnr=e.student.pnr,
            last_name=e.student.last_name,
            first_name=e.student.first_name,
            grade=e.grade,
            ects_grade=e.ects_grade,
            grade_date=e.grade_date,
            points=e.points,
            comment=comment(e),
        )
        for e in result_list.entries
        if not e.removed
    ]
    attachments: dict[str, bytes] = {}
    if not preview:
        csv_bytes, json_bytes = approved_data(result_list, chash)
        attachments = {
            f"{result_list.listnr}_attesterad.csv": csv_bytes,
            f"{result_list.listnr}_attesterad.json": json_bytes,
        }
    data = ArchiveListData(
        listnr=result_list.listnr,
        kind=result_list.kind.value,
        course_code=course.code,
        course_name=_name(course, language),
        module_code=module.code if module else None,
        module_name=_name(module, language) if module else None,
        term=result_list.term,
        scale=f"{scale.code} ({', '.join(scale.grades)})",
        examiner=_label(_staff(session, result_list.examiner), result_list.examiner),
        reporter=_label(_staff(session, result_list.reporter), result_list.reporter),
        version=result_list.version,
        content_hash=chash,
        rows=rows,
        approved_at=None if preview else _aware(result_list.approved_at),
        approved_via=None if preview else approved_via,
        corrects_listnr=result_list.corrects_listnr,
        attachments=attachments,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    drawn = render_archive_pdf(data, target, language=language, workspace=app.root)
    return drawn if preview else seal_pdf(app.settings, drawn)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.replace(tzinfo=dt.UTC) if moment else None


def ladok_results(result_list: ResultList) -> list[ladok.LadokResult]:
    component = result_list.module.code if result_list.module else result_list.course.code
    old = previous_results(session_of(result_list), result_list)
    return [
        ladok.LadokResult(
            course_code=result_list.course.code,
            component=component,
            pnr=e.student.pnr,
            last_name=e.student.last_name,
            first_name=e.student.first_name,
            grade=e.grade,
            grade_date=e.grade_date,
            old_grade=old[e.student_id].grade if e.student_id in old else None,
            old_date=old[e.student_id].grade_date if e.student_id in old else None,
        )
        for e in result_list.entries
        if not e.removed and e.grade and e.grade_date
    ]


def graders(session: Session, result_list: ResultList) -> list[ladok.Grader]:
    people = []
    for username in dict.fromkeys([result_list.reporter, result_list.examiner]):
        staff = _staff(session, username)
        if staff is not None:
            people.append(ladok.Grader(staff.name, staff.email))
    return people


def output_paths(app: App, listnr: int, corrects: int | None = None) -> dict[str, Path]:
    stem = ladok.file_stem(listnr, corrects)
    return {
        "tsv": app.settings.office_outbox / "ladok" / f"{stem}.tsv",
        "xlsx": app.settings.office_outbox / "ladok" / f"{stem}_manuell.xlsx",
        "pdf": app.settings.office_outbox / "print" / f"{stem}_arkivlista.pdf",
    }


def after_approval(session: Session, app: App, result_list: ResultList) -> list[Path]:
    """LADOK files and archive PDF to ``outbox/``; mail to the examiner and the office."""
    chash = result_list.content_hash or ""
    examiner = _staff(session, result_list.examiner)
    language = examiner.language if examiner and examiner.language in ("sv", "en") else "sv"
    paths = output_paths(app, result_list.listnr, result_list.corrects_listnr)
    files = ladok.write_files(
        paths["tsv"].parent,
        result_list.listnr,
        ladok_results(result_list),
        graders(session, result_list),
        language=language,
        corrects=result_list.corrects_listnr,
        workspace=app.root,
    )
    via = _last_via(session, result_list.listnr)
    files.append(
        render_pdf(
            app, result_list, chash, target=paths["pdf"], language=language, approved_via=via
        )
    )
    approved_at = (
        result_list.approved_at.replace(tzinfo=dt.UTC).astimezone()
        if result_list.approved_at
        else None
    )
    recipients: list[tuple[str, str]] = []
    if examiner is not None:
        recipients.append((examiner.email, language))
    recipients.append((office_address(app, result_list), app.settings.language))
    for address, lang in dict.fromkeys(recipients):
        outbox.queue_email(
            session,
            kind="approved",
            to=address,
            language=lang,
            context={
                "listnr": result_list.listnr,
                "course_code": result_list.course.code,
                "module_code": result_list.module.code
                if result_list.module
                else result_list.course.code,
                "approved_at": approved_at.strftime("%Y-%m-%d %H:%M") if approved_at else "",
                "approved_via": via or "",
                "files": [f.name for f in files],
            },
            attachments=files,
            listnr=result_list.listnr,
            dedupe_key=f"approved:{result_list.listnr}:{address}",
            workspace=app.root,
        )
    return files


def office_address(app: App, result_list: ResultList) -> str:
    """Where the definitive entry is made: the department's office when ``[offices]`` names
    one for the course's department, else the student office."""
    department = result_list.course.department or ""
    return app.settings.offices.get(department) or app.settings.contacts.student_office


def _last_via(session: Session, listnr: int) -> str | None:
    return session.execute(
        select(ApprovalChallenge.used_via)
        .where(ApprovalChallenge.listnr == listnr, ApprovalChallenge.status == ChallengeStatus.USED)
        .order_by(ApprovalChallenge.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def registered(app: App, listnr: int) -> int:
    """The student office has made the definitive entry in LADOK; returns mails queued."""
    archive_guard.require_approved_content(app, listnr, step="registered")
    with app.db.session() as session:
        roles.may_confirm(session, app.username, admin=app.admin, listnr=listnr)
        result_list = get_list(session, listnr, lock=True)
        if result_list.state != ListState.APPROVED:
            raise InvalidRequest(
                t(
                    "lifecycle.not-approved",
                    app.settings.language,
                    app.root,
                    listnr=listnr,
                    state=result_list.state.value,
                )
            )
        state.transition(result_list, ListState.REGISTERED, role=Role.OFFICE)
        result_list.registered_at = utcnow()
        course, module = result_list.course, result_list.module
        queued = 0
        for entry in result_list.entries:
            if entry.removed or not entry.grade or not entry.student.email:
                continue
            language = app.settings.language
            outbox.queue_email(
                session,
                kind="student_result",
                to=entry.student.email,
                language=language,
                context={
                    "first_name": entry.student.first_name,
                    "course_code": course.code,
                    "course_name": _name(course, language),
                    "module_code": module.code if module else course.code,
                    "module_name": _name(module, language) if module else _name(course, language),
                    "grade": entry.grade,
                    "grade_date": entry.grade_date.isoformat() if entry.grade_date else "",
                },
                listnr=listnr,
                dedupe_key=f"student_result:{listnr}:{entry.student_id}",
                workspace=app.root,
            )
            queued += 1
        audit.record(
            session,
            actor=app.actor,
            action="list.registered",
            listnr=listnr,
            details={"student_mails": queued},
        )
        return queued


def signed(app: App, listnr: int, *, scan: Path | None = None) -> Path:
    """The examiner signed the paper list: archive the list as a BagIt package."""
    archive_guard.require_approved_content(app, listnr, step="signed")
    with app.db.session() as session:
        roles.may_confirm(session, app.username, admin=app.admin, listnr=listnr)
        result_list = get_list(session, listnr)
        if result_list.state != ListState.REGISTERED:
            raise InvalidRequest(
                t(
                    "lifecycle.not-registered",
                    app.settings.language,
                    app.root,
                    listnr=listnr,
                    state=result_list.state.value,
                )
            )
        chash = result_list.content_hash or ""
        csv_bytes, json_bytes = approved_data(result_list, chash)
        year = (result_list.approved_at or utcnow()).year
        files = [
            archive.PackageFile("approved/approved.csv", content=csv_bytes),
            archive.PackageFile("approved/approved.json", content=json_bytes),
        ]
        for key, path in output_paths(app, listnr, result_list.corrects_listnr).items():
            if path.is_file():
                folder = "print" if key == "pdf" else "ladok"
                files.append(archive.PackageFile(f"{folder}/{path.name}", source=path))
        if scan is not None:
            files.append(archive.PackageFile(f"scan/{_safe(scan.name)}", source=scan))
        received = session.execute(
            select(InboxFile).where(InboxFile.listnr == listnr).order_by(InboxFile.id)
        ).scalars()
        for record in received:
            for rel, folder in (
                (record.stored_path, "received"),
                (record.receipt_path, "receipts"),
            ):
                if rel and (app.root / rel).is_file():
                    path = app.root / rel
                    files.append(archive.PackageFile(f"{folder}/{_safe(path.name)}", source=path))
                    marked = path.with_name(path.stem + "_fel.xlsx")
                    if folder == "receipts" and marked.is_file():
                        files.append(
                            archive.PackageFile(f"receipts/{_safe(marked.name)}", source=marked)
                        )
        bag_info = {
            # Archive metadata, the same whoever reads it: always the Swedish name.
            "Source-Organization": t("lifecycle.archive.source-organization", "sv", app.root),
            "External-Identifier": f"resultatlista-{listnr}",
            "External-Description": f"{result_list.kind.value.upper()} {result_list.course.code}"
            + (f" {result_list.module.code}" if result_list.module else "")
            + f" {result_list.term}",
            "Content-Hash-SHA256": chash,
        }
    package = archive.create_package(app, listnr, files, year=year, bag_info=bag_info)
    with app.db.session() as session:
        result_list = get_list(session, listnr, lock=True)
        state.transition(result_list, ListState.ARCHIVED, role=Role.OFFICE)
        result_list.archived_at = utcnow()
        audit.record(
            session,
            actor=app.actor,
            action="list.archive",
            listnr=listnr,
            details={
                "package": str(package.relative_to(app.root)),
                "scan": scan.name if scan else None,
                "seal_key": bag_info_of(package).get("Seal-Key-SHA256"),
            },
        )
    return package


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:180] or "fil"
