"""The command line: help with examples, admin mode, status --json, init, the demo."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from pipeline.app import App
from pipeline.cli import app as cli_app
from pipeline.models import Course
from tests.factories import seed

runner = CliRunner()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
        else:
            found.append(path)
    return found


ALL_COMMANDS = _commands(get_command(cli_app))


def test_every_command_is_expected() -> None:
    names = {" ".join(c) for c in ALL_COMMANDS}
    expected = {
        "init",
        "demo",
        "registry import",
        "new t33",
        "issue",
        "add-students",
        "process",
        "watch",
        "status",
    }
    assert expected <= names


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help_with_example(command: tuple[str, ...]) -> None:
    result = runner.invoke(cli_app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "example: resultat " + command[0] in result.output


def test_init_creates_workspace_with_private_key(tmp_path: Path) -> None:
    root = tmp_path / "ny"
    result = runner.invoke(cli_app, ["init", str(root)], env={"RESULTAT_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    for name in ("inbox", "outbox", "archive", "var", "resultat.toml"):
        assert (root / name).exists()
    key = root / "var" / "secret.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert (root / "var" / "resultat.db").exists()
    assert "secret" not in (root / "resultat.toml").read_text().split("[database]")[1]
    # Idempotent: a second init keeps the key.
    before = key.read_text()
    assert (
        runner.invoke(cli_app, ["init", str(root)], env={"RESULTAT_DATABASE_URL": ""}).exit_code
        == 0
    )
    assert key.read_text() == before


def test_commands_outside_a_workspace_say_so(tmp_path: Path) -> None:
    result = runner.invoke(cli_app, ["--workspace", str(tmp_path), "status"])
    assert result.exit_code == 1
    assert "resultat init" in result.output


def test_registry_import_refused_without_admin(workspace: Path, tmp_path: Path) -> None:
    courses = tmp_path / "kurser.csv"
    courses.write_text(
        "course_code,name_sv,name_en,credits,scale,ects_scale,start_date\n"
        "DV1599,Programmering,Programming,7.5,TH,AF,2026-08-31\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli_app, ["-w", str(workspace), "registry", "import", str(courses)])
    assert result.exit_code == 3
    assert "--admin" in result.output
    with App.open(workspace).db.session() as session:
        assert session.query(Course).count() == 0
    result = runner.invoke(
        cli_app,
        ["-w", str(workspace), "--as", "admin1", "registry", "import", "--admin", str(courses)],
    )
    assert result.exit_code == 0, result.output
    app = App.open(workspace)
    with app.db.session() as session:
        assert [c.code for c in session.query(Course)] == ["DV1599"]
        from pipeline.models import AuditEvent

        event = session.query(AuditEvent).filter(AuditEvent.action == "registry.import").one()
        assert event.actor == "admin1" and event.admin is True
    app.close()


def test_new_issue_add_and_status_json(app: App, workspace: Path) -> None:
    s = seed(app, students=5)
    base = ["-w", str(workspace), "--as", "lärare1"]
    result = runner.invoke(
        cli_app,
        [
            *base,
            "new",
            "t33",
            "-c",
            "DV1599",
            "-m",
            "2010",
            "-t",
            "HT2026",
            "-s",
            s.pnrs[0],
            "-s",
            f"{s.pnrs[1][2:8]}-{s.pnrs[1][8:]}",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["listnr"] == 1001 and created["students"] == 2
    assert Path(created["workbook"]).is_file()
    result = runner.invoke(cli_app, [*base, "add-students", "1001", "--exam-date", "2026-10-30"])
    assert result.exit_code == 0, result.output
    assert "3 tillagda" in result.output
    result = runner.invoke(cli_app, [*base, "status", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows == [
        {
            "listnr": 1001,
            "kind": "t33",
            "course": "DV1599",
            "module": "2010",
            "term": "HT2026",
            "state": "draft",
            "version": 2,
            "reporter": "lärare1",
            "examiner": "exam1",
            "students": 5,
            "graded": 0,
        }
    ]
    result = runner.invoke(cli_app, [*base, "status", "1002"])
    assert result.exit_code == 4
    result = runner.invoke(
        cli_app,
        [*base, "new", "t33", "-c", "DV1599", "-m", "2010", "-t", "HT2026", "-s", "19900101-1234"],
    )
    assert result.exit_code == 4 and "19900101-1234" not in result.output


def test_demo_runs_the_whole_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESULTAT_DATABASE_URL", raising=False)
    root = tmp_path / "demo"
    result = runner.invoke(cli_app, ["-w", str(root), "demo"])
    assert result.exit_code == 0, result.output
    assert "rejected  " in result.output and "duplicate " in result.output
    status = runner.invoke(cli_app, ["-w", str(root), "status", "--json"])
    rows = json.loads(status.output)
    assert [r["state"] for r in rows] == ["archived", "approved", "approved", "draft", "archived"]
    assert rows[4]["kind"] == "t34" and rows[4]["graded"] > 0
    assert all(r["students"] > 0 for r in rows)
    receipts = sorted((root / "outbox" / "receipts").glob("*.txt"))
    assert len(receipts) == 8
    assert (root / "outbox" / "ladok" / "1001.tsv").read_text("utf-8").count("\n") == 212
    assert list((root / "archive").glob("*/1001/bagit.txt"))
    assert "OK" in result.output
    rejected = [r for r in receipts if "REJECTED" in r.read_text("utf-8")]
    assert len(rejected) == 1
    log = (root / "var" / "log" / "resultat.log").read_text("utf-8")
    import re

    assert not re.search(r"\d{8}-?\d{4}", log)
