"""The SELinux switches on the kernel command line: /proc/cmdline, /etc/default/grub's
GRUB_CMDLINE_LINUX(_DEFAULT) and boot loader entries' options lines. Text in, data out;
nothing here raises."""

from __future__ import annotations

import dataclasses
from typing import List, Optional

from azbdiag.parsers.selinux_config import config_value


@dataclasses.dataclass
class Cmdline:
    """The SELinux switches on a kernel command line (selinux=, enforcing=, autorelabel=)."""
    selinux: Optional[bool] = None      # selinux=0 turns the LSM off
    enforcing: Optional[bool] = None    # enforcing=0/1 overrides the config mode
    autorelabel: bool = False
    words: List[str] = dataclasses.field(default_factory=list)  # the SELinux words, as written


def _flag(value: str) -> Optional[bool]:
    value = value.strip()
    if value.isascii() and value.isdigit():   # isdigit alone takes '²', which int() refuses
        return int(value) != 0
    return None


def parse_cmdline(text: str) -> Cmdline:
    """The SELinux switches of a kernel command line (/proc/cmdline, an options line).

    >>> parse_cmdline("BOOT_IMAGE=/vmlinuz-5.14 ro selinux=0 enforcing=1 autorelabel=1")
    ... # doctest: +NORMALIZE_WHITESPACE
    Cmdline(selinux=False, enforcing=True, autorelabel=True,
            words=['selinux=0', 'enforcing=1', 'autorelabel=1'])
    """
    out = Cmdline()
    if not isinstance(text, str):
        return out
    for word in text.replace("\x00", " ").split():
        key, _, value = word.partition("=")
        if key == "selinux":
            out.selinux = _flag(value)
            out.words.append(word)
        elif key == "enforcing":
            out.enforcing = _flag(value)
            out.words.append(word)
        elif key == "autorelabel":
            out.autorelabel = _flag(value) is True
            out.words.append(word)
    return out


def parse_grub_cmdline(text: str) -> Cmdline:
    """The SELinux switches in /etc/default/grub's GRUB_CMDLINE_LINUX(_DEFAULT) lines.

    >>> parse_grub_cmdline('GRUB_CMDLINE_LINUX="console=ttyS0 enforcing=0"\\n').enforcing
    False
    """
    words = []
    if isinstance(text, str):
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(("GRUB_CMDLINE_LINUX=", "GRUB_CMDLINE_LINUX_DEFAULT=")):
                words.append(config_value(line.split("=", 1)[1]))
    return parse_cmdline(" ".join(words))
