"""Regular expressions read from the disk, matched in bounded time.

SELinux file_contexts lines are regular expressions written by whoever made the disk. Python's
``re`` backtracks: ``/var/lib/waagent/(a+)+`` against a name of 30 a's and a ``!`` runs for
minutes, and it holds the interpreter lock meanwhile, so no thread timeout can stop it.

``compile()`` parses the pattern with Python's own parser (the dialect ``re.compile`` accepts)
and picks a matcher:

- a pattern with at most one repetition (``*``, ``+``, ``{m,n}``), whose body has no
  repetition or alternation of its own, goes to ``re``: it cannot backtrack more than linearly
  (``/var/lib/waagent(/.*)?`` is such a pattern, as almost every real file_contexts line);
- anything else is matched by a Thompson NFA simulation (no backtracking): its time grows with
  the pattern's size times the text's length, whatever the pattern, and it runs as Python code,
  so a rule's timeout still applies.

Patterns and texts are bounded (MAX_PATTERN, MAX_TEXT); constructs an NFA cannot do
(backreferences, lookarounds, conditionals, inline flags, possessive repeats) are refused with
``Unsupported``, as a pattern ``re`` cannot compile is.

>>> compile(r"/var/lib/waagent(/.*)?").fullmatch("/var/lib/waagent/x")
True
>>> compile(r"/var/lib/waagent/(a+)+").fullmatch("/var/lib/waagent/" + "a" * 40 + "!")
False
"""

from __future__ import annotations

import re
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

try:  # Python 3.11+
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # Python 3.9, 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

MAX_PATTERN = 1024
MAX_TEXT = 4096            # PATH_MAX: longer texts never match
MAX_STATES = 2000          # NFA instructions (counted repeats are expanded)
MAX_COUNT = 100            # largest {m,n} bound expanded
_MAX_FANOUT = 64
_CACHE_MAX = 20000         # NFA transitions remembered per pattern


class Unsupported(ValueError):
    """The pattern is refused: too long, malformed or beyond what is matched safely."""


# ---- the parsed pattern: what it uses ---------------------------------------------------
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT}


def _items(sub):
    """(op, av) pairs of a parsed (sub)pattern."""
    return list(sub.data) if hasattr(sub, "data") else list(sub)


def _children(op, av) -> List:
    if op in _REPEATS:
        return [av[2]]
    if op == _c.SUBPATTERN:
        return [av[-1]]
    if op == _c.BRANCH:
        return list(av[1])
    return []


def _loops(sub) -> List[Tuple[object, object]]:
    """Every repetition that can repeat (max > 1), outermost first: (op, av)."""
    out = []
    for op, av in _items(sub):
        if op in _REPEATS and av[1] > 1:
            out.append((op, av))
        for child in _children(op, av):
            out += _loops(child)
    return out


def _fanout(sub) -> int:
    """How many ways the choice points outside loops can combine: alternatives of each
    branch, max - min + 1 for each bounded repeat (loops count 1; _loops deals with them)."""
    total = 1
    for op, av in _items(sub):
        if op in _REPEATS and av[1] > 1:
            continue
        if op == _c.BRANCH:
            total *= sum(_fanout(alt) for alt in av[1])
        elif op in _REPEATS:
            total *= (av[1] - av[0] + 1) * _fanout(av[2])
        elif op == _c.SUBPATTERN:
            total *= _fanout(av[-1])
        if total > _MAX_FANOUT:
            return total
    return total


def _has(sub, ops) -> bool:
    for op, av in _items(sub):
        if op in ops:
            return True
        if any(_has(child, ops) for child in _children(op, av)):
            return True
    return False


def _backtracks_linearly(parsed) -> bool:
    """At most one loop, with no choice inside it, and few combinations of the other choices:
    then re's backtracking is bounded by about _MAX_FANOUT * len(text) steps."""
    loops = _loops(parsed)
    if len(loops) > 1:
        return False
    if any(_has(av[2], _REPEATS | {_c.BRANCH}) for _op, av in loops):
        return False
    return _fanout(parsed) <= _MAX_FANOUT


# ---- NFA -----------------------------------------------------------------------------------
# Instructions: ("char", test) consumes one character; ("split", a, b); ("jmp", a);
# ("bol",) start of text; ("eol",) end of text or before a final newline; ("eos",) end of
# text; ("match",).
Test = Callable[[str], bool]


def _category(cat) -> Test:
    table = {
        _c.CATEGORY_DIGIT: str.isdecimal,
        _c.CATEGORY_SPACE: str.isspace,
        _c.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
        _c.CATEGORY_LINEBREAK: lambda ch: ch == "\n",
    }
    negated = {
        _c.CATEGORY_NOT_DIGIT: _c.CATEGORY_DIGIT,
        _c.CATEGORY_NOT_SPACE: _c.CATEGORY_SPACE,
        _c.CATEGORY_NOT_WORD: _c.CATEGORY_WORD,
        _c.CATEGORY_NOT_LINEBREAK: _c.CATEGORY_LINEBREAK,
    }
    if cat in table:
        return table[cat]
    if cat in negated:
        base = table[negated[cat]]
        return lambda ch: not base(ch)
    raise Unsupported(f"character category {cat}")


def _charset(items) -> Test:
    negate = False
    singles = set()
    ranges: List[Tuple[int, int]] = []
    tests: List[Test] = []
    for op, av in items:
        if op == _c.NEGATE:
            negate = True
        elif op == _c.LITERAL:
            singles.add(chr(av))
        elif op == _c.RANGE:
            ranges.append(av)
        elif op == _c.CATEGORY:
            tests.append(_category(av))
        else:
            raise Unsupported(f"{op} in a character set")

    def test(ch: str) -> bool:
        code = ord(ch)
        hit = (ch in singles or any(lo <= code <= hi for lo, hi in ranges)
               or any(t(ch) for t in tests))
        return hit != negate

    return test


class _Builder:
    def __init__(self):
        self.prog: List[tuple] = []

    def emit(self, *ins) -> int:
        if len(self.prog) >= MAX_STATES:
            raise Unsupported("pattern too large to match safely")
        self.prog.append(ins)
        return len(self.prog) - 1

    def patch(self, at: int, *ins) -> None:
        self.prog[at] = ins

    def sub(self, parsed) -> None:
        for op, av in _items(parsed):
            self.node(op, av)

    def node(self, op, av) -> None:
        if op == _c.LITERAL:
            ch = chr(av)
            self.emit("char", lambda c, ch=ch: c == ch)
        elif op == _c.NOT_LITERAL:
            ch = chr(av)
            self.emit("char", lambda c, ch=ch: c != ch)
        elif op == _c.ANY:
            self.emit("char", lambda c: c != "\n")
        elif op == _c.IN:
            self.emit("char", _charset(av))
        elif op == _c.SUBPATTERN:
            group, add_flags, del_flags, p = av
            if add_flags or del_flags:
                raise Unsupported("inline flags")
            self.sub(p)
        elif op == _c.BRANCH:
            self.branch(av[1])
        elif op in _REPEATS:
            self.repeat(*av)
        elif op == _c.AT:
            if av in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING):
                self.emit("bol")
            elif av == _c.AT_END:
                self.emit("eol")
            elif av == _c.AT_END_STRING:
                self.emit("eos")
            else:
                raise Unsupported(f"anchor {av}")
        else:
            raise Unsupported(f"{op}")

    def branch(self, alternatives) -> None:
        jumps = []
        for i, alt in enumerate(alternatives):
            if i < len(alternatives) - 1:
                split = self.emit("split", 0, 0)
                self.sub(alt)
                jumps.append(self.emit("jmp", 0))
                self.patch(split, "split", split + 1, len(self.prog))
            else:
                self.sub(alt)
        for j in jumps:
            self.patch(j, "jmp", len(self.prog))

    def repeat(self, low: int, high, body) -> None:
        unbounded = high == _c.MAXREPEAT
        if low > MAX_COUNT or (not unbounded and high > MAX_COUNT):
            raise Unsupported("repeat count too large")
        for _ in range(low):
            self.sub(body)
        if unbounded:
            split = self.emit("split", 0, 0)
            self.sub(body)
            self.emit("jmp", split)
            self.patch(split, "split", split + 1, len(self.prog))
        else:
            splits = []
            for _ in range(high - low):
                splits.append(self.emit("split", 0, 0))
                self.sub(body)
            for s in splits:
                self.patch(s, "split", s + 1, len(self.prog))


class _Nfa:
    """Thompson simulation; the sets of states met are numbered and their transitions kept,
    so a text costs one dictionary lookup per character once the pattern has warmed up."""

    def __init__(self, prog: List[tuple]):
        self.prog = prog
        self._ids: Dict[FrozenSet[int], int] = {}
        self._sets: List[FrozenSet[int]] = []
        self._steps: Dict[tuple, int] = {}

    def _closure(self, pcs, at_start: bool, at_eol: bool, at_eos: bool) -> int:
        out = set()
        stack = list(pcs)
        seen = set()
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            ins = self.prog[pc]
            kind = ins[0]
            if kind == "jmp":
                stack.append(ins[1])
            elif kind == "split":
                stack.append(ins[2])
                stack.append(ins[1])
            elif kind == "bol":
                if at_start:
                    stack.append(pc + 1)
            elif kind == "eol":
                if at_eol:
                    stack.append(pc + 1)
            elif kind == "eos":
                if at_eos:
                    stack.append(pc + 1)
            else:
                out.add(pc)
        key = frozenset(out)
        sid = self._ids.get(key)
        if sid is None:
            if len(self._sets) > _CACHE_MAX:     # a pathological pattern: start afresh
                self._ids.clear()
                self._sets.clear()
                self._steps.clear()
            sid = self._ids[key] = len(self._sets)
            self._sets.append(key)
        return sid

    def fullmatch(self, text: str) -> bool:
        n = len(text)
        final_nl = n > 0 and text[-1] == "\n"
        sid = self._closure([0], True, n == 0 or (n == 1 and final_nl), n == 0)
        steps = self._steps
        for i, ch in enumerate(text):
            # Only the last two positions can satisfy $ or \Z.
            eol = i + 1 == n or (i + 2 == n and final_nl)
            key = (sid, ch, eol, i + 1 == n) if i + 2 >= n else (sid, ch)
            nxt = steps.get(key)
            if nxt is None:
                moved = [pc + 1 for pc in self._sets[sid]
                         if self.prog[pc][0] == "char" and self.prog[pc][1](ch)]
                nxt = self._closure(moved, False, eol, i + 1 == n)
                steps[key] = nxt
            sid = nxt
            if not self._sets[sid]:
                return False
        return any(self.prog[pc][0] == "match" for pc in self._sets[sid])


class Matcher:
    """A compiled pattern: ``fullmatch(text) -> bool``."""

    def __init__(self, pattern: str, compiled_re=None, nfa: Optional[_Nfa] = None):
        self.pattern = pattern
        self._re = compiled_re
        self._nfa = nfa

    @property
    def backtracking(self) -> bool:
        """True when Python's re does the matching (the pattern backtracks linearly)."""
        return self._re is not None

    def fullmatch(self, text: str) -> bool:
        if len(text) > MAX_TEXT:
            return False
        if self._re is not None:
            return self._re.fullmatch(text) is not None
        assert self._nfa is not None
        return self._nfa.fullmatch(text)


def compile(pattern: str) -> Matcher:  # noqa: A001 - the name re users expect
    """Parse `pattern`; raise Unsupported (or re.error) when it cannot be matched safely."""
    if not isinstance(pattern, str):
        raise Unsupported("not a text pattern")
    if len(pattern) > MAX_PATTERN:
        raise Unsupported(f"pattern longer than {MAX_PATTERN} characters")
    try:
        parsed = _p.parse(pattern, 0)
        if parsed.state.flags & ~_c.SRE_FLAG_UNICODE:
            raise Unsupported("inline flags")
        if _has(parsed, _REFUSED):
            raise Unsupported("backreferences, lookarounds and possessive repeats")
        if _backtracks_linearly(parsed):
            return Matcher(pattern, compiled_re=re.compile(pattern))
        return Matcher(pattern, nfa=_build_nfa(parsed))
    except (RecursionError, OverflowError) as exc:
        raise Unsupported(f"pattern too deeply nested: {exc}") from None


def _build_nfa(parsed) -> _Nfa:
    builder = _Builder()
    builder.sub(parsed)
    builder.emit("match")
    return _Nfa(builder.prog)


# What the NFA cannot do; refused whatever the rest of the pattern.
_REFUSED = {getattr(_c, name) for name in ("GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT",
                                           "ATOMIC_GROUP", "POSSESSIVE_REPEAT")
            if hasattr(_c, name)}
