"""The /usr/bin/azbdiag launcher (launcher/azbdiag, POSIX sh) and the start-up code it runs
(launcher/main.py), on fake roots: which Python it picks, the one line it prints when there
is none (a root with only Python 3.6), and when the bundled libraries replace the system's.

Fake interpreters are small sh scripts that answer the launcher's version probe; a PATH made
of them plus the few tools the launcher uses stands for the machine.
"""

import importlib.util
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name, rel):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle = load("azbdiag_tools_bundle", "tools/bundle.py")
startup = load("azbdiag_launcher_main", "launcher/main.py")

APPDIR = "/usr/share/azbdiag"
TOOLS = ("sh", "sed", "head", "tr")

OS_RELEASE = {
    "rhel8": 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="8.9"\nID="rhel"\nID_LIKE="fedora"\n'
             'PRETTY_NAME="Red Hat Enterprise Linux 8.9 (Ootpa)"\n',
    "alma8": 'NAME="AlmaLinux"\nVERSION_ID="8.10"\nID="almalinux"\nID_LIKE="rhel centos fedora"\n',
    "rhel9": 'ID="rhel"\nVERSION_ID="9.4"\nID_LIKE="fedora"\n',
    "centos7": 'NAME="CentOS Linux"\nVERSION_ID="7"\nID="centos"\nID_LIKE="rhel fedora"\n'
               'PRETTY_NAME="CentOS Linux 7 (Core)"\n',
    "sles15": 'NAME="SLES"\nVERSION_ID="15.5"\nID="sles"\nID_LIKE="suse"\n'
              'PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\n',
    "ubuntu2004": 'NAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\nID_LIKE=debian\n',
    "ubuntu1804": 'NAME="Ubuntu"\nVERSION_ID="18.04"\nID=ubuntu\nID_LIKE=debian\n'
                  'PRETTY_NAME="Ubuntu 18.04.6 LTS"\n',
    "debian11": 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_ID="11"\nID=debian\n',
    "azurelinux3": 'NAME="Microsoft Azure Linux"\nVERSION_ID="3.0"\nID=azurelinux\n',
    "derivative": 'NAME="Some RHEL rebuild"\nVERSION_ID="8.8"\nID=somerebuild\nID_LIKE="rhel fedora"\n',
    "unknown": 'NAME="Something"\nID=something\n',
}

EXPECTED = {
    "rhel8": "install one with: dnf install python3.11",
    "alma8": "install one with: dnf install python3.11",
    "rhel9": "install one with: dnf install python3",
    "centos7": "CentOS Linux 7 (Core) has none: check this disk from a newer machine (azbdiag check --root)",
    "sles15": "install one with: zypper install python311",
    "ubuntu2004": "install one with: apt-get install python3.9",
    "ubuntu1804": "Ubuntu 18.04.6 LTS has none: check this disk from a newer machine (azbdiag check --root)",
    "debian11": "install one with: apt-get install python3",
    "azurelinux3": "install one with: tdnf install python3",
    "derivative": "install one with: dnf install python3",
    "unknown": "install one with the system's package manager",
}


def fake_python(path, version):
    """A stand-in interpreter: answers the version probe, else prints how it was run."""
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n"
                 f'case "$*" in *version_info*) printf %s "{version}"; exit 0 ;; esac\n'
                 'printf "RAN %s" "$0"; for a in "$@"; do printf " <%s>" "$a"; done; echo\n')
    os.chmod(path, 0o755)


@pytest.fixture
def machine(tmp_path):
    """(root, bin folder, launcher path): an empty fake root and a PATH with only sh tools."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in TOOLS:
        real = shutil.which(tool, path="/usr/bin:/bin")
        os.symlink(real, bindir / tool)
    launcher = tmp_path / "azbdiag"
    launcher.write_text(bundle.launcher_text(APPDIR))
    launcher.chmod(0o755)
    return root, bindir, launcher


def launch(machine, *args, env=None):
    root, bindir, launcher = machine
    full = {"PATH": str(bindir), "AZBDIAG_LAUNCHER_ROOT": str(root)}
    full.update(env or {})
    return subprocess.run(["/bin/sh", str(launcher), *args], capture_output=True, text=True,
                          env=full, timeout=30)


@pytest.mark.parametrize("distro", sorted(OS_RELEASE))
def test_only_python_36_names_the_package_to_install(machine, distro):
    root, bindir, _ = machine
    (root / "etc" / "os-release").write_text(OS_RELEASE[distro])
    fake_python(bindir / "python3", "3.6")
    res = launch(machine, "check")
    assert res.returncode == 3 and res.stdout == ""
    assert res.stderr == f"azbdiag: needs Python 3.9 or newer, found python3 3.6; {EXPECTED[distro]}\n"


def test_rhel8_minimal_platform_python_is_named_too(machine):
    root, _, _ = machine
    (root / "etc" / "os-release").write_text(OS_RELEASE["rhel8"])
    (root / "usr" / "libexec").mkdir(parents=True)
    fake_python(root / "usr" / "libexec" / "platform-python", "3.6")
    res = launch(machine, "check")
    assert res.returncode == 3
    assert res.stderr == ("azbdiag: needs Python 3.9 or newer, found /usr/libexec/platform-python 3.6; "
                          "install one with: dnf install python3.11\n")


def test_no_python_at_all_and_os_release_in_usr_lib(machine):
    root, _, _ = machine
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "os-release").write_text(OS_RELEASE["sles15"])
    res = launch(machine)
    assert res.returncode == 3
    assert res.stderr == ("azbdiag: needs Python 3.9 or newer, found none; "
                          "install one with: zypper install python311\n")


def test_first_new_enough_python_runs_main_with_every_argument(machine):
    root, bindir, _ = machine
    fake_python(bindir / "python3", "3.6")
    fake_python(bindir / "python3.12", "3.12")
    fake_python(bindir / "python3.11", "3.11")
    res = launch(machine, "check", "--root", "/mnt/a disk", "")
    assert res.returncode == 0, res.stderr
    assert res.stdout == (f"RAN {bindir}/python3.12 <-I> <{root}{APPDIR}/main.py> <check> <--root> "
                          "</mnt/a disk> <>\n")


def test_python3_itself_when_new_enough_and_platform_python_last(machine):
    root, bindir, _ = machine
    (root / "usr" / "libexec").mkdir(parents=True)
    fake_python(root / "usr" / "libexec" / "platform-python", "3.9")
    res = launch(machine, "--version")
    assert res.stdout.startswith(f"RAN {root}/usr/libexec/platform-python <-I> "), res.stdout + res.stderr
    fake_python(bindir / "python3", "3.13")
    res = launch(machine, "--version")
    assert res.stdout.startswith(f"RAN {bindir}/python3 <-I> "), res.stdout + res.stderr
    fake_python(bindir / "python3", "3.10")
    assert launch(machine).stdout.startswith(f"RAN {bindir}/python3 <-I> ")


def test_azbdiag_python_overrides_and_is_checked(machine):
    _, bindir, _ = machine
    fake_python(bindir / "python3.13", "3.13")
    old = bindir / "old-python"
    fake_python(old, "3.8")
    res = launch(machine, "x", env={"AZBDIAG_PYTHON": str(old)})
    assert res.returncode == 3
    assert res.stderr == f"azbdiag: AZBDIAG_PYTHON={old} is not a Python 3.9 or newer (found {old} 3.8)\n"
    new = bindir / "new-python"
    fake_python(new, "3.12")
    res = launch(machine, "x", env={"AZBDIAG_PYTHON": str(new)})
    assert res.stdout.startswith(f"RAN {new} <-I> ")


def test_launcher_is_posix_sh():
    """dash (Debian's /bin/sh) parses it; no bash-only syntax."""
    dash = shutil.which("dash", path="/usr/bin:/bin")
    if dash is None:
        pytest.skip("dash is not installed")
    res = subprocess.run([dash, "-n", os.path.join(ROOT, "launcher", "azbdiag")], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    text = open(os.path.join(ROOT, "launcher", "azbdiag")).read()
    for bashism in ("[[", "function ", "$'", "local ", "==", "<<<", "${BASH"):
        assert bashism not in text, bashism


# --------------------------------------------------------------------------- main.py

def site(tmp_path, name, entries):
    """A fake site-packages folder: entries are 'pkg/' (a package), 'mod.py' or metadata names."""
    folder = tmp_path / name
    folder.mkdir()
    for entry in entries:
        if entry.endswith("/"):
            (folder / entry).mkdir()
            (folder / entry / "__init__.py").write_text("")
        elif entry.endswith(".py"):
            (folder / entry).write_text("")
        else:
            (folder / entry).mkdir()
    return str(folder)


def vendor(tmp_path):
    """A fake _vendor/ with the bundled groups' metadata."""
    folder = tmp_path / "vendor"
    for group, names in (("typer", ("typer-0.7.0.dist-info", "click-8.1.3.dist-info")),
                         ("sh", ("sh-1.14.2.dist-info",)), ("distro", ("distro-1.8.0.dist-info",))):
        for name in names:
            (folder / group / name).mkdir(parents=True)
    return str(folder)


def test_system_libraries_are_used_when_new_enough(tmp_path):
    jammy = site(tmp_path, "jammy", ["typer/", "typer-0.4.0.dist-info", "click/", "click-8.0.3.egg-info",
                                     "sh.py", "sh-1.14.2.egg-info", "distro/", "distro-1.7.0.dist-info"])
    front, notes = startup.choose(vendor(tmp_path), [jammy])
    assert front == [], notes
    assert notes == ["typer 0.4.0 system", "click 8.0.3 system", "sh 1.14.2 system", "distro 1.7.0 system"]


def test_bullseye_gets_every_bundled_library(tmp_path):
    """Debian 11: no typer, click 7.1.2, sh 1.14.1, distro 1.5.0 (all older than CI tests)."""
    vend = vendor(tmp_path)
    bullseye = site(tmp_path, "bullseye", ["click/", "click-7.1.2.egg-info", "sh.py", "sh-1.14.1.egg-info",
                                           "distro.py", "distro-1.5.0.egg-info"])
    front, notes = startup.choose(vend, [bullseye])
    assert front == [os.path.join(vend, g) for g in ("typer", "sh", "distro")]
    assert notes[0] == "typer 0.7.0 bundled (system: none)"
    assert "click 8.1.3 bundled (system: 7.1.2)" in notes and "distro 1.8.0 bundled (system: 1.5.0)" in notes


def test_typer_and_click_travel_together(tmp_path):
    vend = vendor(tmp_path)
    # typer is new enough but its click is not: both come from the bundle.
    mixed = site(tmp_path, "mixed", ["typer/", "typer-0.9.0.dist-info", "click/", "click-7.1.2.dist-info",
                                     "sh.py", "sh-2.2.2.dist-info", "distro/", "distro-1.9.0.dist-info"])
    front, _ = startup.choose(vend, [mixed])
    assert front == [os.path.join(vend, "typer")]


def test_first_copy_on_the_path_decides_and_sh_3_is_not_trusted(tmp_path):
    vend = vendor(tmp_path)
    local = site(tmp_path, "local", ["sh.py", "sh-3.0.0.dist-info"])
    system = site(tmp_path, "system", ["typer/", "typer-0.7.0.dist-info", "click/", "click-8.1.3.egg-info",
                                       "sh.py", "sh-1.14.2.egg-info", "distro/", "distro-1.8.0.dist-info"])
    front, _ = startup.choose(vend, [local, system])
    assert front == [os.path.join(vend, "sh")]
    front, _ = startup.choose(vend, [system, local])
    assert front == []
    # A module without metadata has no known version: the bundled copy is used.
    bare = site(tmp_path, "bare", ["sh.py"])
    front, _ = startup.choose(vend, [bare, system])
    assert front == [os.path.join(vend, "sh")]


def test_forced_modes(tmp_path):
    vend = vendor(tmp_path)
    empty = site(tmp_path, "empty", [])
    assert startup.choose(vend, [empty], "system")[0] == []
    assert len(startup.choose(vend, [empty], "bundled")[0]) == 3
    assert startup.choose(vend, [empty], "system")[1][0] == "typer missing"


def test_installed_tree_runs_with_system_or_bundled_libraries(tmp_path):
    """tools/bundle.py install-tree, then the real launcher with this machine's Python."""
    if not os.path.isdir(bundle.WHEELS):
        pytest.skip("no wheels/ (run ./tools/fetch-wheels)")
    dest = tmp_path / "dest"
    bundle.install_tree(str(dest), "/usr")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "AZBDIAG_LAUNCHER_ROOT": str(dest), "LC_ALL": "C.UTF-8"}
    launcher = str(dest / "usr" / "bin" / "azbdiag")
    res = subprocess.run([launcher, "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert (res.returncode, res.stdout) == (0, f"azbdiag {_version()}\n"), res.stderr
    healthy = os.path.join(ROOT, "tests", "samples", "healthy")
    res = subprocess.run([launcher, "--debug", "check", "--root", healthy, "--brief"], capture_output=True,
                         text=True, env=dict(env, AZBDIAG_LIBS="bundled"), timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith(f"azbdiag {_version()}: 0 fail")
    assert "typer 0.7.0 bundled, click 8.1.3 bundled, sh 1.14.2 bundled, distro 1.8.0 bundled" in res.stderr
    assert not list(dest.rglob("__pycache__")), "the installed tree must stay free of bytecode"


def _version():
    from azbdiag import __version__

    return __version__
