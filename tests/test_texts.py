"""The text catalogue: both languages hold the same keys and placeholders, ``t()`` fills
them, and no Swedish people-facing literal is left in ``pipeline/``."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from pipeline import texts

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"
SWEDISH_LETTERS = re.compile(r"[åäöÅÄÖ]")
SWEDISH_WORDS = re.compile(
    r"\b(och|inte|listan|listor|eller|saknas|finns|ingen|inga|kräver|måste|kör|skapad|"
    r"studenter|arbetsbok|kvitto|kvitton|mejl|påminnelse|attestera\w*|rapportör|filer|"
    r"inkorgen|utkast|arkiverad|skickade|misslyckade|tillagda|ogiltigt|felaktig\w*|"
    r"registerdata|betyget|betygen|lista|kurs|kursen|termin|terminen|rad|kolumn\w*)\b",
    re.IGNORECASE,
)
# A literal that is not people-facing (a header or word recognised in an input file, a
# Swedish domain word used as an identifier) says so on its line with this marker.
MARKER = "i18n: not people-facing"


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _raw(key: str, lang: str) -> str:
    node: object = texts.catalogue(lang)
    for part in key.split("."):
        assert isinstance(node, dict)
        node = node[part]
    assert isinstance(node, str)
    return node


def test_both_languages_have_the_same_keys() -> None:
    swedish, english = texts.keys("sv"), texts.keys("en")
    assert swedish, "the Swedish catalogue is empty"
    assert sorted(swedish - english) == [], "keys missing in English"
    assert sorted(english - swedish) == [], "keys missing in Swedish"


def test_both_languages_have_the_same_placeholders() -> None:
    differ = []
    for key in sorted(texts.keys("sv") & texts.keys("en")):
        swedish, english = _placeholders(_raw(key, "sv")), _placeholders(_raw(key, "en"))
        if swedish != english:
            differ.append(f"{key}: sv {sorted(swedish)} en {sorted(english)}")
    assert differ == []


def test_t_fills_placeholders_keys_and_leaves_missing_ones() -> None:
    assert texts.t("cli.parser.no-such-option", "sv", option="--x") == "Okänd flagga: --x"
    assert texts.t("cli.parser.no-such-option", "en", option="--x") == "No such option: --x"
    assert texts.t("cli.parser.no-such-option", "en") == "No such option: {option}"
    admin = texts.t("errors.admin-required", "en", what=texts.Key("errors.what.others-settings"))
    assert admin.startswith("Other people's settings needs administration mode")
    assert texts.t("cli.parser.aborted", "xx") == texts.t("cli.parser.aborted", "sv")
    with pytest.raises(texts.MissingText):
        texts.t("cli.no-such-key", "sv")


def test_a_workspace_copy_overrides_a_shipped_text(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "texts"
    folder.mkdir(parents=True)
    (folder / "cli.en.yaml").write_text('cli:\n  parser:\n    aborted: "Stopped."\n', "utf-8")
    assert texts.t("cli.parser.aborted", "en", tmp_path) == "Stopped."
    assert texts.t("cli.parser.aborted", "sv", tmp_path) == "Avbrutet."


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


COMPOUND = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.While, ast.With,
    ast.Try, ast.Match,
)  # fmt: skip


def _marked(tree: ast.AST, lines: list[str]) -> set[int]:
    """The constants of every simple statement with the marker on one of its lines."""
    found: set[int] = set()
    for stmt in ast.walk(tree):
        if not isinstance(stmt, ast.stmt) or isinstance(stmt, COMPOUND):
            continue
        span = lines[stmt.lineno - 1 : (stmt.end_lineno or stmt.lineno)]
        if any(MARKER in line for line in span):
            found.update(id(node) for node in ast.walk(stmt) if isinstance(node, ast.Constant))
    return found


def swedish_literals(root: Path = PIPELINE) -> list[str]:
    """Every string constant in ``root`` (docstrings aside) that looks Swedish, as file:line."""
    offending: list[str] = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))
        skipped = _docstrings(tree) | _marked(tree, lines)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if id(node) in skipped:
                continue
            value = node.value
            if not (SWEDISH_LETTERS.search(value) or SWEDISH_WORDS.search(value)):
                continue
            where = path.relative_to(root.parent)
            offending.append(f"{where}:{node.lineno}: {value[:60]!r}")
    return offending


def test_the_scan_finds_a_swedish_literal(tmp_path: Path) -> None:
    package = tmp_path / "pipeline"
    package.mkdir()
    (package / "m.py").write_text(
        '"""Modul för listor."""\n'
        'A = "Listan är klar"\n'
        'B = f"{1} filer och mappar"\n'
        'C = "plain English, integer"\n'
        f'D = frozenset({{"förnamn"}})  # {MARKER}: a Moodle header\n'
        f'E = (  # {MARKER}: generated names\n    "Åsa",\n    "Örjan",\n)\n'
        'def f() -> str:\n    return "Åsa"\n',
        encoding="utf-8",
    )
    assert swedish_literals(package) == [
        "pipeline/m.py:2: 'Listan är klar'",
        "pipeline/m.py:3: ' filer och mappar'",
        "pipeline/m.py:11: 'Åsa'",
    ]


def test_no_swedish_literal_left_in_pipeline() -> None:
    offending = swedish_literals()
    assert offending == [], "\n" + "\n".join(offending)
