"""Every command of the README's blocks annotated `<!-- ci: vm -->`, run exactly as written, in
README order, in ONE disposable Debian 12 root per test session, each with its exit status
asserted (the annotation's rc=, else readme_blocks.default_rc) and with what it must show.

The root, "the VM" (a debootstrap chroot, tests/chroots.py):
- bookworm with systemd, rpm, waagent, cloud-init, Debian's own typer/click/sh/distro,
  prometheus-node-exporter and prometheus (for promtool; both services masked when the VM
  boots), and the .deb that the README's build commands made from this tree (tests/builds.py,
  once per tree) installed; the VM has no network, so the README's `apt-get install` of these
  finds them installed;
- /work, where every command runs (`cd /work`): a copy of this tree with the built
  azbdiag_<v>_all.deb, azbdiag-<v>-1.noarch.rpm and azbdiag.pyz beside it, so `./azbdiag_...deb`,
  `tests/samples/healthy`, `./tools/install` and `contrib/...` are where the README says;
  the pinned wheels in /root/.cache/azbdiag/wheels, as on a machine that fetched them once;
- the OS disks the README names, /mnt/osdisk, /mnt/rescue and /rescue: copies of
  tests/samples/broken;
- faults on the live system, so that each fix the README shows has work to do and must refuse
  without --yes (exit 4, no terminal): vmbackup.conf with a BOM and isanysnapshotfailed = True,
  Extensions.Enabled=n and disable_agent, pre/post script files with modes the extension
  rejects, a static address in netplan, and /data: an ext4 file system on a loop device
  (tests/integration_fs.py), mounted and marked not clean;
- stand-ins (tests/readme_stubs/): `sudo` runs its command (the root runs as root); `az`,
  `curl` and `dnf` check their arguments as Azure, a storage account and a RHEL machine would,
  answer as the real tools do, run Run Command scripts in the root, and record every call,
  which this module asserts on.

Safety: every command runs in private mount, network and PID namespaces
(chroot_run(isolated=True)): it cannot mount or unmount anything of this machine, reach a
network or see this machine's processes, and the root's /dev has no device of this machine
(only /data's loop device). readme_blocks.unsafe() refuses, before it runs, any command that
could still act on this machine's file systems (a live fix with --yes beyond file rewrites, a
freeze test without --mount). Blocks annotated `ci: vm systemd` run with the root booted under
its own systemd (chroots.booted: systemd-nspawn, private network, walinuxagent and cloud-init
masked), where a timer the block enables fires once right after (as if its time had come).
The last test checks that every stand-in call was accepted and nothing is left mounted.

The blocks depend on what earlier blocks did (installs, fixes, the journal): run the module
whole. Needs root, debootstrap, loop devices and the package tools; skips otherwise.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess

import builds
import pytest
import readme_blocks
from chroots import BOOT_MASKS, booted, chroot_run, cleanup_chroot, debian_chroot, mounts_under
from conftest import SAMPLES
from integration_fs import loop_fs, make_ext4_dirty

from azbdiag import __version__

pytestmark = pytest.mark.integration

ROOT = readme_blocks.ROOT
BLOCKS = readme_blocks.blocks("vm")
PACKAGES = ("systemd", "rpm", "waagent", "cloud-init",
            "python3-typer", "python3-click", "python3-sh", "python3-distro",   # the .deb's Recommends
            "prometheus-node-exporter", "prometheus")   # the Monitoring block: node_exporter, promtool
# Not started in the booted VM: nothing scrapes them, and the Prometheus server would only cost time.
MASKS = ("prometheus.service", "prometheus-node-exporter.service")
WORK = "/work"
DISKS = ("mnt/osdisk", "mnt/rescue", "rescue")
STUBS = os.path.join(ROOT, "tests", "readme_stubs")
ENV = {"AZBDIAG_LOOPBACK_ONLY": "1"}
TIMEOUT = 1200
BRIEF = re.compile(r"^azbdiag \S+: \d+ fail, \d+ warn, \d+ error, \d+ ok, \d+ skipped$", re.M)
RECIPE_LIMIT = 300      # the README's Run Command recipe for the .pyz: "its script is under 300 bytes"


# --------------------------------------------------------------------------- the VM

def _write(root, path, data, mode=0o644):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    os.chmod(full, mode)


def _plant_faults(root):
    broken = os.path.join(SAMPLES, "broken")
    with open(os.path.join(broken, "etc/azure/vmbackup.conf"), "rb") as fh:
        _write(root, "etc/azure/vmbackup.conf", b"\xef\xbb\xbf" + fh.read())
    conf = os.path.join(root, "etc/waagent.conf")
    with open(conf, encoding="utf-8") as fh:
        text = fh.read()
    text, n = re.subn(r"(?m)^Extensions\.Enabled=.*$", "Extensions.Enabled=n", text)
    _write(root, "etc/waagent.conf", text if n else text + "Extensions.Enabled=n\n")
    _write(root, "var/lib/waagent/disable_agent", "")
    for ext in os.listdir(os.path.join(broken, "var/lib/waagent")):
        if ext.startswith("Microsoft."):
            shutil.copytree(os.path.join(broken, "var/lib/waagent", ext),
                            os.path.join(root, "var/lib/waagent", ext), symlinks=True)
    _write(root, "etc/azure/VMSnapshotScriptPluginConfig.json", json.dumps({
        "pluginName": "ScriptRunner", "preScriptLocation": "/etc/azure/prescript.sh",
        "postScriptLocation": "/etc/azure/postscript.sh", "preScriptParams": [], "postScriptParams": [],
        "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0, "timeoutInSeconds": 30,
        "continueBackupOnFailure": True, "fsFreezeEnabled": True}, indent=4) + "\n", 0o644)
    for script in ("prescript.sh", "postscript.sh"):
        _write(root, f"etc/azure/{script}", "#!/bin/sh\nsync\n", 0o755)
    with open(os.path.join(broken, "etc/netplan/50-cloud-init.yaml"), "rb") as fh:
        _write(root, "etc/netplan/50-cloud-init.yaml", fh.read(), 0o600)


def _prepare(root, products):
    work = os.path.join(root, WORK.lstrip("/"))
    builds._copy_tree(builds.tree_files(), work)
    for kind in ("deb", "rpm", "pyz"):
        shutil.copy2(products[kind], work)
    wheels = builds.WHEEL_CACHE if os.path.isdir(builds.WHEEL_CACHE) else os.path.join(ROOT, "wheels")
    shutil.copytree(wheels, os.path.join(root, "root/.cache/azbdiag/wheels"))
    for disk in DISKS:
        shutil.copytree(os.path.join(SAMPLES, "broken"), os.path.join(root, disk), symlinks=True)
    _plant_faults(root)
    shutil.copytree(STUBS, os.path.join(root, "opt/readme-stubs"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("sudo", "az", "curl", "dnf"):
        os.symlink(f"/opt/readme-stubs/{name}", os.path.join(root, "usr/local/bin", name))
    blob = os.path.join(root, "var/lib/readme-stubs/blob/tools")
    os.makedirs(blob)
    shutil.copy2(products["pyz"], os.path.join(blob, "azbdiag.pyz"))


class VM:
    def __init__(self, root, products):
        self.root = root
        self.products = products
        self._booted = None

    def path(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    def run(self, text, timeout=TIMEOUT):
        argv = ["/bin/sh", "-c", f"cd {WORK} || exit 125\n{text}"]
        if self._booted is not None:
            return self._booted(argv, timeout=timeout, env=ENV)
        return chroot_run(self.root, argv, timeout=timeout, env=ENV, isolated=True)

    @contextlib.contextmanager
    def booted(self):
        try:
            boot = booted(self.root, masks=BOOT_MASKS + MASKS)
            run = boot.__enter__()
        except RuntimeError as exc:         # this machine cannot boot a container
            pytest.skip(f"cannot boot the VM under systemd here: {exc}")
        self._booted = run
        try:
            yield
        finally:
            self._booted = None
            boot.__exit__(None, None, None)

    def calls(self):
        try:
            with open(self.path("var/log/readme-stubs.jsonl"), encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            return []

    def tmp_entries(self):
        return set(os.listdir(self.path("tmp")))


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    products = builds.built()
    root = debian_chroot(str(tmp_path_factory.mktemp("readme-vm") / "root"), "bookworm",
                         packages=PACKAGES + (products["deb"],))
    try:
        _prepare(root, products)
        with loop_fs(root, "ext4", size_mb=64, name="data") as (dev, point):
            make_ext4_dirty(dev, point)
            st = os.stat(dev)
            os.mknod(os.path.join(root, dev.lstrip("/")), 0o600 | stat.S_IFBLK, st.st_rdev)
            yield VM(root, products)
    finally:
        cleanup_chroot(root)


# --------------------------------------------------------------------------- what commands must show

def _last_azbdiag(text):
    simple = readme_blocks.simple_commands(text)
    return readme_blocks.azbdiag_argv(simple[-1]) if simple else None


def check_json_output(vm, cmd, cp, calls):
    args = _last_azbdiag(cmd.text)
    if not args or "--format" not in args or args[args.index("--format") + 1:][:1] != ["json"]:
        return []
    if {"--output", "-o"} & set(args):
        return []
    try:
        doc = json.loads(cp.stdout)
    except ValueError as exc:
        return [f"--format json printed no JSON document ({exc})"]
    if args[0] == "check" and doc.get("tool", {}).get("version") != __version__:
        return [f"the report names tool {doc.get('tool')}, not azbdiag {__version__}"]
    return []


def check_not_confirmed(vm, cmd, cp, calls):
    if cp.returncode == 4 and "not confirmed" not in cp.stderr:
        return ["exit status 4 without the one-line `not confirmed` message"]
    return []


def _brief_ok(rec):
    out = []
    if rec["script_rc"] not in (0, 1):
        out.append(f"the script exited {rec['script_rc']} on the VM: {rec['stderr'][-500:]}")
    if not BRIEF.search(rec["stdout"]):
        out.append(f"no --brief header in what Run Command returned: {rec['stdout'][:300]!r}")
    if rec["stdout_bytes"] > 4096:
        out.append(f"the --brief output is {rec['stdout_bytes']} bytes: Run Command keeps only 4,096")
    return out


def check_run_command(vm, cmd, cp, calls):
    runs = [c for c in calls if c.get("call") == "vm run-command invoke"]
    if not runs:
        return ["`az vm run-command invoke` reached no stand-in"]
    out = []
    for rec in runs:
        script = rec["script"]
        if "sha256sum -c" in script and "curl" in script:
            out += check_pyz_recipe(vm, cmd, rec, calls)
        elif "azbdiag check --brief" in script:
            out += _brief_ok(rec)
        elif rec["script_rc"] not in ((0, 1) if "azbdiag check" in script else (0,)):
            out.append(f"the script {script!r} exited {rec['script_rc']} on the VM: {rec['stderr'][-500:]}")
    listed = [c for c in calls if c.get("call") == "vm list"]
    if listed:
        names = listed[-1]["names"]
        if sorted(r["vm"] for r in runs) != sorted(names):
            out.append(f"Run Command ran on {[r['vm'] for r in runs]}, not on the Linux VMs {names}")
    return out


def check_pyz_recipe(vm, cmd, rec, calls):
    """The recipe as written still has the placeholder SHA256: the checksum test must stop it
    before python3 runs anything. Then the reader's step ("Replace SHA256 with the hash of your
    build"): with the real hash it must download, verify, run check --brief and clean up."""
    out = []
    curl = [c for c in calls if c["tool"] == "curl"]
    if not curl or curl[-1]["rc"] != 0 or not curl[-1]["url"].endswith("/tools/azbdiag.pyz?SAS"):
        out.append(f"the script did not download the .pyz from the storage URL: {curl}")
    if "SHA256  " in rec["script"]:
        if rec["script_rc"] == 0 or BRIEF.search(rec["stdout"]) or "sha256sum" not in rec["stderr"]:
            out.append("with the placeholder SHA256 the script must stop at sha256sum -c, but: "
                       f"exit {rec['script_rc']}, {rec['stdout'][:200]!r} {rec['stderr'][:200]!r}")
        with open(vm.products["pyz"], "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        before, seen = vm.tmp_entries(), len(vm.calls())
        cp = vm.run(cmd.text.replace("SHA256  ", f"{digest}  "))
        (again,) = [c for c in vm.calls()[seen:] if c.get("call") == "vm run-command invoke"]
        if cp.returncode != 0:
            out.append(f"with the real hash, az exited {cp.returncode}: {cp.stderr[-500:]}")
        out += [f"with the real hash: {p}" for p in _brief_ok(again)]
        if again["script_bytes"] >= RECIPE_LIMIT:
            out.append(f"the recipe's script is {again['script_bytes']} bytes; the README says under "
                       f"{RECIPE_LIMIT}")
        left = vm.tmp_entries() - before
        if left:
            out.append(f"the recipe left {sorted(left)} in /tmp")
    return out


def check_custom_data(vm, cmd, cp, calls):
    made = [c for c in calls if c.get("call") == "vm create"]
    if not made or not made[-1]["custom_data_bytes"]:
        return [f"az vm create passed no custom data: {made}"]
    return []


def check_brief_files(vm, cmd, cp, calls):
    names = [c["names"] for c in calls if c.get("call") == "vm list"]
    if not names:
        return ["az vm list reached no stand-in"]
    out = []
    for name in names[-1]:
        try:
            with open(vm.path(f"{WORK}/brief/{name}.txt"), encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            out.append(f"no brief/{name}.txt: {exc}")
            continue
        if not BRIEF.search(text):
            out.append(f"brief/{name}.txt holds no --brief report: {text[:300]!r}")
    return out


def check_grep_fail(vm, cmd, cp, calls):
    if not re.search(r"^brief/\S+\.txt$", cp.stdout, re.M):
        return ["grep named no VM with a fail, though the VM's check has fails"]
    return []


def check_dnf(vm, cmd, cp, calls):
    done = [c for c in calls if c["tool"] == "dnf" and c.get("packages")]
    installed = vm.run("rpm -q azbdiag", timeout=60)
    if not done or installed.returncode != 0:
        return [f"dnf installed no azbdiag rpm ({done}; rpm -q: {installed.stdout}{installed.stderr})"]
    return []


def check_apt(vm, cmd, cp, calls):
    out = cp.stdout + cp.stderr
    if not ("azbdiag is already the newest version" in out or f"Setting up azbdiag ({__version__})" in out):
        return ["apt-get did not install azbdiag (nor find it installed)"]
    return []


def check_pyz_cleanup(vm, cmd, cp, calls):
    left = [e for e in vm.tmp_entries() if e.startswith("azbdiag-pyz-")]
    return [f"the .pyz left {left} in /tmp"] if left else []


def check_tools_install(vm, cmd, cp, calls):
    if "--uninstall" in cmd.text:
        gone = not os.path.exists(vm.path("usr/local/bin/azbdiag"))
        return [] if gone and "removed" in cp.stdout else ["--uninstall left /usr/local/bin/azbdiag"]
    if "--destdir /tmp/stage" in cmd.text:
        staged = os.path.isfile(vm.path("tmp/stage/usr/local/bin/azbdiag"))
        return [] if staged else ["nothing staged under /tmp/stage/usr/local"]
    ok = os.path.isfile(vm.path("usr/local/bin/azbdiag")) and f"installed: azbdiag {__version__}" in cp.stdout
    return [] if ok else ["tools/install did not install /usr/local/bin/azbdiag"]


def check_cloud_init(vm, cmd, cp, calls):
    return [] if "Valid schema" in cp.stdout or "Valid cloud-config" in cp.stdout else \
        [f"cloud-init schema did not call the file valid: {cp.stdout[-300:]}"]


def check_timer_enabled(vm, cmd, cp, calls):
    """The timer is enabled and waiting; then it fires once, as at its time, so that the
    block's later commands have a run to show."""
    timer = re.search(r"enable --now (\S+\.timer)", cmd.text).group(1)
    out = []
    for verb, want in (("is-enabled", "enabled"), ("is-active", "active")):
        state = vm.run(f"systemctl {verb} {timer}", timeout=60).stdout.strip()
        if state != want:
            out.append(f"systemctl {verb} {timer}: {state!r}, expected {want!r}")
    fired = vm.run(f"systemctl start {timer[:-len('.timer')]}.service", timeout=600)
    if fired.returncode != 0:
        out.append(f"the timer's service failed when it fired: {fired.stdout}{fired.stderr}")
    return out


def _shows(pattern, what):
    def check(vm, cmd, cp, calls):
        if re.search(pattern, cp.stdout, re.M):
            return []
        return [f"the output shows no {what}: {cp.stdout[-300:]!r}"]
    return check


def check_textfile(vm, cmd, cp, calls):
    """promtool passes an empty input too: the file must hold this version's metrics, and be
    world-readable (0644) as the README says, for node_exporter's own user."""
    rel = re.search(r"< (\S+\.prom)", cmd.text).group(1)
    try:
        mode = stat.S_IMODE(os.stat(vm.path(rel)).st_mode)
        with open(vm.path(rel), encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        return [f"no {rel}: {exc}"]
    out = [] if mode == 0o644 else [f"{rel} has mode {mode:04o}; the README says 0644"]
    if not re.search(rf'^azbdiag_info{{version="{re.escape(__version__)}"}} 1$', text, re.M):
        out.append(f"{rel} holds no azbdiag_info of version {__version__}: {text[:300]!r}")
    return out


def check_report_file(vm, cmd, cp, calls):
    try:
        doc = json.loads(cp.stdout)
    except ValueError as exc:
        return [f"not a JSON report: {exc}"]
    return [] if doc.get("tool", {}).get("version") == __version__ else ["not azbdiag's report"]


# (pattern on the command as written, check): every matching check runs after the command
CHECKS = [
    (r"azbdiag", check_json_output),
    (r"azbdiag (fix|undo)\b", check_not_confirmed),
    (r"^az vm run-command invoke|\n\s*az vm run-command invoke", check_run_command),
    (r"^az vm create", check_custom_data),
    (r"^for vm in \$\(az vm list", check_brief_files),
    (r"^grep -l '\^FAIL' brief/", check_grep_fail),
    (r"\bdnf install\b", check_dnf),
    (r"\bapt-get install \./azbdiag_", check_apt),
    (r"python3 azbdiag\.pyz", check_pyz_cleanup),
    (r"\./tools/install\b", check_tools_install),
    (r"^cloud-init schema", check_cloud_init),
    (r"systemctl enable --now \S+\.timer", check_timer_enabled),
    (r"^systemctl list-timers (\S+)", _shows(r"\bazbdiag-check\.timer\b", "azbdiag-check.timer line")),
    (r"^journalctl -u azbdiag-check", _shows(rf"azbdiag {re.escape(__version__)} check: \d+ fail",
                                             "summary line")),
    (r"cat /var/log/azbdiag/report\.json", check_report_file),
    (r"^promtool check metrics < \S+\.prom", check_textfile),
    (r"^journalctl -o verbose MESSAGE_ID=277c8b13adbd48a7b6c891784609ce94",
     _shows(rf"^\s+AZBDIAG_VERSION={re.escape(__version__)}$", "run entry of this version")),
    (r"^journalctl MESSAGE_ID=26192388b9c3486daa4b7d91f7e6e152 AZBDIAG_STATUS=fail",
     _shows(r" azbdiag(\[\d+\])?: ", "fail entry, though the VM's check has fails")),
    (r"^python3 bench/", _shows(r"\bmedian\b", "median")),
]


def run_command(vm, cmd, expect):
    """Run one README command; the list of what is wrong with its outcome."""
    reason = readme_blocks.unsafe(cmd.text)
    if reason:
        return [f"not run: {reason}"]
    seen = len(vm.calls())
    cp = vm.run(cmd.text)
    calls = vm.calls()[seen:]
    problems = []
    if cp.returncode not in expect:
        problems.append(f"exit status {cp.returncode}, expected {' or '.join(map(str, sorted(expect)))}")
    both = cp.stdout + cp.stderr
    if "Traceback (most recent call last)" in both or "internal error" in both:
        problems.append("a traceback or an internal error")
    if cmd.output:      # a console transcript shows the terminal: standard output, then errors
        mismatch = readme_blocks.output_mismatch(cmd.output, cp.stdout + cp.stderr)
        if mismatch:
            problems.append(mismatch)
    problems += [f"a stand-in refused: {c['refused']}" for c in calls if c.get("refused")]
    for pattern, check in CHECKS:
        if re.search(pattern, cmd.text):
            problems += check(vm, cmd, cp, calls)
    if problems:
        problems.append(f"stdout: {cp.stdout[-1500:]!r}")
        problems.append(f"stderr: {cp.stderr[-1500:]!r}")
    return problems


@pytest.mark.parametrize("block", BLOCKS, ids=[f"L{b.line}" for b in BLOCKS])
def test_readme_block_runs_as_written(vm, block):
    failures = []
    with vm.booted() if "systemd" in block.options else contextlib.nullcontext():
        for cmd, expect in zip(block.commands(), block.expected()):
            problems = run_command(vm, cmd, expect)
            if problems:
                first = cmd.text.split("\n", 1)[0]
                failures.append(f"README.md line {cmd.line}: `{first}`\n  " + "\n  ".join(problems))
    assert not failures, "\n\n".join(failures)


def test_every_stand_in_call_was_accepted_and_nothing_is_left_mounted(vm):
    """Runs last: the stand-ins took every call (az, curl and dnf were all used), and of the
    root's mounts only /data, which the fixture made, is left."""
    calls = vm.calls()
    assert {c["tool"] for c in calls} >= {"az", "curl", "dnf"}, calls
    assert not [c for c in calls if c.get("refused")]
    assert mounts_under(vm.root) == [vm.path("data")]
    cp = subprocess.run(["findmnt", "-n", "-o", "TARGET", "/"], capture_output=True, text=True)
    assert cp.stdout.strip() == "/", "this machine's / is still mounted"
