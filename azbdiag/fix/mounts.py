"""A file system repair (`fix --freeze`): unmount, check and repair, mount again; and the
promise around it: a file system azbdiag unmounted is never left unmounted and invisible.

Before anything is unmounted the journal records the mount (azbdiag/fix/records.py
`check_mount`): its point, type, device, source, options, whether fstab mounts it, and for a
loop device its backing file and whether the device clears itself at unmount (`mount -o loop`
sets autoclear: the device is gone after umount, so the check and the mount again use the
backing file). Every command of the group is rebuilt from that record, never read back as
text. Steps are journaled like every other step (pending, then ok or failed), and the record's
`state` follows the file system: mounted, unmounted, mounted-again, mounted-ro, lost.

When a step after the unmount fails (e2fsck exit 4 or 8, a device that vanished, a mount that
fails), azbdiag mounts the file system back at once: read-write as it was when the repair
completed, read-only when it did not (then with `noload`/`norecovery` if a plain read-only
mount fails, and from the backing file if the loop device is gone), and says so; `lost` is
recorded when nothing worked, with the command to mount it by hand. `check` reports both
(rule fix.interrupted). A group that was started is always carried through: after SIGTERM
azbdiag finishes the group before it stops, and after SIGKILL the next `fix` or `undo`
finishes it (azbdiag/fix/recover.py), waiting first for a check the killed run left running.
"""

from __future__ import annotations

import os
import time
from typing import Callable, List, Optional, Tuple

from azbdiag import lazyre, state
from azbdiag.fix import RefuseFix, records
from azbdiag.fix.files import clean_rel

UMOUNT_TIMEOUT = 120.0
MOUNT_TIMEOUT = 120.0
REPAIR_TIMEOUT = 3600.0
EXT = ("ext2", "ext3", "ext4")
_LOOP = lazyre.compile(r"/dev/(loop[0-9]+)")


def _loop_info(host, device: str) -> Tuple[Optional[str], bool]:
    """(backing file, autoclear) of a loop device, (None, False) for any other device."""
    m = _LOOP.fullmatch(device or "")
    if not m or not host.live:
        return None, False
    base = f"/sys/block/{m.group(1)}/loop"
    backing = (host.try_read_text(f"{base}/backing_file", 8192) or "").strip()
    autoclear = (host.try_read_text(f"{base}/autoclear", 64) or "").strip() == "1"
    return (backing or None), autoclear


def here(host):
    """The host whose commands and mount table a repair uses: `host` itself when it is live,
    else a live Host on / sharing its runner (a rescue VM repairing an OS disk under --root:
    the mount points in the records are this machine's)."""
    if host.live:
        return host
    from azbdiag.facts.block_devices import machine

    return machine(host)


def remount_options(entry: dict) -> str:
    """The options to mount a file system again with: its mount options, then the super
    options mountinfo shows (`entry`: options and super_options lists)."""
    opts = [o for o in entry.get("options") or [] if o]
    for o in entry.get("super_options") or []:
        if o not in ("rw", "ro", "seclabel") and o not in opts:
            opts.append(o)
    return ",".join(opts) or "defaults"


def _options(raw: str) -> List[str]:
    opts = [o for o in (raw or "").split(",") if o and o != "defaults"]
    if not opts or not records.MOUNT_OPTIONS.fullmatch(",".join(opts)):
        return ["defaults"] if not opts else []
    return opts


def expand(host, action, group: int, fix_id: str, first_n: int) -> Tuple[dict, List[dict]]:
    """The mount record and the planned step records of one RepairFilesystem."""
    host = here(host)
    point, fstype = str(action.point), str(action.fstype)
    if not clean_rel(point) or point == "/":
        raise RefuseFix(f"{point!r} is not a mount point azbdiag can unmount")
    if fstype not in records.FSTYPES:
        raise RefuseFix(f"{point}: no automatic repair for {fstype}")
    opts = _options(action.options)
    if not opts:
        raise RefuseFix(f"{point}: its mount options cannot be given back safely "
                        f"({action.options[:80]!r}); repair it by hand")
    device = str(action.device)
    if not clean_rel(device):
        raise RefuseFix(f"{point}: no device to check ({device!r})")
    backing, autoclear = _loop_info(host, device)
    if backing is not None and (backing.endswith(" (deleted)") or not clean_rel(backing)):
        raise RefuseFix(f"{point}: the backing file of {device} was deleted or is not a plain "
                        f"path ({backing[:120]!r}); it could not be mounted again")
    if autoclear and backing is None:
        raise RefuseFix(f"{point}: {device} clears itself at unmount and its backing file is "
                        f"unknown; it could not be mounted again")
    where = os.path.realpath(state.state_dir())
    if where == point or where.startswith(point.rstrip("/") + "/"):
        raise RefuseFix(f"{point} holds azbdiag's own journal ({where}); repair it from a "
                        f"rescue VM")
    source = str(action.source or "")
    source = source if source.startswith("/dev/") and source != "/dev/root" and \
        clean_rel(source) else device
    mount = {"point": point, "fstype": fstype, "device": device, "source": source,
             "backing_file": backing, "autoclear": autoclear, "options": ",".join(opts),
             "fstab": bool(action.fstab),
             "repair_target": backing if (autoclear and backing) else device,
             "state": "mounted", "note": None}
    offline = bool(getattr(action, "offline", False))
    if offline:
        mount.update(offline=True, was_mounted=bool(action.was_mounted))
    why = {"umount": str(action.why) or f"{point} is not clean",
           "replay-mount": "mount once so that XFS replays its log",
           "replay-umount": "unmount again for the repair",
           "repair": "repair the XFS file system" if fstype == "xfs" else "check and repair",
           "mount": f"mount {point} again with "
                    + ("its /etc/fstab options" if action.fstab else mount["options"])}
    roles = (["umount", "replay-mount", "replay-umount", "repair", "mount"] if fstype == "xfs"
             else ["umount", "repair", "mount"])
    if offline and action.roles:
        roles = [r for r in action.roles if r in records.ROLES]
        why["mount"] = f"mount {point} again with {mount['options']}"
        if not action.was_mounted:
            why["repair"] = (f"{why['umount']}: repair it (not mounted)" if fstype in EXT
                             else f"{why['umount']}: repair the XFS file system (not mounted)")
    steps = []
    for i, role in enumerate(roles):
        kind = "fsck" if role == "repair" else ("umount" if role.endswith("umount") else "mount")
        steps.append({"n": first_n + i, "fix": fix_id, "kind": kind, "role": role,
                      "group": group, "why": _clip(why[role]), "reversible": False,
                      "outcome": "planned"})
    return mount, steps


def _clip(text: str) -> str:
    from azbdiag.redact import redact

    return redact(text)[:2000]


# ---- commands, rebuilt from the mount record ---------------------------------------------

def mount_argv(m: dict, read_only: bool = False, extra: Tuple[str, ...] = (),
               from_backing: bool = False) -> List[str]:
    if m["fstab"] and not read_only and not extra and not from_backing:
        return ["mount", m["point"]]
    opts = [o for o in m["options"].split(",") if o not in ("rw", "ro", "defaults", "loop")]
    # offline, a file system the rescue VM had mounted read-only goes back read-only
    kept_ro = bool(m.get("offline")) and "ro" in m["options"].split(",")
    opts = (["ro"] if read_only or kept_ro else ["rw"]) + opts
    loop = from_backing or (m["autoclear"] and m["backing_file"])
    src = m["backing_file"] if loop else m["source"]
    if loop:
        opts.append("loop")
    opts += list(extra)
    return ["mount", "-t", m["fstype"], "-o", ",".join(opts), src, m["point"]]


def repair_argv(m: dict) -> List[str]:
    target = m["repair_target"]
    if m["fstype"] == "xfs":
        return ["xfs_repair"] + (["-f"] if target == m["backing_file"] else []) + [target]
    return ["e2fsck", "-f", "-y", target]


def step_argv(rec: dict, m: dict) -> List[str]:
    role = rec["role"]
    if role in ("umount", "replay-umount"):
        return ["umount", m["point"]]
    if role in ("replay-mount", "mount"):
        return mount_argv(m)
    return repair_argv(m)


def _ok_codes(m: dict) -> Tuple[int, ...]:
    return (0, 1) if m["fstype"] in EXT else (0,)


# ---- the live state ----------------------------------------------------------------------

def mounted(host, point: str) -> Optional[dict]:
    """{'read_only': bool, 'source': str} when something is mounted at `point`, else None."""
    from azbdiag.parsers.mounts import parse_mountinfo

    text = host.try_read_text("/proc/self/mountinfo") or ""
    found = None
    for m in parse_mountinfo(text):
        if m.mount_point == point:
            found = {"read_only": "ro" in m.options, "source": m.source}
    return found


def mounted_device(host, device: str) -> List[str]:
    """Where `device` (a block device) is mounted on this machine now, by its device number."""
    from azbdiag.parsers.mounts import parse_mountinfo

    try:
        st = os.stat(device)
    except OSError:
        return []
    if not st.st_rdev:
        return []
    number = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    text = host.try_read_text("/proc/self/mountinfo") or ""
    return [m.mount_point for m in parse_mountinfo(text) if m.major_minor == number]


def holders(host, paths: List[str]) -> List[str]:
    """'comm (pid N)' of the processes that have one of `paths` open (a check left running
    by a killed azbdiag)."""
    wanted = {p for p in paths if p}
    found = []
    me = str(os.getpid())
    for pid in host.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        try:
            fds = host.listdir(f"/proc/{pid}/fd")
        except Exception:   # noqa: BLE001 - a process that vanished or hides its fds
            continue
        for fd in fds:
            try:
                if host.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    comm = (host.try_read_text(f"/proc/{pid}/comm", 256) or "?").strip()
                    found.append(f"{comm} (pid {pid})")
                    break
            except Exception:   # noqa: BLE001
                continue
    return found


def wait_free(host, m: dict, out: Callable[[str], None], limit: float = REPAIR_TIMEOUT + 10,
              sleep=time.sleep) -> bool:
    """Wait until no process has the device or backing file open (at most `limit` s)."""
    paths = [m["device"], m["repair_target"], m.get("backing_file")]
    end = time.monotonic() + limit
    said = False
    while True:
        busy = holders(host, paths)
        if not busy:
            return True
        if not said:
            out(f"     waiting for {', '.join(busy[:3])} to finish with {m['repair_target']}")
            said = True
        if time.monotonic() > end:
            return False
        sleep(0.5)


def _loops_of(host, backing: str) -> List[str]:
    """The loop devices attached to `backing` now."""
    found = []
    try:
        for name in host.listdir("/sys/block"):
            if name.startswith("loop"):
                text = host.try_read_text(f"/sys/block/{name}/loop/backing_file", 8192) or ""
                if text.strip() == backing:
                    found.append(name)
    except Exception:   # noqa: BLE001 - unknown is treated as detached
        return []
    return found


def wait_detached(host, m: dict, limit: float = 15.0, sleep=time.sleep) -> bool:
    """After the unmount of a self-clearing loop device the kernel detaches it a moment
    later; until then a new `mount -o loop` may reuse the dying device and a check of the
    backing file may see stale data. Wait for it (at most `limit` s)."""
    if not (m["autoclear"] and m["backing_file"]):
        return True
    end = time.monotonic() + limit
    while _loops_of(host, m["backing_file"]):
        if time.monotonic() > end:
            return False
        sleep(0.05)
    return True


# ---- running the group -------------------------------------------------------------------

def _save(journal) -> None:
    from azbdiag.fix.steps import _save as save

    save(journal, True)


def run_step(host, journal, rec: dict, hook, out: Callable[[str], None]) -> None:
    """Run one step of a repair group, with the live state checked first (an unmount of
    something not mounted, or a mount of something mounted, is done already)."""
    host = here(host)
    m = journal.data["mounts"][rec["group"]]
    role = rec["role"]
    rec["outcome"] = "pending"
    _save(journal)
    hook(rec["n"], "pending")
    now = mounted(host, m["point"])
    res = None
    if role in ("umount", "replay-umount"):
        if now is not None:
            res = host.run(step_argv(rec, m), timeout=UMOUNT_TIMEOUT)
        wait_detached(host, m)
    elif role in ("replay-mount", "mount"):
        if now is None:
            wait_detached(host, m)
            res = host.run(step_argv(rec, m), timeout=MOUNT_TIMEOUT)
    else:
        if not (wait_free(host, m, out) and wait_detached(host, m)):
            rec.update(outcome="failed", error="the device is still in use by another process")
            _save(journal)
            return
        elsewhere = mounted_device(host, m["device"]) if m.get("offline") else []
        if elsewhere:
            rec.update(outcome="failed", error=f"{m['device']} is mounted at "
                                               f"{', '.join(elsewhere[:3])} now; not repaired")
            _save(journal)
            return
        res = host.run(step_argv(rec, m), timeout=REPAIR_TIMEOUT)
    hook(rec["n"], "acted")
    if res is not None:
        rec.update(rc=res.rc, timed_out=res.timed_out, not_found=res.not_found,
                   stdout=_clip(res.stdout[-2000:]), stderr=_clip(res.stderr[-2000:]))
    codes = _ok_codes(m) if role == "repair" else (0,)
    if res is not None and (res.rc not in codes or res.timed_out or res.not_found):
        last = res.stderr.strip().splitlines()[-1:] if res.stderr.strip() else []
        rec.update(outcome="failed", error=_clip(res.describe() + (f": {last[0]}" if last
                                                                   else ""))[:500])
    else:
        rec["outcome"] = "ok"
        if role in ("umount", "replay-umount"):
            m["state"] = "unmounted"
        elif role == "replay-mount":
            m["state"] = "mounted"
        elif role == "mount":
            m["state"] = "mounted-again"
    _save(journal)
    hook(rec["n"], "done")


def group_steps(journal, g: int) -> List[dict]:
    return [r for r in journal.data["actions"] if r.get("group") == g
            and r["kind"] in records.MOUNT_KINDS]


def repaired(journal, g: int) -> bool:
    return any(r["role"] == "repair" and r["outcome"] == "ok" for r in group_steps(journal, g))


def is_open(journal, g: int) -> bool:
    """A group that was started and not finished."""
    steps = group_steps(journal, g)
    return bool(steps) and steps[0]["outcome"] != "planned" and steps[-1]["outcome"] != "ok"


def mount_back(host, journal, g: int, reason: str, out: Callable[[str], None],
               err: Callable[[str], None]) -> None:
    """Mount group `g` again after `reason` stopped its repair: read-write if the repair
    completed, else read-only; from the backing file when the loop device is gone. A file
    system that was not mounted before (--disk) is left unmounted."""
    host = here(host)
    m = journal.data["mounts"][g]
    if m.get("was_mounted") is False:
        return
    if mounted(host, m["point"]) is not None:
        if m["state"] == "unmounted":
            m["state"] = "mounted-again"
        _save_quietly(journal, err)
        return
    # a file system only unmounted to let an outer one go (offline) has nothing to repair
    read_only = not repaired(journal, g) and any(
        r["role"] == "repair" for r in group_steps(journal, g))
    tries = []
    if not read_only:
        tries.append((mount_argv(m), False))
        if m["backing_file"] and not m["autoclear"]:
            tries.append((mount_argv(m, from_backing=True), False))
    extra = ("noload",) if m["fstype"] in EXT else ("norecovery",)
    tries.append((mount_argv(m, read_only=True), True))
    tries.append((mount_argv(m, read_only=True, extra=extra), True))
    if m["backing_file"] and not m["autoclear"]:
        tries.append((mount_argv(m, read_only=True, from_backing=True), True))
        tries.append((mount_argv(m, read_only=True, extra=extra, from_backing=True), True))
    last = ""
    for argv, ro in tries:
        wait_detached(host, m)
        res = host.run(argv, timeout=MOUNT_TIMEOUT)
        if res.ok:
            m["state"] = "mounted-ro" if ro else "mounted-again"
            m["note"] = _clip(reason)[:500]
            how = "read-only" if ro else "again"
            (err if ro else out)(f"mounted {m['point']} {how} ({records.shell_words(argv)}) "
                                 f"because {reason}")
            _save_quietly(journal, err)
            return
        last = res.describe() + (": " + res.stderr.strip().splitlines()[-1]
                                 if res.stderr.strip() else "")
    m["state"] = "lost"
    m["note"] = _clip(f"{reason}; mounting it again failed: {last}")[:500]
    err(f"{m['point']} is NOT mounted: {reason}, and mounting it again failed ({last}); "
        f"mount it with `{records.shell_words(mount_argv(m, read_only=True))}` once the "
        f"device is back")
    _save_quietly(journal, err)


def _save_quietly(journal, err) -> None:
    try:
        journal.save()
    except OSError as exc:
        err(f"cannot write the journal {journal.dir}: {exc.strerror or exc}")


def finish(host, journal, g: int, hook, out: Callable[[str], None],
           err: Callable[[str], None]) -> bool:
    """Carry an interrupted group through: run its steps that are not ok, in order (each
    checks the live state first); on a failure mount back. True when it ended mounted
    read-write after a completed repair."""
    host = here(host)
    m = journal.data["mounts"][g]
    for rec in group_steps(journal, g):
        if rec["outcome"] == "ok":
            continue
        out(f"  {rec['n']}. {records.describe(rec, journal.data['mounts'])}")
        run_step(host, journal, rec, hook, out)
        if rec["outcome"] != "ok":
            err(f"step {rec['n']} failed: {rec.get('error', '')}")
            mount_back(host, journal, g, f"step {rec['n']} failed ({rec.get('error', '')})",
                       out, err)
            return False
    return m["state"] == "mounted-again" or (m.get("was_mounted") is False and repaired(journal, g))
