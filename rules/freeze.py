"""File system freeze: why the backup's freeze fails (UserErrorFsFreezeFailed,
UserErrorUnableToOpenMount) and `azbdiag fix --freeze`.

The mounts checked are the ones the backup extension freezes (ext3/ext4/xfs/btrfs, no loop
devices, no resource disk, no MountsToSkip, "/" last), or exactly the mount points given with
--mount (then whatever the extension would do with them).
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Dict, List, Tuple

from azbdiag.engine import rule
from azbdiag.facts import (
    backup_in_progress,
    extension_freeze_list,
    freeze_targets,
    is_network_or_fuse,
    kernel_name,
    last_per_mount_point,
    mounts,
    mounts_source,
    processes,
    uses_grubby,
)
from azbdiag.facts import same_superblock as superblock_groups
from azbdiag.facts import stacked as stacked_groups
from azbdiag.fixer import RefuseFix, RunCommand, fix
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.btrfs_stats import btrfs_errors, parse_btrfs_stats
from azbdiag.parsers.freeze_log import parse_freeze_log
from azbdiag.parsers.kernel_log import KernelLine, errors_since_mount, kernel_fs_lines
from azbdiag.parsers.mounts import Mount, parse_fstab, parse_mountinfo
from azbdiag.parsers.tune2fs import ext_state
from azbdiag.parsers.xfs_repair import xfs_repair_verdict

CODES = ("UserErrorFsFreezeFailed",)
OPEN_CODES = ("UserErrorUnableToOpenMount",)
EXT_LOG = "/var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"
RESCUE = ("or repair it from a rescue VM (for example `az vm repair create`), where the disk is "
          "attached but not mounted and can be checked and repaired safely")


# ---- facts -------------------------------------------------------------------------------

def device_of(host, m: Mount) -> str:
    name = kernel_name(host, m)
    return f"/dev/{name}" if name and host.live else m.source


def kernel_log(host) -> List[KernelLine]:
    """File system lines of this boot's kernel log (dmesg, else journalctl -k)."""
    if not host.live:
        raise SkipRule(SkipReason.OFFLINE_ROOT, "the kernel log belongs to the running system")
    # The journal keeps the whole boot; the dmesg ring buffer may have lost its start.
    res = host.run(["journalctl", "-k", "-b", "-q", "--no-pager", "-o", "short-monotonic"],
                   timeout=20)
    if not res.ok or not res.stdout.strip():
        alt = host.run(["dmesg"], timeout=15)
        res = alt if alt.ok or not res.ok else res
    if not res.ok:
        raise CheckError(f"cannot read the kernel log ({res.describe()})")
    return kernel_fs_lines(res.stdout)


def _label(m: Mount) -> str:
    return f"{m.mount_point} ({m.source}, {m.fstype})"


# ---- the list ----------------------------------------------------------------------------

@rule("freeze.mount_list", "The mounts the backup extension will freeze", error_codes=CODES,
      timeout=20)
def mount_list(ctx):
    """The extension freezes ext3/ext4/xfs/btrfs mounts except loop devices, the resource disk
    and MountsToSkip, with "/" last; live, only the mount point lsblk names for each device."""
    fl = extension_freeze_list(ctx)
    evidence = [f"{i}. {_label(m)}" for i, m in enumerate(fl.frozen, 1)]
    evidence += [f"not frozen: {_label(m)}: {why}" for m, why in fl.skipped]
    if ctx.options.get("mounts"):
        targets, notes = freeze_targets(ctx)
        evidence.append("checked here (--mount): " + ", ".join(m.mount_point for m in targets))
        evidence += notes
    if not fl.frozen:
        return ok(f"nothing to freeze in the {mounts_source(ctx.host)}: the backup skips the "
                  f"freeze", evidence)
    return ok(f"{len(fl.frozen)} mount(s) will be frozen, in this order", evidence)


# ---- state -------------------------------------------------------------------------------

def _state(ctx, m: Mount, klog) -> Tuple[str, str]:
    """('bad'|'ok'|'unknown', detail) for one mount."""
    host = ctx.host
    dev = device_of(host, m)
    current, _ = errors_since_mount(klog or [], kernel_name(host, m))
    if m.fstype in ("ext2", "ext3", "ext4"):
        res = host.run(["tune2fs", "-l", dev], timeout=15)
        st = ext_state(res.stdout) if res.ok else None
        if st is None:
            why = res.stderr.strip().splitlines()[-1:] or [res.describe()]
            return "unknown", f"tune2fs -l {dev}: {why[0]}"
        if st.needs_fsck(mounted=True):
            return "bad", f"{dev}: {st.describe()}"
        if current:
            return "bad", f"{dev}: kernel reported errors since it was mounted: {current[0]}"
        return "ok", f"{dev}: {st.state}"
    if m.fstype == "xfs":
        if current:
            return "bad", f"{dev}: kernel reported errors since it was mounted: {current[0]}"
        if "ro" in m.super_options:
            res = host.run(["xfs_repair", "-n", dev], timeout=120)
            verdict = xfs_repair_verdict(res.rc, res.stdout, res.stderr)
            if verdict in ("corrupt", "dirty_log"):
                return "bad", f"{dev}: xfs_repair -n says {verdict.replace('_', ' ')}"
            if verdict == "clean":
                return "ok", f"{dev}: xfs_repair -n found nothing"
        if klog is None:
            return "unknown", f"{dev}: XFS has no clean flag and the kernel log is unreadable"
        return "ok", f"{dev}: no XFS errors in the kernel log since it was mounted"
    if m.fstype == "btrfs":
        res = host.run(["btrfs", "device", "stats", m.mount_point], timeout=15)
        errs = btrfs_errors(parse_btrfs_stats(res.stdout)) if res.ok else []
        if errs or current:
            return "bad", f"{m.mount_point}: " + "; ".join(errs + current[:1])
        return ("ok" if res.ok else "unknown"), f"{m.mount_point}: btrfs device stats " + (
            "all zero" if res.ok else res.describe())
    return "ok", f"{m.mount_point}: {m.fstype} is not frozen by the backup"


def _bad_entry(ctx, m: Mount, detail: str) -> dict:
    return {"mount_point": m.mount_point, "device": device_of(ctx.host, m), "source": m.source,
            "fstype": m.fstype,
            "options": m.options, "super_options": m.super_options, "detail": detail}


@rule("freeze.fs_state", "File systems to be frozen are clean", error_codes=CODES,
      needs_root=True, live_only=True, fix="freeze", timeout=150,
      remedy="Unmount the file system, check and repair it (e2fsck -f / xfs_repair), and mount "
             "it again: `sudo azbdiag fix --freeze`. For / or a busy mount, schedule a check at "
             "the next boot or " + RESCUE + ".")
def fs_state(ctx):
    """ext2/3/4: superblock state and error counters (tune2fs -l); xfs: kernel errors since
    the mount (xfs_repair -n when mounted read-only); btrfs: device error counters."""
    targets, notes = freeze_targets(ctx)
    if not targets:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "no mount to check" + (
            f" ({notes[0]})" if notes else ""))
    try:
        klog = ctx.fact(kernel_log)
    except (CheckError, SkipRule):
        klog = None
    bad, good, unknown = [], [], []
    for m in targets:
        verdict, detail = _state(ctx, m, klog)
        {"bad": bad, "ok": good, "unknown": unknown}[verdict].append((m, detail))
    evidence = [f"NOT CLEAN {m.mount_point}: {d}" for m, d in bad]
    evidence += [f"unknown {m.mount_point}: {d}" for m, d in unknown]
    evidence += [f"clean {m.mount_point}: {d}" for m, d in good] + notes
    if bad:
        return fail(f"{len(bad)} file system(s) are not clean; the backup's freeze can fail on "
                    f"them", evidence, bad=[_bad_entry(ctx, m, d) for m, d in bad])
    if unknown and not good:
        raise CheckError("; ".join(d for _, d in unknown))
    if unknown:
        return warn(f"{len(unknown)} file system(s) could not be checked", evidence)
    return ok(f"{len(good)} file system(s) are clean", evidence)


@rule("freeze.read_only", "No file system was remounted read-only after errors",
      error_codes=CODES, needs_root=True, live_only=True, fix="freeze", timeout=30,
      remedy="A file system the kernel switched to read-only after errors needs an offline "
             "check: `sudo azbdiag fix --freeze`, or " + RESCUE + ".")
def read_only(ctx):
    """A superblock that is read-only while fstab mounts it read-write, or a kernel
    'Remounting filesystem read-only' line for its device."""
    targets, _ = freeze_targets(ctx)
    try:
        klog = ctx.fact(kernel_log)
    except (CheckError, SkipRule):
        klog = []
    fstab = {m.mount_point: m for m in parse_fstab(ctx.host.try_read_text("/etc/fstab") or "")}
    bad = []
    for m in targets:
        current, _ = errors_since_mount(klog, kernel_name(ctx.host, m))
        remount = [x for x in current if "read-only" in x]
        wanted_ro = m.mount_point in fstab and fstab[m.mount_point].read_only
        if remount or ("ro" in m.super_options and m.mount_point in fstab and not wanted_ro):
            why = remount[0] if remount else "read-only now, but fstab mounts it read-write"
            bad.append((m, why))
    if bad:
        return fail(f"{len(bad)} file system(s) went read-only, most likely after errors",
                    [f"{m.mount_point}: {why}" for m, why in bad],
                    bad=[_bad_entry(ctx, m, why) for m, why in bad])
    return ok("no file system to be frozen went read-only after errors")


@rule("freeze.kernel_errors", "The kernel logged no file system errors", error_codes=CODES,
      needs_root=True, live_only=True, timeout=20,
      remedy="Errors on a mounted file system need an offline check (`sudo azbdiag fix "
             "--freeze`); I/O errors may also mean a failing disk.")
def kernel_errors(ctx):
    """EXT4/XFS/btrfs error lines, journal aborts and I/O errors in this boot's kernel log."""
    klog = ctx.fact(kernel_log)
    targets, _ = freeze_targets(ctx)
    names = {kernel_name(ctx.host, m): m.mount_point for m in targets}
    current, other = [], []
    for name, point in names.items():
        cur, earlier = errors_since_mount(klog, name)
        current += [f"{point}: {x}" for x in cur[:5]]
        other += [f"{point} (before its last mount): {x}" for x in earlier[:3]]
    mounted = {kernel_name(ctx.host, m) for m in ctx.fact(mounts)}
    other += [f"{ln.device}: {ln.text}" for ln in klog
              if ln.is_error and ln.device not in names and ln.device in mounted][:10]
    if current:
        return fail(f"the kernel logged errors on {len(current)} line(s) for file systems the "
                    f"backup freezes", current + other)
    if other:
        return warn("the kernel logged file system errors elsewhere or before the last mount",
                    other)
    return ok("no file system errors in this boot's kernel log")


# ---- duplicates --------------------------------------------------------------------------

@rule("freeze.same_superblock", "No file system is mounted at two places", error_codes=CODES,
      timeout=15,
      remedy="The second freeze of one file system fails (EBUSY) and its thaw fails (EINVAL). "
             "Remove the duplicate or bind mount (or list one of its mount points in "
             "MountsToSkip in /etc/azure/vmbackup.conf).")
def same_superblock(ctx):
    """Several mount points of one superblock: bind mounts or a device mounted twice."""
    groups = superblock_groups(ctx.fact(mounts))
    if not groups:
        return ok(f"every freezable file system has one mount point in the "
                  f"{mounts_source(ctx.host)}")
    evidence = [f"{g[0].source} ({g[0].fstype}) is mounted at " +
                ", ".join(m.mount_point + (f" [{m.fs_root}]" if m.fs_root not in ("", "/") else "")
                          for m in g) for g in groups]
    return fail(f"{len(groups)} file system(s) are mounted at more than one place", evidence)


@rule("freeze.stacked_mounts", "No mount point has two mounts stacked on it",
      error_codes=CODES, timeout=15,
      remedy="Unmount the hidden lower mount (or the duplicate fstab line): the backup freezes "
             "only the top one and the lower one is left out, or frozen twice.")
def stacked_mounts(ctx):
    """The same path mounted more than once; only the last mount is reachable."""
    groups = stacked_groups(ctx.fact(mounts))
    if not groups:
        return ok("no stacked mounts")
    evidence = [f"{g[0].mount_point}: " + " under ".join(
        f"{m.source} ({m.fstype})" for m in reversed(g)) for g in groups]
    return fail(f"{len(groups)} mount point(s) have more than one mount", evidence)


# ---- mounts that cannot be opened --------------------------------------------------------

# Each mount point is opened (as the backup's freezer does) in a background child with its
# output in a temporary file, so a stale NFS mount that hangs leaves that child behind, never
# azbdiag or this shell.
_PROBE = r'''
t=$(mktemp -d) || exit 97
i=0
for p in "$@"; do
  i=$((i+1))
  ( if stat -f -- "$p" >/dev/null 2>"$t/e$i" && true <"$p" 2>>"$t/e$i"; then echo ok >"$t/r$i";
    else echo fail >"$t/r$i"; fi ) </dev/null >/dev/null 2>&1 &
done
n=0
while [ $n -lt "$WAIT" ]; do
  all=1; j=0
  for p in "$@"; do j=$((j+1)); [ -e "$t/r$j" ] || all=0; done
  [ $all = 1 ] && break
  sleep 1; n=$((n+1))
done
j=0
for p in "$@"; do
  j=$((j+1))
  if [ -e "$t/r$j" ]; then r=$(cat "$t/r$j"); else r=hung; fi
  e=$(tr '\n' ' ' <"$t/e$j" 2>/dev/null)
  printf '%s\t%s\t%s\n' "$r" "$p" "$e"
done
rm -rf "$t" 2>/dev/null
exit 0
'''


def open_probe(host, points: List[str], wait: int = 5) -> Dict[str, Tuple[str, str]]:
    """mount point -> (ok|fail|hung, error text), measured in child processes."""
    if not points:
        return {}
    res = host.run(["sh", "-c", _PROBE, "azbdiag-open-probe", *points], timeout=wait + 15,
                   env={"WAIT": str(wait)})
    if not res.ok:
        raise CheckError(f"the open probe did not run ({res.describe()})")
    out: Dict[str, Tuple[str, str]] = {}
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] in ("ok", "fail", "hung"):
            out[parts[1]] = (parts[0], parts[2].strip() if len(parts) > 2 else "")
    return out


@rule("freeze.mounts_open", "Every mount to be frozen, and every network mount, can be opened",
      error_codes=OPEN_CODES, live_only=True, timeout=40,
      remedy="Unmount stale NFS/CIFS/FUSE mounts (`umount -f` or `umount -l`), fix their "
             "server or network, or set OnlyLocalFilesystems / MountsToSkip in "
             "/etc/azure/vmbackup.conf.")
def mounts_open(ctx):
    """Opens each mount point in a child process with a 5 s limit: a stale NFS, CIFS or FUSE
    mount makes the backup's freezer fail to open it (or hang)."""
    targets, _ = freeze_targets(ctx)
    points = [m.mount_point for m in targets]
    if not ctx.options.get("mounts"):
        points += [m.mount_point for m in last_per_mount_point(ctx.fact(mounts))
                   if is_network_or_fuse(m.fstype) and m.mount_point not in points]
    if not points:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "no mount to probe")
    results = open_probe(ctx.host, points, int(ctx.options.get("open_wait", 5)))
    bad = [f"{p}: {'did not answer within the limit (hung)' if r == 'hung' else 'cannot be opened'}"
           + (f": {e}" if e else "") for p, (r, e) in results.items() if r != "ok"]
    if bad:
        return fail(f"{len(bad)} mount(s) cannot be opened", bad)
    return ok(f"{len(results)} mount(s) open fine", [f"{p}: ok" for p in results][:20])


@rule("freeze.iscsi_mounts", "No iSCSI mounts are left over from a file recovery session",
      error_codes=OPEN_CODES, live_only=True, timeout=15,
      remedy="If they come from Azure Backup's File Recovery script, unmount them and close the "
             "connection ('Unmount disks' in the portal's File Recovery blade, or run the script "
             "again with -clean).")
def iscsi_mounts(ctx):
    """Mounts whose block device sits on an iSCSI session (File Recovery mounts recovery
    points over iSCSI and they break the next backup's freeze when left behind)."""
    found = []
    for m in ctx.fact(mounts):
        if not m.source.startswith("/dev/"):
            continue
        name = kernel_name(ctx.host, m)
        try:
            link = ctx.host.readlink(f"/sys/class/block/{name}")
        except OSError:
            continue
        if re.search(r"/session\d+/", link):
            sess = re.search(r"/(session\d+)/", link).group(1)
            target = (ctx.host.try_read_text(f"/sys/class/iscsi_session/{sess}/targetname")
                      or "").strip()
            found.append(f"{m.mount_point} ({m.source}) is on iSCSI {sess}"
                         + (f", target {target}" if target else ""))
    if found:
        return warn(f"{len(found)} iSCSI mount(s) found", found)
    return ok("no mounts on iSCSI devices")


# ---- processes ---------------------------------------------------------------------------

@rule("freeze.fapolicyd", "fapolicyd does not block the freeze", error_codes=CODES,
      live_only=True, timeout=15,
      remedy="fapolicyd keeps its database on a file system the backup freezes, and its fanotify "
             "checks can deadlock the freeze. Add MountsToSkip for that mount, or stop fapolicyd "
             "around the backup window, or move its database (db_dir) to a mount that is not "
             "frozen.")
def fapolicyd(ctx):
    """A running fapolicyd daemon (its DB under /var/lib/fapolicyd on a frozen mount)."""
    if not ctx.host.live:
        raise SkipRule(SkipReason.OFFLINE_ROOT)
    running = [p for p in ctx.fact(processes) if p.comm == "fapolicyd"]
    if not running:
        return ok("fapolicyd is not running")
    targets, _ = freeze_targets(ctx)
    db = "/var/lib/fapolicyd"
    holder = max((m for m in targets if db == m.mount_point or db.startswith(
        m.mount_point.rstrip("/") + "/")), key=lambda m: len(m.mount_point), default=None)
    where = (f"its database {db} is on {holder.mount_point}, which is frozen" if holder
             else f"its database {db} is not on a frozen mount")
    res = warn if holder else ok
    return res(f"fapolicyd is running (pid {running[0].pid}); {where}",
               [f"pid {p.pid}: {p.cmdline[:120]}" for p in running])


@rule("freeze.lingering_safefreeze", "No safefreeze process is left running",
      error_codes=CODES + ("UserErrorFsFreezeTimeout",), live_only=True, timeout=15,
      remedy="A safefreeze stuck in state D is waiting in the kernel's freeze; find what blocks "
             "it (often fapolicyd or another freezer). Send it SIGUSR1 to make it thaw; never "
             "SIGKILL it, which would leave the file systems frozen.")
def lingering_safefreeze(ctx):
    """safefreeze runs only for seconds during a backup; one that is stuck (state D) or left
    behind blocks the next freeze."""
    found = [p for p in ctx.fact(processes) if p.comm == "safefreeze"]
    if not found:
        return ok("no safefreeze process")
    stuck = [p for p in found if p.state == "D"]
    evidence = [f"pid {p.pid} state {p.state}: {p.cmdline[:160]}" for p in found]
    if stuck:
        return fail(f"{len(stuck)} safefreeze process(es) are stuck in the kernel (state D)",
                    evidence)
    return warn("safefreeze is running: a backup is freezing right now, or one was left behind",
                evidence)


# ---- the extension's log -----------------------------------------------------------------

@rule("freeze.extension_log", "The backup extension's last freeze did not fail",
      error_codes=CODES + OPEN_CODES, timeout=15,
      remedy="The first 'Failed to FIFREEZE' (or 'Failed to open') line names the mount that "
             "broke the freeze; the 'Failed to FITHAW' lines after it are only its consequence. "
             "Run `azbdiag check --only freeze` for the cause on that mount.")
def extension_log(ctx):
    """Reads the last freeze attempt in VMSnapshotLinux's extension.log."""
    if not ctx.host.exists(EXT_LOG):
        raise SkipRule(SkipReason.NO_INPUT, f"no {EXT_LOG} (no backup has run on this VM)")
    try:
        text = ctx.host.read_tail(EXT_LOG, 4 * 1024 * 1024)
    except OSError as exc:
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read {EXT_LOG}: {exc.strerror}") from None
    attempts = parse_freeze_log(text)
    if not attempts:
        return ok("no freeze attempt in the extension log")
    last = attempts[-1]
    earlier = sum(1 for a in attempts[:-1] if a.failed)
    note = [f"{earlier} earlier attempt(s) in the log failed"] if earlier else []
    if last.open_failures:
        point, err, n = last.open_failures[0]
        return fail(f"the last freeze could not open {point}: {err or 'error'}",
                    [f"line {n}: Failed to open: {point} {err}"] + note)
    if last.freeze_failures:
        point, err, n = last.freeze_failures[0]
        thaws = [f"line {x[2]}: FITHAW {x[0]}: {x[1]} (a consequence)" for x in
                 last.thaw_failures[:5]]
        return fail(f"the last freeze failed first on {point}: {err or 'error'}",
                    [f"line {n}: Failed to FIFREEZE: {point} {err}"] + thaws + note)
    if last.thaw_failures:
        point, err, n = last.thaw_failures[0]
        return warn(f"the last thaw failed on {point}: {err}", [f"line {n}"] + note)
    return ok("the last freeze in the extension log succeeded", note)


# ---- freeze test (azbdiag/freeze.py does the freezing) -----------------------------------

@rule("freeze.freeze_test", "Each mount freezes and thaws (--freeze-test)", error_codes=CODES,
      needs_root=True, live_only=True, opt_in="freeze_test", timeout=170,
      remedy="See the other freeze.* results for the mount that failed; `fsfreeze -f MOUNT` "
             "followed at once by `fsfreeze -u MOUNT` reproduces it.")
def freeze_test(ctx):
    """Freezes and thaws each mount in turn, as the backup would, with a watchdog process that
    thaws after a few seconds even if azbdiag is killed."""
    from azbdiag import freeze

    running = backup_in_progress(ctx.host)     # a fresh look at /proc: a backup may have started
    if running:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "a backup snapshot is running now: "
                       + running[0])
    targets, notes = freeze_targets(ctx)
    if not targets:
        raise SkipRule(SkipReason.NOT_APPLICABLE, "no mount to freeze")
    results = [freeze.freeze_thaw(ctx.host, m.mount_point) for m in targets]
    evidence = [r.describe() for r in results] + notes
    failed = [r for r in results if not r.ok]
    if failed:
        return fail(f"{len(failed)} of {len(results)} mount(s) failed the freeze test: "
                    f"{failed[0].mount_point}", evidence)
    return ok(f"{len(results)} mount(s) froze and thawed", evidence)


# ---- fix --freeze ------------------------------------------------------------------------

def holders(host, point: str) -> List[str]:
    """Processes that keep `point` busy: open files, cwd, root or mapped files under it."""
    prefix = point.rstrip("/") + "/"
    me = str(os.getpid())
    found = []

    def under(path: str) -> bool:
        path = path.replace(" (deleted)", "")
        return path == point or path.startswith(prefix)

    for pid in host.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        why = []
        for what in ("cwd", "root"):
            try:
                if point != "/" and under(host.readlink(f"/proc/{pid}/{what}")):
                    why.append(what)
            except OSError:
                pass
        for fd in host.listdir(f"/proc/{pid}/fd"):
            try:
                if under(host.readlink(f"/proc/{pid}/fd/{fd}")):
                    why.append("open file")
                    break
            except OSError:
                continue
        maps = host.try_read_text(f"/proc/{pid}/maps", 2 * 1024 * 1024) or ""
        if any(under(line.split(None, 5)[5]) for line in maps.splitlines()
               if len(line.split(None, 5)) == 6):
            why.append("mapped file")
        if why:
            comm = (host.try_read_text(f"/proc/{pid}/comm", 256) or "?").strip()
            found.append(f"{comm} (pid {pid}: {', '.join(why)})")
    return found


def boot_check_advice(host, fstype: str, device: str) -> str:
    """How this distro can be told to check / at the next boot, and how to undo it."""
    args = "fsck.mode=force fsck.repair=yes"
    if fstype in ("ext2", "ext3", "ext4"):
        return (f"schedule a check at the next boot with `tune2fs -C 2 -c 1 {device}` "
                f"(mount count above the maximum; undo: `tune2fs -c -1 {device}`) or the kernel "
                f"arguments {args}")
    if uses_grubby(host):
        how = (f"`grubby --update-kernel=DEFAULT --args='{args}'` (undo: `grubby "
               f"--update-kernel=DEFAULT --remove-args='{args}'`)")
    else:
        how = (f"adding {args} to GRUB_CMDLINE_LINUX in /etc/default/grub and running "
               f"update-grub (undo: remove them and run update-grub again)")
    return f"schedule a forced check at the next boot by {how}"


def remount_options(entry: dict) -> str:
    opts = [o for o in entry.get("options") or [] if o]
    for o in entry.get("super_options") or []:
        if o not in ("rw", "ro", "seclabel") and o not in opts:
            opts.append(o)
    return ",".join(opts) or "defaults"


@fix("freeze", title="Check and repair file systems the backup cannot freeze",
     rules=("freeze.fs_state", "freeze.read_only"), order=90, live_only=True)
def plan_freeze(ctx, findings):
    """For each file system that is not clean: unmount, check and repair, mount again."""
    host = ctx.host
    seen, entries = set(), []
    for res in findings:
        for entry in res.data.get("bad", []):
            if entry["mount_point"] not in seen:
                seen.add(entry["mount_point"])
                entries.append(entry)
    table = parse_mountinfo(host.try_read_text("/proc/self/mountinfo") or "")
    fstab = {m.mount_point for m in parse_fstab(host.try_read_text("/etc/fstab") or "")
             if "noauto" not in m.options}
    refusals, actions = [], []
    for e in entries:
        point, dev, fstype = e["mount_point"], e["device"], e["fstype"]
        if point == "/":
            refusals.append(f"/ cannot be unmounted on the running system: "
                            f"{boot_check_advice(host, fstype, dev)}, {RESCUE}")
            continue
        if fstype not in ("ext2", "ext3", "ext4", "xfs"):
            how = (f"run `btrfs check --readonly {dev}` unmounted; --repair only with a backup"
                   if fstype == "btrfs" else "check it with its own tools while unmounted")
            refusals.append(f"{point}: no automatic repair for {fstype} ({how}), {RESCUE}")
            continue
        children = sorted({m.mount_point for m in table if m.mount_point.startswith(
            point.rstrip("/") + "/")})
        others = sorted({m.mount_point for m in table if m.major_minor and any(
            m.major_minor == t.major_minor for t in table if t.mount_point == point)
            and m.mount_point != point})
        busy = holders(host, point)
        if children or others or busy:
            what = "; ".join(x for x in (
                ("held by " + ", ".join(busy[:8])) if busy else "",
                ("has mounts under it: " + ", ".join(children[:5])) if children else "",
                ("also mounted at " + ", ".join(others[:5])) if others else "") if x)
            refusals.append(f"{point} is busy ({what}): stop those and re-run, or schedule "
                            f"its check at the next boot, {RESCUE}")
            continue
        opts = remount_options(e)
        source = e.get("source") or ""
        mount = ["mount", "-t", fstype, "-o", opts,
                 source if source.startswith("/dev/") and source != "/dev/root" else dev, point]
        if point in fstab:      # as configured for boot (also undoes an error's read-only)
            mount, opts = ["mount", point], "its /etc/fstab options"
        actions.append(RunCommand(["umount", point], why=f"{point} is not clean: {e['detail']}"))
        if fstype == "xfs":
            actions.append(RunCommand(mount, why="mount once so that XFS replays its log"))
            actions.append(RunCommand(["umount", point], why="unmount again for the repair"))
            actions.append(RunCommand(["xfs_repair", dev], why="repair the XFS file system",
                                      timeout=3600))
        else:
            actions.append(RunCommand(["e2fsck", "-f", "-y", dev], why="check and repair",
                                      timeout=3600, ok_codes=(0, 1)))
        actions.append(RunCommand(mount, why=f"mount {point} again with "
                                             f"{opts if ' ' in opts else shlex.quote(opts)}"))
    if refusals:
        hint = (f" | nothing was changed; `--mount {actions[0].argv[-1]}` repairs the mounts that "
                f"can be repaired now") if actions else " | nothing was changed"
        raise RefuseFix(" | ".join(refusals) + hint)
    return actions
