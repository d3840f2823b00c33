"""The packages, built and used for real (CI, as root).

- the .deb and the .rpm are built by the README's own commands from a clean copy of the tree
  (tests/builds.py, once per tree, the .deb with its unit tests); the .deb is lintian clean,
  installs with apt into a fresh Debian 12 chroot next to Debian's waagent, and there
  `azbdiag --version`, `azbdiag check --format json` and `man azbdiag` work; `azbdiag check
  --root <chroot>` from outside finds that agent; purge keeps fix journals and says so;
- the .rpm lists the expected files and dependencies, installs into a scratch root with
  `rpm --root --nodeps` and its launcher runs from there.
(tests/test_packaging_matrix.py installs them in Debian 11, 12 and 13.)
"""

import json
import os
import re
import shutil
import stat
import subprocess

import pytest
from builds import built
from chroots import bookworm_chroot, chroot_run, cleanup_chroot

from azbdiag import __version__, report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # never a pyenv python3 (packaging.md, pitfall 1)
HOST_ENV = dict(os.environ, PATH=HOST_PATH, LC_ALL="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
PY = "/usr/bin/python3"

pytestmark = pytest.mark.integration


def need(*tools):
    for tool in tools:
        if shutil.which(tool, path=HOST_PATH) is None:
            pytest.skip(f"{tool} is not installed (see tools/deps/packaging.apt)")


def run(argv, cwd=None, timeout=300, env=None):
    cp = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                        env=env or HOST_ENV)
    return cp


def validate_report(doc):
    try:
        import jsonschema
    except ImportError:
        from azbdiag import schema

        assert schema.validate(doc, report.load_schema()) is None
    else:
        jsonschema.validate(doc, report.load_schema())


def test_readme_build_commands_run_as_written_with_the_unit_tests():
    products = built()
    log = products["log"]
    assert "$ dpkg-checkbuilddeps" in log
    assert "PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b" in log
    assert "nocheck" not in log.split("dpkg-buildpackage", 1)[1].split("\n", 1)[0]
    # dh_auto_test ran the unit tests in the source tree (sample symlinks and all)
    assert re.search(r"\b\d+ passed\b", log) and " failed" not in log, log[-3000:]
    assert "rpmbuild -ba rpm/azbdiag.spec" in log and "./tools/build-pyz" in log
    for kind in ("deb", "changes", "rpm", "pyz"):
        assert os.path.isfile(products[kind]), kind


# --------------------------------------------------------------------------- .deb

@pytest.fixture(scope="module")
def deb():
    products = built()
    assert os.path.basename(products["deb"]) == f"azbdiag_{__version__}_all.deb"
    return products["deb"], products["changes"]


def test_deb_contents(deb):
    cp = run(["dpkg-deb", "--contents", deb[0]])
    assert cp.returncode == 0, cp.stderr
    listing = cp.stdout
    for path in ("./usr/bin/azbdiag", "./usr/share/man/man1/azbdiag.1.gz",
                 "./usr/share/bash-completion/completions/azbdiag",
                 "./lib/systemd/system/azbdiag-check.service",
                 "./lib/systemd/system/azbdiag-check.timer",
                 "./usr/share/azbdiag/main.py",
                 "./usr/share/azbdiag/azbdiag/rules/vmbackup_conf.py",
                 "./usr/share/azbdiag/azbdiag/data/report.schema.json",
                 "./usr/share/azbdiag/_vendor/typer/typer/__init__.py",
                 "./usr/share/azbdiag/_vendor/typer/click/__init__.py",
                 "./usr/share/azbdiag/_vendor/sh/sh.py",
                 "./usr/share/azbdiag/_vendor/distro/distro/__init__.py",
                 "./usr/share/doc/azbdiag/examples/cloud-init/azbdiag-check.yaml",
                 "./var/lib/azbdiag/", "./var/log/azbdiag/"):
        assert re.search(rf" {re.escape(path)}$", listing, re.M), path
    assert "__pycache__" not in listing and "/tests/" not in listing
    assert re.search(r"^-rwxr-xr-x .* \./usr/bin/azbdiag$", listing, re.M)
    fields = run(["dpkg-deb", "--field", deb[0], "Depends", "Recommends", "Architecture", "Version"]).stdout
    depends = re.search(r"^Depends: (.*)$", fields, re.M).group(1)
    assert depends.startswith("python3 (>= 3.9) | python3.9 | ") and "typer" not in depends
    for dep in ("python3-typer", "python3-click", "python3-sh", "python3-distro"):
        assert dep in re.search(r"^Recommends: (.*)$", fields, re.M).group(1)
    assert "Architecture: all" in fields and f"Version: {__version__}" in fields



def test_lintian_clean(deb):
    need("lintian")
    cp = run(["lintian", "--pedantic", "-I", "--no-cfg", deb[1]], timeout=300)
    tags = [line for line in cp.stdout.splitlines() if re.match(r"^[EWXP]: ", line)]
    assert cp.returncode == 0 and not [t for t in tags if t[0] in "EW"], cp.stdout + cp.stderr


# --------------------------------------------------------------------------- chroot

@pytest.fixture(scope="module")
def chroot(deb, tmp_path_factory):
    root = bookworm_chroot(str(tmp_path_factory.mktemp("chroot") / "root"),
                           packages=("waagent", "man-db", deb[0]))
    try:
        yield root
    finally:
        cleanup_chroot(root)


def test_deb_installed_in_chroot_runs(chroot):
    cp = chroot_run(chroot, ["azbdiag", "--version"], timeout=60)
    assert (cp.returncode, cp.stdout.strip()) == (0, f"azbdiag {__version__}"), cp.stderr
    cp = chroot_run(chroot, ["waagent", "--version"], timeout=60)
    assert cp.returncode == 0 and "WALinuxAgent" in cp.stdout

    cp = chroot_run(chroot, ["azbdiag", "check", "--format", "json"], timeout=300, mounts=True)
    assert cp.returncode in (0, 1), cp.stdout[-2000:] + cp.stderr
    doc = json.loads(cp.stdout)
    validate_report(doc)
    assert doc["tool"]["version"] == __version__ and doc["host"]["live"] is True
    assert doc["host"]["distro"]["id"] == "debian"
    assert not [r for r in doc["results"] if r["status"] == "error" and "Traceback" in r["summary"]]

    # As root on the live (chroot) system, check recorded its report and a log line in the
    # package's root-only directories.
    for d in ("var/lib/azbdiag", "var/log/azbdiag"):
        assert stat.S_IMODE(os.lstat(os.path.join(chroot, d)).st_mode) == 0o700, d
    saved = json.loads(open(os.path.join(chroot, "var/lib/azbdiag/last-report.json")).read())
    assert saved["results"] == doc["results"]
    log = open(os.path.join(chroot, "var/log/azbdiag/azbdiag.log")).read().splitlines()
    assert log and f"azbdiag {__version__} check:" in log[-1]


def test_man_page_and_completion_in_chroot(chroot):
    cp = chroot_run(chroot, ["man", "-P", "cat", "azbdiag"], timeout=60, env={"MANWIDTH": "80"})
    assert cp.returncode == 0, cp.stderr
    text = " ".join(re.sub(r".\x08", "", cp.stdout).split())
    assert "azbdiag - diagnose" in text and "EXIT STATUS" in text and "--freeze-test" in text
    snippet = ('. /usr/share/bash-completion/completions/azbdiag; COMP_WORDS=(azbdiag fix --vm); '
               'COMP_CWORD=2; _azbdiag; echo "${COMPREPLY[*]}"')
    cp = chroot_run(chroot, ["bash", "-c", snippet], timeout=60)
    assert cp.stdout.strip() == "--vmbackup-conf", cp.stdout + cp.stderr
    snippet = ('. /usr/share/bash-completion/completions/azbdiag; '
               'COMP_WORDS=(azbdiag check --only vmbackup_c); COMP_CWORD=3; _azbdiag; '
               'echo "${COMPREPLY[*]}"')
    ids = chroot_run(chroot, ["bash", "-c", snippet], timeout=60).stdout.split()
    assert "vmbackup_conf" in ids and "vmbackup_conf.isanysnapshotfailed" in ids, ids


def test_timer_shipped_but_not_enabled(chroot):
    assert os.path.isfile(os.path.join(chroot, "lib/systemd/system/azbdiag-check.timer"))
    assert os.path.isfile(os.path.join(chroot, "lib/systemd/system/azbdiag-check.service"))
    wants = os.path.join(chroot, "etc/systemd/system/timers.target.wants/azbdiag-check.timer")
    assert not os.path.lexists(wants)


def test_service_commands_work_in_chroot(chroot):
    """No systemd runs here: run the unit's ExecStart and ExecStartPost lines as systemd would
    (a leading '-' ignores failure) and check exit status, report and journal line."""
    import configparser
    import shlex

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(os.path.join(chroot, "lib/systemd/system/azbdiag-check.service"))
    svc = unit["Service"]
    ok = {0} | {int(x) for x in svc.get("SuccessExitStatus", "").split()}
    start = shlex.split(svc["ExecStart"])
    cp = chroot_run(chroot, start, timeout=300, mounts=True)
    assert cp.returncode in ok, cp.stdout + cp.stderr
    out = start[start.index("--output") + 1]
    validate_report(json.loads(open(os.path.join(chroot, out.lstrip("/"))).read()))
    post = shlex.split(svc["ExecStartPost"].lstrip("-"))
    cp = chroot_run(chroot, post, timeout=60)
    assert cp.returncode == 0 and re.match(r"^\S+Z azbdiag \S+ check: \d+ fail, ", cp.stdout), cp.stdout


def test_check_from_outside_finds_the_agent(chroot):
    from azbdiag import engine

    if "agent.installed" not in engine.load_rules():
        pytest.skip("rules/agent.py has no agent.installed rule yet")
    cp = run([PY, "-m", "azbdiag", "check", "--root", chroot, "--format", "json", "--only", "agent"],
             cwd=ROOT, timeout=300)
    assert cp.returncode in (0, 1), cp.stderr
    doc = json.loads(cp.stdout)
    validate_report(doc)
    assert doc["host"]["live"] is False and doc["host"]["root"] == chroot
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["agent.installed"]["status"] == "ok", by_id["agent.installed"]
    evidence = " ".join(by_id["agent.installed"]["evidence"])
    inside = chroot_run(chroot, ["waagent", "--version"], timeout=60).stdout
    version = re.search(r"WALinuxAgent-(\S+) ", inside).group(1)
    assert "/usr/sbin/waagent" in evidence and version in evidence, (inside, evidence)


def test_purge_keeps_journals_and_says_so(chroot):
    """Runs last on this chroot: purge removes logs and the last report, keeps fix journals."""
    journal = os.path.join(chroot, "var/lib/azbdiag/journal/20260101T000000Z-1")
    os.makedirs(journal, mode=0o700)
    with open(os.path.join(journal, "journal.json"), "w") as fh:
        fh.write("{}")
    cp = chroot_run(chroot, ["apt-get", "purge", "-y", "azbdiag"], timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "kept /var/lib/azbdiag/journal" in cp.stdout + cp.stderr
    assert os.path.isfile(os.path.join(journal, "journal.json"))
    assert not os.path.exists(os.path.join(chroot, "var/lib/azbdiag/last-report.json"))
    assert not os.path.exists(os.path.join(chroot, "var/log/azbdiag"))
    assert not os.path.exists(os.path.join(chroot, "usr/bin/azbdiag"))
    cp = chroot_run(chroot, ["dpkg-statoverride", "--list"], timeout=60)
    assert "azbdiag" not in cp.stdout


# --------------------------------------------------------------------------- .rpm

@pytest.fixture(scope="module")
def rpm():
    return built()["rpm"]


def test_rpm_lists_the_expected_files(rpm):
    cp = run(["rpm", "-qpl", rpm])
    assert cp.returncode == 0, cp.stderr
    files = set(cp.stdout.split())
    for path in ("/usr/bin/azbdiag", "/usr/share/azbdiag/main.py", "/usr/share/azbdiag/azbdiag/__main__.py",
                 "/usr/share/azbdiag/_vendor/typer/typer-0.7.0.dist-info/LICENSE",
                 "/usr/share/azbdiag/azbdiag/cli.py", "/usr/share/azbdiag/azbdiag/rules/vmbackup_conf.py",
                 "/usr/share/azbdiag/azbdiag/data/report.schema.json",
                 "/usr/share/bash-completion/completions/azbdiag",
                 "/usr/lib/systemd/system/azbdiag-check.service",
                 "/usr/lib/systemd/system/azbdiag-check.timer",
                 "/var/lib/azbdiag", "/var/log/azbdiag"):
        assert path in files, path
    assert any(f.startswith("/usr/share/man/man1/azbdiag.1") for f in files)
    assert not [f for f in files if "__pycache__" in f or "/tests/" in f]
    modes = run(["rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]", rpm]).stdout
    assert "drwx------ /var/lib/azbdiag" in modes and "drwx------ /var/log/azbdiag" in modes
    info = run(["rpm", "-qp", "--qf", "%{VERSION} %{ARCH}", rpm]).stdout
    assert info == f"{__version__} noarch"
    requires = run(["rpm", "-qpR", rpm]).stdout
    assert "(python3 >= 3.9 or python3.9 or " in requires and "python311" in requires
    for dep in ("python3-typer", "python3-sh", "python3-distro", "python(abi)", "/usr/bin/python3"):
        assert dep not in requires, dep
    provides = run(["rpm", "-qp", "--provides", rpm]).stdout
    for lib in ("typer", "click", "sh", "distro"):
        assert f"bundled(python3dist({lib})) = " in provides, lib


def test_rpm_installs_into_a_scratch_root_and_runs(rpm, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    cp = run(["rpm", "--root", str(scratch), "--dbpath", "/var/lib/rpm", "-i", "--nodeps", rpm])
    assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = run(["rpm", "--root", str(scratch), "--dbpath", "/var/lib/rpm", "-q", "azbdiag"])
    assert cp.stdout.startswith(f"azbdiag-{__version__}-"), cp.stdout + cp.stderr
    assert stat.S_IMODE(os.stat(scratch / "var/lib/azbdiag").st_mode) == 0o700
    launcher = (scratch / "usr/bin/azbdiag").read_text()
    assert launcher.startswith("#!/bin/sh\n") and "/usr/share/azbdiag/main.py" in launcher
    # Run the installed launcher with its root pointed at the scratch root.
    env = dict(HOST_ENV, AZBDIAG_LAUNCHER_ROOT=str(scratch))
    healthy = os.path.join(ROOT, "tests", "samples", "healthy")
    cp = run(["sh", str(scratch / "usr/bin/azbdiag"), "check", "--root", healthy, "--format", "json"],
             cwd=str(tmp_path), env=env)
    assert cp.returncode in (0, 1), cp.stderr
    doc = json.loads(cp.stdout)
    validate_report(doc)
    assert any(r["id"].startswith("vmbackup_conf.") for r in doc["results"])
    assert not list(scratch.rglob("__pycache__")), "the program must not write bytecode"
