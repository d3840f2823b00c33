"""YAML files as netplan and cloud-init read them, for checking and for line edits.

The text is read with PyYAML's safe composer when PyYAML is importable (python3-yaml, present
wherever cloud-init is; netplan itself reads with libyaml), else with the small subset reader
in _yaml_subset. Both give the same YamlDoc: every scalar is a str (None for null, ~ and an
empty value) so that the text shown in evidence is the text in the file, and callers read
booleans with yaml_bool(); `keys` holds the line and column of every block mapping key, which
the netplan edit needs. PyYAML is only asked to compose (build the node graph): it never
constructs Python objects, so no tag in a file can run code. Input is bounded in size, in
nesting depth and in the number of nodes aliases can expand to. Nothing here raises.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Set, Tuple

from azbdiag.parsers import _yaml_subset

_NOT_YET = object()
_pyyaml: Any = _NOT_YET          # the yaml module, None when it is not importable
_loaders: Dict[int, Any] = {}

MAX_YAML_CHARS = 1024 * 1024     # callers read at most 1 MiB of a file
MAX_YAML_NODES = 100_000         # aliases can expand a small text into a huge tree
MAX_YAML_DEPTH = 60              # collections inside collections; netplan needs about 8
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclasses.dataclass
class YamlDoc:
    """A YAML file as netplan or cloud-init reads it: its data (every scalar a str), the parse
    error if any, and where each block mapping key is written."""
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


def _as_text(text) -> Tuple[Optional[str], Optional[str]]:
    """(text, None) or (None, why it cannot be read)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None, "not text"
    if len(text) > MAX_YAML_CHARS:
        return None, f"larger than {MAX_YAML_CHARS} characters"
    return text, None


def parse_yaml(text) -> YamlDoc:
    """The first document of a YAML text, read with PyYAML when it is importable, else with
    the subset reader. Errors come back in .error, never raised.

    >>> doc = parse_yaml("network:\\n  version: 2\\n  ethernets:\\n    eth0:\\n      dhcp4: true\\n")
    >>> doc.data
    {'network': {'version': '2', 'ethernets': {'eth0': {'dhcp4': 'true'}}}}
    >>> doc.keys[("network", "ethernets", "eth0", "dhcp4")]    # (line index, column)
    (4, 6)
    >>> parse_yaml("network:\\n\\tethernets: x\\n").ok
    False
    """
    if _yaml() is not None:
        return parse_yaml_pyyaml(text)
    return parse_yaml_subset(text)


def parse_yaml_subset(text) -> YamlDoc:
    """parse_yaml with the subset reader only (what runs where PyYAML is missing).

    >>> parse_yaml_subset("eth0: {dhcp4: yes, addresses: [10.0.0.5/24]}\\n").data
    {'eth0': {'dhcp4': 'yes', 'addresses': ['10.0.0.5/24']}}
    >>> parse_yaml_subset("a: [1, 2\\n").error
    'expected , or ] in a flow sequence'
    """
    text, why = _as_text(text)
    if text is None:
        return YamlDoc(error=why)
    doc = YamlDoc()
    try:
        doc.data, doc.keys, doc.flow = _yaml_subset.read(text)
    except _yaml_subset.YamlSubsetError as exc:
        doc.error, doc.error_line = str(exc), exc.line
    except RecursionError:
        doc.error = "nesting too deep"
    return doc


class _TooBig(Exception):
    pass


def _yaml():
    """PyYAML, imported on first use (commands that read no YAML do not pay for it)."""
    global _pyyaml
    if _pyyaml is _NOT_YET:
        try:
            import yaml
        except ImportError:     # the subset reader takes over
            yaml = None
        _pyyaml = yaml
    return _pyyaml


def _bounded_loader(yaml):
    """PyYAML's safe loader, refusing collections nested deeper than MAX_YAML_DEPTH before
    its recursive composer can exhaust the stack."""
    if id(yaml) not in _loaders:
        class BoundedLoader(yaml.SafeLoader):
            _depth = 0

            def compose_node(self, parent, index):
                if self._depth >= MAX_YAML_DEPTH:
                    raise yaml.composer.ComposerError(None, None, "nesting too deep",
                                                      self.peek_event().start_mark)
                self._depth += 1
                try:
                    return super().compose_node(parent, index)
                finally:
                    self._depth -= 1

        _loaders[id(yaml)] = BoundedLoader
    return _loaders[id(yaml)]


class _Nodes:
    """PyYAML's node graph as the subset reader's data, keys and flow paths."""

    def __init__(self, yaml):
        self.yaml = yaml
        self.keys: Dict[Tuple, Tuple[int, int]] = {}
        self.flow: Set[Tuple] = set()
        self.count = 0
        self.seen: Set[int] = set()      # collections already converted (an alias repeats one)
        self.open: Set[int] = set()      # collections being converted (a cycle)

    def value(self, node, path: Tuple, record: bool):
        self.count += 1
        if self.count > MAX_YAML_NODES:
            raise _TooBig
        if isinstance(node, self.yaml.ScalarNode):
            if record and node.start_mark.index != node.end_mark.index:   # not an empty value
                self.flow.add(path)
            return None if node.tag == _NULL_TAG else node.value
        if id(node) in self.open:
            raise _TooBig("an alias refers to the collection that holds it")
        repeated = id(node) in self.seen
        self.seen.add(id(node))
        if record and (node.flow_style or repeated):
            self.flow.add(path)
        inner = record and not node.flow_style and not repeated
        self.open.add(id(node))
        if isinstance(node, self.yaml.SequenceNode):
            out: Any = [self.value(item, path + (i,), inner) for i, item in enumerate(node.value)]
        else:
            out = {}
            for key_node, value_node in node.value:
                key = self.key(key_node)
                if inner:
                    self.keys[path + (key,)] = (key_node.start_mark.line, key_node.start_mark.column)
                out[key] = self.value(value_node, path + (key,), inner)
        self.open.discard(id(node))
        return out

    def key(self, node) -> str:
        if isinstance(node, self.yaml.ScalarNode):
            self.count += 1
            return node.value
        return repr(self.value(node, (), False))


def _error_text(exc) -> Tuple[str, Optional[int]]:
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem:
        context = getattr(exc, "context", None)
        text = f"{context}: {problem}" if context else problem
    else:
        text = (str(exc).splitlines() or [type(exc).__name__])[0]
    return " ".join(text.split())[:300], (mark.line + 1 if mark is not None else None)


def parse_yaml_pyyaml(text) -> YamlDoc:
    """parse_yaml with PyYAML only (the subset reader when PyYAML is missing).

    >>> doc = parse_yaml_pyyaml("a: &x [1, 2]\\nb: *x\\n")
    >>> doc.data, sorted(doc.flow)
    ({'a': ['1', '2'], 'b': ['1', '2']}, [('a',), ('b',)])
    >>> parse_yaml_pyyaml("a: 1\\n  b: 2\\n").error_line
    2
    """
    yaml = _yaml()
    if yaml is None:
        return parse_yaml_subset(text)
    text, why = _as_text(text)
    if text is None:
        return YamlDoc(error=why)
    doc = YamlDoc()
    documents = None
    try:
        documents = yaml.compose_all(text, Loader=_bounded_loader(yaml))
        root = next(documents, None)
        if root is not None:
            nodes = _Nodes(yaml)
            doc.data = nodes.value(root, (), True)
            doc.keys, doc.flow = nodes.keys, nodes.flow
    except yaml.YAMLError as exc:
        doc.error, doc.error_line = _error_text(exc)
    except RecursionError:
        doc.error = "nesting too deep"
    except _TooBig as exc:
        doc.error = str(exc) or f"more than {MAX_YAML_NODES} values once aliases are expanded"
    except Exception as exc:  # noqa: BLE001 - a parser never raises
        doc.error = f"cannot be read ({type(exc).__name__})"
    finally:
        if documents is not None:
            documents.close()
    if doc.error:
        doc.data, doc.keys, doc.flow = None, {}, set()
    return doc


def strip_comment(line: str) -> str:
    """A YAML line without its trailing comment (a # after a space, outside quotes).

    >>> strip_comment("      dhcp4: no   # pinned by ops")
    '      dhcp4: no'
    >>> strip_comment("url: http://x/#frag")
    'url: http://x/#frag'
    """
    return _yaml_subset.strip_comment(line)


def yaml_bool(value) -> Optional[bool]:
    """netplan's booleans: true/on/yes/y and false/off/no/n, any case; None for anything else.

    >>> [yaml_bool(v) for v in ("true", "On", "n", "maybe", None)]
    [True, True, False, None, None]
    """
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
    """netplan's merge of a later file into an earlier one: mappings merge key by key,
    anything else is replaced.

    >>> deep_merge({"a": {"b": "1", "c": "2"}, "l": ["x"]}, {"a": {"b": "3"}, "l": ["y"]})
    {'a': {'b': '3', 'c': '2'}, 'l': ['y']}
    """
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = deep_merge(out[k], v) if k in out else v
        return out
    return extra


def dig(data, *keys):
    """data[k1][k2]..., or None as soon as a level is not a mapping.

    >>> dig({"network": {"version": "2"}}, "network", "version")
    '2'
    >>> dig({"network": "x"}, "network", "version") is None
    True
    """
    for k in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(k)
    return data
