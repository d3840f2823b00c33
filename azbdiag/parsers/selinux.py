"""SELinux text formats: the config file, kernel switches, security contexts as the tools print
them, relabel previews and audit AVC records. Pure functions: text in, data out, never raise.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Optional, Tuple

from azbdiag import saferegex

MODES = ("enforcing", "permissive", "disabled")

# user:role:type[:level] as printed by ls -Z, stat -c %C, getfattr, matchpathcon, restorecon.
_CONTEXT_RE = re.compile(r"(?<![\w.-])([A-Za-z0-9_.-]+_u):([A-Za-z0-9_.-]+_r):([A-Za-z0-9_.-]+_t)"
                         r"(?::([^\s,\"'>]+))?")


@dataclasses.dataclass
class Context:
    user: str
    role: str
    type: str
    level: str = ""

    def __str__(self) -> str:
        base = f"{self.user}:{self.role}:{self.type}"
        return f"{base}:{self.level}" if self.level else base


def parse_context(text) -> Optional[Context]:
    """The first security context in `text` (str or bytes), or None."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).split(b"\x00", 1)[0].decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None
    m = _CONTEXT_RE.search(text)
    if not m:
        return None
    return Context(m.group(1), m.group(2), m.group(3), m.group(4) or "")


def context_type(text) -> Optional[str]:
    ctx = parse_context(text)
    return ctx.type if ctx else None


# ---- /etc/selinux/config -----------------------------------------------------------------
@dataclasses.dataclass
class SelinuxConfig:
    mode: Optional[str] = None          # enforcing, permissive, disabled; None: not set/unknown
    mode_raw: Optional[str] = None      # the value as written (for evidence)
    mode_line: Optional[int] = None
    policy_type: Optional[str] = None
    type_line: Optional[int] = None


def _config_value(raw: str) -> str:
    value = raw.split("#", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.strip()


def parse_config(text: str) -> SelinuxConfig:
    """SELINUX= is matched case-sensitively at the start of a line and its value compared
    case-insensitively; SELINUXTYPE= is matched case-insensitively (as libselinux does)."""
    conf = SelinuxConfig()
    if not isinstance(text, str):
        return conf
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("SELINUX="):
            value = _config_value(line[len("SELINUX="):])
            conf.mode_raw = value
            conf.mode = value.lower() if value.lower() in MODES else None
            conf.mode_line = number
        elif line[:12].upper() == "SELINUXTYPE=":
            value = _config_value(line[12:])
            conf.policy_type = value or None
            conf.type_line = number
    return conf


# ---- kernel command line and selinuxfs ---------------------------------------------------
@dataclasses.dataclass
class Cmdline:
    selinux: Optional[bool] = None      # selinux=0 turns the LSM off
    enforcing: Optional[bool] = None    # enforcing=0/1 overrides the config mode
    autorelabel: bool = False
    words: List[str] = dataclasses.field(default_factory=list)  # the SELinux words, as written


def _flag(value: str) -> Optional[bool]:
    value = value.strip()
    if value.isdigit():
        return int(value) != 0
    return None


def parse_cmdline(text: str) -> Cmdline:
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
    """The SELinux switches in /etc/default/grub's GRUB_CMDLINE_LINUX(_DEFAULT) lines."""
    words = []
    if isinstance(text, str):
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(("GRUB_CMDLINE_LINUX=", "GRUB_CMDLINE_LINUX_DEFAULT=")):
                words.append(_config_value(line.split("=", 1)[1]))
    return parse_cmdline(" ".join(words))


def parse_enforce(text) -> Optional[bool]:
    """/sys/fs/selinux/enforce: "1" enforcing, "0" permissive (no newline); None if odd."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("ascii", errors="replace")
    if not isinstance(text, str):
        return None
    value = text.strip().strip("\x00")
    if value in ("0", "1"):
        return value == "1"
    return None


def parse_proc_attr(data) -> Optional[Context]:
    """/proc/<pid>/attr/current: a context terminated by NUL or newline."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    if not isinstance(data, (bytes, bytearray)):
        return None
    first = bytes(data).split(b"\x00", 1)[0].split(b"\n", 1)[0]
    return parse_context(first)


# ---- matchpathcon / restorecon -----------------------------------------------------------
@dataclasses.dataclass
class Relabel:
    path: str
    old: str
    new: str
    line: str

    @property
    def old_type(self) -> Optional[str]:
        return context_type(self.old)

    @property
    def new_type(self) -> Optional[str]:
        return context_type(self.new)


_RELABEL_RES = (
    # libselinux >= 2.x: "Would relabel P from OLD to NEW" / "Relabeled P from OLD to NEW"
    re.compile(r"^(?:Would relabel|Relabeled)\s+(?P<path>/.*?)\s+from\s+(?P<old>\S+)\s+to\s+"
               r"(?P<new>\S+)\s*$"),
    # RHEL 7: "restorecon reset P context OLD->NEW"
    re.compile(r"^restorecon reset\s+(?P<path>/.*?)\s+context\s+(?P<old>\S+?)->(?P<new>\S+)\s*$"),
    # matchpathcon -V: "P has context OLD, should be NEW"
    re.compile(r"^(?P<path>/.*?)\s+has context\s+(?P<old>\S+?),\s+should be\s+(?P<new>\S+)\s*$"),
)


def parse_relabels(text: str) -> List[Relabel]:
    """Mismatches from `restorecon -n -v` (any release) or `matchpathcon -V` output."""
    out: List[Relabel] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        line = line.strip()
        for rx in _RELABEL_RES:
            m = rx.match(line)
            if m:
                out.append(Relabel(m.group("path"), m.group("old"), m.group("new"), line))
                break
    return out


def parse_matchpathcon(text: str) -> Dict[str, str]:
    """`matchpathcon PATH...`: path -> the context the policy expects."""
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        path, sep, rest = line.partition("\t")
        if not sep:
            parts = line.split()
            if len(parts) != 2:
                continue
            path, rest = parts
        ctx = parse_context(rest)
        if path.startswith("/") and ctx:
            out[path.strip()] = str(ctx)
    return out


def parse_getfattr(text: str) -> Dict[str, str]:
    """`getfattr -n security.selinux -h P...`: path (with its leading / back) -> context."""
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    current = None
    for line in text.splitlines():
        if line.startswith("# file: "):
            name = line[len("# file: "):].strip()
            current = name if name.startswith("/") else "/" + name
        elif line.startswith("security.selinux=") and current is not None:
            ctx = parse_context(line)
            if ctx:
                out[current] = str(ctx)
    return out


def parse_ls_z(text: str) -> Dict[str, str]:
    """`ls -Zd` (legacy 5-column or new form) or `stat -c '%C %n'`: path -> context."""
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        m = _CONTEXT_RE.search(line)
        if not m:
            continue
        rest = line[m.end():].strip()
        if rest.startswith("/"):
            out[rest] = m.group(0)
    return out


# ---- audit AVC records -------------------------------------------------------------------
@dataclasses.dataclass
class Avc:
    line: str
    denied: bool = True
    perms: List[str] = dataclasses.field(default_factory=list)
    fields: Dict[str, str] = dataclasses.field(default_factory=dict)
    timestamp: Optional[float] = None
    serial: Optional[str] = None

    def get(self, key: str) -> Optional[str]:
        return self.fields.get(key)

    @property
    def comm(self) -> Optional[str]:
        return self.fields.get("comm")

    @property
    def target(self) -> Optional[str]:
        return self.fields.get("path") or self.fields.get("name")

    @property
    def scontext(self) -> Optional[str]:
        return self.fields.get("scontext")

    @property
    def permissive(self) -> Optional[bool]:
        value = self.fields.get("permissive")
        return None if value is None else value.strip() == "1"


_AVC_RE = re.compile(r"avc:\s+(?P<verdict>denied|granted)\s+\{(?P<perms>[^}]*)\}\s+for\s+(?P<rest>.*)$")
_STAMP_RE = re.compile(r"audit\((?P<stamp>[^)]*?):(?P<serial>\d+)\)")
_FIELD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)")


def _stamp(raw: str) -> Optional[float]:
    try:
        value = float(raw)
    except ValueError:
        return None  # ausearch -i prints a local date here; keep the line, drop the time
    return value if value == value and 0 <= value < 1e11 else None


def parse_avc_line(line: str) -> Optional[Avc]:
    """One AVC record: raw audit.log, the kernel log (`audit: type=1400 ...`), or
    `ausearch -i` output. Enriched fields after the 0x1d separator are dropped."""
    if not isinstance(line, str) or "avc:" not in line:
        return None
    line = line.split("\x1d", 1)[0].rstrip("\r\n")
    m = _AVC_RE.search(line)
    if not m:
        return None
    avc = Avc(line=line.strip(), denied=m.group("verdict") == "denied",
              perms=m.group("perms").split())
    for key, value in _FIELD_RE.findall(m.group("rest")):
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        avc.fields.setdefault(key, value)
    s = _STAMP_RE.search(line[:m.start()])
    if s:
        avc.timestamp = _stamp(s.group("stamp"))
        avc.serial = s.group("serial")
    return avc


def parse_avcs(text: str) -> List[Avc]:
    """Every AVC denial in a log text."""
    out: List[Avc] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        avc = parse_avc_line(line)
        if avc is not None and avc.denied:
            out.append(avc)
    return out


FIFREEZE_CMD = "0x5877"   # _IOWR('X', 119, int): the AVC shows the low 16 bits
FITHAW_CMD = "0x5878"


def ioctl_name(avc: Avc) -> Optional[str]:
    cmd = (avc.get("ioctlcmd") or "").lower()
    if cmd in (FIFREEZE_CMD, "0xc0045877"):
        return "FIFREEZE"
    if cmd in (FITHAW_CMD, "0xc0045878"):
        return "FITHAW"
    return None


# ---- file_contexts: what the policy expects for a path (offline matchpathcon) -------------
_FTYPES = {"--": "file", "-d": "dir", "-l": "symlink", "-c": "char", "-b": "block",
           "-s": "socket", "-p": "pipe"}
_META = set(".^$?*+|[({\\")


@dataclasses.dataclass
class FileContextSpec:
    regex: str
    ftype: Optional[str]        # file, dir, symlink, ...; None: any
    context: Optional[str]      # None for <<none>> (never relabelled)
    stem: str                   # the literal prefix before the first regex character
    exact: bool                 # no regex characters at all: wins over every regex spec
    compiled: object = None


def _stem(regex: str) -> Tuple[str, bool]:
    for i, ch in enumerate(regex):
        if ch in _META:
            return regex[:i], False
    return regex, True


def parse_file_contexts(text: str) -> List[FileContextSpec]:
    """Lines `regex [-type] context` of contexts/files/file_contexts(.local). Lines that do not
    parse, or whose regex Python cannot compile, are skipped."""
    out: List[FileContextSpec] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 2:
            regex, ftype, con = parts[0], None, parts[1]
        elif len(parts) == 3 and parts[1] in _FTYPES:
            regex, ftype, con = parts[0], _FTYPES[parts[1]], parts[2]
        else:
            continue
        context = None if con == "<<none>>" else con
        if context is not None and parse_context(context) is None:
            continue
        stem, exact = _stem(regex)
        out.append(FileContextSpec(regex, ftype, context, stem, exact))
    return out


def expected_context(specs: List[FileContextSpec], path: str, ftype: str) -> Optional[FileContextSpec]:
    """The spec libselinux would pick for `path`: exact paths beat regexes, and within each
    group the last matching line wins. None when nothing matches."""
    for group in (True, False):
        for spec in reversed(specs):
            if spec.exact is not group or (spec.ftype and spec.ftype != ftype):
                continue
            if not path.startswith(spec.stem):
                continue
            if spec.compiled is None:
                try:  # the regex comes from the disk: a matcher that cannot run away
                    spec.compiled = saferegex.compile(spec.regex)
                except (saferegex.Unsupported, re.error, RecursionError, OverflowError):
                    spec.compiled = False
            if spec.compiled and spec.compiled.fullmatch(path):
                return spec
    return None
