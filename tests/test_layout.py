"""The package's layout: folders that show the architecture, no import cycles, small modules.

docs/design.md ("Layout") describes the folders. These checks read the source with ``ast``:
an import cycle between ldai_otel's modules fails here (lazy imports inside functions count
too, since a lazy import is how a cycle usually hides; imports under ``TYPE_CHECKING`` do not,
they never run), and so does a module past the size at which it usually holds two concerns.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ldai_otel"
FOLDERS = {"model", "dialects", "rules", "live", "evaluations", "otlp", "inspect", "serve", "demo"}
MAX_LINES = 420
"""A module past this usually holds two concerns (the design page asks for about 400)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """ldai_otel modules a module imports when it runs (at import time or in a function)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from ldai_otel.x import y`: y may be a module of its own, else it is a name in x.
            names = [node.module + "." + alias.name for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in known and name != "ldai_otel":
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        # A package's __init__ runs before any of its modules: importing a module
        # imports its package, which is not a cycle of the module's own making.
        graph[name] = {m for m in imported_modules(path, known) if not name.startswith(m + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    # The check above must be able to fail: two modules importing each other, lazily.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_reader_sees_lazy_imports_and_skips_type_checking(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ldai_otel.model import run\n"
        "if TYPE_CHECKING:\n"
        "    from ldai_otel.rules.book import Summary\n"
        "def later():\n"
        "    from ldai_otel.otlp.assembly import resolve\n"
    )
    known = set(modules())
    assert imported_modules(source, known) == {"ldai_otel.model", "ldai_otel.model.run", "ldai_otel.otlp.assembly"}


def test_folders_show_the_architecture():
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages == FOLDERS
    # Only public modules, the version and the rate limiter stay at the top.
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top == {
        "__init__",
        "_ratelimit",
        "_version",
        "autoinstrument",
        "baggage",
        "cli",
        "feedback",
        "processor",
        "sampler",
        "scope",
        "testing",
    }


def test_package_inits_only_re_export():
    for path in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            assignment = isinstance(node, (ast.Assign, ast.AnnAssign))
            assert docstring or assignment or isinstance(node, (ast.Import, ast.ImportFrom)), "%s holds code: %s" % (
                path.relative_to(PACKAGE.parent),
                ast.dump(node)[:80],
            )


def test_no_module_past_the_size_limit():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
