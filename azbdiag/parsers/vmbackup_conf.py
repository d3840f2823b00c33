"""`/etc/azure/vmbackup.conf`, read the way the backup extension reads it.

The extension builds a Python 3 ConfigParser (strict, BasicInterpolation) for every key it
looks up and swallows any error, after which every key silently takes its default. So the
questions are: would ConfigParser accept this file, and if so which values does the
extension get? We answer with the stdlib parser itself, plus a lenient line scan that can
point at the offending line and that the fixer uses to rewrite the file.
"""

from __future__ import annotations

import configparser
import dataclasses
from typing import Dict, List, Optional, Tuple

from azbdiag import lazyre

SECTION = "SnapshotThread"
KNOWN_SECTIONS = ("SnapshotThread", "Monitor", "lsblkUser")

# Keys the extension reads today ([SnapshotThread] unless noted), lowercased as ConfigParser
# stores them, with their type and default.
INT_KEYS = {
    "timeout": 60,
    "safefreezewaitinseconds": 66,
    "seqsnapshot": 0,
    "sudo_off": 0,
    "loggingoff": 0,
    "disable_logging": 0,
}
STR_KEYS = {
    "mountstoskip": "",
    "snapshotmethod": "firstHostThenGuest",
    "onlylocalfilesystems": "False",
    "writelog": "True",
    "uploadstatusandlog": "True",
    "onappfailuredofsfreeze": "True",
    "onappsuccessdofsfreeze": "True",
}
# How the extension's code spells them (the names users write).
KEY_NAMES = {"safefreezewaitinseconds": "SafeFreezeWaitInSeconds", "mountstoskip": "MountsToSkip",
             "snapshotmethod": "SnapshotMethod", "onlylocalfilesystems": "onlyLocalFilesystems",
             "writelog": "WriteLog", "uploadstatusandlog": "UploadStatusAndLog",
             "loggingoff": "LoggingOff", "onappfailuredofsfreeze": "OnAppFailureDoFsFreeze",
             "onappsuccessdofsfreeze": "OnAppSuccessDoFsFreeze"}
# Keys that are in old docs or old extension versions but are not read any more, with what
# replaced them.
OBSOLETE_KEYS = {
    "fsfreeze": "not read since 2017; freezing is switched with fsFreezeEnabled in "
                "/etc/azure/VMSnapshotScriptPluginConfig.json",
    "safefreeze": "not read since 2017",
    "doseq": "renamed to seqsnapshot in 2019 (0 parallel, 1 or 2 sequential)",
    "snapshotrateexceededfailurecount": "used only by extension versions of early 2019",
    "async_event_logging": "the extension looks it up with a trailing space, so this key is "
                           "never matched",
}
LEGACY_KEYS = {"isanysnapshotfailed"}
SNAPSHOT_METHODS = ("onlyGuest", "firstGuestThenHost", "firstHostThenGuest", "onlyHost")


@dataclasses.dataclass
class Line:
    """One line of /etc/azure/vmbackup.conf as the lenient scan reads it."""
    number: int          # 1-based
    text: str            # the line as decoded, without its newline
    kind: str            # blank, comment, section, option, continuation, junk
    section: Optional[str] = None
    key: Optional[str] = None      # as written
    value: Optional[str] = None


@dataclasses.dataclass
class VmbackupConf:
    """/etc/azure/vmbackup.conf: whether the extension's ConfigParser accepts it, the values it
    then gets, and every line for evidence and for the fixer."""
    raw: bytes
    lines: List[Line]
    parses: bool
    error_kind: Optional[str] = None    # bom, utf16, binary, not_utf8, missing_section,
    #                                     duplicate_option, duplicate_section, syntax
    error_line: Optional[int] = None
    error_message: str = ""
    # What ConfigParser gives the extension (empty when it does not parse): section -> key -> value
    sections: Dict[str, Dict[str, str]] = dataclasses.field(default_factory=dict)
    # Lines with non-ASCII text (valid UTF-8): Python 3.7+ decodes them under any locale
    # (PEP 538/540 coerce the C locale to UTF-8); Python 3.6 only under a UTF-8 locale.
    non_ascii_lines: List[int] = dataclasses.field(default_factory=list)
    # Indented lines that ConfigParser glues onto the previous value: (line, owning key)
    glued_lines: List[Tuple[int, str]] = dataclasses.field(default_factory=list)
    # Keys whose value has a % that BasicInterpolation rejects: key -> line
    interpolation_errors: Dict[str, int] = dataclasses.field(default_factory=dict)

    def line(self, number: Optional[int]) -> Optional[Line]:
        """Line `number` (1-based), or None."""
        if number and 0 < number <= len(self.lines):
            return self.lines[number - 1]
        return None

    @property
    def snapshot_thread(self) -> Dict[str, str]:
        return self.sections.get(SECTION, {})

    def option_lines(self, section: str = SECTION) -> List[Line]:
        """The key = value lines of `section`, in file order."""
        return [ln for ln in self.lines if ln.kind == "option" and ln.section == section]

    def value(self, key: str) -> Optional[str]:
        """The value the extension reads for `key`, or None (the default applies)."""
        if key.lower() in self.interpolation_errors:
            return None
        v = self.snapshot_thread.get(key.lower())
        return v if v not in (None, "") else None


SECTION_RE = lazyre.compile(r"\[(?P<header>.+)\]")
OPTION_RE = lazyre.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")


def _decode(raw: bytes) -> Tuple[str, Optional[str]]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "bom"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace"), "utf16"
    if b"\x00" in raw:
        return raw.decode("latin-1"), "binary"
    return raw.decode("utf-8", errors="replace"), None


def scan_lines(text: str) -> List[Line]:
    """A lenient line scan in ConfigParser's grammar; never fails.

    >>> [(ln.number, ln.kind, ln.section, ln.key, ln.value) for ln in scan_lines(
    ...     "[SnapshotThread]\\ntimeout = 300\\n  MountsToSkip = /data\\n# note\\n")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(1, 'section', 'SnapshotThread', None, None), (2, 'option', 'SnapshotThread', 'timeout', '300'),
     (3, 'continuation', 'SnapshotThread', 'timeout', None), (4, 'comment', 'SnapshotThread', None, None)]
    """
    out: List[Line] = []
    section: Optional[str] = None
    last_key: Optional[str] = None
    for i, raw_line in enumerate(text.splitlines(), 1):
        stripped = raw_line.strip()
        if not stripped:
            out.append(Line(i, raw_line, "blank", section))
            continue
        if stripped.startswith(("#", ";")):
            out.append(Line(i, raw_line, "comment", section))
            continue
        if raw_line[:1] in (" ", "\t") and last_key is not None:
            out.append(Line(i, raw_line, "continuation", section, last_key))
            continue
        m = SECTION_RE.match(stripped) if not raw_line[:1].isspace() else None
        if m:
            section = m.group("header")
            last_key = None
            out.append(Line(i, raw_line, "section", section))
            continue
        m = OPTION_RE.match(stripped)
        if m and m.group("option").strip():
            key = m.group("option").strip()
            last_key = key
            out.append(Line(i, raw_line, "option", section, key, m.group("value").strip()))
            continue
        out.append(Line(i, raw_line, "junk", section))
    return out


def parse(raw: bytes) -> VmbackupConf:
    """Parse the bytes of vmbackup.conf; never raises.

    >>> conf = parse(b"[SnapshotThread]\\ntimeout = 300\\nMountsToSkip = /data,/mnt/nfs\\n")
    >>> conf.parses, conf.value("timeout"), conf.value("MountsToSkip")
    (True, '300', '/data,/mnt/nfs')
    >>> bad = parse(b"[SnapshotThread]\\ntimeout = 300\\ntimeout = 60\\n")
    >>> bad.parses, bad.error_kind, bad.error_line, bad.error_message
    (False, 'duplicate_option', 3, "option 'timeout' appears twice in [SnapshotThread]")
    """
    if not isinstance(raw, (bytes, bytearray)):
        raw = str(raw).encode("utf-8", errors="replace")
    raw = bytes(raw)
    text, encoding_problem = _decode(raw)
    bad_line = 1
    lines = scan_lines(text)
    conf = VmbackupConf(raw=raw, lines=lines, parses=True)
    conf.non_ascii_lines = [
        n for n, line in enumerate(raw.split(b"\n"), 1) if any(b > 0x7F for b in line)
    ]
    conf.glued_lines = [(ln.number, ln.key or "") for ln in lines if ln.kind == "continuation"]

    if encoding_problem is None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            encoding_problem = "not_utf8"
            bad_line = raw.count(b"\n", 0, exc.start) + 1
    if encoding_problem in ("bom", "utf16", "binary", "not_utf8"):
        conf.parses = False
        conf.error_kind = encoding_problem
        conf.error_line = bad_line if encoding_problem == "not_utf8" else 1
        conf.error_message = {
            "not_utf8": "the file is not UTF-8 text: reading it fails in the extension's "
                        "Python, whatever the locale",
            "bom": "the file starts with a UTF-8 byte order mark, so ConfigParser finds no "
                   "section header",
            "utf16": "the file is UTF-16, not ASCII",
            "binary": "the file contains NUL bytes: it is not a text file",
        }[encoding_problem]
        return conf

    parser = configparser.ConfigParser(strict=True)
    try:
        parser.read_string(text, source="vmbackup.conf")
    except configparser.MissingSectionHeaderError as exc:
        conf.parses, conf.error_kind = False, "missing_section"
        conf.error_line = exc.lineno
        conf.error_message = "a line comes before any [section] header"
    except configparser.DuplicateOptionError as exc:
        conf.parses, conf.error_kind = False, "duplicate_option"
        conf.error_line = exc.lineno
        conf.error_message = f"option {exc.option!r} appears twice in [{exc.section}]"
    except configparser.DuplicateSectionError as exc:
        conf.parses, conf.error_kind = False, "duplicate_section"
        conf.error_line = exc.lineno
        conf.error_message = f"section [{exc.section}] appears twice"
    except configparser.ParsingError as exc:
        conf.parses, conf.error_kind = False, "syntax"
        errors = getattr(exc, "errors", [])
        conf.error_line = errors[0][0] if errors else None
        conf.error_message = "a line is neither a section, a comment nor key = value"
    except (configparser.Error, ValueError, UnicodeError) as exc:
        conf.parses, conf.error_kind = False, "syntax"
        conf.error_message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not conf.parses:
        return conf

    for section in parser.sections():
        values: Dict[str, str] = {}
        for key in parser.options(section):
            try:
                values[key] = parser.get(section, key)
            except configparser.InterpolationError:
                values[key] = parser.get(section, key, raw=True)
                if section == SECTION:
                    where = next((ln.number for ln in lines if ln.kind == "option"
                                  and ln.section == section and (ln.key or "").lower() == key),
                                 0)
                    conf.interpolation_errors[key] = where
        conf.sections[section] = values
    return conf


def parse_int(value: Optional[str]) -> Optional[int]:
    """int() as the extension applies it; None when it would fall back to the default.

    >>> parse_int(" 60 "), parse_int("60s")
    (60, None)
    """
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def mounts_to_skip(value: Optional[str]) -> List[str]:
    """The entries exactly as the extension splits them: on commas, with no whitespace strip.

    >>> mounts_to_skip("/data, /mnt/nfs")
    ['/data', ' /mnt/nfs']
    """
    if not value:
        return []
    return value.split(",")


def is_clean(conf: VmbackupConf) -> bool:
    """True when the extension reads the file as written: it parses, is ASCII, has a
    [SnapshotThread] section, and no value is glued or broken by a %.

    >>> is_clean(parse(b"[SnapshotThread]\\ntimeout = 300\\n")), is_clean(parse(b"timeout = 300\\n"))
    (True, False)
    """
    return (conf.parses and conf.error_kind is None and not conf.glued_lines
            and not conf.interpolation_errors and SECTION in conf.sections)
