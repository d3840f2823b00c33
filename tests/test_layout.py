"""The layout of issue 10, checked: rule modules never import each other (shared facts live in
azbdiag/facts/), parsers and facts never import rule modules, there is no import cycle among
parsers, facts and rules, and no module is over 500 lines."""

from __future__ import annotations

import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 500


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    if rel.startswith("rules."):
        rel = "azbdiag." + rel          # rules/ ships as azbdiag.rules
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _sources(*patterns):
    paths = sorted(p for pat in patterns for p in glob.glob(os.path.join(ROOT, pat)))
    assert paths, patterns
    return paths


def imported_modules(source: str, module: str, is_package: bool = False):
    """Every module `source` imports, anywhere in it (function-level imports too), as absolute
    names; `from X import name` yields X and X.name (name may be a submodule)."""
    found = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph(paths):
    graph = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        name = _module_name(path)
        graph[name] = imported_modules(source, name, path.endswith("__init__.py"))
    return graph


RULES = _sources("rules/*.py")
LAYERS = _sources("rules/*.py", "azbdiag/facts/*.py", "azbdiag/parsers/*.py")


def rule_module_imports(source: str, module: str):
    """The other rule modules `source` (the text of rule module `module`) imports."""
    return sorted(m for m in imported_modules(source, module)
                  if (m.startswith("azbdiag.rules.") or m.startswith("rules."))
                  and m.split(".")[-1] != module.split(".")[-1])


@pytest.mark.parametrize("path", RULES, ids=os.path.basename)
def test_no_rule_module_imports_another(path):
    with open(path, encoding="utf-8") as fh:
        found = rule_module_imports(fh.read(), _module_name(path))
    assert not found, (f"{path} imports {found}: a fact two rule modules need belongs in "
                       f"azbdiag/facts/")


@pytest.mark.parametrize("source", [
    "from azbdiag.rules.agent import conf_fact\n",
    "def f():\n    from azbdiag.rules import vmbackup_conf\n",
    "import azbdiag.rules.freeze\n",
    "from . import agent\n",
    "from .agent import unit_fact\n",
])
def test_the_rule_import_check_catches(source):
    assert rule_module_imports(source, "azbdiag.rules.platform")


def test_parsers_and_facts_do_not_import_rules():
    for name, imports in _graph(LAYERS).items():
        if name.startswith("azbdiag.rules"):
            continue
        assert not [m for m in imports if m.startswith("azbdiag.rules")], name
        if name.startswith("azbdiag.parsers"):
            # azbdiag.lazyre: re.compile deferred to first use, a leaf with no I/O
            assert not [m for m in imports if m.startswith("azbdiag.") and
                        not m.startswith("azbdiag.parsers") and m != "azbdiag.lazyre"], \
                f"{name} is not a pure parser"


def find_cycle(graph):
    """One import cycle in `graph` (module -> imported modules) as a list, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_no_import_cycle_among_parsers_facts_and_rules():
    graph = _graph(LAYERS)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_check_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", _sources("azbdiag/*.py", "azbdiag/*/*.py", "rules/*.py"),
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_no_module_is_over_500_lines(path):
    rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
    with open(path, encoding="utf-8") as fh:
        lines = sum(1 for _ in fh)
    assert lines <= MAX_LINES, f"{rel} has {lines} lines; split it by what it is about"
