"""Debian chroots (11 bullseye, 12 bookworm, 13 trixie) for integration tests.

    root = debian_chroot(str(tmp_path / "root"), suite="bullseye", packages=("waagent",))
    try:
        cp = chroot_run(root, ["waagent", "--version"], timeout=60)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    finally:
        cleanup_chroot(root)

`bookworm_chroot(dest, packages)` is `debian_chroot(dest, "bookworm", packages)`.

The first call for a suite runs `debootstrap --variant=minbase SUITE` from the Debian mirror
this machine's apt uses (override with AZBDIAG_TEST_MIRROR) and keeps the result as a tarball
under /var/cache/azbdiag-tests/ (override with AZBDIAG_TEST_CACHE), one per suite; later calls
unpack it in a few seconds. A chroot with extra packages named by plain package names is
cached as well, keyed by the suite and the sorted names. Entries of `packages` that are paths
to existing .deb files are copied in and installed with apt (never cached).

Needs root, debootstrap, chroot and tar; otherwise the calling test is skipped with a reason.
Services never start inside (usr/sbin/policy-rc.d exits 101). /proc and /dev/pts are mounted
only while apt runs, or while chroot_run(..., mounts=True) runs, and always unmounted again.

chroot_run(..., isolated=True) runs the command in private mount, network and PID namespaces
(unshare): /proc is mounted inside them only, so it is gone with the command whatever kills
it; nothing inside can mount or unmount anything of this machine, reach a network (only a
loopback that is down), or see or signal this machine's processes.

`with booted(root) as run:` boots the root under its own systemd (systemd-nspawn --boot,
private network, the units in BOOT_MASKS masked for the boot) for commands that need a running
systemd; `run(argv, timeout, env)` runs a command inside, like chroot_run.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

CACHE_DIR = os.environ.get("AZBDIAG_TEST_CACHE", "/var/cache/azbdiag-tests")
SUITES = ("bullseye", "bookworm", "trixie")  # Debian 11, 12, 13
DEFAULT_MIRROR = "http://deb.debian.org/debian"
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/root",
    "TERM": "dumb",
    "DEBIAN_FRONTEND": "noninteractive",
}
_HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_CACHE_FORMAT = "1"  # bump to invalidate old tarballs


# --------------------------------------------------------------------------- helpers

def _require_tools():
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, chroot, mount)")
    for tool in ("debootstrap", "chroot", "tar", "mount", "umount"):
        if shutil.which(tool, path=_HOST_PATH) is None:
            pytest.skip(f"{tool} is not installed (apt-get install debootstrap)")


def debian_mirror():
    """The Debian mirror (not the security one) the host's apt uses for its own release; the
    same mirror serves every suite."""
    env = os.environ.get("AZBDIAG_TEST_MIRROR")
    if env:
        return env
    candidates = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m:
                    fields[m.group(1).lower()] = m.group(2).split()
            if "deb" in fields.get("types", []) and set(SUITES) & set(fields.get("suites", [])):
                candidates.extend(fields.get("uris", []))
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] in SUITES:
                candidates.append(parts[1])
    for uri in candidates:
        if "security" not in uri:
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _run(argv, timeout, env=None, check=True):
    """Run a host command with a clean PATH; raise with its output when it fails."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PATH"] = _HOST_PATH
    cp = _run_killable(argv, timeout, full_env)
    if check and cp.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {cp.returncode}:\n{(cp.stdout + cp.stderr)[-3000:]}")
    return cp


def _run_killable(argv, timeout, env, input_text=None):
    """subprocess.run in a new session; on timeout the whole process group is killed."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(input_text.encode() if input_text is not None else None,
                                    timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode,
                                       out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


@contextlib.contextmanager
def _cache_lock(name=".lock"):
    """Hold the cache lock `name` (one per cache entry being made, so that making one entry
    does not keep other runs from reading or making the others)."""
    os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
    with open(os.path.join(CACHE_DIR, name), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _unescape_mount(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(root):
    """Mount points at or below `root`, deepest first."""
    root = os.path.realpath(root)
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 4:
                    mp = _unescape_mount(parts[4])
                    if mp == root or mp.startswith(root.rstrip("/") + "/"):
                        found.append(mp)
    except OSError:
        pass
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def _umount_all(root):
    for mp in mounts_under(root):
        if _run(["umount", mp], 60, check=False).returncode != 0:
            _run(["umount", "-l", mp], 60, check=False)
    left = mounts_under(root)
    if left:
        raise RuntimeError(f"could not unmount {left}")


@contextlib.contextmanager
def chroot_mounts(root):
    """Mount /proc and /dev/pts inside `root` for the duration of the block."""
    root = os.path.realpath(root)
    mounted = []
    try:
        proc = os.path.join(root, "proc")
        os.makedirs(proc, exist_ok=True)
        _run(["mount", "-t", "proc", "proc", proc], 60)
        mounted.append(proc)
        pts = os.path.join(root, "dev", "pts")
        os.makedirs(pts, exist_ok=True)
        _run(["mount", "-t", "devpts", "devpts", pts, "-o", "newinstance,ptmxmode=0666"], 60)
        mounted.append(pts)
        yield root
    finally:
        for mp in reversed(mounted):
            if _run(["umount", mp], 60, check=False).returncode != 0:
                _run(["umount", "-l", mp], 60, check=False)


def _prepare(root):
    """Deny service starts and give the chroot the host's DNS settings."""
    policy = os.path.join(root, "usr", "sbin", "policy-rc.d")
    with open(policy, "w") as fh:
        fh.write("#!/bin/sh\n# azbdiag tests: never start services in this chroot\nexit 101\n")
    os.chmod(policy, 0o755)
    resolv = os.path.join(root, "etc", "resolv.conf")
    with contextlib.suppress(OSError):
        if os.path.islink(resolv):
            os.unlink(resolv)
        shutil.copyfile("/etc/resolv.conf", resolv)


def _apt_install(root, packages, timeout=600):
    with chroot_mounts(root):
        cp = chroot_run(root, ["apt-get", "update", "-q"], timeout=timeout)
        if cp.returncode != 0:
            raise RuntimeError(f"apt-get update in the chroot failed:\n{(cp.stdout + cp.stderr)[-3000:]}")
        cp = chroot_run(root, ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                        timeout=timeout)
        if cp.returncode != 0:
            raise RuntimeError(f"apt-get install {' '.join(packages)} in the chroot failed:\n"
                               f"{(cp.stdout + cp.stderr)[-3000:]}")
        chroot_run(root, ["apt-get", "clean"], timeout=120)


def _extract(tarball, dest):
    os.makedirs(dest, exist_ok=True)
    if os.listdir(dest):
        raise RuntimeError(f"{dest} is not empty")
    _run(["tar", "--numeric-owner", "-xpzf", tarball, "-C", dest], 600)


def _save(root, tarball):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tar.gz", dir=CACHE_DIR)
    os.close(fd)
    try:
        # gzip -1: a few seconds per root instead of half a minute, for slightly bigger files
        _run(["tar", "--numeric-owner", "--use-compress-program=gzip -1", "-cf", tmp, "-C", root, "."],
             600)
        os.replace(tmp, tarball)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _base_tarball(suite):
    """The cached pristine minbase tarball of `suite`; debootstrap once under a lock."""
    mirror = debian_mirror()
    key = hashlib.sha256(f"{_CACHE_FORMAT} {suite} {mirror}".encode()).hexdigest()[:12]
    tarball = os.path.join(CACHE_DIR, f"{suite}-minbase-{key}.tar.gz")
    with _cache_lock(f".lock-{suite}-minbase"):
        if os.path.exists(tarball):
            return tarball
        work = tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE_DIR)
        root = os.path.join(work, "root")
        try:
            _run(["debootstrap", "--variant=minbase", suite, root, mirror], 1200)
            chroot_run(root, ["apt-get", "clean"], timeout=120)
            _save(root, tarball)
        finally:
            cleanup_chroot(root)
            shutil.rmtree(work, ignore_errors=True)
    return tarball


# --------------------------------------------------------------------------- API

def bookworm_chroot(dest_dir, packages=()):
    """A Debian 12 chroot: see debian_chroot."""
    return debian_chroot(dest_dir, "bookworm", packages)


def debian_chroot(dest_dir, suite="bookworm", packages=()):
    """Create a minbase root file system of Debian `suite` (one of SUITES) in `dest_dir`
    (created; must be empty or missing) with `packages` installed from that suite's own
    archive, and return its absolute path. Skips the calling test when not root or debootstrap
    is missing; raises RuntimeError when debootstrap or apt fails."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    _require_tools()
    dest = os.path.abspath(dest_dir)
    if dest == "/":
        raise ValueError("refusing to use / as a chroot")
    names = sorted({p for p in packages if not os.path.isfile(p)})
    debs = [os.path.abspath(p) for p in packages if os.path.isfile(p)]
    base = _base_tarball(suite)
    if names:
        key = hashlib.sha256((os.path.basename(base) + " " + " ".join(names)).encode()).hexdigest()[:12]
        tarball = os.path.join(CACHE_DIR, f"{suite}-pkgs-{key}.tar.gz")
        with _cache_lock(f".lock-{suite}-pkgs-{key}"):
            if not os.path.exists(tarball):
                work = tempfile.mkdtemp(prefix="pkgs-", dir=CACHE_DIR)
                root = os.path.join(work, "root")
                try:
                    _extract(base, root)
                    _prepare(root)
                    _apt_install(root, names)
                    _save(root, tarball)
                finally:
                    cleanup_chroot(root)
                    shutil.rmtree(work, ignore_errors=True)
        _extract(tarball, dest)
    else:
        _extract(base, dest)
    _prepare(dest)
    if debs:
        incoming = os.path.join(dest, "tmp", "azbdiag-debs")
        os.makedirs(incoming, exist_ok=True)
        inside = []
        for deb in debs:
            shutil.copy(deb, incoming)
            inside.append("/tmp/azbdiag-debs/" + os.path.basename(deb))
        try:
            _apt_install(dest, inside)
        except BaseException:
            _umount_all(dest)
            raise
    return dest


def chroot_run(root, argv, timeout=120, mounts=False, env=None, input=None, isolated=False):
    """Run `argv` inside `root` with a clean environment (CHROOT_ENV plus `env`) and return a
    subprocess.CompletedProcess with text stdout/stderr. With mounts=True /proc and /dev/pts
    are mounted for the run and unmounted afterwards. With isolated=True the command runs in
    private mount, network and PID namespaces, with /proc mounted inside them (see the module
    docstring). On timeout the process group is killed and subprocess.TimeoutExpired is raised."""
    full_env = dict(CHROOT_ENV)
    full_env.update(env or {})
    chroot = shutil.which("chroot", path=_HOST_PATH) or "/usr/sbin/chroot"
    cmd = [chroot, root, *argv]
    if isolated:
        unshare = shutil.which("unshare", path=_HOST_PATH)
        if unshare is None:
            pytest.skip("unshare (util-linux) is not installed")
        mount_proc = 'mount -t proc proc "$1/proc" && exec "$0" "$@"'
        cmd = [unshare, "--mount", "--net", "--pid", "--fork", "--kill-child", "--propagation", "private",
               "/bin/sh", "-c", mount_proc, chroot, os.path.realpath(root), *argv]
        return _run_killable(cmd, timeout, full_env, input)
    if mounts:
        with chroot_mounts(root):
            return _run_killable(cmd, timeout, full_env, input)
    return _run_killable(cmd, timeout, full_env, input)


BOOT_MASKS = ("walinuxagent.service", "cloud-init-local.service", "cloud-init.service",
              "cloud-config.service", "cloud-final.service")  # they would reach for Azure


def _children(pid):
    out = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError), open(task) as fh:
            out.extend(int(p) for p in fh.read().split())
    return out


def _container_init(nspawn_pid):
    """The container's init: the child of systemd-nspawn in a PID namespace of its own. Not
    simply its first child: that is nspawn's "outer child", a fork in our namespace that
    lives some 10-20 ms (longer on a loaded machine) before the init appears; taken for the
    init, every nsenter into it fails once it has exited."""
    own = os.readlink("/proc/self/ns/pid")
    for kid in _children(nspawn_pid):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{kid}/ns/pid") != own:
                return kid
    return None


@contextlib.contextmanager
def booted(root, masks=BOOT_MASKS, timeout=120):
    """Boot `root` (which needs systemd installed) with systemd-nspawn on a private network,
    the units `masks` masked for this boot only, and yield run(argv, timeout=120, env=None) ->
    CompletedProcess, which runs a command inside (through nsenter into all its namespaces)
    with a clean environment (CHROOT_ENV plus `env`). Powers the container off afterwards.
    Skips the calling test when systemd-nspawn or nsenter is missing."""
    nspawn = shutil.which("systemd-nspawn", path=_HOST_PATH)
    nsenter = shutil.which("nsenter", path=_HOST_PATH)
    if nspawn is None or nsenter is None:
        pytest.skip("systemd-nspawn is not installed (apt-get install systemd-container)")
    root = os.path.realpath(root)
    log = tempfile.TemporaryFile()
    argv = [nspawn, "-q", "-D", root, "--boot", "--register=no", "--keep-unit", "--private-network",
            *[f"systemd.mask={unit}" for unit in masks]]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PATH=_HOST_PATH), start_new_session=True)
    leader = None

    def run(command, timeout=120, env=None):
        full_env = dict(CHROOT_ENV)
        full_env.update(env or {})
        return _run_killable([nsenter, "-t", str(leader), "-a", *command], timeout, full_env)

    def boot_log():
        log.seek(0)
        return log.read().decode("utf-8", "replace")[-3000:]

    try:
        deadline = time.monotonic() + timeout
        while leader is None and time.monotonic() < deadline and proc.poll() is None:
            leader = _container_init(proc.pid)
            time.sleep(0.2)
        if leader is None:
            raise RuntimeError(f"systemd-nspawn did not start {root}:\n{boot_log()}")
        state = ""
        while time.monotonic() < deadline:
            left = max(5, deadline - time.monotonic())
            cp = run(["systemctl", "is-system-running", "--wait"], timeout=left)
            state = cp.stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{root} did not finish booting (state {state!r}):\n{boot_log()}")
        yield run
    finally:
        if leader is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                run(["systemctl", "poweroff"], timeout=30)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in (leader, proc.pid):
                with contextlib.suppress(ProcessLookupError, TypeError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=60)
        log.close()


def cleanup_chroot(root):
    """Unmount everything at or below `root`, then remove it. Refuses to remove anything while
    a mount is left (so a stuck bind mount never gets its contents deleted)."""
    if not root:
        return
    root = os.path.realpath(root)
    if root == "/" or not os.path.lexists(root):
        return
    _umount_all(root)
    shutil.rmtree(root, ignore_errors=True)
