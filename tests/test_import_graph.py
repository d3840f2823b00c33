"""The package's shape: no import cycle, light imports where the command line starts, and the
pieces that must exist once (exit codes, the state directory, the atomic write, the fixer's
lock) defined once."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules():
    """{module name: source path} of azbdiag and of the rule modules (azbdiag.rules.*)."""
    found = {}
    for top, package in (("azbdiag", "azbdiag"), ("rules", "azbdiag.rules")):
        base = os.path.join(ROOT, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", "data")]
            rel = os.path.relpath(dirpath, base)
            prefix = package if rel == "." else package + "." + rel.replace(os.sep, ".")
            for name in filenames:
                if name.endswith(".py"):
                    mod = prefix if name == "__init__.py" else f"{prefix}.{name[:-3]}"
                    found[mod] = os.path.join(dirpath, name)
    return found


MODULES = _modules()


def _import_time_statements(body):
    """Statements run when the module is imported: not function bodies, not TYPE_CHECKING."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _import_time_statements(inner)


def _imports(mod: str, path: str):
    """The azbdiag modules `mod` imports at import time (a package's submodule counts when
    named in `from package import name`; every package on the way counts too)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    package = mod if path.endswith("__init__.py") else mod.rpartition(".")[0]
    targets = set()
    for node in _import_time_statements(tree.body):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [source] + [f"{source}.{a.name}" for a in node.names
                                if f"{source}.{a.name}" in MODULES]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                # A module's own parent packages are already being imported when it runs:
                # a sibling import through them is not an edge back to the package.
                if prefix in MODULES and prefix != mod and not mod.startswith(prefix + "."):
                    targets.add(prefix)
    return targets


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_imports():
    graph = {m: _imports(m, p) for m, p in MODULES.items()}
    assert "azbdiag.app" in graph["azbdiag.commands.check"]
    assert "azbdiag.fix" in graph["azbdiag.rules.fs_errors"]
    assert "azbdiag.fix.files" in graph["azbdiag.fix.mounts"]
    # Imports inside functions are not import-time edges.
    assert "azbdiag.engine" not in graph["azbdiag.commands.check"]


def test_no_import_cycle():
    graph = {m: _imports(m, p) for m, p in MODULES.items()}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each module imported before any other azbdiag module (a forked child of an interpreter
    that has loaded none), so an import that only works in some order fails here."""
    script = """
import os, sys, traceback
sys.path.insert(0, sys.argv[1])
failed = []
for name in sys.argv[2:]:
    pid = os.fork()
    if pid == 0:
        try:
            __import__(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        failed.append(name)
print("FAILED:", " ".join(failed))
"""
    names = sorted(m for m in MODULES if m != "azbdiag.__main__")
    proc = subprocess.run([sys.executable, "-c", script, ROOT, *names], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "FAILED:", proc.stdout + proc.stderr


def _loaded_after(statement: str):
    code = (f"import sys; sys.path.insert(0, {ROOT!r}); {statement}; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('azbdiag', 'typer')))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


HEAVY = ("azbdiag.engine", "azbdiag.rules", "azbdiag.fix", "azbdiag.render", "azbdiag.report",
         "azbdiag.catalogue", "azbdiag.summarize", "azbdiag.host", "azbdiag.facts")


@pytest.mark.parametrize("module", ["azbdiag.app", "azbdiag.cli"])
def test_the_command_line_starts_without_the_engine_rules_fixer_or_renderers(module):
    loaded = _loaded_after(f"import {module}")
    assert not [m for m in loaded if m.startswith(HEAVY)], loaded


def test_exit_codes_import_without_typer():
    loaded = _loaded_after("import azbdiag.exit_codes")
    assert "typer" not in loaded and "azbdiag.exit_codes" in loaded


# ---- defined once --------------------------------------------------------------------------

def _trees():
    for mod, path in sorted(MODULES.items()):
        with open(path, encoding="utf-8") as fh:
            yield mod, ast.parse(fh.read(), path)


def _strings(tree):
    """String constants in code (docstrings left out)."""
    docstrings = {id(n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docstrings]


def _calls(tree):
    """Dotted names of everything called: 'os.replace', 'Lock', 'tempfile.mkstemp'."""
    return [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]


def test_exit_codes_are_defined_once():
    where = sorted(mod for mod, tree in _trees() for n in ast.walk(tree)
                   if isinstance(n, ast.Assign) for t in n.targets
                   for name in ([t] if isinstance(t, ast.Name) else getattr(t, "elts", []))
                   if isinstance(name, ast.Name) and name.id.startswith("EXIT_"))
    assert set(where) == {"azbdiag.exit_codes"}, where


def test_the_state_directory_is_named_once():
    where = {mod for mod, tree in _trees() for s in _strings(tree)
             if "AZBDIAG_STATE_DIR" in s or "/var/lib/azbdiag" in s}
    assert where == {"azbdiag.state"}


def test_files_are_replaced_by_the_one_atomic_write():
    calls = {mod: _calls(tree) for mod, tree in _trees()}
    assert {m for m, c in calls.items() if "tempfile.mkstemp" in c or "os.replace" in c
            or "os.rename" in c} == {"azbdiag.fix.files"}


def test_one_lock_and_one_question():
    calls = {mod: _calls(tree) for mod, tree in _trees()}
    assert {m for m, c in calls.items() if "Lock" in c} == {"azbdiag.fix.journal"}
    assert {m for m, c in calls.items() if "with_lock" in c} == {"azbdiag.fix.run",
                                                                "azbdiag.fix.undo"}
    assert {m for m, c in calls.items() if "ask" in c} == {"azbdiag.fix.run", "azbdiag.fix.undo"}


