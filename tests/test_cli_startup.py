"""Start-up of the command line (issue 19, item 7): what `resultat status` does not import,
and that the direct conversion of plain option values gives what typer's gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pipeline.cli import main
sys.argv = ["resultat", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("MODULES", sorted(m for m in ("pydantic", "cryptography", "openpyxl") if m in sys.modules))
print("CODE", code)
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RESULTAT_LANG": "en", "RESULTAT_DATABASE_URL": ""}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env, check=False
    )


def test_status_imports_neither_pydantic_nor_cryptography(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert _run("init", str(root)).returncode == 0
    done = _run("-w", str(root), "status", "--json", "--all")
    assert "MODULES []" in done.stdout and "CODE 0" in done.stdout, done.stdout + done.stderr
    assert done.stdout.startswith("[]")
    # A value the direct conversion does not take goes to typer's, with typer's message.
    done = _run("status", "1x", "-w", str(root))
    assert "CODE 2" in done.stdout
    assert "Invalid value for 'LISTNR'" in done.stderr or "LISTNR" in done.stderr
    done = _run("status", "-w", str(root), "--", "-7")
    assert "CODE 4" in done.stdout and "-7" in done.stderr  # an integer: the list is looked up
