"""The rewrite behind `azbdiag fix --vmbackup-conf`: /etc/azure/vmbackup.conf made readable
for the backup extension, keeping everything else. Text in, text out; nothing here raises.

Decisions (shown to the admin in the plan, one line per change):
* The result is plain ASCII: a BOM is dropped, UTF-16 is converted, NUL and other control
  bytes are dropped, and non-ASCII characters are transliterated (ä -> a, smart quotes ->
  straight ones) or, where there is no ASCII equivalent, dropped. Each changed line is named.
* Duplicate keys in a section: the LAST value wins, as with the Python 2 ConfigParser older
  extension versions used and the way people append a corrected line; the earlier lines stay
  in the file as comments, so nothing is lost.
* A section that appears twice is merged into its first occurrence.
* Lines before any header get the missing [SnapshotThread] header; headers that differ from
  the known sections only in case, spaces, '_' or '-' ([snapshotthread], [Snapshot Thread])
  are respelled. Without any [SnapshotThread], a section whose name mentions "snapshot" is
  renamed, else an empty [SnapshotThread] is added.
* Indented lines (which ConfigParser glues onto the previous value) are moved to column 1;
  lines that are neither a comment, a header nor key = value are commented out.
* A % that breaks ConfigParser's interpolation is doubled (%% reads back as %).
* isanysnapshotfailed = True becomes False.
Every other key, value, comment and blank line is kept, in order; CRLF line ends are kept.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Optional, Tuple

from azbdiag.parsers.vmbackup_conf import (
    KNOWN_SECTIONS,
    OPTION_RE,
    SECTION,
    SECTION_RE,
    VmbackupConf,
    is_clean,
    parse,
)

_TRANSLIT = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u3000": " ",
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
    "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
    "\u00fe": "th", "\u00de": "Th", "\u00f0": "d", "\u00d0": "D", "\u00d7": "x",
    "\ufeff": "", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "",
}
CANONICAL_SECTIONS = {re.sub(r"[\s_\-]", "", s).lower(): s for s in KNOWN_SECTIONS}


def _ascii_char(ch: str) -> str:
    """An ASCII stand-in for one character ('' when there is none)."""
    if ch in _TRANSLIT:
        return _TRANSLIT[ch]
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", ch)
    out = "".join(c for c in decomposed if ord(c) < 128 and (c.isprintable() or c == "\t"))
    return out


def _decode_for_repair(raw: bytes, changes: List[str]) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        changes.append("removed the UTF-8 byte order mark at the start of the file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        changes.append("converted the file from UTF-16 to ASCII")
        text = raw.decode("utf-16", errors="replace")
        return text.lstrip("\ufeff")
    if b"\x00" in raw:
        changes.append(f"removed {raw.count(bytes(1))} NUL byte(s)")
        raw = raw.replace(b"\x00", b"")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        changes.append("the file is not valid UTF-8: read it as Latin-1 before converting to ASCII")
        return raw.decode("latin-1")


def _to_ascii_lines(text: str, changes: List[str]) -> Tuple[List[str], str]:
    """Split into lines the way the extension reads them (\\n, \\r\\n and a lone \\r end a
    line) and make every line printable ASCII; returns (lines, newline)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    if "\r" in text.replace("\r\n", ""):
        changes.append("turned lone carriage returns (old Mac line ends) into line breaks")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for n, line in enumerate(lines, 1):
        if all(32 <= ord(c) < 127 or c == "\t" for c in line):
            out.append(line)
            continue
        new, replaced, dropped = [], [], []
        for ch in line:
            if 32 <= ord(ch) < 127 or ch == "\t":
                new.append(ch)
                continue
            sub = _ascii_char(ch) if ord(ch) >= 128 else ""
            new.append(sub)
            shown = ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else \
                f"\\u{ord(ch):04x}"
            if sub:
                replaced.append(f"{shown}->{sub}")
            else:
                dropped.append(shown)
        what = []
        if replaced:
            what.append("transliterated " + ", ".join(dict.fromkeys(replaced)))
        if dropped:
            what.append("dropped " + " ".join(dict.fromkeys(dropped)))
        changes.append(f"line {n}: {'; '.join(what)}")
        out.append("".join(new))
    return out, newline


@dataclasses.dataclass
class _Item:
    """One line (kept or added) of a section of the rewritten vmbackup.conf."""
    number: int            # line in the decoded input (0 for lines azbdiag adds)
    text: str
    kind: str              # blank, comment, option
    key: str = ""


@dataclasses.dataclass
class _Section:
    """One section of the rewritten vmbackup.conf: its header and its lines."""
    name: str
    header: Optional[str]  # the header line as written; None when azbdiag adds it
    number: int
    items: List[_Item] = dataclasses.field(default_factory=list)


def _escape_percent(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value.startswith("%%", i):
            out.append("%%")
            i += 2
        else:
            out.append("%%" if value[i] == "%" else value[i])
            i += 1
    return "".join(out)


def _render(preamble: List[_Item], sections: List[_Section], newline: str) -> str:
    lines = [i.text for i in preamble]
    for sec in sections:
        lines.append(sec.header if sec.header is not None else f"[{sec.name}]")
        lines.extend(i.text for i in sec.items)
    return "".join(line + newline for line in lines)



def repair(conf) -> Tuple[bytes, List[str]]:
    """Rewrite vmbackup.conf so that the extension can read it and isanysnapshotfailed is not
    True, keeping every other key and comment. `conf` is a VmbackupConf or the file's bytes.
    Returns (new bytes, changes made, one human-readable line each); the bytes are unchanged
    and the list empty when nothing needs doing. Never raises.

    >>> new, changes = repair(b"timeout = 300\\nisanysnapshotfailed = True\\n")
    >>> new
    b'[SnapshotThread]\\ntimeout = 300\\nisanysnapshotfailed = False\\n'
    >>> for change in changes: print(change)
    added the missing [SnapshotThread] header before line 1
    line 2: set isanysnapshotfailed to False (was 'True')
    >>> repair(new)
    (b'[SnapshotThread]\\ntimeout = 300\\nisanysnapshotfailed = False\\n', [])
    """
    raw = conf.raw if isinstance(conf, VmbackupConf) else conf
    if not isinstance(raw, (bytes, bytearray)):
        raw = str(raw).encode("utf-8", errors="replace")
    raw = bytes(raw)
    changes: List[str] = []
    text = _decode_for_repair(raw, changes)
    lines, newline = _to_ascii_lines(text, changes)

    preamble: List[_Item] = []
    sections: List[_Section] = []
    current: Optional[_Section] = None
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            item = _Item(n, "", "blank")
        elif stripped.startswith(("#", ";")):
            item = _Item(n, line, "comment")
        else:
            if line[:1] in (" ", "\t"):
                glued = current is not None and any(i.kind == "option" for i in current.items)
                why = "indented, it was glued onto the value above" if glued else \
                    "indentation is easy to misread and would glue it onto a value above it"
                changes.append(f"line {n}: moved the indented line {stripped!r} to column 1 "
                               f"({why})")
                line = stripped
            m = SECTION_RE.match(stripped)
            if m:
                current = _Section(m.group("header"), line, n)
                sections.append(current)
                continue
            m = OPTION_RE.match(stripped)
            if m and m.group("option").strip():
                item = _Item(n, line, "option", m.group("option").strip().lower())
            else:
                changes.append(f"line {n}: commented out {stripped!r}: it is neither a comment, "
                               f"a [section] nor key = value")
                item = _Item(n, "# " + stripped, "comment")
        if current is None:
            if item.kind == "option":
                current = _Section(SECTION, None, n)
                sections.append(current)
                changes.append(f"added the missing [{SECTION}] header before line {n}")
            else:
                preamble.append(item)
                continue
        current.items.append(item)

    # Section names: respell near misses of the known ones.
    for sec in sections:
        canonical = CANONICAL_SECTIONS.get(re.sub(r"[\s_\-]", "", sec.name).lower())
        if canonical and canonical != sec.name:
            changes.append(f"line {sec.number}: renamed [{sec.name}] to [{canonical}] (section "
                           f"names are case-sensitive)")
            sec.name, sec.header = canonical, None
    if not any(sec.name == SECTION for sec in sections):
        guess = next((s for s in sections if "snapshot" in s.name.lower()
                      and s.name not in KNOWN_SECTIONS and s.name != "DEFAULT"), None)
        if guess is not None:
            changes.append(f"line {guess.number}: renamed [{guess.name}] to [{SECTION}], the "
                           f"section the extension reads")
            guess.name, guess.header = SECTION, None
        else:
            others = ", ".join(f"[{s.name}]" for s in sections
                               if any(i.kind == "option" for i in s.items))
            note = f" (the keys in {others} are still not read)" if others else ""
            changes.append(f"added an empty [{SECTION}] section{note}")
            sections.insert(0, _Section(SECTION, None, 0))

    # Merge repeated sections into their first occurrence.
    merged: List[_Section] = []
    by_name: Dict[str, _Section] = {}
    for sec in sections:
        first = by_name.get(sec.name)
        if first is None:
            by_name[sec.name] = sec
            merged.append(sec)
            continue
        changes.append(f"line {sec.number}: merged the second [{sec.name}] section into the first "
                       f"(a section may appear only once)")
        first.items.extend(sec.items)
    sections = merged

    for sec in sections:
        # Duplicate keys: the last one wins, earlier ones become comments.
        last: Dict[str, int] = {}
        for idx, item in enumerate(sec.items):
            if item.kind == "option":
                last[item.key] = idx
        for idx, item in enumerate(sec.items):
            if item.kind == "option" and last[item.key] != idx:
                winner = sec.items[last[item.key]]
                changes.append(f"line {item.number}: {item.text.strip()!r} is repeated in "
                               f"[{sec.name}]; kept the later line {winner.number} "
                               f"({winner.text.strip()!r}) and commented this one out")
                item.text, item.kind = "# duplicate, replaced below: " + item.text.strip(), "comment"
        # isanysnapshotfailed = True -> False
        if sec.name in (SECTION, "DEFAULT"):
            for item in sec.items:
                if item.kind != "option" or item.key != "isanysnapshotfailed":
                    continue
                m = OPTION_RE.match(item.text.strip())
                if m and m.group("value").strip().lower() == "true":
                    new = item.text.strip()[:m.start("value")] + "False"
                    changes.append(f"line {item.number}: set isanysnapshotfailed to False "
                                   f"(was {m.group('value').strip()!r})")
                    item.text = new

    out = _render(preamble, sections, newline)
    # % signs that break interpolation; then make sure the result really is clean.
    for _ in range(3):
        check = parse(out.encode("ascii", errors="replace"))
        if not check.parses or not check.interpolation_errors:
            break
        for item in [i for s in sections if s.name in (SECTION, "DEFAULT") for i in s.items]:
            if item.kind == "option" and item.key in check.interpolation_errors:
                m = OPTION_RE.match(item.text.strip())
                if m:
                    fixed = _escape_percent(m.group("value"))
                    item.text = item.text.strip()[:m.start("value")] + fixed
                    changes.append(f"line {item.number}: doubled the % in {item.key} so that "
                                   f"ConfigParser reads it literally")
        out = _render(preamble, sections, newline)
    new = out.encode("ascii", errors="replace")
    if not is_clean(parse(new)):
        new, extra = _last_resort(new, newline)
        changes.extend(extra)
    if new == raw or (not changes and is_clean(parse(raw))):
        return raw, []       # nothing to do (at most a missing final newline)
    if not changes:
        changes.append("normalised the line layout")
    return new, _by_line(changes)


def _by_line(changes: List[str]) -> List[str]:
    """Changes that name a line in line order, after the whole-file ones."""
    def key(item):
        m = re.match(r"line (\d+):", item[1])
        return (1, int(m.group(1)), item[0]) if m else (0, 0, item[0])

    return [c for _, c in sorted(enumerate(changes), key=key)]


def _last_resort(data: bytes, newline: str) -> Tuple[bytes, List[str]]:
    """Comment out whatever line still stops ConfigParser, one at a time (a safety net for
    inputs the rules above do not foresee)."""
    lines = data.decode("ascii", errors="replace").replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    changes: List[str] = []
    for _ in range(len(lines) + 2):
        conf = parse("".join(x + newline for x in lines).encode("ascii", errors="replace"))
        if is_clean(conf):
            break
        bad = conf.error_line or (conf.glued_lines[0][0] if conf.glued_lines else None) or \
            next(iter(conf.interpolation_errors.values()), None)
        if bad and 0 < bad <= len(lines) and not lines[bad - 1].lstrip().startswith("#"):
            changes.append(f"commented out {lines[bad - 1].strip()!r}, which ConfigParser still "
                           f"rejected")
            lines[bad - 1] = "# " + lines[bad - 1].strip()
            continue
        if SECTION not in conf.sections or not conf.parses:
            lines = ["# " + x.strip() if x.strip() and not x.lstrip().startswith("#") else x.strip()
                     for x in lines]
            lines.insert(0, f"[{SECTION}]")
            changes.append("the file could not be repaired line by line: commented out every "
                           f"line and started a fresh [{SECTION}] section")
            break
    return "".join(x + newline for x in lines).encode("ascii", errors="replace"), changes
