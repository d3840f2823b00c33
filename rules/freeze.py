"""File system freeze: the mounts the backup freezes and what stops the freeze
(UserErrorFsFreezeFailed, UserErrorUnableToOpenMount): a file system mounted twice, stacked
mounts, mounts that cannot be opened, left-over iSCSI mounts, fapolicyd, a lingering
safefreeze, the extension's own log, and the opt-in freeze test. File systems that are not
clean, and `fix --freeze`, are rules/fs_errors.py.

The mounts checked are the ones the backup extension freezes (ext3/ext4/xfs/btrfs, no loop
devices, no resource disk, no MountsToSkip, "/" last), or exactly the mount points given with
--mount (then whatever the extension would do with them).
"""

from __future__ import annotations

import re
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
)
from azbdiag.facts import same_superblock as superblock_groups
from azbdiag.facts import stacked as stacked_groups
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.freeze_log import parse_freeze_log
from azbdiag.parsers.mounts import Mount, device_key

CODES = ("UserErrorFsFreezeFailed",)
OPEN_CODES = ("UserErrorUnableToOpenMount",)
EXT_LOG = "/var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"


def _label(m: Mount) -> str:
    return f"{m.mount_point} ({m.source}, {m.fstype})"


# ---- the list ----------------------------------------------------------------------------

@rule("freeze.mount_list", "The mounts the backup extension will freeze", error_codes=CODES,
      timeout=20)
def mount_list(ctx):
    """The extension's own list (main/mounts.py Mounts, main/fsfreezer.py freeze_safe): one
    mount point per device, the one lsblk names; ext3/ext4/xfs/btrfs; no loop device (by
    type), no resource disk, no MountsToSkip; in reverse mount order, "/" last. Offline the
    fstab's order stands for the mount order."""
    fl = extension_freeze_list(ctx)
    evidence = [f"{i}. {_label(m)}" for i, m in enumerate(fl.frozen, 1)]
    evidence += [f"also frozen, with {through.mount_point} (the same file system): "
                 f"{m.mount_point}{_root_note(m)}" for m, through in fl.covered]
    evidence += [f"not frozen: {_label(m)}: {why}" for m, why in fl.skipped]
    if ctx.options.get("mounts"):
        targets, notes = freeze_targets(ctx)
        evidence.append("checked here (--mount): " + ", ".join(m.mount_point for m in targets))
        evidence += notes
    if not fl.frozen:
        return ok(f"nothing to freeze in the {mounts_source(ctx.host)}: the backup skips the "
                  f"freeze", evidence)
    return ok(f"{len(fl.frozen)} mount(s) will be frozen, in this order", evidence)


def _root_note(m: Mount) -> str:
    return f" [{m.fs_root}]" if m.fs_root not in ("", "/") else ""


# ---- duplicates --------------------------------------------------------------------------

@rule("freeze.same_superblock", "No file system is mounted at two places", error_codes=CODES,
      timeout=15)
def same_superblock(ctx):
    """Several mount points of one device (bind mounts, btrfs subvolumes, a device mounted
    twice) are information, not a finding: since 2019 the extension keeps one mount point
    per device, the one lsblk names (main/mounts.py Mounts, Utils/DiskUtil.py
    get_mount_points), and FIFREEZE on it freezes the whole file system once. The old
    advice to remove such mounts is historical."""
    groups = superblock_groups(ctx.fact(mounts))
    if not groups:
        return ok(f"every freezable file system has one mount point in the "
                  f"{mounts_source(ctx.host)}")
    fl = extension_freeze_list(ctx)
    frozen = {m.mount_point for m in fl.frozen}
    through = {m.mount_point: t.mount_point for m, t in fl.covered}
    evidence = []
    for g in groups:
        points = [m.mount_point for m in g]
        via = next((p for p in points if p in frozen), None) or \
            next((through[p] for p in points if p in through), None)
        evidence.append(f"{g[0].source} ({g[0].fstype}) is mounted at "
                        + ", ".join(m.mount_point + _root_note(m) for m in g)
                        + (f": frozen once, through {via}" if via else
                           ": not frozen (see freeze.mount_list)"))
    return ok(f"{len(groups)} file system(s) have several mount points; the extension freezes "
              f"each once", evidence)


@rule("freeze.stacked_mounts", "No mount point has two mounts stacked on it",
      error_codes=CODES, timeout=15,
      remedy="Unmount the hidden lower mount, or remove its line from /etc/fstab: the backup "
             "freezes only the top one, so the hidden file system is not frozen.")
def stacked_mounts(ctx):
    """The same path mounted more than once: only the last mount is reachable, and the
    extension keeps only that one (Utils/DiskUtil.py get_mount_points). The same device
    twice (an fstab line written twice) is information; a different device hidden under
    another is not frozen, which makes its part of the backup crash-consistent only."""
    groups = stacked_groups(ctx.fact(mounts))
    if not groups:
        return ok("no stacked mounts")
    same, hidden = [], []
    for g in groups:
        top = g[-1]
        where = (", ".join(f"line {m.line}" for m in g) + ": ") if g[0].line else ""
        if len({device_key(m.source) if not m.major_minor else m.major_minor for m in g}) == 1:
            same.append(f"{top.mount_point}: {where}the same {top.source} ({top.fstype}) "
                        f"{len(g)} times; it is mounted and frozen once")
        else:
            hidden.append(f"{top.mount_point}: {where}" + " under ".join(
                f"{m.source} ({m.fstype})" for m in reversed(g))
                + f"; only {top.source} is frozen")
    if hidden:
        return warn(f"{len(hidden)} mount point(s) hide another file system, which is not "
                    f"frozen" + (f"; {len(same)} more list one device twice" if same else ""),
                    hidden + same)
    return ok(f"{len(same)} mount point(s) are listed more than once for the same device: "
              f"mounted and frozen once", same)


# ---- mounts that cannot be opened --------------------------------------------------------

# Each mount point is opened (as the backup's freezer does) in a background child with its
# output in a temporary file, so a stale NFS mount that hangs leaves that child behind, never
# azbdiag or this shell. The results are polled, every 2 ms at first and at most every 200 ms,
# for up to $WAIT seconds: a healthy machine answers in milliseconds. Builtins only besides
# mktemp, stat, sleep and rm.
_PROBE = r'''
t=$(mktemp -d) || exit 97
i=0
for p in "$@"; do
  i=$((i+1))
  ( if stat -f -- "$p" >/dev/null 2>"$t/e$i" && true <"$p" 2>>"$t/e$i"; then echo ok >"$t/r$i";
    else echo fail >"$t/r$i"; fi ) </dev/null >/dev/null 2>&1 &
done
waited=0; step=2
while :; do
  all=1; j=0
  for p in "$@"; do j=$((j+1)); [ -s "$t/r$j" ] || { all=0; break; }; done
  [ $all = 1 ] && break
  [ $waited -ge $((WAIT * 1000)) ] && break
  if [ $step -lt 10 ]; then d=0.00$step; elif [ $step -lt 100 ]; then d=0.0$step; else d=0.$step; fi
  if sleep $d 2>/dev/null; then waited=$((waited + step)); else sleep 1; waited=$((waited + 1000)); fi
  step=$((step * 2)); [ $step -gt 200 ] && step=200
done
j=0
for p in "$@"; do
  j=$((j+1))
  r=hung; [ -s "$t/r$j" ] && read -r r <"$t/r$j"
  e=
  if [ -s "$t/e$j" ]; then
    while IFS= read -r l || [ -n "$l" ]; do e="$e$l "; done <"$t/e$j"
  fi
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
