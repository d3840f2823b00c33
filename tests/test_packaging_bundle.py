"""The bundled libraries and the packages' Python dependencies, checked without building:

- tools/bundled.lock, launcher/main.py (which system copies are new enough), debian/control,
  debian/copyright, rpm/azbdiag.spec and the README name the same libraries, versions and
  licences;
- the .deb's Depends can be met from the archives of Ubuntu 20.04, 22.04 and 24.04 and of
  Debian 11, 12 and 13, and the .rpm's boolean Requires from RHEL 8 and 9, SLES 15 and Azure
  Linux 3, with the versions written down below (a static check: CI installs the .deb only in
  Debian roots, and the .rpm only with --nodeps).
"""

import importlib.util
import os
import re
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
LOCK = bundle.read_lock()


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
        return fh.read()


def control_field(name):
    text = read("debian/control")
    m = re.search(rf"^{name}:(.*(?:\n[ \t].*)*)", text.split("\nPackage:", 1)[1], re.M)
    return " ".join(m.group(1).split())


def parse_relations(field):
    """[[(package, op or None, version or None), alternatives...], ...] of a Debian relation field."""
    out = []
    for clause in field.split(","):
        if clause.strip().startswith("${"):
            continue  # substitution variables
        alts = []
        for alt in clause.split("|"):
            m = re.match(r"^\s*([a-z0-9.+-]+)\s*(?:\(\s*(>=|<=|=|>>|<<)\s*([^)\s]+)\s*\))?\s*$", alt)
            assert m, alt
            alts.append(m.groups())
        out.append(alts)
    return out


# --------------------------------------------------------------------------- one story everywhere

def test_lock_matches_the_start_up_code():
    groups = {g: [m for m, _, _ in mods] for g, mods in startup.GROUPS}
    assert {e["group"] for e in LOCK} == set(groups)
    for entry in LOCK:
        assert entry["name"] in groups[entry["group"]], entry
        bounds = {m: (o, t) for _, mods in startup.GROUPS for m, o, t in mods}
        assert startup.usable(entry["version"], *bounds[entry["name"]]), f"bundled {entry['name']} unusable"
        assert entry["url"].startswith("https://files.pythonhosted.org/")
        assert entry["filename"].endswith(".whl")
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        assert entry["filename"].startswith(f"{entry['name']}-{entry['version']}-")
        assert "-none-any.whl" in entry["filename"], "pure Python wheels only"
    assert sorted(e["name"] for e in LOCK) == sorted(m for mods in groups.values() for m in mods)


def test_deb_recommends_the_oldest_system_copies_used():
    recommends = {alts[0][0]: alts[0] for alts in parse_relations(control_field("Recommends"))}
    for _, mods in startup.GROUPS:
        for module, oldest, _ in mods:
            pkg, op, version = recommends[f"python3-{module}"]
            assert op == ">=" and startup._version_tuple(version) == oldest, pkg
    depends = " ".join(control_field("Depends").split())
    assert "typer" not in depends and "python3-sh" not in depends and "distro" not in depends


def test_deb_depends_offers_the_pythons_the_launcher_tries():
    first, *rest = parse_relations(control_field("Depends"))
    assert first[0] == ("python3", ">=", "3.9")
    launcher = read("launcher/azbdiag")
    tried = re.search(r"for name in (python3 [^;]+); do", launcher).group(1).split()[1:]
    assert sorted(a[0] for a in first[1:]) == sorted(tried), "Depends alternatives = the launcher's list"
    assert all(op is None for _, op, _ in first[1:])


def test_copyright_lists_every_bundled_library():
    text = read("debian/copyright")
    for entry in LOCK:
        files = re.escape(entry["filename"])
        m = re.search(rf"^Files: wheels/{files}\nCopyright: .+\nLicense: (\S+)$", text, re.M)
        assert m, entry["filename"]
        assert m.group(1) == entry["licence"]
        assert re.search(rf"^License: {re.escape(entry['licence'])}\n ", text, re.M), entry["licence"]
        assert f"{entry['name']} {entry['version']}" in " ".join(text.split())


def test_rpm_spec_sources_and_provides():
    spec = read("rpm/azbdiag.spec")
    sources = re.findall(r"^Source\d+:\s*(\S+)$", spec, re.M)
    assert sorted(sources[1:]) == sorted(e["url"] for e in LOCK)
    copied = re.search(r"^cp -p (%\{SOURCE\d+\} ?)+ wheels/$", spec, re.M)
    assert copied and copied.group(0).count("%{SOURCE") == len(LOCK)
    for entry in LOCK:
        assert f"Provides:       bundled(python3dist({entry['name']})) = {entry['version']}" in spec
    assert "BuildArch:      noarch" in spec
    for text in (spec, read("debian/control")):
        assert all(f"{e['name']} {e['version']}" in " ".join(text.split()) for e in LOCK)


def test_readme_lists_the_bundled_libraries():
    readme = read("README.md")
    section = readme.split("### Bundled libraries", 1)[1].split("\n#", 1)[0]
    for entry in LOCK:
        cells = rf"^\| {entry['name']} \| {re.escape(entry['version'])} \| (.+?) \| (.+?) \|"
        row = re.search(cells, section, re.M)
        assert row, entry["name"]
        assert entry["licence"] in row.group(1)
        oldest = {m: o for _, mods in startup.GROUPS for m, o, _ in mods}[entry["name"]]
        assert row.group(2).strip() == ".".join(map(str, oldest)), entry["name"]


# --------------------------------------------------------------------------- static archive checks

# python3 and python3.X versions in each archive. Ubuntu: from packages.ubuntu.com and
# launchpad.net/ubuntu/+source/python3-defaults (release pockets; python3.9 for 20.04 from
# focal-updates, universe). Debian: packages.debian.org; CI also installs the .deb in real
# Debian 11, 12 and 13 roots (tests/test_packaging_matrix.py).
ARCHIVES = {
    "Ubuntu 20.04 (focal)": {"python3": "3.8.2-0ubuntu2", "python3.9": "3.9.5-3ubuntu0~20.04.1"},
    "Ubuntu 22.04 (jammy)": {"python3": "3.10.4-0ubuntu2"},
    "Ubuntu 24.04 (noble)": {"python3": "3.12.3-0ubuntu1"},
    "Debian 11 (bullseye)": {"python3": "3.9.2-3"},
    "Debian 12 (bookworm)": {"python3": "3.11.2-1+b1"},
    "Debian 13 (trixie)": {"python3": "3.13.5-1"},
}


def deb_satisfied(available, relation):
    """True when one alternative of `relation` is met by `available` {package: version}."""
    dpkg = shutil.which("dpkg", path="/usr/bin:/bin")
    for pkg, op, version in relation:
        if pkg not in available:
            continue
        if op is None:
            return True
        cp = subprocess.run([dpkg, "--compare-versions", available[pkg], {">=": "ge"}[op], version])
        if cp.returncode == 0:
            return True
    return False


@pytest.mark.parametrize("archive", sorted(ARCHIVES))
def test_deb_depends_can_be_met(archive):
    if shutil.which("dpkg", path="/usr/bin:/bin") is None:
        pytest.skip("dpkg is not installed")
    python = parse_relations(control_field("Depends"))[0]
    assert deb_satisfied(ARCHIVES[archive], python), archive
    if archive.startswith("Ubuntu 20.04"):
        # python3 itself is 3.8 there: it is python3.9 from universe that meets it
        assert not deb_satisfied({"python3": ARCHIVES[archive]["python3"]}, python)


# The package names (with the Python minor version they provide) that could meet the .rpm's
# Python requirement. RHEL 8/9: Red Hat's "Installing and using dynamic programming languages"
# (python39, python3.11, python3.12 in AppStream; python3 = 3.6 on 8 via python36, 3.9 on 9);
# SLES 15 SP5: SUSE's Python 3 module (python311; python3 is 3.6); Azure Linux 3.0: python3 3.12.
RPM_DISTROS = {
    "RHEL 8": {"python3": "3.6", "python39": "3.9", "python3.11": "3.11", "python3.12": "3.12"},
    "RHEL 9": {"python3": "3.9", "python3.11": "3.11", "python3.12": "3.12"},
    "SLES 15 SP5": {"python3": "3.6", "python311": "3.11"},
    "Azure Linux 3": {"python3": "3.12"},
}


def rpm_python_requirement():
    spec = read("rpm/azbdiag.spec")
    expr = re.search(r"^Requires:\s*\((.*python3.*)\)\s*$", spec, re.M).group(1)
    terms = []
    for term in expr.split(" or "):
        m = re.fullmatch(r"\s*([A-Za-z0-9._+-]+)(?:\s*(>=)\s*(\S+))?\s*", term)
        assert m, term
        terms.append(m.groups())
    return terms


def _vt(text):
    return tuple(int(x) for x in re.findall(r"\d+", text))


@pytest.mark.parametrize("distro", sorted(RPM_DISTROS))
def test_rpm_requires_can_be_met(distro):
    available = RPM_DISTROS[distro]
    met = [name for name, op, version in rpm_python_requirement()
           if name in available and (op is None or _vt(available[name]) >= _vt(version))]
    assert met, distro
    # only with a 3.9 or newer interpreter: the 3.6 python3 of RHEL 8 and SLES 15 never meets it
    assert all(_vt(available[name]) >= (3, 9) for name in met), (distro, met)


def test_rpm_requires_offers_the_pythons_the_launcher_tries():
    names = {name for name, _, _ in rpm_python_requirement()}
    launcher = read("launcher/azbdiag")
    tried = re.search(r"for name in (python3 [^;]+); do", launcher).group(1).split()[1:]
    assert set(tried) <= names
    assert ("python3", ">=", "3.9") in rpm_python_requirement()


# --------------------------------------------------------------------------- the wheel (pip, Ansible)

def test_pyproject_dependencies_are_the_oldest_versions_used():
    text = read("pyproject.toml")
    deps = re.search(r"^dependencies = \[(.*?)\]", text, re.M | re.S).group(1)
    pins = dict(re.findall(r'"([a-z]+)>=([0-9.]+)', deps))
    assert pins == {m: ".".join(map(str, oldest)) for _, mods in startup.GROUPS for m, oldest, _ in mods}
    assert '"sh>=1.14.2,<3"' in deps


def test_wheel_finds_every_package_without_a_list(tmp_path):
    """setup.py discovers packages: a new subpackage (azbdiag/commands, azbdiag/fix ...) ships."""
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "__pycache__", "*.egg-info", "build", "dist", "wheels", "tests", ".hypothesis"))
    (src / "azbdiag" / "newsub").mkdir()
    (src / "azbdiag" / "newsub" / "__init__.py").write_text("")
    cp = subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                         "--no-index", str(src), "-w", str(tmp_path / "out")], capture_output=True, text=True,
                        timeout=300, cwd=str(tmp_path))
    if cp.returncode != 0 and "No module named pip" in cp.stderr:
        pytest.skip("pip is not installed")
    assert cp.returncode == 0, cp.stderr[-2000:]
    import zipfile

    (wheel,) = (tmp_path / "out").glob("azbdiag-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"azbdiag/newsub/__init__.py", "azbdiag/rules/__init__.py", "azbdiag/data/report.schema.json"}
    for folder, _, files in os.walk(os.path.join(ROOT, "azbdiag")):
        if "__init__.py" in files and "__pycache__" not in folder:
            expected.add(os.path.relpath(os.path.join(folder, "__init__.py"), ROOT))
    for name in os.listdir(os.path.join(ROOT, "rules")):
        if name.endswith(".py"):
            expected.add(f"azbdiag/rules/{name}")
    assert expected <= names, sorted(expected - names)
