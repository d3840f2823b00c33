"""The file systems the guest agent works on: /var/lib/waagent must allow execution, and the
root, /var/lib/waagent and /var/log need free space and inodes."""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

from azbdiag.engine import rule
from azbdiag.facts import mounts, mounts_source
from azbdiag.model import SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.df import DfRow, parse_df, statvfs_rows
from azbdiag.parsers.mounts import Mount, parse_mountinfo

LIB = "/var/lib/waagent"
CMD_TIMEOUT = 10.0
REMOTE_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "glusterfs", "ceph", "9p", "afs", "lustre",
             "gpfs", "beegfs", "davfs")


# File systems on which statvfs(2) answers from memory or a local block device. On anything
# else (NFS, CIFS, FUSE, or a type we do not know) it can block in the kernel beyond any
# timeout, so df runs instead, as a child that can be killed.
LOCAL_FS = frozenset(("ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "vfat", "f2fs", "jfs",
                      "reiserfs", "overlay", "squashfs"))


def _covering_mount(ctx, path: str):
    try:
        table = ctx.fact(mounts)
    except SkipRule:
        return None
    return _covering(table, path)


def _covering(table, path: str):
    best = None
    for m in table:
        mp = m.mount_point.rstrip("/") or "/"
        if path == mp or path.startswith(mp + "/") or mp == "/":
            if best is None or len(mp) > len(best.mount_point.rstrip("/") or "/"):
                best = m
    return best


@rule("agent.noexec", "/var/lib/waagent is not on a noexec mount",
      error_codes=("GuestAgentSnapshotTaskStatusError", "UserErrorGuestAgentStatusUnavailable"),
      remedy="Remove noexec from the mount options of the file system holding /var/lib/waagent "
             "(often /var) in /etc/fstab and remount it.")
def noexec(ctx):
    """Extensions run their scripts from /var/lib/waagent; noexec makes them exit 126."""
    m = _covering_mount(ctx, LIB)
    if m is None:
        raise SkipRule(SkipReason.NO_INPUT, f"no mount table entry covers {LIB}")
    where = f"{m.mount_point} ({m.fstype}, {','.join(m.options)}) in the {mounts_source(ctx.host)}"
    if "noexec" in m.options:
        return fail(f"{LIB} is on {m.mount_point}, mounted noexec: extension scripts fail with "
                    f"exit code 126", [where], mount_point=m.mount_point)
    return ok(f"{LIB} is on {m.mount_point}, which allows execution", [where])


SPACE_WARN_KIB, SPACE_FAIL_KIB = 500 * 1024, 50 * 1024
MOUNTINFO_LIMIT = 16 * 1024 * 1024


def machine_mounts(host) -> List[Mount]:
    """The mounts of the machine azbdiag runs on (offline: the rescue VM's, which hold the
    root's directories), to tell whether a path is on a local file system; [] when unknown."""
    if host.live:
        return []            # the mounts fact is this table
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            return parse_mountinfo(fh.read(MOUNTINFO_LIMIT))
    except OSError:
        return []


def _usage(ctx, path: str) -> Optional[Tuple[DfRow, Optional[DfRow]]]:
    """(space, inodes) of `path` from statvfs(2) when the machine mount holding its real
    path is a local file system; None when it is not (or not known): then df runs."""
    host = ctx.host
    try:
        real = os.path.realpath(host.path(path))
    except OSError:
        return None
    if host.live:
        try:
            table = ctx.fact(mounts)
        except SkipRule:
            return None
    else:
        table = ctx.fact(machine_mounts)
    m = _covering(table, real)
    if m is None or m.fstype not in LOCAL_FS:
        return None
    try:
        st = host.statvfs(path)
    except (OSError, AttributeError):
        return None
    return statvfs_rows(st, m.source, m.mount_point)


@rule("agent.disk_space", "The root, /var/lib/waagent and /var/log have free space and inodes",
      error_codes=("GuestAgentSnapshotTaskStatusError", "UserErrorGuestAgentStatusUnavailable"),
      remedy="Free space on the file systems of /, /var/lib/waagent and /var/log (old "
             "WALinuxAgent-*.zip and log archives are safe to remove).", timeout=45)
def disk_space(ctx):
    """Free space and inodes of /, /var/lib/waagent and /var/log, each file system once:
    statvfs(2) on a local file system, `df -P` (a child with a timeout) where the machine's
    mount table does not say local; remote file systems of the root are never touched."""
    host = ctx.host
    findings, evidence, worst = [], [], ok
    checked = 0
    measured = set()
    for path in ("/", LIB, "/var/log"):
        if not host.isdir(path):
            continue
        m = _covering_mount(ctx, path)
        if m is not None and (m.fstype in REMOTE_FS or m.fstype.startswith("fuse")):
            evidence.append(f"{path}: on {m.fstype} {m.mount_point}, not measured (remote)")
            continue
        usage = _usage(ctx, path)
        if usage is not None:
            row, irow = usage
        else:
            real = host.path(path)
            space = host.run(["df", "-P", "-k", real], timeout=CMD_TIMEOUT)
            inodes = host.run(["df", "-P", "-i", real], timeout=CMD_TIMEOUT)
            if space.timed_out or inodes.timed_out:
                findings.append(f"{path}: df did not answer within {CMD_TIMEOUT:g} s "
                                f"(hung mount?)")
                worst = warn if worst is ok else worst
                continue
            row, irow = parse_df(space.stdout), parse_df(inodes.stdout)
            if row is None:
                evidence.append(f"{path}: cannot read df output ({space.describe()})")
                continue
        checked += 1
        if (row.filesystem, row.mount_point) in measured:
            continue
        measured.add((row.filesystem, row.mount_point))
        evidence.append(f"{path}: {row.free // 1024} MiB free of {row.total // 1024} MiB "
                        f"({row.percent}% used)"
                        + (f", {irow.free} inodes free ({irow.percent}% used)"
                           if irow and irow.percent is not None else ""))
        if row.free < SPACE_FAIL_KIB or (irow and irow.total and irow.free < 1000):
            findings.append(f"{path}: almost no free space or inodes left")
            worst = fail
        elif row.free < SPACE_WARN_KIB or (row.percent or 0) >= 95 or (
                irow and (irow.percent or 0) >= 95):
            findings.append(f"{path}: running low on space or inodes")
            worst = warn if worst is ok else worst
    if not checked and not findings:
        raise SkipRule(SkipReason.NO_INPUT, "nothing measurable (" + "; ".join(evidence) + ")"
                       if evidence else "no /var/lib/waagent or /var/log")
    if worst is ok:
        return ok("enough free space and inodes", evidence)
    return worst("; ".join(findings), evidence)
