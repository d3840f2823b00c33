"""Guest network configuration and state, as text: netplan and cloud-init YAML (a small YAML
subset parser, no PyYAML at run time), ifcfg files (RHEL and SUSE), NetworkManager keyfiles,
systemd-networkd .network files, ifupdown interfaces files, and `ip` / nmcli / networkctl /
wicked output. Also the line-preserving edits the DHCP fix makes. Pure: never raise.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from typing import Any, Dict, List, Optional, Set, Tuple

# ==== a YAML subset ========================================================================
# Enough for netplan and cloud-init files: block mappings and sequences, flow [..] and {..},
# plain, single- and double-quoted scalars, comments, block scalars (| and >), document
# markers. Tags and anchors are dropped; aliases stay as their text. Every scalar is a str
# (None for null/~/empty); callers interpret booleans with yaml_bool().

_MAX_DEPTH = 60


class _YamlError(Exception):
    def __init__(self, message: str, line: Optional[int] = None):
        super().__init__(message)
        self.line = line


@dataclasses.dataclass
class YamlDoc:
    data: Any = None
    error: Optional[str] = None
    error_line: Optional[int] = None
    # key path -> (0-based line index, indentation of the key) for every block mapping key
    keys: Dict[Tuple, Tuple[int, int]] = dataclasses.field(default_factory=dict)
    # key paths whose value is written in flow style ([..] or {..}) or on one line
    flow: Set[Tuple] = dataclasses.field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.error is None


def _strip_comment(text: str) -> str:
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'" and (i == 0 or text[i - 1] in " \t[{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _unquote_double(body: str, line: Optional[int]) -> str:
    out = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "/": "/",
              " ": " ", "e": "\x1b", "a": "\a", "b": "\b"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            width = {"x": 2, "u": 4, "U": 8}.get(nxt)
            if width:
                digits = body[i + 2:i + 2 + width]
                if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                    code = int(digits, 16)
                    out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                    i += 2 + width
                    continue
            raise _YamlError("bad escape in a double-quoted string", line)
        out.append(ch)
        i += 1
    return "".join(out)


def _scalar(text: str, line: Optional[int]) -> Optional[str]:
    text = text.strip()
    while text.startswith(("!", "&")):          # tags and anchors: drop them
        head, _, rest = text.partition(" ")
        if not rest and not head[1:]:
            break
        text = rest.strip()
        if not text:
            return None
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text[0] == '"':
        if len(text) < 2 or not text.endswith('"') or text.endswith('\\"') and not text.endswith('\\\\"'):
            raise _YamlError("unterminated double-quoted string", line)
        return _unquote_double(text[1:-1], line)
    if text[0] == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise _YamlError("unterminated single-quoted string", line)
        body = text[1:-1]
        if "'" in body.replace("''", ""):
            raise _YamlError("stray quote in a single-quoted string", line)
        return body.replace("''", "'")
    return text


class _Flow:
    """Flow collections: [a, b], {k: v}, nested, over one string."""

    def __init__(self, text: str, line: Optional[int]):
        self.s = text
        self.pos = 0
        self.line = line

    def _ws(self):
        while self.pos < len(self.s) and self.s[self.pos] in " \t\n":
            self.pos += 1

    def _peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def value(self, depth: int = 0):
        if depth > _MAX_DEPTH:
            raise _YamlError("nesting too deep", self.line)
        self._ws()
        ch = self._peek()
        if ch == "[":
            self.pos += 1
            items = []
            while True:
                self._ws()
                if self._peek() == "]":
                    self.pos += 1
                    return items
                if not self._peek():
                    raise _YamlError("unterminated [", self.line)
                item = self.value(depth + 1)
                self._ws()
                if self._peek() == ":":          # [a: b] is a one-pair mapping in a sequence
                    self.pos += 1
                    item = {self._key(item): self.value(depth + 1)}
                    self._ws()
                items.append(item)
                if self._peek() == ",":
                    self.pos += 1
                elif self._peek() != "]":
                    raise _YamlError("expected , or ] in a flow sequence", self.line)
        if ch == "{":
            self.pos += 1
            mapping: Dict[str, Any] = {}
            while True:
                self._ws()
                if self._peek() == "}":
                    self.pos += 1
                    return mapping
                if not self._peek():
                    raise _YamlError("unterminated {", self.line)
                key = self._key(self.value(depth + 1))
                self._ws()
                val = None
                if self._peek() == ":":
                    self.pos += 1
                    self._ws()
                    if self._peek() not in (",", "}"):
                        val = self.value(depth + 1)
                mapping[key] = val
                self._ws()
                if self._peek() == ",":
                    self.pos += 1
                elif self._peek() != "}":
                    raise _YamlError("expected , or } in a flow mapping", self.line)
        if ch in "\"'":
            end = self.pos + 1
            while end < len(self.s):
                if self.s[end] == "\\" and ch == '"':
                    end += 2
                    continue
                if self.s[end] == ch:
                    if ch == "'" and end + 1 < len(self.s) and self.s[end + 1] == "'":
                        end += 2
                        continue
                    break
                end += 1
            if end >= len(self.s):
                raise _YamlError("unterminated quoted string", self.line)
            text = self.s[self.pos:end + 1]
            self.pos = end + 1
            return _scalar(text, self.line)
        start = self.pos
        while self.pos < len(self.s):
            c = self.s[self.pos]
            if c in ",]}":
                break
            if c == ":" and (self.pos + 1 >= len(self.s) or self.s[self.pos + 1] in " ,]}\t"):
                break
            self.pos += 1
        return _scalar(self.s[start:self.pos], self.line)

    @staticmethod
    def _key(value) -> str:
        if isinstance(value, (dict, list)):
            return repr(value)
        return "" if value is None else str(value)

    def parse(self):
        value = self.value()
        self._ws()
        if self.pos != len(self.s):
            raise _YamlError("text after a flow collection", self.line)
        return value


def _balanced(text: str) -> bool:
    depth = 0
    quote = None
    prev = ""
    for ch in text:
        if quote:
            if ch == quote and prev != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        prev = ch
    return depth <= 0 and quote is None


def _split_key(text: str, line: int) -> Tuple[str, str]:
    """`key: rest` -> (key, rest). Keys may be quoted."""
    if text[0] in "\"'":
        q = text[0]
        end = 1
        while end < len(text):
            if text[end] == "\\" and q == '"':
                end += 2
                continue
            if text[end] == q:
                if q == "'" and end + 1 < len(text) and text[end + 1] == "'":
                    end += 2
                    continue
                break
            end += 1
        if end >= len(text):
            raise _YamlError("unterminated quoted key", line)
        key = _scalar(text[:end + 1], line) or ""
        rest = text[end + 1:].lstrip()
        if not rest.startswith(":"):
            raise _YamlError("expected ':' after a quoted key", line)
        return key, rest[1:].strip()
    if text.startswith(("[", "{")):
        raise _YamlError("complex keys are not supported", line)
    if text.startswith("? "):
        raise _YamlError("complex keys are not supported", line)
    idx = text.find(": ")
    tab = text.find(":\t")
    if tab != -1 and (idx == -1 or tab < idx):
        idx = tab
    if idx == -1:
        if text.endswith(":"):
            idx = len(text) - 1
        else:
            raise _YamlError("expected 'key: value'", line)
    key = text[:idx].strip()
    return key, text[idx + 1:].strip()


def _is_seq_item(text: str) -> bool:
    return text == "-" or text.startswith("- ") or text.startswith("-\t")


class _Block:
    def __init__(self, text: str):
        self.raw_lines = text.splitlines()
        self.lines: List[List] = []      # [0-based index, indent, text]
        self.keys: Dict[Tuple, Tuple[int, int]] = {}
        self.flow: Set[Tuple] = set()
        for idx, raw in enumerate(self.raw_lines):
            if idx == 0 and raw.startswith("\ufeff"):
                raw = raw[1:]
            body = raw.lstrip(" ")
            if not body.strip() or body.lstrip().startswith("#"):
                continue
            if body.startswith("\t"):
                raise _YamlError("tab used for indentation", idx + 1)
            if raw.startswith("%"):
                continue
            if body.rstrip() == "---" or body.startswith("--- "):
                if self.lines:
                    break                 # only the first document counts
                rest = body[3:].strip()
                if not rest or rest.startswith("#"):
                    continue
                body = rest
            if body.rstrip() == "...":
                break
            stripped = _strip_comment(body)
            if not stripped:
                continue
            self.lines.append([idx, len(raw) - len(body), stripped])
        self.i = 0

    def parse(self):
        if not self.lines:
            return None
        first = self.lines[0]
        value = self._node(first[1], (), 0)
        if self.i < len(self.lines):
            raise _YamlError("unexpected indentation or content", self.lines[self.i][0] + 1)
        return value

    def _node(self, indent: int, path: Tuple, depth: int):
        if depth > _MAX_DEPTH:
            raise _YamlError("nesting too deep", self.lines[self.i][0] + 1)
        idx, ind, text = self.lines[self.i]
        if text.startswith("? ") or text == "?":
            raise _YamlError("complex keys are not supported", idx + 1)
        if _is_seq_item(text):
            return self._seq(ind, path, depth)
        if ":" not in text or text.startswith(("[", "{", '"', "'")) and not _looks_like_key(text):
            # a lone scalar or flow collection as the whole node
            self.i += 1
            return self._inline(text, ind, path, idx, depth)
        return self._map(ind, path, depth)

    def _map(self, indent: int, path: Tuple, depth: int) -> Dict[str, Any]:
        result: Dict[str, Any] = {}
        while self.i < len(self.lines):
            idx, ind, text = self.lines[self.i]
            if ind < indent:
                break
            if ind > indent:
                raise _YamlError("unexpected indentation", idx + 1)
            if _is_seq_item(text):
                raise _YamlError("a sequence item where a mapping key was expected", idx + 1)
            key, rest = _split_key(text, idx + 1)
            self.i += 1
            kpath = path + (key,)
            self.keys[kpath] = (idx, ind)
            result[key] = self._value(rest, ind, kpath, idx, depth, seq_same_indent=True)
        return result

    def _seq(self, indent: int, path: Tuple, depth: int) -> List[Any]:
        result: List[Any] = []
        while self.i < len(self.lines):
            entry = self.lines[self.i]
            idx, ind, text = entry
            if ind < indent:
                break
            if ind > indent:
                raise _YamlError("unexpected indentation", idx + 1)
            if not _is_seq_item(text):
                break
            ipath = path + (len(result),)
            rest = text[1:].lstrip(" \t")
            if not rest:
                self.i += 1
                result.append(self._value("", ind, ipath, idx, depth, seq_same_indent=False))
                continue
            inner = ind + (len(text) - len(rest))
            if _is_seq_item(rest) or (_looks_like_key(rest) and not rest.startswith(("[", "{"))):
                entry[1], entry[2] = inner, rest      # re-read this line as a nested node
                result.append(self._node(inner, ipath, depth + 1))
                continue
            self.i += 1
            result.append(self._inline(rest, ind, ipath, idx, depth))
        return result

    def _value(self, rest: str, indent: int, path: Tuple, idx: int, depth: int,
               seq_same_indent: bool):
        if rest.startswith(("&", "!")):
            head, _, tail = rest.partition(" ")
            rest = tail.strip()
        if rest == "":
            if self.i < len(self.lines):
                nidx, nind, ntext = self.lines[self.i]
                if nind > indent or (seq_same_indent and nind == indent and _is_seq_item(ntext)):
                    return self._node(nind, path, depth + 1)
            return None
        return self._inline(rest, indent, path, idx, depth)

    def _inline(self, rest: str, indent: int, path: Tuple, idx: int, depth: int):
        self.flow.add(path)
        if rest[0] in "|>":
            lines = []
            while self.i < len(self.lines) and self.lines[self.i][1] > indent:
                nidx, nind, ntext = self.lines[self.i]
                lines.append(self.raw_lines[nidx].strip())
                self.i += 1
            return ("\n" if rest[0] == "|" else " ").join(lines)
        if rest[0] in "[{":
            while not _balanced(rest) and self.i < len(self.lines):
                rest += " " + self.lines[self.i][2].strip()
                self.i += 1
            return _Flow(rest, idx + 1).parse()
        # plain or quoted scalar, possibly continued on more-indented lines
        while self.i < len(self.lines) and self.lines[self.i][1] > indent:
            nxt = self.lines[self.i][2].strip()
            if _looks_like_key(nxt) and rest[0] not in "\"'":
                raise _YamlError("mapping values are not allowed here", self.lines[self.i][0] + 1)
            rest += " " + nxt
            self.i += 1
        return _scalar(rest, idx + 1)


def _looks_like_key(text: str) -> bool:
    if text.startswith(("[", "{")):
        return False
    if text and text[0] in "\"'":
        q = text[0]
        end = text.find(q, 1)
        return end != -1 and text[end + 1:].lstrip().startswith(":")
    return ": " in text or ":\t" in text or text.endswith(":")


def parse_yaml(text) -> YamlDoc:
    """Parse YAML text (the subset above). Errors come back in .error, never raised."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return YamlDoc(error="not text")
    doc = YamlDoc()
    try:
        block = _Block(text)
        doc.data = block.parse()
        doc.keys, doc.flow = block.keys, block.flow
    except _YamlError as exc:
        doc.error, doc.error_line = str(exc), exc.line
    except RecursionError:
        doc.error = "nesting too deep"
    return doc


def yaml_bool(value) -> Optional[bool]:
    """netplan's booleans: true/on/yes/y and false/off/no/n, any case."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    if v in ("true", "on", "yes", "y"):
        return True
    if v in ("false", "off", "no", "n"):
        return False
    return None


def deep_merge(base, extra):
    """netplan's merge: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = deep_merge(out[k], v) if k in out else v
        return out
    return extra


def dig(data, *keys):
    for k in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(k)
    return data


# ==== the result every stack reports for one interface ====================================
@dataclasses.dataclass
class NicConfig:
    stack: str                   # netplan, ifcfg, ifcfg-suse, nm-keyfile, networkd, ifupdown, cloud-init
    file: str                    # guest path of the file that decides
    name: str                    # interface name (or netplan id / NM profile) as configured
    method: str                  # dhcp, static, disabled, unknown
    addresses: List[str] = dataclasses.field(default_factory=list)
    detail: str = ""             # what in the file says so
    line: Optional[int] = None   # 1-based
    key: str = ""                # netplan id / NM profile id, for the fix


def _ipv4_addresses(values) -> List[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    out = []
    for v in values:
        if isinstance(v, dict):        # netplan: - 10.0.0.5/24: {label: ...}
            v = next(iter(v), None)
        if isinstance(v, str) and re.match(r"^\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?$", v.strip()):
            out.append(v.strip())
    return out


# ==== netplan =============================================================================
def netplan_ethernets(merged) -> Dict[str, dict]:
    eth = dig(merged, "network", "ethernets")
    if not isinstance(eth, dict):
        return {}
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in eth.items()}


def netplan_matches(nid: str, cfg: dict, nic: str, mac: Optional[str] = None) -> bool:
    match = cfg.get("match") if isinstance(cfg.get("match"), dict) else None
    if isinstance(cfg.get("set-name"), str) and cfg["set-name"] == nic:
        return True
    if match is None:
        return nid == nic
    name = match.get("name")
    if isinstance(name, str) and fnmatch.fnmatchcase(nic, name):
        return True
    macm = match.get("macaddress")
    if mac and isinstance(macm, str) and macm.lower() == mac.lower():
        return True
    return False


def netplan_method(cfg: dict) -> Tuple[str, List[str], str]:
    dhcp = yaml_bool(cfg.get("dhcp4"))
    addresses = _ipv4_addresses(cfg.get("addresses"))
    if dhcp:
        return "dhcp", addresses, f"dhcp4: {cfg.get('dhcp4')}"
    detail = f"dhcp4: {cfg.get('dhcp4')}" if "dhcp4" in cfg else "no dhcp4 key (default: off)"
    if addresses:
        return "static", addresses, f"{detail}, addresses: {', '.join(addresses)}"
    return "disabled", [], f"{detail} and no IPv4 address"


# ==== cloud-init network config ============================================================
def cloud_init_network(merged) -> Tuple[Optional[bool], Any]:
    """(disabled?, the network config mapping or None) from merged cloud.cfg(.d) data."""
    net = dig(merged, "network")
    if not isinstance(net, dict):
        return None, None
    config = net.get("config")
    if isinstance(config, str) and config.strip().lower() == "disabled":
        return True, None
    if "version" in net:
        return False, net
    return False, None


def cloud_init_nic(net: dict, nic: str, mac: Optional[str] = None):
    """(name, method, addresses, detail) for `nic` in a v1 or v2 cloud-init network config."""
    version = str(net.get("version", "")).strip()
    if version == "2":
        for nid, cfg in netplan_ethernets({"network": net}).items():
            if netplan_matches(nid, cfg, nic, mac):
                method, addrs, detail = netplan_method(cfg)
                return nid, method, addrs, detail
        return None
    if version == "1":
        for entry in net.get("config") or []:
            if not isinstance(entry, dict) or entry.get("type") != "physical":
                continue
            if entry.get("name") != nic and not (mac and str(entry.get("mac_address", "")).lower()
                                                  == mac.lower()):
                continue
            subnets = [s for s in entry.get("subnets") or [] if isinstance(s, dict)]
            types = [str(s.get("type", "")) for s in subnets]
            if any(t in ("dhcp", "dhcp4") for t in types):
                return nic, "dhcp", [], "subnets type: dhcp"
            addrs = _ipv4_addresses([s.get("address") for s in subnets if s.get("type") == "static"])
            if addrs:
                return nic, "static", addrs, "subnets type: static"
            return nic, "disabled", [], "no IPv4 subnet"
    return None


# ==== ifcfg (RHEL and SUSE) ================================================================
_VAR_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _shell_value(raw: str) -> str:
    raw = raw.strip()
    if raw and raw[0] in "\"'":
        q = raw[0]
        end = raw.find(q, 1)
        return raw[1:end] if end != -1 else raw[1:]
    return raw.split("#", 1)[0].strip() if " #" in raw or raw.startswith("#") else raw


def parse_shell_vars(text: str) -> Dict[str, Tuple[str, int]]:
    """KEY=value lines (quoted or not) -> {KEY: (value, 1-based line)}; the last one wins."""
    out: Dict[str, Tuple[str, int]] = {}
    if not isinstance(text, str):
        return out
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        m = _VAR_RE.match(line)
        if m:
            out[m.group(1)] = (_shell_value(m.group(2)), number)
    return out


def ifcfg_method(vars_: Dict[str, Tuple[str, int]],
                 suse: bool = False) -> Tuple[str, List[str], str, Optional[int]]:
    """(method, addresses, detail, line of BOOTPROTO)."""
    boot, line = vars_.get("BOOTPROTO", ("", None))
    value = boot.strip().lower()
    addresses = []
    for key in sorted(vars_):
        if re.match(r"^IPADDR(_?\w*)?$", key):
            addresses += _ipv4_addresses([vars_[key][0].strip()])
    shown = f"BOOTPROTO={boot}" if line else "no BOOTPROTO"
    if suse:
        words = set(value.split("+"))
        if "dhcp" in words or "dhcp4" in words:
            return "dhcp", addresses, shown, line
        if addresses:
            return "static", addresses, f"{shown}, IPADDR={', '.join(addresses)}", line
        return "disabled", [], f"{shown} and no IPADDR", line
    if value in ("dhcp", "bootp"):
        return "dhcp", addresses, shown, line
    if addresses:
        return "static", addresses, f"{shown}, IPADDR={', '.join(addresses)}", line
    return "disabled", [], f"{shown} and no IPADDR (IPv4 off)", line


def ifcfg_set_dhcp(text: str, suse: bool = False) -> str:
    """Set BOOTPROTO to dhcp, keeping the quoting style and every other line."""
    lines = text.splitlines(keepends=True)
    value = "dhcp"
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if line.lstrip().startswith("#"):
            continue
        m = _VAR_RE.match(line.rstrip("\r\n"))
        if m and m.group(1) == "BOOTPROTO":
            raw = m.group(2).strip()
            quote = raw[0] if raw and raw[0] in "\"'" else ""
            ending = line[len(line.rstrip("\r\n")):] or "\n"
            prefix = line[:line.index("BOOTPROTO")]
            lines[i] = f"{prefix}BOOTPROTO={quote}{value}{quote}{ending}"
            return "".join(lines)
    quote = "'" if suse else ""
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    lines.append(f"BOOTPROTO={quote}{value}{quote}\n")
    return "".join(lines)


# ==== INI-style files: NetworkManager keyfiles, systemd-networkd ============================
@dataclasses.dataclass
class IniSection:
    name: str
    line: int                               # 1-based line of the header (0: before any header)
    entries: List[Tuple[str, str, int]] = dataclasses.field(default_factory=list)

    def get(self, key: str) -> Optional[str]:
        found = None
        for k, v, _ in self.entries:
            if k == key:
                found = v
        return found

    def all(self, key: str) -> List[str]:
        return [v for k, v, _ in self.entries if k == key]

    def line_of(self, key: str) -> Optional[int]:
        found = None
        for k, _, n in self.entries:
            if k == key:
                found = n
        return found


def parse_ini(text: str) -> List[IniSection]:
    """Sections in file order (repeated sections stay separate); lines without '=' ignored."""
    sections: List[IniSection] = []
    if not isinstance(text, str):
        return sections
    current = IniSection("", 0)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            if current.entries or current.name:
                sections.append(current)
            current = IniSection(line[1:-1].strip(), number)
            continue
        key, sep, value = line.partition("=")
        if sep:
            current.entries.append((key.strip(), value.strip(), number))
    if current.entries or current.name:
        sections.append(current)
    return sections


def ini_section(sections: List[IniSection], name: str) -> Optional[IniSection]:
    found = [s for s in sections if s.name == name]
    if not found:
        return None
    merged = IniSection(name, found[0].line)
    for s in found:
        merged.entries.extend(s.entries)
    return merged


def _ini_get(sections, section, key) -> Optional[str]:
    s = ini_section(sections, section)
    return s.get(key) if s else None


@dataclasses.dataclass
class Keyfile:
    id: str
    type: str
    interface_name: str
    mac: str
    method: str                      # as written; "" when no [ipv4] method
    method_line: Optional[int]
    addresses: List[str]


def parse_keyfile(text: str) -> Keyfile:
    sections = parse_ini(text)
    ipv4 = ini_section(sections, "ipv4")
    addresses = []
    if ipv4:
        for k, v, _ in ipv4.entries:
            if re.match(r"^address(es)?\d*$", k):
                for part in v.split(";"):
                    addresses += _ipv4_addresses([part.split(",")[0].strip()])
    mac = _ini_get(sections, "ethernet", "mac-address") or _ini_get(sections, "802-3-ethernet",
                                                                     "mac-address") or ""
    return Keyfile(
        id=_ini_get(sections, "connection", "id") or "",
        type=_ini_get(sections, "connection", "type") or "",
        interface_name=_ini_get(sections, "connection", "interface-name") or "",
        mac=mac,
        method=(ipv4.get("method") or "") if ipv4 else "",
        method_line=ipv4.line_of("method") if ipv4 else None,
        addresses=addresses,
    )


def keyfile_method(kf: Keyfile) -> Tuple[str, List[str], str]:
    method = kf.method.strip().lower()
    if method in ("", "auto"):
        return "dhcp", kf.addresses, f"[ipv4] method={kf.method or 'auto (not set)'}"
    if method == "manual":
        if kf.addresses:
            return "static", kf.addresses, f"[ipv4] method=manual, address {', '.join(kf.addresses)}"
        return "disabled", [], "[ipv4] method=manual without an address"
    return "disabled", [], f"[ipv4] method={kf.method}"


def keyfile_set_auto(text: str) -> str:
    """Set [ipv4] method=auto, keeping every other line (adds the key or section if missing)."""
    lines = text.splitlines(keepends=True)
    section = None
    ipv4_header = None
    method_idx = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            if section == "ipv4" and ipv4_header is None:
                ipv4_header = i
            continue
        if section == "ipv4" and line.partition("=")[0].strip() == "method" and "=" in line:
            method_idx = i
    if method_idx is not None:
        raw = lines[method_idx]
        ending = raw[len(raw.rstrip("\r\n")):] or "\n"
        indent = raw[:len(raw) - len(raw.lstrip())]
        lines[method_idx] = f"{indent}method=auto{ending}"
        return "".join(lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    if ipv4_header is not None:
        lines.insert(ipv4_header + 1, "method=auto\n")
    else:
        if lines and lines[-1].strip():
            lines.append("\n")
        lines += ["[ipv4]\n", "method=auto\n"]
    return "".join(lines)


@dataclasses.dataclass
class NetworkdFile:
    match_names: List[str]
    match_macs: List[str]
    match_drivers: List[str]
    match_types: List[str]
    dhcp: str
    dhcp_line: Optional[int]
    addresses: List[str]


def parse_networkd(text: str) -> NetworkdFile:
    sections = parse_ini(text)
    match = ini_section(sections, "Match")
    network = ini_section(sections, "Network")

    def words(key):
        return [w for v in (match.all(key) if match else []) for w in v.split()]

    addresses = []
    if network:
        addresses += _ipv4_addresses([a.strip() for a in network.all("Address")])
    for s in sections:
        if s.name == "Address":
            addresses += _ipv4_addresses([a.strip() for a in s.all("Address")])
    return NetworkdFile(words("Name"), [m.lower() for m in words("MACAddress")], words("Driver"),
                        words("Type"), (network.get("DHCP") or "") if network else "",
                        network.line_of("DHCP") if network else None, addresses)


def networkd_matches(nf: NetworkdFile, nic: str, mac: Optional[str] = None,
                     driver: Optional[str] = None) -> bool:
    def glob_any(patterns, value):
        pats = [p.lstrip("!") for p in patterns if not p.startswith("!")]
        negs = [p[1:] for p in patterns if p.startswith("!")]
        if value is None:
            return None
        if any(fnmatch.fnmatchcase(value, p) for p in negs):
            return False
        return not pats or any(fnmatch.fnmatchcase(value, p) for p in pats)

    if nf.match_names and not glob_any(nf.match_names, nic):
        return False
    if nf.match_macs and (mac is None or mac.lower() not in nf.match_macs):
        return False
    if nf.match_drivers and driver is not None and not glob_any(nf.match_drivers, driver):
        return False
    if nf.match_types and "ether" not in nf.match_types:
        return False
    return True


def networkd_method(nf: NetworkdFile) -> Tuple[str, List[str], str]:
    value = nf.dhcp.strip().lower()
    shown = f"DHCP={nf.dhcp}" if nf.dhcp_line else "no DHCP= (default: off)"
    if value in ("yes", "ipv4", "both", "v4", "true", "on", "1"):
        return "dhcp", nf.addresses, shown
    if nf.addresses:
        return "static", nf.addresses, f"{shown}, Address={', '.join(nf.addresses)}"
    return "disabled", [], f"{shown} and no IPv4 Address="


# ==== ifupdown /etc/network/interfaces =====================================================
@dataclasses.dataclass
class Iface:
    name: str
    family: str
    method: str
    line: int
    options: Dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Interfaces:
    ifaces: List[Iface] = dataclasses.field(default_factory=list)
    auto: List[str] = dataclasses.field(default_factory=list)
    sources: List[str] = dataclasses.field(default_factory=list)        # glob patterns
    source_dirs: List[str] = dataclasses.field(default_factory=list)


def parse_interfaces(text: str) -> Interfaces:
    out = Interfaces()
    if not isinstance(text, str):
        return out
    current: Optional[Iface] = None
    logical = []
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append((number, pending + raw))
        pending = ""
    if pending:
        logical.append((len(text.splitlines()), pending))
    for number, raw in logical:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        head = words[0]
        if head == "iface" and len(words) >= 4:
            current = Iface(words[1], words[2], words[3], number)
            out.ifaces.append(current)
        elif head in ("auto", "allow-auto", "allow-hotplug") or head.startswith("allow-"):
            out.auto += words[1:]
            current = None
        elif head == "source" and len(words) >= 2:
            out.sources += words[1:]
            current = None
        elif head == "source-directory" and len(words) >= 2:
            out.source_dirs += words[1:]
            current = None
        elif head in ("mapping", "iface", "rename", "no-auto-down", "no-scripts"):
            current = None
        elif current is not None and len(words) >= 1:
            current.options[head] = " ".join(words[1:])
    return out


def ifupdown_method(iface: Iface) -> Tuple[str, List[str], str]:
    method = iface.method.lower()
    addr = iface.options.get("address", "")
    addresses = _ipv4_addresses([addr.strip()]) if addr else []
    if method in ("dhcp", "bootp"):
        return "dhcp", addresses, f"iface {iface.name} inet {iface.method}"
    if method == "static":
        return "static", addresses, f"iface {iface.name} inet static" + (
            f", address {addr}" if addr else "")
    return "unknown", addresses, f"iface {iface.name} inet {iface.method}"


# ==== netplan line edit =====================================================================
def netplan_set_dhcp4(text: str, nid: str) -> Tuple[Optional[str], Optional[str]]:
    """Set network.ethernets.<nid>.dhcp4 to true, keeping every other line and comment.
    Returns (new text, None) or (None, why it cannot be done by a line edit)."""
    doc = parse_yaml(text)
    if not doc.ok:
        return None, f"the file does not parse: {doc.error}"
    base = ("network", "ethernets", nid)
    if base not in doc.keys:
        if ("network", "ethernets") in doc.keys and base[:2] not in doc.flow:
            return None, f"no block entry for {nid!r} under network.ethernets; edit it by hand"
        return None, (f"{nid!r} is not written as a block mapping under network.ethernets "
                      f"(flow style); edit it by hand")
    if base in doc.flow:
        return None, f"network.ethernets.{nid} is written in flow style; edit it by hand"
    if not isinstance(dig(doc.data, *base), (dict, type(None))):
        return None, f"network.ethernets.{nid} is not a mapping; edit it by hand"
    lines = text.splitlines(keepends=True)
    key = base + ("dhcp4",)
    if key in doc.keys:
        idx, ind = doc.keys[key]
        raw = lines[idx]
        body = raw[ind:]
        colon = body.find(":")
        rest = body[colon + 1:].rstrip("\r\n")
        comment = rest[len(_strip_comment(rest)):]
        ending = raw[len(raw.rstrip("\r\n")):] or "\n"
        lines[idx] = f"{raw[:ind]}{body[:colon]}: true{comment}{ending}"
        return "".join(lines), None
    # insert dhcp4: true as the first child of the entry, at its children's indentation
    idx, ind = doc.keys[base]
    child = [v for k, v in doc.keys.items() if len(k) == len(base) + 1 and k[:len(base)] == base]
    child_indent = min((c[1] for c in child), default=ind + 2)
    if child_indent <= ind:
        child_indent = ind + 2
    ending = "\r\n" if lines[idx].endswith("\r\n") else "\n"
    if not lines[idx].endswith(("\n", "\r")):
        lines[idx] += ending
    head = lines[idx].rstrip("\r\n")
    if _strip_comment(head.strip()).endswith(":") is False:
        return None, f"network.ethernets.{nid} has an inline value; edit it by hand"
    lines.insert(idx + 1, " " * child_indent + "dhcp4: true" + ending)
    return "".join(lines), None


# ==== live state: ip, /proc/net/route, nmcli, networkctl, wicked ===========================
@dataclasses.dataclass
class Route:
    dest: str
    dev: Optional[str]
    proto: Optional[str]
    via: Optional[str]
    metric: int
    line: str


def parse_ip_route(text: str) -> List[Route]:
    """`ip -4 route show` lines."""
    out: List[Route] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in ("unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit",
                        "multicast", "throw", "anycast", "nat"):
            if words[0] != "unicast":
                continue
            words = words[1:]
            if not words:
                continue
        fields: Dict[str, str] = {}
        i = 1
        while i < len(words) - 1:
            if words[i] in ("dev", "proto", "via", "metric", "src", "scope", "table"):
                fields[words[i]] = words[i + 1]
                i += 2
            else:
                i += 1
        metric = fields.get("metric", "0")
        out.append(Route(words[0], fields.get("dev"), fields.get("proto"), fields.get("via"),
                         int(metric) if metric.isdigit() else 0, line.strip()))
    return out


def parse_proc_net_route(text: str) -> List[Route]:
    out: List[Route] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        dest = "default" if parts[1] == "00000000" else parts[1]
        metric = parts[6] if parts[6].isdigit() else "0"
        out.append(Route(dest, parts[0], None, None, int(metric), line.strip()))
    return out


def default_route_dev(routes: List[Route]) -> Optional[str]:
    defaults = [r for r in routes if r.dest in ("default", "0.0.0.0/0") and r.dev]
    if not defaults:
        return None
    return min(defaults, key=lambda r: r.metric).dev


@dataclasses.dataclass
class Addr:
    ifname: str
    address: str
    flags: List[str]
    line: str


def parse_ip_addr(text: str) -> List[Addr]:
    """`ip -4 -o addr show` lines."""
    out: List[Addr] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        words = line.replace("\\", " ").split()
        if len(words) < 4 or "inet" not in words:
            continue
        i = words.index("inet")
        if i + 1 >= len(words) or i < 1:
            continue
        ifname = words[i - 1].split("@")[0]
        rest = words[i + 2:]
        flags = [w for w in rest if w in ("dynamic", "noprefixroute", "secondary", "permanent",
                                          "deprecated", "tentative")]
        out.append(Addr(ifname, words[i + 1], flags, line.strip()))
    return out


def parse_nmcli_terse(text: str) -> Dict[str, str]:
    """`nmcli -t -f ... device show IF`: FIELD:value lines (\\: unescaped)."""
    out: Dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        m = re.search(r"(?<!\\):", line)
        if not m:
            continue
        key, value = line[:m.start()], line[m.end():]
        out[key.replace("\\:", ":")] = value.replace("\\:", ":")
    return out


def nmcli_has_dhcp4(fields: Dict[str, str]) -> bool:
    return any(k.startswith("DHCP4.OPTION") for k in fields)


_NETWORKCTL_DHCP = re.compile(r"\((?:DHCP4|DHCPv4)\s+via\s+[^)]*\)")


def networkctl_dhcp4(text: str) -> bool:
    return isinstance(text, str) and bool(_NETWORKCTL_DHCP.search(text))


def wicked_dhcp4(text: str) -> bool:
    return isinstance(text, str) and bool(re.search(r"leases:\s+ipv4\s+dhcp\s+granted", text))
