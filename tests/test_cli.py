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
from pipeline.audit import current_user
from pipeline.cli import app as cli_app
from pipeline.cli import state as cli_state
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
@pytest.mark.parametrize(("lang", "example"), [("sv", "Exempel"), ("en", "Example")])
def test_every_command_has_help_with_example(
    command: tuple[str, ...], lang: str, example: str, tmp_path: Path
) -> None:
    result = runner.invoke(
        cli_app, [*command, "--help"], env={"RESULTAT_LANG": lang, "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert f"{example}: resultat {command[0]}" in result.output
    assert "cli.help." not in result.output  # every help key was translated


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
        assert event.actor == f"{current_user()} acting as admin1" and event.admin is True
    app.close()


def test_new_issue_add_and_status_json(
    app: App, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = seed(app, students=5)
    # The teacher runs the commands as themselves: their OS login is in the staff directory.
    monkeypatch.setenv("LOGNAME", "lärare1")
    base = ["-w", str(workspace)]
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


@pytest.mark.parametrize("where", ["before", "after"])
def test_demo_runs_the_whole_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.delenv("RESULTAT_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # a workspace ignored by -w would land here
    root = tmp_path / "demo"
    args = ["-w", str(root), "demo"] if where == "before" else ["demo", "-w", str(root)]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    assert "rejected  " in result.output and "duplicate " in result.output
    status = runner.invoke(cli_app, ["-w", str(root), "status", "--json", "--all"])
    rows = json.loads(status.output)
    assert [r["state"] for r in rows] == ["archived", "approved", "approved", "draft", "archived"]
    # The default view: the open lists only (issue 19), in the same order.
    status = runner.invoke(cli_app, ["-w", str(root), "status", "--json"])
    assert [r["listnr"] for r in json.loads(status.output)] == [r["listnr"] for r in rows[1:4]]
    assert rows[4]["kind"] == "t34" and rows[4]["graded"] > 0
    assert all(r["students"] > 0 for r in rows)
    # The administrators' copy of every receipt; each person got theirs in their own folder.
    receipts = sorted((root / "var" / "receipts").glob("*.txt"))
    # 6 order forms, 5 workbooks (one twice), 1 review workbook, 2 T34 drafts, and the
    # office's 2 confirmation workbooks and 2 signed scans.
    assert len(receipts) == 18
    rejected = [r for r in receipts if "REJECTED" in r.read_text("utf-8")]  # dast reads English
    assert len(rejected) == 1
    [marked] = (root / "outbox" / "dast").glob("*_fel.xlsx")  # the teacher with mistakes
    assert marked.read_bytes() == (root / "var" / "receipts" / marked.name).read_bytes()
    assert (root / "outbox" / "dast" / rejected[0].name).read_bytes() == rejected[0].read_bytes()
    # The teacher has the receipts of their two orders and the two workbooks they dropped,
    # the examiner those of the review workbook and the T34 list (order, draft, submission),
    # the office those of its confirmations and scans: each in their own folder only.
    teacher = sorted((root / "outbox" / "jobe").glob("*.txt"))
    assert sorted(p.name.rsplit("_", 1)[1] for p in teacher) == [
        "1001.txt",
        "1001.txt",
        "1002.txt",
        "1002.txt",
    ]
    examiner = [p.name.rsplit("_", 1)[1] for p in (root / "outbox" / "anlq").glob("*.txt")]
    assert sorted(examiner) == ["1001.txt", "1005.txt", "1005.txt", "1005.txt"]
    clerk = [p.name.rsplit("_", 1)[1] for p in (root / "outbox" / "utbildningsstod").glob("*.txt")]
    assert sorted(clerk) == ["1001.txt", "1001.txt", "1005.txt", "1005.txt"]
    assert not {p.name for p in teacher} & {p.name for p in (root / "outbox" / "anlq").iterdir()}
    office = root / "outbox" / "utbildningsstod"
    assert (office / "ladok" / "1001.tsv").read_text("utf-8").count("\n") == 212
    assert (office / "status.xlsx").is_file()
    assert list((root / "archive").glob("*/1001/bagit.txt"))
    assert "OK" in result.output
    log = (root / "var" / "log" / "resultat.log").read_text("utf-8")
    import re

    assert not re.search(r"\d{8}-?\d{4}", log)
    if where == "before":
        _readme_examples_work(root)
    if where == "after":
        # The demo runs again on the same workspace: new lists, everything still verifies.
        again = runner.invoke(cli_app, args)
        assert again.exit_code == 0, again.output
        rows = json.loads(
            runner.invoke(cli_app, ["-w", str(root), "status", "--all", "--json"]).output
        )
        assert len(rows) == 10 and rows[5]["listnr"] == 1006
        assert "allt stämmer" in again.output


def _import_courses(workspace: Path, tmp_path: Path, args: list[str]) -> str | None:
    """Run a registry import with ``args`` around it; the actor its audit event names."""
    courses = tmp_path / "kurser.csv"
    courses.write_text(
        "course_code,name_sv,name_en,credits,scale,ects_scale,start_date\n"
        "DV1599,Programmering,Programming,7.5,TH,AF,2026-08-31\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli_app, [a if a != "FILE" else str(courses) for a in args])
    assert result.exit_code == 0, result.output
    from pipeline.models import AuditEvent

    app = App.open(workspace)
    with app.db.session() as session:
        event = session.query(AuditEvent).filter(AuditEvent.action == "registry.import").one()
        actor = event.actor
    app.close()
    return actor


def test_global_options_after_the_command(workspace: Path, tmp_path: Path) -> None:
    ws = str(workspace)
    args = ["registry", "import", "--admin", "FILE", "-w", ws, "--as", "admin2", "-v"]
    assert _import_courses(workspace, tmp_path, args) == f"{current_user()} acting as admin2"
    assert cli_state.workspace == workspace and cli_state.verbose is True


def test_global_option_after_the_command_wins(workspace: Path, tmp_path: Path) -> None:
    args = ["--as", "first", "registry", "import", "FILE", "--admin", "--as", "second"]
    actor = _import_courses(workspace, tmp_path, ["-w", str(workspace), *args])
    assert actor == f"{current_user()} acting as second"


def test_workspace_after_the_command_is_the_one_used(workspace: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-a-workspace"
    elsewhere.mkdir()
    result = runner.invoke(
        cli_app, ["-w", str(elsewhere), "status", "--json", "-w", str(workspace)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []
    result = runner.invoke(cli_app, ["status", "-w", str(elsewhere)], env={"RESULTAT_LANG": "en"})
    assert result.exit_code == 1
    assert f"No workspace at {elsewhere}" in result.output


@pytest.mark.parametrize(
    ("args", "sv", "en"),
    [
        (["demo", "--bogus"], "Okänd flagga: --bogus", "No such option: --bogus"),
        (["issue"], "Argument saknas: LISTNR", "Missing argument: LISTNR"),
        (["issue", "abc"], "LISTNR: ett heltal behövs", "LISTNR: a whole number is needed"),
        (["new", "t34", "-t", "HT2026"], "Flagga saknas: --course", "Missing option: --course"),
        (["status", "-w"], "Flaggan -w behöver ett värde", "Option -w requires a value"),
        (["nosuch"], "Okänt kommando: nosuch", "No such command: nosuch"),
        (["status", "1", "2"], "Oväntade argument: 2", "Unexpected extra arguments: 2"),
    ],
)
def test_parser_errors_in_both_languages(args: list[str], sv: str, en: str) -> None:
    swedish = runner.invoke(cli_app, args, env={"RESULTAT_LANG": "sv"})
    assert swedish.exit_code == 2
    assert sv in swedish.output
    assert "Usage" not in swedish.output and "No such" not in swedish.output
    english = runner.invoke(cli_app, args, env={"RESULTAT_LANG": "en"})
    assert english.exit_code == 2
    assert en in english.output and "Fel" not in english.output


def test_parser_error_shows_usage_and_help_hint() -> None:
    swedish = runner.invoke(cli_app, ["issue"], env={"RESULTAT_LANG": "sv"})
    assert swedish.output.splitlines()[:2] == [
        "Användning: root issue [OPTIONS] {listnr}",
        "Se 'root issue --help' för hjälp.",
    ]
    english = runner.invoke(cli_app, ["issue"], env={"RESULTAT_LANG": "en"})
    assert english.output.splitlines()[:2] == [
        "Usage: root issue [OPTIONS] {listnr}",
        "Try 'root issue --help' for help.",
    ]


def test_parser_language_is_the_workspace_default(workspace: Path) -> None:
    config = workspace / "resultat.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('default = "sv"', 'default = "en"'),
        encoding="utf-8",
    )
    result = runner.invoke(cli_app, ["issue", "-w", str(workspace)], env={"RESULTAT_LANG": None})
    assert "Missing argument: LISTNR" in result.output
    result = runner.invoke(cli_app, ["issue", "-w", str(workspace)], env={"RESULTAT_LANG": "sv"})
    assert "Argument saknas: LISTNR" in result.output


def test_help_headings_in_both_languages() -> None:
    swedish = runner.invoke(cli_app, ["--help"], env={"RESULTAT_LANG": "sv", "COLUMNS": "200"})
    assert "Flaggor" in swedish.output and "Kommandon" in swedish.output
    assert "Skapa en arbetsyta" in swedish.output
    assert "Visa den här hjälpen och avsluta." in swedish.output
    english = runner.invoke(cli_app, ["--help"], env={"RESULTAT_LANG": "en", "COLUMNS": "200"})
    assert "Options" in english.output and "Commands" in english.output
    assert "Create a workspace" in english.output
    assert "Show this message and exit." in english.output
    demo = runner.invoke(cli_app, ["demo", "--help"], env={"RESULTAT_LANG": "sv", "COLUMNS": "200"})
    assert "Slumpfrö för demodata" in demo.output and "Visa den här hjälpen" in demo.output
    assert "--workspace" in demo.output  # the global options are the command's too


def test_console_script_takes_options_after_the_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "RESULTAT_LANG": "en", "RESULTAT_DATABASE_URL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "status", "-w", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert f"resultat: No workspace at {tmp_path / 'none'}" in done.stderr


def _readme_examples_work(root: Path) -> None:
    """The README's example commands after the demo, run as written in the demo workspace."""
    import shlex
    import subprocess
    import sys

    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    block = readme.split("<!-- readme-example", 1)[1].split("<!-- /readme-example -->", 1)[0]
    lines = [
        line.split("#", 1)[0].strip()
        for line in block.splitlines()
        if line.startswith(".venv/bin/resultat")
    ]
    assert len(lines) >= 4
    binary = str(Path(sys.executable).parent / "resultat")
    env = {**os.environ, "RESULTAT_HOME": str(root)}
    env.pop("RESULTAT_DATABASE_URL", None)
    for line in lines:
        args = shlex.split(line)
        done = subprocess.run(
            [binary, *args[1:]], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    assert (root / "outbox" / "masd" / "1003.xlsx").is_file()
