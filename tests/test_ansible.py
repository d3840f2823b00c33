"""The Ansible playbooks end to end with the real ansible-playbook (integration).

Three inventory hosts use the local connection, each with its own azbdiag_root: a temporary
root prepared with a different fault (host1: vmbackup.conf with a UTF-8 BOM; host2:
isanysnapshotfailed = True with Site Recovery present; host3: healthy, no /etc/hostname).
check.yml installs azbdiag from a copy of this checkout into a venv per host, checks each root
and fetches the reports; `azbdiag summarize` over them must show each fault on its host. Then
fix.yml in --check mode must only dry-run on host1 (shown as its one change, with the diff),
and for real must repair host1 only. check.yml --check writes nothing on the hosts; a host
without azbdiag gets a clear message; a host where checks could not run fails after the
summary. Everything happens under pytest's tmp_path; nothing outside it is touched.

The README's fleet blocks (annotated `<!-- ci: ansible -->`) name an inventory CI cannot reach:
their azbdiag commands run here exactly as written, in the folder the playbook fetched the
reports into (with the output the summarize transcript shows), and each playbook they run
(with or without --check) must be one this module ran (tests/test_readme_blocks.py checks that
their playbooks and -e variables exist).
"""

import json
import os
import shutil
import subprocess

import pytest
import readme_blocks
from conftest import ROOT, SAMPLES

pytestmark = pytest.mark.integration

PLAYBOOKS = os.path.join(ROOT, "contrib", "ansible")
PYTHON = "/usr/bin/python3"
CONF = "etc/azure/vmbackup.conf"


def need_tools():
    if not shutil.which("ansible-playbook"):
        pytest.skip("ansible-playbook is not installed (apt-get install ansible-core)")
    if not os.path.exists(PYTHON):
        pytest.skip(f"{PYTHON} is missing")
    probe = subprocess.run([PYTHON, "-c", "import typer, sh, distro, setuptools, venv, pip, wheel"],
                           capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"Debian's python3 lacks azbdiag's dependencies: {probe.stderr.strip()[-200:]}")


def make_root(base, name, conf, hostname=None, asr=False):
    root = base / "roots" / name
    shutil.copytree(os.path.join(SAMPLES, "healthy"), root, symlinks=True)
    (root / CONF).write_bytes(conf)
    hostfile = root / "etc" / "hostname"
    if hostname:
        hostfile.write_text(hostname + "\n")
    elif hostfile.exists():
        hostfile.unlink()
    if asr:
        (root / "usr" / "local" / "ASR").mkdir(parents=True)
    return root


def copy_checkout(dest):
    """The files pip needs, so that building does not write into the work tree."""
    for part in ("azbdiag", "rules"):
        shutil.copytree(os.path.join(ROOT, part), dest / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "setup.py"):  # setup.py finds the packages
        shutil.copy(os.path.join(ROOT, name), dest)
    readme = os.path.join(ROOT, "README.md")
    if os.path.exists(readme):
        shutil.copy(readme, dest)
    else:
        (dest / "README.md").write_text("azbdiag\n")
    return dest


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    need_tools()
    base = tmp_path_factory.mktemp("fleet")
    src = copy_checkout(base / "src")
    roots = {
        "host1": make_root(base, "host1", b"\xef\xbb\xbf[SnapshotThread]\ntimeout = 90\n", "vm-bom"),
        "host2": make_root(base, "host2", b"[SnapshotThread]\nisanysnapshotfailed = True\n",
                           "vm-asr", asr=True),
        "host3": make_root(base, "host3", b"[SnapshotThread]\ntimeout = 90\n"),
    }
    # One wheel for all hosts: pip builds in the source folder, so parallel builds would clash.
    wheel = subprocess.run([PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(base / "wheels"), str(src)],
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    assert wheel.returncode == 0, wheel.stdout[-2000:] + wheel.stderr[-2000:]
    (wheel_file,) = (base / "wheels").glob("azbdiag-*.whl")
    (base / "pkg-host1").mkdir()
    lines = ["[fleet]"]
    for name, root in roots.items():
        # host1 gets the wheel copied from the controller, the others pip-install it by path
        how = (f"azbdiag_package_file={wheel_file} azbdiag_package_dest={base / 'pkg-host1'}"
               if name == "host1" else f"azbdiag_pip_spec={wheel_file}")
        lines.append(f"{name} azbdiag_root={root} azbdiag_venv={base / ('venv-' + name)} "
                     f"azbdiag_report_path={base / 'out' / name / 'report.json'} {how}")
    lines += ["[fleet:vars]", "ansible_connection=local", f"ansible_python_interpreter={PYTHON}"]
    inventory = base / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    (base / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(base / "ansible.cfg"), ANSIBLE_HOME=str(base / "ah"),
               ANSIBLE_LOCAL_TEMP=str(base / "ah" / "tmp"), ANSIBLE_REMOTE_TEMP=str(base / "ah" / "rt"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_FORCE_COLOR="0",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1",
               LC_ALL="C.UTF-8", LANG="C.UTF-8")  # ansible refuses to start without UTF-8
    env.pop("PYTHONPATH", None)
    common = ["-e", "azbdiag_become=false", "-e", f"azbdiag_reports_dir={base / 'reports'}"]

    played = set()

    def play(playbook, *extra, inventory=inventory):
        played.add((playbook, "--check" in extra))
        proc = subprocess.run(["ansible-playbook", os.path.join(PLAYBOOKS, playbook), *common,
                               "-i", str(inventory), *extra],
                              cwd=base, env=env, capture_output=True, text=True, timeout=900)
        return proc.returncode, proc.stdout + proc.stderr

    azbdiag = str(base / "venv-host1" / "bin" / "azbdiag")  # exists once the first play ran
    install = ["-e", "azbdiag_install=pip",
               "-e", f"azbdiag_python={PYTHON}", "-e", "azbdiag_venv_site_packages=true",
               "-e", "azbdiag_link=",
               "-e", "azbdiag_pip_extra_args=--no-deps --no-index"]
    rc, out = play("check.yml", *install, "-e", json.dumps({"azbdiag_summarize_command": [azbdiag]}))
    assert rc == 0, out[-4000:]
    return {"base": base, "roots": roots, "play": play, "check_output": out, "played": played,
            "azbdiag": azbdiag, "env": env, "wheel": str(wheel_file), "install": install}


def summarize(fleet):
    out = fleet["base"] / "summary.json"
    proc = subprocess.run([fleet["azbdiag"], "summarize", str(fleet["base"] / "reports"),
                           "--format", "json", "--output", str(out)],
                          capture_output=True, text=True, env=fleet["env"], timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    summary = json.loads(out.read_text())
    rules = {r["id"]: r for r in summary["rules"]}
    return proc.returncode, summary, rules


def failing(rules, rule_id):
    return rules[rule_id]["fail"] if rule_id in rules else []


def test_check_play_fetches_every_report_and_summarize_puts_each_fault_on_its_host(fleet):
    assert os.path.exists(fleet["base"] / "pkg-host1" / os.path.basename(fleet["wheel"]))
    for name in ("host1", "host2", "host3"):
        assert os.stat(fleet["base"] / "out" / name).st_mode & 0o777 == 0o700
        doc = json.loads((fleet["base"] / "reports" / name / "report.json").read_text())
        assert doc["host"]["root"] == str(fleet["roots"][name])
    # check.yml's last play ran summarize on the controller and printed its table
    assert "azbdiag summarize: 3 report(s): " in fleet["check_output"]
    assert "vmbackup_conf.isanysnapshotfailed" in fleet["check_output"].split("Show the summary")[-1]
    rc, summary, rules = summarize(fleet)
    assert rc == 1 and not summary["rejected"]
    assert {h["host"] for h in summary["hosts"]} == {"vm-bom", "vm-asr", "host3"}
    assert failing(rules, "vmbackup_conf.parses") == ["vm-bom"]
    assert failing(rules, "vmbackup_conf.isanysnapshotfailed") == ["vm-asr"]
    for rule_id, entry in rules.items():
        if rule_id.startswith("vmbackup_conf."):
            assert "host3" not in entry["fail"] + entry["warn"], rule_id
    codes = {c["error_code"]: c for c in summary["error_codes"]}
    assert "vmbackup_conf.isanysnapshotfailed" in codes["ExtensionFailedSnapshotLimitReachedError"]["rules"]
    assert rules["vmbackup_conf.parses"]["fix"] == "vmbackup-conf"


def readme_commands():
    """(command, words of its simple commands) of the README's blocks annotated ci: ansible."""
    return [(cmd, readme_blocks.simple_commands(cmd.text))
            for block in readme_blocks.blocks("ansible") for cmd in block.commands()]


def test_readme_azbdiag_commands_run_as_written_on_the_fetched_reports(fleet):
    """Before any fix: the fleet is the README's example (vm-bom, vm-asr and a clean host)."""
    env = dict(fleet["env"], PATH=os.path.dirname(fleet["azbdiag"]) + os.pathsep + fleet["env"]["PATH"])
    ran = []
    for cmd, simple in readme_commands():
        if len(simple) != 1 or readme_blocks.azbdiag_argv(simple[0]) is None:
            continue
        proc = subprocess.run(["sh", "-c", cmd.text], cwd=fleet["base"], env=env, capture_output=True,
                              text=True, timeout=300)
        where = f"README.md line {cmd.line}: {cmd.text}"
        assert proc.returncode in readme_blocks.default_rc(cmd.text), f"{where}\n{proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr, where
        if cmd.output:
            assert readme_blocks.output_mismatch(cmd.output, proc.stdout) is None, \
                f"{where}: {readme_blocks.output_mismatch(cmd.output, proc.stdout)}\n{proc.stdout}"
        ran.append(cmd.text)
    assert any(c.startswith("azbdiag summarize reports/ --format html -o fleet.html") for c in ran), ran
    assert (fleet["base"] / "fleet.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert any(cmd.output for cmd, _ in readme_commands()), "no ci: ansible console transcript left"


def test_fix_play_dry_runs_in_check_mode_then_fixes_only_the_failing_host(fleet):
    if os.geteuid() != 0:
        pytest.skip("the fixer keeps files root-owned: run as root")
    roots = fleet["roots"]
    before = {name: (root / CONF).read_bytes() for name, root in roots.items()}
    rc, out = fleet["play"]("fix.yml", "--check", "-e", "azbdiag_fix_rule=vmbackup_conf.parses")
    assert rc == 0, out[-4000:]
    assert "Dry run: nothing was changed." in out
    assert "+++ /etc/azure/vmbackup.conf (new)" in out  # the plan's diff is shown
    # `changed` where the real run will change something: host1 only (it was changed=0 before)
    assert recap(out) == {"host1": "1", "host2": "0", "host3": "0"}, out[-3000:]
    assert {name: (root / CONF).read_bytes() for name, root in roots.items()} == before
    # Journals of --root runs stay on the machine that ran azbdiag (AZBDIAG_STATE_DIR here),
    # never on the disk.
    assert not any((root / "var" / "lib" / "azbdiag").exists() for root in roots.values())

    rc, out = fleet["play"]("fix.yml", "-e", "azbdiag_fix_rule=vmbackup_conf.parses")
    assert rc == 0, out[-4000:]
    fixed = (roots["host1"] / CONF).read_bytes()
    assert not fixed.startswith(b"\xef\xbb\xbf") and b"[SnapshotThread]" in fixed
    def runs(name):
        listed = subprocess.run([fleet["azbdiag"], "undo", "--list", "--root", str(roots[name])],
                                capture_output=True, text=True, env=fleet["env"], timeout=120)
        return [line for line in listed.stdout.splitlines() if "applied" in line]

    assert len(runs("host1")) == 1
    for name in ("host2", "host3"):
        assert (roots[name] / CONF).read_bytes() == before[name]
        assert runs(name) == [] and not (roots[name] / "var" / "lib" / "azbdiag").exists()
    _rc, _summary, rules = summarize(fleet)  # the play fetched a new report after the fix
    assert failing(rules, "vmbackup_conf.parses") == []
    assert failing(rules, "vmbackup_conf.isanysnapshotfailed") == ["vm-asr"]

    rc, out = fleet["play"]("fix.yml", "-e", "azbdiag_fix_rule=vmbackup_conf.parses")
    assert rc == 0, out[-4000:]
    assert recap(out) == {"host1": "0", "host2": "0", "host3": "0"}  # a second run changes nothing
    rc, out = fleet["play"]("fix.yml", "--check", "-e", "azbdiag_fix_rule=vmbackup_conf.parses")
    assert rc == 0 and recap(out) == {"host1": "0", "host2": "0", "host3": "0"}, out[-3000:]


def test_every_playbook_the_readme_runs_was_run_here(fleet):
    for cmd, simple in readme_commands():
        for words in simple:
            if words[0] != "ansible-playbook":
                continue
            playbook = next(w for w in words if w.endswith(".yml"))
            assert (playbook, "--check" in words) in fleet["played"], \
                f"README.md line {cmd.line}: {playbook}{' --check' * ('--check' in words)} is not run here"


def recap(out):
    """{host: changed count} from the PLAY RECAP."""
    counts = {}
    for line in out.split("PLAY RECAP")[-1].splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] == ":":
            counts[fields[0]] = dict(f.split("=", 1) for f in fields[2:] if "=" in f)["changed"]
    return counts


def changed_tasks(out):
    """The names of the tasks that said `changed` for some host."""
    tasks, task = set(), None
    for line in out.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            tasks.add(task)
    return tasks


def files_under(path):
    """{relative path: (mode, content)} of everything under `path`."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            content = open(full, "rb").read() if os.path.isfile(full) and not os.path.islink(full) else b""
            found[os.path.relpath(full, path)] = (st.st_mode, content)
    return found


def test_check_play_in_check_mode_writes_nothing_on_the_hosts(fleet):
    base, roots = fleet["base"], fleet["roots"]
    shutil.rmtree(base / "out")        # the reports the real runs wrote on the "hosts"
    shutil.rmtree(base / "reports")    # the controller's copies: --check must bring them back
    before = {name: files_under(root) for name, root in roots.items()}
    venv = files_under(base / "venv-host1")
    # azbdiag through a wrapper that logs how it is called: on a live system as root, azbdiag
    # would keep its last report and a log line unless told not to (AZBDIAG_NO_RECORD)
    log, wrapper = base / "argv.log", base / "azbdiag-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "NO_RECORD=${{AZBDIAG_NO_RECORD:-unset}} $*" >> {log}\n'
                       f'exec {fleet["azbdiag"]} "$@"\n')
    wrapper.chmod(0o755)
    rc, out = fleet["play"]("check.yml", "--check", *fleet["install"],
                            "-e", json.dumps({"azbdiag_command": [str(wrapper)]}))
    assert rc == 0, out[-4000:]
    assert not (base / "out").exists()  # no report file on the hosts (it was written there before)
    assert {name: files_under(root) for name, root in roots.items()} == before
    assert files_under(base / "venv-host1") == venv
    checks = [line for line in log.read_text().splitlines() if " check " in f" {line} "]
    assert len(checks) == 3
    assert all(line.startswith("NO_RECORD=1 ") and "--output" not in line for line in checks), checks
    # Ansible's pip module cannot tell in check mode whether a wheel given by path is
    # installed, so it says `changed`; nothing else may.
    assert changed_tasks(out) <= {"azbdiag : Install azbdiag into the venv"}, changed_tasks(out)
    for name, root in roots.items():
        path = base / "reports" / name / "report.json"
        assert json.loads(path.read_text())["host"]["root"] == str(root)
        assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_host_without_azbdiag_gets_a_clear_message(fleet):
    missing = fleet["base"] / "no-venv"
    rc, out = fleet["play"]("check.yml", "--check", *fleet["install"], "-e", "azbdiag_hosts=host3",
                            "-e", f"azbdiag_venv={missing}")
    assert rc != 0
    assert "azbdiag is not installed on this host" in out and "once without --check" in out, out[-3000:]
    assert "Errno" not in out and not missing.exists()
    rc, out = fleet["play"]("check.yml", "-e", "azbdiag_hosts=host3", "-e", "azbdiag_install=none",
                            "-e", json.dumps({"azbdiag_command": [str(missing / "bin" / "azbdiag")]}))
    assert rc != 0
    assert "azbdiag is not installed on this host" in out and "set azbdiag_install" in out, out[-3000:]
    assert "Errno" not in out


def test_a_host_whose_checks_could_not_run_fails_after_the_summary(fleet):
    base = fleet["base"]
    root = make_root(base, "host-fifo", b"")
    (root / CONF).unlink()
    os.mkfifo(root / CONF)             # azbdiag refuses to read it: the vmbackup.conf checks error
    reports = base / "reports-incomplete"
    args = ["-e", "azbdiag_hosts=host3", "-e", f"azbdiag_root={root}",
            "-e", f"azbdiag_reports_dir={reports}", "-e", "azbdiag_install=none",
            "-e", json.dumps({"azbdiag_command": [fleet["azbdiag"]],
                              "azbdiag_summarize_command": [fleet["azbdiag"]]})]
    rc, out = fleet["play"]("check.yml", *args)
    assert rc != 0
    doc = json.loads((reports / "host3" / "report.json").read_text())  # fetched all the same
    errors = [r["id"] for r in doc["results"] if r["status"] == "error"]
    assert errors and "vmbackup_conf.parses" in errors
    message = f"azbdiag could not run {len(errors)} check(s) here (exit 5: {errors[0]}"
    assert message in out, out[-3000:]
    assert out.index("Show the summary") < out.index(message)  # the summary came first
    rc, out = fleet["play"]("check.yml", *args, "-e", "azbdiag_incomplete_fails=false")
    assert rc == 0, out[-3000:]


@pytest.mark.parametrize("playbook", ["check.yml", "fix.yml"])
def test_playbooks_pass_the_syntax_check(tmp_path, playbook):
    if not shutil.which("ansible-playbook"):
        pytest.skip("ansible-playbook is not installed (apt-get install ansible-core)")
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
               ANSIBLE_HOME=str(tmp_path / "ah"), ANSIBLE_NOCOLOR="1", LC_ALL="C.UTF-8")
    proc = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,",
                           os.path.join(PLAYBOOKS, playbook)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
