"""Packaging metadata that must not drift: one version everywhere, and the man page and the
bash completion cover every command and option the CLI has."""

import configparser
import os
import re
import shutil
import subprocess

import pytest
import typer

from azbdiag import __version__
from azbdiag.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.isfile(os.path.join(ROOT, "debian", "changelog")):
    # e.g. the unit tests run by the package build, on the built tree
    pytest.skip("not a source checkout (no debian/, man/, completion/)", allow_module_level=True)


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
        return fh.read()


def cli_options():
    """{command name or '': [option strings]} from the typer app."""
    group = typer.main.get_command(app)
    out = {"": [o for p in group.params for o in p.opts + p.secondary_opts if o.startswith("-")]}
    for name, cmd in group.commands.items():
        out[name] = [o for p in cmd.params for o in p.opts + p.secondary_opts if o.startswith("-")]
    return out


def test_versions_agree():
    changelog = read("debian/changelog").splitlines()[0]
    m = re.match(r"^azbdiag \(([^)]+)\) ", changelog)
    assert m, changelog
    assert m.group(1) == __version__, "debian/changelog"
    spec = read("rpm/azbdiag.spec")
    assert re.search(r"^Version:\s*(\S+)$", spec, re.M).group(1) == __version__, "rpm/azbdiag.spec"
    assert re.search(r"^\* .* - (\S+)-\d+$", spec, re.M).group(1) == __version__, "spec %changelog"
    th = re.search(r'^\.TH AZBDIAG 1 "[^"]*" "azbdiag ([^"]+)"', read("man/azbdiag.1"), re.M)
    assert th and th.group(1) == __version__, "man/azbdiag.1 .TH"
    assert 'version = {attr = "azbdiag.__version__"}' in read("pyproject.toml")


def test_man_page_documents_every_command_and_option():
    man = read("man/azbdiag.1").replace("\\-", "-")
    for command, options in cli_options().items():
        if command:
            assert re.search(rf"^\.SS .*\b{re.escape(command)}\b", man, re.M), f"man: command {command}"
        for opt in options:
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", man), f"man: {command} {opt}"


def test_man_page_formats_without_warnings():
    if not any(os.access(os.path.join(d, "man"), os.X_OK) for d in ("/usr/bin", "/bin")):
        pytest.skip("man is not installed")
    cp = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z",
                         os.path.join(ROOT, "man", "azbdiag.1")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                        env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80"))
    assert cp.returncode == 0 and not cp.stderr.strip(), cp.stderr


def test_completion_covers_every_command_and_option():
    script = read("completion/azbdiag")
    words = set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*|[a-z]+)(?![\w-])", script))
    for command, options in cli_options().items():
        if command:
            assert command in words, f"completion: command {command}"
            assert re.search(rf"^\s+{re.escape(command)}\)$", script, re.M), f"completion: case {command}"
        for opt in options:
            assert opt in words, f"completion: {command} {opt}"


def test_completion_script_completes_commands():
    if not os.path.exists("/bin/bash"):
        pytest.skip("no bash")
    snippet = ('source "$1"; COMP_WORDS=(azbdiag ch); COMP_CWORD=1; _azbdiag; echo "${COMPREPLY[*]}";'
               'COMP_WORDS=(azbdiag check --fo); COMP_CWORD=2; _azbdiag; echo "${COMPREPLY[*]}";'
               'COMP_WORDS=(azbdiag check --format ""); COMP_CWORD=3; _azbdiag; echo "${COMPREPLY[*]}"')
    cp = subprocess.run(["/bin/bash", "-c", snippet, "x", os.path.join(ROOT, "completion", "azbdiag")],
                        capture_output=True, text=True)
    assert cp.stdout.splitlines() == ["check", "--format", "text json brief prometheus"], \
        cp.stdout + cp.stderr


def _unit(rel):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(read(rel))
    return parser


def test_systemd_units():
    service = _unit("systemd/azbdiag-check.service")
    timer = _unit("systemd/azbdiag-check.timer")
    svc = service["Service"]
    assert svc["Type"] == "oneshot" and "1" in svc["SuccessExitStatus"].split()
    argv = svc["ExecStart"].split()
    assert argv[:2] == ["/usr/bin/azbdiag", "check"]
    known = cli_options()["check"]
    assert all(a in known for a in argv[2:] if a.startswith("-")), argv
    assert argv[argv.index("--output") + 1] in ("/var/lib/azbdiag/report.json",
                                                "/var/log/azbdiag/report.json")
    assert "azbdiag.log" in svc["ExecStartPost"]
    assert not service.has_section("Install"), "the service runs from the timer only"
    assert timer["Timer"]["OnCalendar"] == "daily"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_debian_and_rpm_ship_the_same_pieces():
    install = read("debian/azbdiag.install")
    spec = read("rpm/azbdiag.spec")
    for piece in ("completion/azbdiag", "systemd/azbdiag-check.service", "systemd/azbdiag-check.timer"):
        assert piece in install and piece.split("/")[1] in spec, piece
    assert "man/azbdiag.1" in read("debian/azbdiag.manpages") and "man/azbdiag.1" in spec
    assert "--no-enable" in read("debian/rules"), "the timer must not be enabled by default"
    for d in ("var/lib/azbdiag", "var/log/azbdiag"):
        assert d in read("debian/azbdiag.dirs")
        assert f"/{d}" in read("debian/azbdiag.postinst")
    assert spec.count("%dir %attr(0700,root,root)") == 2


def test_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze", path="/usr/bin:/bin")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    for name in ("azbdiag-check.service", "azbdiag-check.timer"):
        # /usr/bin/azbdiag need not be installed here: point ExecStart at a binary that exists
        (tmp_path / name).write_text(read(f"systemd/{name}").replace("/usr/bin/azbdiag", "/bin/true"))
    cp = subprocess.run([tool, "verify", "--man=no", str(tmp_path / "azbdiag-check.service"),
                         str(tmp_path / "azbdiag-check.timer")], capture_output=True, text=True,
                        timeout=120)
    assert cp.returncode == 0 and not cp.stderr.strip(), cp.stderr
