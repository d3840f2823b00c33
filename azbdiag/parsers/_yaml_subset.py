"""The YAML subset reader: the fallback of azbdiag.parsers.yamldoc when PyYAML is not
importable. Private: use yamldoc.parse_yaml, which never raises.

Enough for netplan and cloud-init files: block mappings and sequences, flow [..] and {..},
plain, single- and double-quoted scalars, comments, block scalars (| and >), document
markers. Tags and anchors are dropped; aliases stay as their text. Every scalar is a str
(None for null/~/empty); callers interpret booleans with yamldoc.yaml_bool().
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

_MAX_DEPTH = 60


class YamlSubsetError(Exception):
    def __init__(self, message: str, line: Optional[int] = None):
        super().__init__(message)
        self.line = line


def read(text: str) -> Tuple[Any, Dict[Tuple, Tuple[int, int]], Set[Tuple]]:
    """(data, keys, flow) of the first document in `text`, as yamldoc.YamlDoc describes them;
    raises YamlSubsetError (or RecursionError) when the text is not in the subset.

    >>> read("network:\\n  ethernets:\\n    eth0: {dhcp4: true}\\n")[0]
    {'network': {'ethernets': {'eth0': {'dhcp4': 'true'}}}}
    """
    block = _Block(text)
    data = block.parse()
    return data, block.keys, block.flow


def strip_comment(text: str) -> str:
    """`text` without a trailing YAML comment (a # after a space, outside quotes).

    >>> strip_comment("dhcp4: no   # pinned by ops")
    'dhcp4: no'
    """
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
            raise YamlSubsetError("bad escape in a double-quoted string", line)
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
            raise YamlSubsetError("unterminated double-quoted string", line)
        return _unquote_double(text[1:-1], line)
    if text[0] == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise YamlSubsetError("unterminated single-quoted string", line)
        body = text[1:-1]
        if "'" in body.replace("''", ""):
            raise YamlSubsetError("stray quote in a single-quoted string", line)
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
            raise YamlSubsetError("nesting too deep", self.line)
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
                    raise YamlSubsetError("unterminated [", self.line)
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
                    raise YamlSubsetError("expected , or ] in a flow sequence", self.line)
        if ch == "{":
            self.pos += 1
            mapping: Dict[str, Any] = {}
            while True:
                self._ws()
                if self._peek() == "}":
                    self.pos += 1
                    return mapping
                if not self._peek():
                    raise YamlSubsetError("unterminated {", self.line)
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
                    raise YamlSubsetError("expected , or } in a flow mapping", self.line)
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
                raise YamlSubsetError("unterminated quoted string", self.line)
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
            raise YamlSubsetError("text after a flow collection", self.line)
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
            raise YamlSubsetError("unterminated quoted key", line)
        key = _scalar(text[:end + 1], line) or ""
        rest = text[end + 1:].lstrip()
        if not rest.startswith(":"):
            raise YamlSubsetError("expected ':' after a quoted key", line)
        return key, rest[1:].strip()
    if text.startswith(("[", "{")):
        raise YamlSubsetError("complex keys are not supported", line)
    if text.startswith("? "):
        raise YamlSubsetError("complex keys are not supported", line)
    idx = text.find(": ")
    tab = text.find(":\t")
    if tab != -1 and (idx == -1 or tab < idx):
        idx = tab
    if idx == -1:
        if text.endswith(":"):
            idx = len(text) - 1
        else:
            raise YamlSubsetError("expected 'key: value'", line)
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
                raise YamlSubsetError("tab used for indentation", idx + 1)
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
            stripped = strip_comment(body)
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
            raise YamlSubsetError("unexpected indentation or content", self.lines[self.i][0] + 1)
        return value

    def _node(self, indent: int, path: Tuple, depth: int):
        if depth > _MAX_DEPTH:
            raise YamlSubsetError("nesting too deep", self.lines[self.i][0] + 1)
        idx, ind, text = self.lines[self.i]
        if text.startswith("? ") or text == "?":
            raise YamlSubsetError("complex keys are not supported", idx + 1)
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
                raise YamlSubsetError("unexpected indentation", idx + 1)
            if _is_seq_item(text):
                raise YamlSubsetError("a sequence item where a mapping key was expected", idx + 1)
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
                raise YamlSubsetError("unexpected indentation", idx + 1)
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
        # plain or quoted scalar, possibly continued on more-indented lines: a line break
        # folds into a space, each empty line between two lines into a line break
        last = idx
        while self.i < len(self.lines) and self.lines[self.i][1] > indent:
            nidx = self.lines[self.i][0]
            nxt = self.lines[self.i][2].strip()
            if _looks_like_key(nxt) and rest[0] not in "\"'":
                raise YamlSubsetError("mapping values are not allowed here", nidx + 1)
            between = self.raw_lines[last + 1:nidx]
            empty = len(between) if all(not b.strip() for b in between) else 0
            rest += ("\n" * empty or " ") + nxt
            last = nidx
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

