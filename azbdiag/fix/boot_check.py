"""`fix --freeze` for `/`: a forced check of `/` at the next boot, planned as file changes that
`azbdiag undo` puts back byte for byte.

`/` cannot be unmounted on the running system, but the boot can check it before it is mounted
read-write. The kernel arguments `fsck.mode=force fsck.repair=yes` make that check run and
repair (`fsck -f -y`): initramfs-tools' init (Debian, Ubuntu) checks the root= device with them
whatever fstab says, so does systemd-fsck in a dracut initramfs (RHEL-like, SLES, Azure Linux:
systemd-fstab-generator gives the root= device pass 1 there), and systemd-fsck-root.service
checks `/` after the switch, or on a boot without an initramfs, when fstab's pass for `/` is
not 0.

The arguments go where GRUB reads them at boot, with no command run:

- BLS systems (RHEL, Alma, Rocky, Oracle 8 and 9, Fedora: GRUB_ENABLE_BLSCFG=true): the
  `options` line of every entry in /boot/loader/entries, as `grubby --args` does;
- otherwise the `linux` lines of the grub.cfg that update-grub or grub2-mkconfig generated
  (/boot/grub/grub.cfg on Debian and Ubuntu, /boot/grub2/grub.cfg elsewhere). Regenerating it
  (a kernel update does) drops them again, which only cancels the check.

Running update-grub after a drop-in in /etc/default/grub.d would leave a generated file that
`undo` cannot restore byte for byte. The arguments stay until removed: the plan says so, and
`azbdiag undo` after the reboot removes them. When the running kernel was booted from another
file than the one found, or a line cannot be edited safely, or `/` is xfs or btrfs, the plan is
refused with what to do instead.
"""

from __future__ import annotations

from typing import List, Tuple

from azbdiag.facts import family
from azbdiag.fix import RefuseFix, WriteFile
from azbdiag.host import Unreadable
from azbdiag.parsers import boot_loader as B

EXT = ("ext2", "ext3", "ext4")
MAX_FILE = 1024 * 1024
ARGS = " ".join(B.FSCK_FORCE)
BLS_DIR = "/boot/loader/entries"
XFS = ("/ is xfs, and xfs cannot be repaired at boot: fsck.xfs does nothing unless the check "
       "is forced, and then only runs `xfs_repair -e` in the initramfs, which stops on a dirty "
       "log (only xfsprogs from 2022 on replays it there); azbdiag does not plan it. Repair / "
       "from a rescue VM: stop this VM, attach its OS disk to a rescue VM without mounting it, "
       "run `xfs_repair` on it there (README: \"Offline mode: `--root`\")")


def _grub_cfgs(host) -> List[str]:
    if family(host) == "debian":
        return ["/boot/grub/grub.cfg"]
    return ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"]


def _read(host, path: str) -> str:
    """The file's text, exactly (a file azbdiag would not write back unchanged is refused)."""
    try:
        data = host.read_bytes(path, MAX_FILE + 1)
    except (OSError, Unreadable) as exc:
        raise RefuseFix(f"cannot read {path} ({exc})") from None
    if len(data) > MAX_FILE:
        raise RefuseFix(f"{path} is larger than {MAX_FILE} bytes; not edited")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RefuseFix(f"{path} is not UTF-8 text; not edited") from None


def _bls(host) -> List[Tuple[str, str, List[B.KernelLine]]]:
    """(path, text, [the options line]) of each BLS entry, when GRUB reads them."""
    try:
        entries = sorted(host.glob(BLS_DIR, "*.conf")) if host.isdir(BLS_DIR) else []
    except Unreadable as exc:
        raise RefuseFix(str(exc)) from None
    if not entries:
        return []
    enabled = B.blscfg_enabled(host.try_read_text("/etc/default/grub", MAX_FILE) or "") or any(
        B.calls_blscfg(host.try_read_text(p, MAX_FILE) or "") for p in _grub_cfgs(host)
        if host.isfile(p))
    if not enabled:
        return []
    out = []
    for path in entries:
        text = _read(host, path)
        line = B.bls_kernel_line(text)
        if line.index < 0:
            raise RefuseFix(f"{path} has no options line; azbdiag does not add one")
        out.append((path, text, [line]))
    return out


def _grub_cfg(host) -> List[Tuple[str, str, List[B.KernelLine]]]:
    for path in _grub_cfgs(host):
        if host.isfile(path):
            text = _read(host, path)
            lines = B.grub_kernel_lines(text)
            if lines:
                return [(path, text, lines)]
    return []


def _running_kernel(host, files) -> str:
    """The kernel this boot started, checked to be one of those `files` boot (live only)."""
    if not host.live:
        return ""
    cmdline = host.try_read_text("/proc/cmdline", 64 * 1024)
    kernel = B.boot_image(cmdline or "")
    if kernel is None:
        raise RefuseFix("the running kernel was not started by GRUB (no BOOT_IMAGE= in "
                        "/proc/cmdline), so azbdiag cannot tell which boot entry to change")
    if not any(line.kernel == kernel for _p, _t, lines in files for line in lines):
        where = ", ".join(p for p, _t, _l in files)
        raise RefuseFix(f"the running kernel {kernel} is not booted from {where}; azbdiag "
                        f"does not change a boot configuration it cannot tie to this boot")
    return kernel


def plan_boot_check(host, entry: dict) -> List[WriteFile]:
    """The file changes that check and repair `/` (the freeze.fs_state entry `entry`) at the
    next boot; RefuseFix with the reason and what to do instead."""
    fstype, dev = entry.get("fstype", ""), entry.get("device", "")
    if fstype == "xfs":
        raise RefuseFix(XFS)
    if fstype not in EXT:
        raise RefuseFix(f"/ is {fstype or 'of an unknown type'}, which the boot does not "
                        f"repair (fsck.{fstype or 'TYPE'}); repair it from a rescue VM, where "
                        f"the disk is attached but not mounted")
    route = "bls"
    files = _bls(host)
    if not files:
        route, files = "grub", _grub_cfg(host)
    if not files:
        raise RefuseFix(f"no GRUB configuration azbdiag can change was found (looked for "
                        f"{BLS_DIR}/*.conf and {', '.join(_grub_cfgs(host))}); add {ARGS} to "
                        f"the kernel command line for one boot by hand")
    _running_kernel(host, files)
    for path, _text, lines in files:
        for line in lines:
            if not line.safe:
                raise RefuseFix(f"{path} line {line.index + 1} is continued or quoted in a way "
                                f"azbdiag does not edit; add {ARGS} to it by hand")
            skip = [w for w in line.words if w in B.FSCK_SKIP]
            if skip:
                raise RefuseFix(f"{path} line {line.index + 1} has {skip[0]}, which turns the "
                                f"boot-time check off; remove it first")
    todo = [(p, t, [ln for ln in lines if not all(w in ln.words for w in B.FSCK_FORCE)])
            for p, t, lines in files]
    todo = [(p, t, lines) for p, t, lines in todo if lines]
    if not todo:
        raise RefuseFix(f"a forced check of / is already asked for at every boot ({ARGS} in "
                        f"{', '.join(p for p, _t, _l in files)}): reboot to run it, and "
                        f"`sudo azbdiag undo` after the reboot removes it; if / is still not "
                        f"clean after that reboot, repair it from a rescue VM")
    tool = "update-grub" if family(host) == "debian" else "grub2-mkconfig"
    how = (f"grubby --update-kernel=ALL --remove-args='{ARGS}' also removes them."
           if route == "bls" else f"A later {tool} (kernel updates run it) drops them.")
    # What the plan shows is cut at 300 characters: the reboot and the undo come first.
    why = (f"{ARGS}: the next boot checks {dev or '/'} (fsck -f -y) before / is mounted "
           f"read-write; reboot to run it. They stay until `sudo azbdiag undo` after the reboot "
           f"puts this file back (every boot checks / until then). {how}")
    actions = [WriteFile(path, B.with_words(text, [ln.index for ln in lines],
                                            B.FSCK_FORCE).encode("utf-8"), why=why)
               for path, text, lines in todo]
    fstab = host.try_read_text("/etc/fstab", MAX_FILE)
    found = B.fstab_root_pass(fstab or "")
    if found is not None and found[1] == "0":
        actions.append(WriteFile("/etc/fstab", B.with_root_pass(_read(host, "/etc/fstab"),
                                                                found[0]).encode("utf-8"),
                                 why="fstab's pass for / is 0: systemd-fsck-root.service, which "
                                     "checks / when the initramfs did not, skips it; pass 1 "
                                     "turns it on (`azbdiag undo` puts 0 back)"))
    return actions
