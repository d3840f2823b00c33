"""The command line's contract: exit codes that mean one thing each (the README's and the man
page's tables checked against azbdiag/exit_codes.py and against real runs, code by code and
command by command), every user error in one line with its documented code, the choices of
every option in --help, whole command descriptions in `azbdiag --help`, and NO_COLOR as
no-color.org says.

Runs go through typer's CliRunner (standard error kept apart on every typer) and, for a few,
through a real `python3 -m azbdiag` process."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, SAMPLES, sigint_as_at_a_terminal
from typer.testing import CliRunner

from azbdiag import exit_codes, render
from azbdiag.cli import app
from azbdiag.commands import check as check_cmd
from azbdiag.commands import explain as explain_cmd
from azbdiag.commands import rules as rules_cmd
from azbdiag.commands import summarize as summarize_cmd
from azbdiag.render.text import use_colour

HEALTHY = os.path.join(SAMPLES, "healthy")
BROKEN = os.path.join(SAMPLES, "broken")
CONF = os.path.join("etc", "azure", "vmbackup.conf")
COMMANDS = ("check", "rules", "explain", "fix", "undo", "summarize")


def runner():
    """A CliRunner that keeps standard error apart (click 8.0/8.1 need mix_stderr=False; newer
    click always does and has no such argument)."""
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()


def invoke(*args, **kwargs):
    return runner().invoke(app, [str(a) for a in args], **kwargs)


def one_line_error(res, code, bug=False):
    """`res` exited `code` with exactly one line on standard error, starting `azbdiag: ` (an
    "internal error" only when it is a `bug`)."""
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("azbdiag: "), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert ("internal error" in res.stderr) == bug, res.stderr
    return lines[0]


def copy_root(tmp_path, sample=BROKEN, name="root"):
    root = tmp_path / name
    shutil.copytree(sample, root, symlinks=True)
    return root


def fifo_root(tmp_path, sample=HEALTHY, name="fifo"):
    """A root where azbdiag cannot read vmbackup.conf (a FIFO): its checks are `error`."""
    root = copy_root(tmp_path, sample, name)
    (root / CONF).unlink()
    os.mkfifo(root / CONF)
    return root


def azbdiag(*args, env=None, python=sys.executable, **kwargs):
    """A real `python3 -m azbdiag` process from this checkout."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, AZBDIAG_NO_RECORD="1", **(env or {}))
    return subprocess.run([python, "-m", "azbdiag", *map(str, args)], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=300, **kwargs)


def python_for_nobody(kwargs):
    """An interpreter user nobody can run azbdiag with (this one may live under /root)."""
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            if azbdiag("--version", python=python, **kwargs).returncode == 0:
                return python
        except OSError:
            continue
    pytest.skip("user nobody cannot run azbdiag from this checkout with any Python here")


# ---- exit status of check and summarize ----------------------------------------------------

@pytest.mark.parametrize("fail_on", ["fail", "warn"])
def test_a_check_that_could_not_run_exits_5_whatever_fail_on_says(tmp_path, fail_on):
    res = invoke("check", "--root", fifo_root(tmp_path), "--fail-on", fail_on, "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["summary"]["error"] and not doc["summary"]["fail"] and not doc["summary"]["warn"]
    assert res.exit_code == 5, res.stderr


def test_5_wins_over_findings(tmp_path):
    res = invoke("check", "--root", fifo_root(tmp_path, BROKEN), "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["summary"]["error"] and doc["summary"]["fail"]
    assert res.exit_code == 5


def test_a_run_out_of_time_is_not_healthy():
    # the case: 49 errors and exit 0, even with --fail-on warn
    res = invoke("check", "--root", HEALTHY, "--deadline", "0.000001", "--fail-on", "warn",
                 "--format", "json")
    assert json.loads(res.stdout)["summary"]["error"] and res.exit_code == 5


def test_summarize_exits_5_when_a_host_could_not_run_a_check(tmp_path):
    reports = tmp_path / "reports"
    for name, root in (("ok", HEALTHY), ("fifo", fifo_root(tmp_path))):
        (reports / name).mkdir(parents=True)     # --output never creates folders
        assert invoke("check", "--root", root, "--format", "json", "-o",
                      reports / name / "report.json").exit_code in (0, 5)
    res = invoke("summarize", reports)
    assert res.exit_code == 5 and "vmbackup_conf.parses" in res.stdout
    res = invoke("summarize", reports / "ok")
    assert res.exit_code == 0


# ---- invalid option values: exit 2, one line naming the option ------------------------------

@pytest.mark.parametrize("args, option", [
    (["check", "--deadline", "-5"], "--deadline"),
    (["check", "--deadline", "0"], "--deadline"),
    (["check", "--deadline", "nan"], "--deadline"),
    (["check", "--deadline", "inf"], "--deadline"),
    (["check", "--deadline", "soon"], "--deadline"),
    (["check", "--format", "xml"], "--format"),
    (["check", "--format", "prometheus-ish"], "--format"),
    (["check", "--fail-on", "never"], "--fail-on"),
    (["rules", "--format", "brief"], "--format"),
    (["explain", "121", "--format", "yaml"], "--format"),
    (["summarize", "--jobs", "-1", "reports"], "--jobs"),
    (["summarize", "--jobs", "100000", "reports"], "--jobs"),
    (["summarize", "--format", "pdf", "reports"], "--format"),
    (["fix", "--vmbackup-conf", "--deadline", "0"], "--deadline"),
    (["check", "--no-such-option"], "--no-such-option"),
    (["check", "--root"], "--root"),
])
def test_invalid_option_values_are_one_line_usage_errors(args, option):
    line = one_line_error(invoke(*args), 2)
    assert option in line


def test_the_usage_error_says_what_is_wrong_and_where_to_look():
    line = one_line_error(invoke("check", "--deadline", "-5"), 2)
    assert line == "azbdiag: invalid value for '--deadline': must be a number of seconds above 0, not -5"
    line = one_line_error(invoke("check", "--format", "XML"), 2)
    assert line == "azbdiag: invalid value for '--format': 'XML' is not one of text, json, brief, prometheus"
    line = one_line_error(invoke("check", "--no-such-option"), 2)
    assert line.startswith("azbdiag: no such option: --no-such-option")
    assert line.endswith("; see 'azbdiag check --help'")


def test_choices_are_case_insensitive():
    res = invoke("check", "--root", HEALTHY, "--only", "vmbackup_conf", "--format", "JSON",
                 "--fail-on", "WARN")
    assert res.exit_code == 0 and json.loads(res.stdout)["results"]


# ---- unknown --only/--skip ids -------------------------------------------------------------

@pytest.mark.parametrize("args, close", [
    (["--skip", "network"], None),
    (["--only", "nosuchrule"], None),
    (["--only", ""], None),
    (["--skip", "vmbackup"], "vmbackup_conf"),
    (["--only", "agent.versoin"], "agent.version"),
    (["--only", "selinux.label"], "selinux.labels"),
    (["--only", "agent", "--only", "freez"], "freeze"),
])
def test_unknown_rule_ids_are_usage_errors_with_close_matches(args, close):
    line = one_line_error(invoke("check", "--root", HEALTHY, *args), 2)
    option, value = args[-2], args[-1]
    assert f"invalid value for {option}: no rule id is or starts with {value!r}" in line
    if close:
        assert "did you mean" in line and re.search(rf"\b{re.escape(close)}\b", line), line
    else:
        assert "`azbdiag rules` lists the rule ids" in line


def test_known_ids_and_prefixes_still_select(tmp_path):
    res = invoke("check", "--root", HEALTHY, "--only", "VMBACKUP_CONF", "--skip",
                 "vmbackup_conf.keys", "--format", "json")
    assert res.exit_code == 0, res.stderr
    ids = {r["id"]: r["status"] for r in json.loads(res.stdout)["results"]}
    assert set(ids) == {i for i in ids if i.startswith("vmbackup_conf.")}
    assert ids["vmbackup_conf.keys"] == "skipped" and ids["vmbackup_conf.parses"] == "ok"


def shipped_check_args():
    """Every `azbdiag_check_args` example the project ships (inventory, role defaults, README)."""
    found = []
    base = os.path.join(ROOT, "contrib", "ansible")
    for rel in ("inventory.example.ini", "roles/azbdiag/defaults/main.yml"):
        with open(os.path.join(base, rel), encoding="utf-8") as fh:
            text = fh.read()
        found += re.findall(r"azbdiag_check_args='(\[.*?\])'", text)
        found += re.findall(r"^azbdiag_check_args: \[\]\s+# e\.g\. (\[.*\])$", text, re.M)
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        found += re.findall(r"^\| `azbdiag_check_args` \| `\[\]` \| .*?`(\[.*?\])`", fh.read(), re.M)
    return [json.loads(a) for a in found]


def test_the_shipped_ansible_examples_name_real_rules():
    from azbdiag.engine import all_rules, matches

    examples = shipped_check_args()
    assert len(examples) == 3, examples
    ids = [r.id for r in all_rules()]
    for args in examples:
        selectors = [v for o, v in zip(args, args[1:]) if o in ("--only", "--skip")]
        assert selectors and all(any(matches(i, [v]) for i in ids) for v in selectors), args
        res = invoke("check", "--root", HEALTHY, "--format", "json", *args)
        assert res.exit_code in (0, 1), (args, res.stderr)


# ---- every user error: one line and its documented code ------------------------------------

def test_root_errors_are_one_line_exit_3(tmp_path):
    line = one_line_error(invoke("check", "--root", tmp_path / "missing"), 3)
    assert "no such directory" in line and "missing" in line
    (tmp_path / "file").write_text("x")
    assert "not a directory" in one_line_error(invoke("check", "--root", tmp_path / "file"), 3)
    for command in (["fix", "--vmbackup-conf"], ["undo"], ["undo", "--list"]):
        line = one_line_error(invoke(*command, "--root", tmp_path / "missing"), 3)
        assert "no such directory" in line


def test_an_unreadable_root_is_one_line_exit_3_in_a_real_process(tmp_path):
    root = copy_root(tmp_path, HEALTHY)
    kwargs, env = {}, {}
    if os.geteuid() == 0:   # root reads everything: check as nobody
        kwargs = {"user": 65534, "group": 65534, "extra_groups": []}
        env = {"HOME": "/nonexistent"}
        kwargs["python"] = python_for_nobody(kwargs)
        tmp_path.chmod(0o755)
    root.chmod(0)
    try:
        proc = azbdiag("check", "--root", root, env=env, **kwargs)
        inner = azbdiag("check", "--root", root / "etc", env=env, **kwargs)
    finally:
        root.chmod(0o755)
    for res, path in ((proc, root), (inner, root / "etc")):
        assert res.returncode == 3, res.stdout + res.stderr
        assert res.stderr.strip().splitlines() == [
            f"azbdiag: --root {str(path)!r}: cannot read it: Permission denied (run as root?)"]


@pytest.mark.parametrize("args, code, words", [
    (["check", "--root", HEALTHY, "--brief", "--format", "json"], 2, "contradict"),
    (["explain"], 2, "give a CODE"),
    (["explain", "121", "--list"], 2, "not both"),
    (["explain", "UserErrorFsFreezFailed"], 2, "did you mean UserErrorFsFreezeFailed"),
    (["explain", "NoSuchCodeAtAll"], 2, "`azbdiag explain --list` shows the known ones"),
    (["summarize"], 2, "missing argument"),
    (["check", "extra"], 2, "unexpected extra argument"),
    (["frobnicate"], 2, "no such command 'frobnicate'"),
    (["--debug"], 2, "missing command"),
    (["fix", "--root", HEALTHY], 2, "choose what to fix"),
])
def test_user_errors_are_one_line_with_their_code(args, code, words):
    line = one_line_error(invoke(*args), code)
    assert words in line


def test_summarize_with_no_readable_report_is_one_line_exit_3(tmp_path):
    bad = []
    for i in range(5):
        bad.append(tmp_path / f"bad{i}.json")
        bad[-1].write_text("{")
    line = one_line_error(invoke("summarize", tmp_path / "missing", *bad), 3)
    assert "no valid report found; skipped " in line and "missing: no such file" in line
    assert "and 3 more" in line


def test_azbdiag_alone_prints_the_help_and_exits_2():
    res = invoke()
    assert res.exit_code == 2
    assert "check" in res.stdout and "summarize" in res.stdout


def test_internal_errors_stay_for_real_bugs(monkeypatch):
    from azbdiag import report

    def bug(*_a, **_k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(report, "run_check", bug)
    line = one_line_error(invoke("check", "--root", HEALTHY), 3, bug=True)
    assert line.startswith("azbdiag: internal error: ZeroDivisionError")


@pytest.mark.parametrize("args, code, words", [
    (["check", "--deadline", "0"], 2, "invalid value for '--deadline'"),
    (["check", "--skip", "network"], 2, "no rule id is or starts with 'network'"),
    (["check", "--root", "/nonexistent-azbdiag-root"], 3, "no such directory"),
    (["explain", "nope"], 2, "unknown error code 'nope'"),
    (["summarize", "/nonexistent-azbdiag-reports"], 3, "no valid report found"),
    (["nope"], 2, "no such command"),
])
def test_user_errors_in_a_real_process(args, code, words):
    proc = azbdiag(*args)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and proc.stdout == "", proc.stderr


# ---- --help --------------------------------------------------------------------------------

CHOICES = {
    ("check", "--format"): check_cmd.FORMATS,
    ("check", "--fail-on"): ("warn", "fail"),
    ("rules", "--format"): rules_cmd.FORMATS,
    ("explain", "--format"): explain_cmd.FORMATS,
    ("summarize", "--format"): summarize_cmd.FORMATS,
}


def test_the_choices_are_the_renderers_formats():
    assert check_cmd.FORMATS == render.REPORT_FORMATS
    assert rules_cmd.FORMATS == explain_cmd.FORMATS == render.CATALOGUE_FORMATS
    assert summarize_cmd.FORMATS == render.SUMMARY_FORMATS


def flat_help(command, columns=80):
    res = invoke(*([command] if command else []), "--help", env={"COLUMNS": str(columns)})
    assert res.exit_code == 0, res.stderr
    # rich (newer typer) draws boxes: keep the words only
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.stdout).split())


@pytest.mark.parametrize("command, option", sorted(CHOICES))
def test_help_lists_the_choices_of_every_option_with_a_choice(command, option):
    text = flat_help(command)
    assert f"{option} [{'|'.join(CHOICES[command, option])}]" in text, text


def test_every_option_with_a_choice_shows_them():
    """An option whose value must be one of a few words is declared with choice_option (or it
    would not be in CHOICES): its metavar is the list."""
    import typer

    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        for param in cmd.params:
            metavar = getattr(param, "metavar", None) or ""
            if param.param_type_name == "option" and metavar.startswith("["):
                assert (name, param.opts[0]) in CHOICES, (name, param.opts)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_no_bare_type(command):
    text = flat_help(command)
    assert not re.search(r"\b(TEXT|FLOAT|INTEGER)\b", text), text


@pytest.mark.parametrize("columns", [80, 60])
def test_command_descriptions_are_not_cut(columns):
    from azbdiag.commands import fix, undo

    text = flat_help(None, columns)
    for name, func in {"check": check_cmd.check, "rules": rules_cmd.list_rules,
                       "explain": explain_cmd.explain, "fix": fix.fix, "undo": undo.undo,
                       "summarize": summarize_cmd.summarize}.items():
        first = " ".join(func.__doc__.strip().splitlines()[0].split())
        assert f"{name} {first}" in text, (name, text)
    assert not re.search(r"\w\.\.\. ", text.split("COMMAND [ARGS]...", 1)[1]), text


# ---- NO_COLOR, TERM=dumb, no terminal -------------------------------------------------------

class Tty:
    def isatty(self):
        return True


@pytest.mark.parametrize("no_color, term, colour", [
    (None, "xterm", True),
    ("", "xterm", True),        # no-color.org: an empty NO_COLOR does not count
    ("1", "xterm", False),
    ("0", "xterm", False),      # any non-empty value
    (None, "dumb", False),
    ("", "dumb", False),
])
def test_no_color_as_no_color_org_says(monkeypatch, no_color, term, colour):
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setenv("TERM", term)
    assert use_colour(Tty()) is colour
    assert use_colour(object()) is False   # not a terminal: never


def run_on_a_terminal(env):
    """`check` with its standard output on a pseudo-terminal; what it printed."""
    import pty

    leader, follower = pty.openpty()
    try:
        full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        full_env.update(PYTHONPATH=ROOT, AZBDIAG_NO_RECORD="1", COLUMNS="120", **env)
        proc = subprocess.Popen([sys.executable, "-m", "azbdiag", "check", "--root", BROKEN,
                                 "--only", "vmbackup_conf"], cwd=ROOT, env=full_env,
                                stdout=follower, stderr=subprocess.PIPE)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:     # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=120)
    finally:
        os.close(leader)
    assert proc.returncode == 1, proc.stderr.read()
    return b"".join(chunks).decode()


def test_colour_on_a_real_terminal_and_no_color():
    assert "\033[" in run_on_a_terminal({"TERM": "xterm", "NO_COLOR": ""})
    assert "\033[" not in run_on_a_terminal({"TERM": "xterm", "NO_COLOR": "1"})
    assert "\033[" not in run_on_a_terminal({"TERM": "dumb"})


# ---- the exit-code tables, code by code ----------------------------------------------------

def _read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
        return fh.read()


def _commands(cell):
    """The commands a table cell names: `check`, `fix`, ... or "every command"."""
    if "every command" in cell:
        return set(COMMANDS)
    return {c for c in COMMANDS if re.search(rf"\b{c}\b", cell)}


def readme_table():
    section = _read("README.md").split("\n## Exit status\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \| ([^|]+) \|$", section, re.M)
    return {int(code): _commands(cmds) for code, _meaning, cmds in rows}


def man_table():
    man = _read("man/azbdiag.1")
    section = man.split("\n.SH EXIT STATUS\n", 1)[1].split("\n.SH ", 1)[0]
    entries = re.findall(r"^\.TP\n\.B (\d+)\n(.*?)(?=^\.TP$|^\.PP$|\Z)", section, re.M | re.S)
    table = {}
    for code, text in entries:
        cmds = re.search(r"^Commands: (.*)\.$", text, re.M)
        assert cmds, f"man page, exit status {code}: no 'Commands:' line"
        table[int(code)] = _commands(cmds.group(1))
    return table


def test_the_tables_list_exactly_the_codes_of_exit_codes_py():
    defined = {v for k, v in vars(exit_codes).items() if k.startswith("EXIT_")}
    assert len(defined) == len([k for k in vars(exit_codes) if k.startswith("EXIT_")]), \
        "two names for one exit code"
    assert set(readme_table()) == defined
    assert man_table() == readme_table()


def test_the_developers_guide_lists_the_codes():
    guide = _read("docs/DEVELOPING.md").split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    for code in {v for k, v in vars(exit_codes).items() if k.startswith("EXIT_")}:
        assert re.search(rf"(?<![\d.]){code}(?!\d)", guide), code


# A real run for every (code, command) pair the tables list. Each function gets pytest's
# tmp_path and monkeypatch and returns the CliRunner result.

def _registered_test_fix(monkeypatch, good: bytes):
    """A test rule (/etc/contract.conf must say "good") and, as fix "scripts", a planner that
    writes `good` into it."""
    from azbdiag import engine
    from azbdiag.fix import FIXES, FixSpec, WriteFile
    from azbdiag.model import Rule, fail, ok

    def rule(ctx):
        text = ctx.host.try_read_text("/etc/contract.conf")
        return ok("good") if text == "good\n" else fail("not good", [repr(text)])

    monkeypatch.setitem(engine.REGISTRY, "contract.conf",
                        Rule(id="contract.conf", title="contract", func=rule, fix="scripts"))
    monkeypatch.setitem(FIXES, "scripts", FixSpec(
        "scripts", "Test fix", ("contract.conf",), 10, False,
        lambda ctx, findings: [WriteFile("/etc/contract.conf", good)]))


def _test_fix_root(tmp_path):
    root = tmp_path / "fixroot"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "contract.conf").write_text("bad\n")
    return root


def _fixed(tmp_path, monkeypatch, good=b"good\n"):
    _registered_test_fix(monkeypatch, good)
    root = _test_fix_root(tmp_path)
    return root, invoke("fix", "--scripts", "--yes", "--root", root)


def _undo(tmp_path, monkeypatch, edit=False, yes=True):
    root, res = _fixed(tmp_path, monkeypatch)
    assert res.exit_code == 0, res.stdout + res.stderr
    if edit:
        (root / "etc" / "contract.conf").write_text("edited since\n")
    return invoke("undo", "--root", root, *(["--yes"] if yes else []))


def _interrupted(monkeypatch, target, attribute, args):
    import importlib

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(target), attribute, interrupt)
    return invoke(*args)


def _internal_error(monkeypatch, target, attribute, args):
    import importlib

    def bug(*_a, **_k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(importlib.import_module(target), attribute, bug)
    res = invoke(*args)
    assert "internal error: RuntimeError: a bug" in res.stderr
    return res


def _summarize_of(tmp_path, *roots):
    (tmp_path / "r").mkdir(exist_ok=True)        # --output never creates folders
    for i, root in enumerate(roots):
        res = invoke("check", "--root", root, "--format", "json", "-o", tmp_path / "r" / f"{i}.json")
        assert res.exit_code in (0, 1, 5)
    return invoke("summarize", tmp_path / "r")


# (the command's fast path that the monkeypatch reaches, and the arguments)
_WORK = {
    "check": ("azbdiag.report", "run_check", ["check", "--root", HEALTHY]),
    "rules": ("azbdiag.engine", "all_rules", ["rules"]),
    "explain": ("azbdiag.catalogue", "lookup", ["explain", "121"]),
    "summarize": ("azbdiag.summarize", "summarize_paths", ["summarize", HEALTHY]),
    "fix": ("azbdiag.fix.run", "run_fix", ["fix", "--vmbackup-conf", "--root", HEALTHY]),
    "undo": ("azbdiag.fix.undo", "run_undo", ["undo", "--root", HEALTHY]),
}

RUNS = {
    (0, "check"): lambda t, m: invoke("check", "--root", HEALTHY, "--only", "vmbackup_conf"),
    (0, "rules"): lambda t, m: invoke("rules"),
    (0, "explain"): lambda t, m: invoke("explain", "121"),
    (0, "summarize"): lambda t, m: _summarize_of(t, HEALTHY),
    (0, "fix"): lambda t, m: _fixed(t, m)[1],
    (0, "undo"): lambda t, m: _undo(t, m),
    (1, "check"): lambda t, m: invoke("check", "--root", BROKEN, "--only", "vmbackup_conf"),
    (1, "summarize"): lambda t, m: _summarize_of(t, HEALTHY, BROKEN),
    (1, "fix"): lambda t, m: _fixed(t, m, good=b"still bad\n")[1],
    (1, "undo"): lambda t, m: _undo(t, m, edit=True),
    (3, "check"): lambda t, m: invoke("check", "--root", t / "missing"),
    (3, "rules"): lambda t, m: _internal_error(m, *_WORK["rules"]),
    (3, "explain"): lambda t, m: _internal_error(m, *_WORK["explain"]),
    (3, "summarize"): lambda t, m: invoke("summarize", t / "missing"),
    (3, "fix"): lambda t, m: invoke("fix", "--vmbackup-conf", "--root", fifo_root(t)),
    (3, "undo"): lambda t, m: invoke("undo", "--yes", "--root", t),
    (4, "fix"): lambda t, m: (_registered_test_fix(m, b"good\n"),
                              invoke("fix", "--scripts", "--root", _test_fix_root(t)))[1],
    (4, "undo"): lambda t, m: _undo(t, m, yes=False),
    (5, "check"): lambda t, m: invoke("check", "--root", fifo_root(t)),
    (5, "summarize"): lambda t, m: _summarize_of(t, HEALTHY, fifo_root(t)),
}
for _command in COMMANDS:
    RUNS[2, _command] = (lambda c: lambda t, m: invoke(c, "--no-such-option"))(_command)
    RUNS[130, _command] = (lambda c: lambda t, m: _interrupted(m, *_WORK[c]))(_command)


def documented_pairs():
    return sorted((code, command) for code, commands in readme_table().items()
                  for command in commands)


def test_every_documented_pair_has_a_run_and_every_run_is_documented():
    assert set(RUNS) == set(documented_pairs())


@pytest.mark.parametrize("code, command", documented_pairs())
def test_each_documented_exit_status_comes_from_a_real_run(tmp_path, monkeypatch, code, command):
    monkeypatch.setenv("AZBDIAG_STATE_DIR", str(tmp_path / "state"))
    res = RUNS[code, command](tmp_path, monkeypatch)
    assert res.exit_code == code, (res.stdout[-2000:], res.stderr[-2000:])
    if code not in (0, 1, 4, 5):  # the failures: one line, never a traceback
        assert "Traceback" not in res.stdout + res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_a_real_sigint_exits_130_with_one_line(tmp_path):
    code = ("import sys, time\n"
            "import azbdiag.report as report\n"
            "def wait(*a, **k):\n"
            "    print('ready', flush=True)\n"
            "    time.sleep(60)\n"
            "report.run_check = wait\n"
            "sys.argv = ['azbdiag', 'check', '--root', sys.argv[1]]\n"
            "from azbdiag.cli import main\n"
            "main()\n")
    env = dict(os.environ, PYTHONPATH=ROOT, AZBDIAG_NO_RECORD="1")
    proc = subprocess.Popen([sys.executable, "-c", code, HEALTHY], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_as_at_a_terminal)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip() == "azbdiag: interrupted", err


def test_readme_examples_of_errors_are_what_azbdiag_prints():
    readme = _read("README.md")
    explain = re.search(r"^\$ (azbdiag explain UserErrorFsFreezFailed)\n(azbdiag: .*)$", readme, re.M)
    assert explain, "README: the unknown-code example is gone"
    res = invoke(*explain.group(1).split()[1:])
    assert res.stderr.strip() == explain.group(2)
    deadline = re.search(r"`(azbdiag: invalid value for '--deadline': [^`]*)`",
                         " ".join(readme.split()))
    assert deadline and one_line_error(invoke("check", "--deadline", "-5"), 2) == deadline.group(1)


def test_the_choice_helper_for_values_checked_after_parsing():
    import typer

    from azbdiag.app import choice

    assert choice("JSON", ("text", "json"), "--format") == "json"
    with pytest.raises(typer.BadParameter) as exc:
        choice("xml", ("text", "json"), "--format")
    assert exc.value.format_message() == "Invalid value for --format: 'xml' is not one of text, json"
