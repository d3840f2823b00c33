"""Regular expressions from the disk (issue 11, item 9): SELinux file_contexts patterns are
matched in bounded time, with the answers Python's re gives."""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.parsers import _saferegex as saferegex
from azbdiag.parsers import file_contexts as sp

EVIL = r"/var/lib/waagent/(a+)+"
EVIL_NAME = "/var/lib/waagent/" + "a" * 40 + "!"


def test_doctests():
    assert doctest.testmod(saferegex).failed == 0


@pytest.mark.parametrize("pattern", [
    EVIL, r"/var/lib/waagent/(a*)*b", r"/var/lib/waagent/(a|a)*b", r"/var/lib/waagent/(a|aa)+$",
    r"/var/lib/waagent/(.*a){20}", r"/var/lib/waagent/" + r"(a?)" * 30 + "a" * 30,
    r"/var/lib/waagent/" + r".*" * 30 + "x", r"/var/lib/waagent/(a|b|ab)*c",
])
def test_catastrophic_patterns_answer_at_once(pattern):
    """Not re (which would take years) but the NFA, whose work is counted, not timed: at most
    one closure (a walk over the program, each instruction once) per character of the text."""
    m = saferegex.compile(pattern)
    assert not m.backtracking
    nfa = m._nfa
    assert len(nfa.prog) <= saferegex.MAX_STATES
    closures = []
    closure = nfa._closure
    nfa._closure = lambda *args: closures.append(1) or closure(*args)
    for n in (10, 40, 400, 4000):
        text = "/var/lib/waagent/" + "a" * n + "!"
        closures.clear()
        assert m.fullmatch(text) is False
        assert len(closures) <= len(text) + 1, (n, len(closures))


def test_common_file_contexts_patterns_use_re():
    for pattern in (r"/var/lib/waagent(/.*)?", r"/etc/azure(/.*)?", r"/var/log/azure(/.*)?",
                    r"/.*", r"/var/log/waagent\.log.*", r"/var/lib/(misc|nfs)/[^/]+"):
        assert saferegex.compile(pattern).backtracking, pattern


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)a", r"(?<!b)a", r"(?i)a", r"(a)(?(1)b|c)",
                                     "a" * (saferegex.MAX_PATTERN + 1), r"(a{1,1000})+",
                                     "(" * 400 + ")" * 400 + "+"])
def test_refused_patterns(pattern):
    with pytest.raises((saferegex.Unsupported, re.error)):
        saferegex.compile(pattern)


def test_long_text_never_matches():
    assert saferegex.compile(r"/.*").fullmatch("/" + "a" * saferegex.MAX_TEXT) is False
    assert saferegex.compile(r"/.*.*").fullmatch("/" + "a" * saferegex.MAX_TEXT) is False


# The NFA must say what re says. Small patterns over a small alphabet, so that re itself
# answers quickly; every pattern is matched by the NFA, whichever matcher compile() picks.
_atoms = st.sampled_from(["a", "b", "/", ".", "[ab]", "[^a]", r"\.", "[a-c]", r"\d", r"\w", r"\s",
                          "$", "^", r"\Z", r"\A", "[^/]", r"\W", "\n"])


def _patterns():
    def extend(inner):
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda t: f"(?:{t[0]}|{t[1]})"),
            inner.map(lambda x: f"({x})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?", "{0,2}"])).map(
                lambda t: f"(?:{t[0]}){t[1]}"),
        )
    return st.recursive(_atoms, extend, max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(_patterns(), st.text(alphabet="ab/.c1_\n", max_size=8))
def test_nfa_agrees_with_re(pattern, text):
    try:
        expected = re.fullmatch(pattern, text) is not None
    except re.error:
        return
    nfa = saferegex._build_nfa(saferegex._p.parse(pattern, 0))
    assert nfa.fullmatch(text) is expected, (pattern, text)
    assert saferegex.compile(pattern).fullmatch(text) is expected, (pattern, text)


# ---- the SELinux call site ---------------------------------------------------------------

def test_expected_context_with_a_runaway_pattern():
    """Item 9, where the pattern is used: in a child, so that a runaway re (which holds the
    interpreter lock, so no thread timeout fires) fails the test instead of hanging it."""
    code = (
        "from azbdiag.parsers import file_contexts as sp\n"
        f"specs = sp.parse_file_contexts({EVIL!r} + ' system_u:object_r:var_lib_t:s0\\n')\n"
        f"print(sp.expected_context(specs, {EVIL_NAME!r}, 'file'))\n")
    res = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=ROOT),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "None", res.stderr


def test_expected_context_still_picks_the_last_match():
    specs = sp.parse_file_contexts(
        "/var/lib(/.*)? system_u:object_r:var_lib_t:s0\n"
        f"{EVIL} system_u:object_r:bad_t:s0\n"
        "/var/lib/waagent/[^/]*/x.* system_u:object_r:waagent_t:s0\n")
    assert sp.expected_context(specs, "/var/lib/waagent/d/xy", "file").context.endswith("waagent_t:s0")
    assert sp.expected_context(specs, "/var/lib/waagent/aaa", "file").context.endswith("bad_t:s0")
    assert sp.expected_context(specs, EVIL_NAME, "file").context.endswith("var_lib_t:s0")


def test_check_with_a_runaway_file_contexts_line(tmp_path):
    """Item 9 through the CLI: selinux.labels on a root whose file_contexts has the pattern
    and a file name that makes it run away finishes within the deadline."""
    root = tmp_path / "root"
    shutil.copytree(os.path.join(SAMPLES, "healthy"), root, symlinks=True)
    (root / "etc/selinux/targeted/contexts/files").mkdir(parents=True)
    (root / "etc/selinux/config").write_text("SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    (root / "etc/selinux/targeted/contexts/files/file_contexts").write_text(
        f"/var/lib/waagent(/.*)? system_u:object_r:var_lib_t:s0\n"
        f"{EVIL} system_u:object_r:var_lib_t:s0\n")
    (root / EVIL_NAME.lstrip("/")).write_text("")
    env = dict(os.environ, PYTHONPATH=ROOT, AZBDIAG_NO_RECORD="1")
    proc = subprocess.Popen([sys.executable, "-m", "azbdiag", "check", "--root", str(root),
                             "--only", "selinux.labels", "--deadline", "20"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        pytest.fail("check --only selinux.labels still ran after 60 s")
    assert "selinux.labels" in out, err
    assert "timed out" not in out and "deadline" not in out
