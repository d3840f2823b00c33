"""The kernel command lines GRUB boots with, and the fsck pass of `/`: GRUB's generated
grub.cfg (`linux` lines), Boot Loader Specification entries (/boot/loader/entries/*.conf, read
by GRUB's blscfg on RHEL-like systems), /etc/default/grub's GRUB_ENABLE_BLSCFG, /proc/cmdline's
BOOT_IMAGE and /etc/fstab's pass number of `/`. Text in, data out; the editing helpers return
the new text with every other byte as it was. Nothing here raises."""

from __future__ import annotations

import dataclasses
import re
from typing import List, Optional, Sequence, Tuple

from azbdiag import lazyre
from azbdiag.parsers.selinux_config import config_value

# systemd-fsck and initramfs-tools' init both read these (fsck.mode=force: check even a clean
# file system; fsck.repair=yes: answer yes to every repair, e2fsck -y).
FSCK_FORCE = ("fsck.mode=force", "fsck.repair=yes")
# Either one makes initramfs-tools and systemd-fsck skip the check, whatever else is there.
FSCK_SKIP = ("fsck.mode=skip", "fastboot")

_KERNEL_CMD = lazyre.compile(r"[ \t]*(linux|linuxefi|linux16)[ \t]+(\S+)(.*)")
_DEVICE_PREFIX = lazyre.compile(r"^\([^)/]{0,200}\)")


@dataclasses.dataclass
class KernelLine:
    """One kernel command line the machine may boot with: a grub.cfg `linux` line or a Boot Loader
    Specification entry's options."""
    index: int              # the line's number in the file, from 0 (-1: an entry without one)
    kernel: str             # the kernel image it boots, as written (without a "(hd0,gpt2)")
    words: List[str]        # the arguments on the line
    safe: bool = True       # False: a continued line or open quote azbdiag will not edit


def _lines(text: str) -> List[str]:
    """The lines as GRUB and fstab see them: ended by \\n only, each with its ending."""
    if not isinstance(text, str):
        return []
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _safe(rest: str) -> bool:
    rest = rest.rstrip("\r\n")
    return not rest.endswith("\\") and rest.count("'") % 2 == 0 and \
        rest.count('"') % 2 == 0 and not any(c in rest for c in "#;") and \
        all(c == "\t" or (" " <= c and c != "\x7f") for c in rest)


def kernel_path(word: str) -> str:
    """A kernel image path without GRUB's device prefix (as BOOT_IMAGE= and `linux` write it).

    >>> kernel_path("(hd0,gpt2)/vmlinuz-5.14.0-362.el9.x86_64")
    '/vmlinuz-5.14.0-362.el9.x86_64'
    """
    return _DEVICE_PREFIX.sub("", word or "", count=1)


def boot_image(cmdline: str) -> Optional[str]:
    """The kernel image GRUB booted, from /proc/cmdline's BOOT_IMAGE= (None without one: not
    started by GRUB's `linux` command).

    >>> boot_image("BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-cloud-amd64 root=PARTUUID=x ro\\n")
    '/boot/vmlinuz-6.1.0-28-cloud-amd64'
    >>> boot_image("root=/dev/sda1 ro") is None
    True
    """
    for word in (cmdline or "").replace("\x00", " ").split() if isinstance(cmdline, str) else []:
        if word.startswith("BOOT_IMAGE="):
            return kernel_path(word[len("BOOT_IMAGE="):]) or None
    return None


def grub_kernel_lines(text: str) -> List[KernelLine]:
    """The `linux`, `linuxefi` and `linux16` commands of a generated grub.cfg.

    >>> grub_kernel_lines("menuentry 'Debian GNU/Linux' {\\n"
    ...     "\\tlinux\\t/boot/vmlinuz-6.1.0-28-cloud-amd64 root=PARTUUID=1 ro console=ttyS0\\n}\\n")
    ... # doctest: +NORMALIZE_WHITESPACE
    [KernelLine(index=1, kernel='/boot/vmlinuz-6.1.0-28-cloud-amd64',
                words=['root=PARTUUID=1', 'ro', 'console=ttyS0'], safe=True)]
    """
    out = []
    for i, line in enumerate(_lines(text)):
        m = _KERNEL_CMD.fullmatch(line.rstrip("\r\n"))
        if m:
            out.append(KernelLine(i, kernel_path(m.group(2)), m.group(3).split(),
                                  _safe(m.group(3))))
    return out


def bls_kernel_line(text: str) -> KernelLine:
    """A Boot Loader Specification entry's kernel (`linux`) and its last `options` line (the
    one azbdiag appends to; index -1 when the entry has none).

    >>> bls_kernel_line("title Red Hat Enterprise Linux (5.14.0-362.el9.x86_64) 9.3 (Plow)\\n"
    ...     "linux /vmlinuz-5.14.0-362.el9.x86_64\\n"
    ...     "options root=UUID=1 ro console=ttyS0 $tuned_params\\n")
    ... # doctest: +NORMALIZE_WHITESPACE
    KernelLine(index=2, kernel='/vmlinuz-5.14.0-362.el9.x86_64',
               words=['root=UUID=1', 'ro', 'console=ttyS0', '$tuned_params'], safe=True)
    """
    kernel, index, words, safe = "", -1, [], True
    for i, line in enumerate(_lines(text)):
        key, _, rest = line.strip().partition(" ")
        if key == "linux" and rest.strip():
            kernel = kernel_path(rest.split()[0])
        elif key == "options":
            index, words, safe = i, rest.split(), _safe(rest)
    return KernelLine(index, kernel, words, safe)


def blscfg_enabled(default_grub: str) -> bool:
    """Whether /etc/default/grub turns on GRUB's blscfg (GRUB_ENABLE_BLSCFG=true).

    >>> blscfg_enabled('GRUB_TIMEOUT=1\\nGRUB_ENABLE_BLSCFG="true"\\n')
    True
    """
    value = ""
    for line in _lines(default_grub):
        line = line.strip()
        if line.startswith("GRUB_ENABLE_BLSCFG="):
            value = config_value(line.split("=", 1)[1])
    return value == "true"


def calls_blscfg(grub_cfg: str) -> bool:
    """Whether a grub.cfg reads the BLS entries (a `blscfg` command).

    >>> calls_blscfg("insmod blscfg\\nblscfg\\n")
    True
    """
    return any(line.split()[:1] == ["blscfg"] for line in _lines(grub_cfg))


def with_words(text: str, indexes: Sequence[int], words: Sequence[str]) -> str:
    """`text` with the `words` a line lacks appended to each line of `indexes`, separated by
    a space; every other byte (other lines, line endings) is kept.

    >>> with_words("a\\n  linux /vmlinuz ro\\t\\r\\nb", [1], ["fsck.mode=force", "ro"])
    'a\\n  linux /vmlinuz ro fsck.mode=force\\r\\nb'
    """
    lines = _lines(text)
    for i in indexes:
        if not 0 <= i < len(lines):
            continue
        line = lines[i]
        body = line.rstrip("\r\n")
        end = line[len(body):]
        have = body.split()
        extra = [w for w in words if w not in have]
        if extra:
            lines[i] = body.rstrip(" \t") + "".join(" " + w for w in extra) + end
    return "".join(lines)


def fstab_root_pass(text: str) -> Optional[Tuple[int, str]]:
    """The line number and the pass field of `/` in /etc/fstab (the last line for `/` wins,
    as for mount; "0" when the field is left out). None when fstab has no line for `/`.

    >>> fstab_root_pass("# /etc/fstab\\nPARTUUID=1 / ext4 rw,discard,errors=remount-ro 0 1\\n")
    (1, '1')
    >>> fstab_root_pass("UUID=1 / ext4 defaults\\n")
    (0, '0')
    """
    found = None
    for i, line in enumerate(_lines(text)):
        fields = [f for f in re.split(r"[ \t]+", line.rstrip("\r\n")) if f]   # as getmntent
        if len(fields) >= 4 and not fields[0].startswith("#") and fields[1] == "/":
            found = (i, fields[5] if len(fields) >= 6 else "0")
    return found


def with_root_pass(text: str, index: int, value: str = "1") -> str:
    """`text` with the pass field of line `index` (an fstab line for `/`) set to `value`,
    the spacing kept; dump 0 is added when the line has no fields past the options.

    >>> with_root_pass("UUID=1\\t/\\text4\\tdefaults\\t0\\t0\\n", 0)
    'UUID=1\\t/\\text4\\tdefaults\\t0\\t1\\n'
    >>> with_root_pass("UUID=1 / ext4 defaults\\n", 0)
    'UUID=1 / ext4 defaults 0 1\\n'
    """
    lines = _lines(text)
    if not 0 <= index < len(lines):
        return text
    line = lines[index]
    body = line.rstrip("\r\n")
    end = line[len(body):]
    parts = re.split(r"([ \t]+)", body)     # fields at even positions, spacing at odd
    at = [i for i in range(0, len(parts), 2) if parts[i]]
    if len(at) >= 6:
        parts[at[5]] = value
        body = "".join(parts)
    elif len(at) >= 4:
        body = body.rstrip(" \t") + (" " if len(at) == 5 else " 0 ") + value
    lines[index] = body + end
    return "".join(lines)
