"""The shape of the code (issue "One way through"): stage packages, no import cycles, no
import hidden in a function without saying why, no module far over 400 lines, one atomic
writer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PIPELINE = Path(__file__).parents[1] / "pipeline"
PACKAGES = ("domain", "registry", "lists", "xlsx", "intake", "lms", "lifecycle", "messages")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PIPELINE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(PIPELINE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The pipeline modules an import statement loads (``from pipeline.x import y`` loads
    ``pipeline.x`` and, when ``y`` is a module, ``pipeline.x.y``)."""
    names: set[str] = set()
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    submodules = {f"{base}.{alias.name}" for alias in node.names} & set(modules)
    if submodules and len(submodules) == len(node.names):
        return submodules  # only submodules: the package itself is already being imported
    if base in modules:
        names.add(base)
    return names | submodules


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        body = tree.body if top_level_only else list(ast.walk(tree))
        edges: set[str] = set()
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _imported(node, modules)
        graph[name] = edges - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among module-level imports, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_stage_packages_exist_with_a_docstring() -> None:
    for package in PACKAGES:
        init = PIPELINE / package / "__init__.py"
        assert init.is_file(), package
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), package


def test_no_import_cycle_among_module_level_imports() -> None:
    assert _cycle(_graph(top_level_only=True)) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_import_inside_a_function_says_why() -> None:
    """A lazy import is kept only for start-up time, and says so in a comment on its line
    or on the comment lines just above it (or above its group)."""
    unexplained: list[str] = []
    for path in _modules().values():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                if not _explained(lines, node.lineno):
                    unexplained.append(f"{path.relative_to(PIPELINE.parent)}:{node.lineno}")
    assert unexplained == []


def _explained(lines: list[str], lineno: int) -> bool:
    if "lazy" in lines[lineno - 1].lower():
        return True
    index = lineno - 2
    # walk up over the import group and its comments
    while index >= 0:
        text = lines[index].strip()
        if text.startswith("#"):
            if "lazy" in text.lower():
                return True
        elif not (
            text.startswith(("from ", "import ")) or text.endswith((",", "(")) or text == ")"
        ):
            return False
        index -= 1
    return False


def test_no_module_is_far_over_400_lines() -> None:
    long = {
        str(path.relative_to(PIPELINE.parent))
        for path in _modules().values()
        if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES
    }
    assert long == set()


#: Renames that are not writes of new content: the inbox moves a person's original file
#: (claimed into .processing/, kept aside in .processed/ or .rejected/), and an archive
#: package is a whole folder published once by rename(2), which never replaces one. A mail's
#: attachment, written by files.py under a hidden name, is claimed the same way (mailin/take.py).
MOVERS = {
    "pipeline/intake/claim.py",
    "pipeline/intake/inbox.py",
    "pipeline/lifecycle/archive.py",
    "pipeline/mailin/take.py",
}


def test_one_atomic_writer() -> None:
    """Only pipeline/files.py writes a temporary file and renames it into place."""
    writers = {
        str(path.relative_to(PIPELINE.parent))
        for path in _modules().values()
        if re.search(r"\bos\.replace\(|\.rename\(|mkstemp\(", path.read_text(encoding="utf-8"))
    }
    assert "pipeline/files.py" in writers
    assert writers - {"pipeline/files.py"} <= MOVERS, writers - MOVERS
