"""The README's fenced code blocks, which runner claims each one, and the commands in it.

Every block in a command language (```sh, bash, shell, console) or with no language at all
must carry an annotation on the line right above its opening fence, naming the runner that
runs it in CI:

    <!-- ci: vm -->           run in the Debian 12 root of tests/test_readme_commands.py
    <!-- ci: vm rc=0,4 -->    ... expecting exit status 0 from the first command, 4 from the second
    <!-- ci: vm systemd -->   ... with that root booted under systemd (systemctl, journalctl)
    <!-- ci: build -->        run by tests/builds.py in a copy of the tree (the package builds)
    <!-- ci: quickstart -->   the quick start from a clone: tests/test_quickstart.py and .ci/run
    <!-- ci: ansible -->      playbook commands: tests/test_ansible.py (see KINDS)

Blocks that show no commands (output, file contents, usage synopses) are tagged with what they
are: ```text, ```json, ```yaml, ```ini ... and need no annotation. docs/DEVELOPING.md
("Documentation") is the reader's version of this; `problems()` is what the unit test checks.

A block's commands (`commands(block)`) are its lines grouped as the shell groups them: a line
ending in `\\`, an open quote, an unfinished `for ... done`/`if ... fi`/`case ... esac`, or a
trailing `&&`, `||` or `|` continues onto the next line. Comment-only lines are not commands.
In a ```console block only lines starting with `$ ` (and their continuations) are commands;
the lines after each one are the output it shows (`Command.output`).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

COMMAND_LANGS = frozenset({"sh", "bash", "shell", "console", "shell-session", "zsh"})
KINDS = {
    "vm": "tests/test_readme_commands.py runs each command as written in one Debian 12 root "
          "(chroot) with the built .deb installed; az, curl and dnf are recording stand-ins there",
    "build": "tests/builds.py runs the block as written in a fresh copy of the tree",
    "quickstart": "tests/test_quickstart.py runs the first command on a fresh Debian 12; "
                  "the second is the command .ci/run runs",
    "ansible": "ansible-playbook commands against your inventory: the playbooks and -e variables "
               "they name are checked to exist (tests/test_readme_blocks.py) and "
               "tests/test_ansible.py runs those playbooks and the block's azbdiag commands",
}
OPTIONS = {"vm": ("rc", "systemd")}  # the options a kind accepts
ANNOTATION = re.compile(r"^\s*<!--\s*ci:\s*(?P<body>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HOW_TO = ("annotate it on the line right above its opening fence: `<!-- ci: vm -->` (run in the "
          "Debian 12 root; add rc=... when a command's exit status is not the default), "
          "`<!-- ci: build -->`, `<!-- ci: quickstart -->` or `<!-- ci: ansible -->`; if it shows "
          "no commands, tag the fence with what it shows instead (```text, ```json, ```yaml, "
          "```ini). See docs/DEVELOPING.md, \"Documentation\".")


@dataclass
class Command:
    text: str                   # what the shell runs, lines joined with "\n", `$ ` removed
    line: int                   # README line of its first line
    output: List[str] = field(default_factory=list)   # console blocks: the output shown

    def __str__(self):
        return self.text


@dataclass
class Block:
    line: int                   # README line of the opening fence (1-based)
    lang: str                   # first word of the fence's info string, "" when untagged
    lines: List[str]            # the content, without the fence's indentation
    section: str                # the nearest heading above it
    annotation: Optional[str] = None   # the text after "ci:", None without an annotation
    annotation_line: Optional[int] = None

    @property
    def is_command_block(self) -> bool:
        return self.lang in COMMAND_LANGS or self.lang == ""

    @property
    def kind(self) -> Optional[str]:
        return self.annotation.split()[0] if self.annotation else None

    @property
    def options(self) -> Dict[str, str]:
        """`rc=0,4` -> {"rc": "0,4"}; a bare word such as `systemd` -> {"systemd": ""}."""
        out = {}
        for word in (self.annotation or "").split()[1:]:
            key, _, value = word.partition("=")
            out[key] = value
        return out

    def where(self) -> str:
        return f"README.md line {self.line} (section \"{self.section}\")"

    def commands(self) -> List[Command]:
        return split_commands(self.lines, self.line + 1, console=self.lang in ("console", "shell-session"))

    def expected(self) -> List[FrozenSet[int]]:
        """The exit statuses each command may end with: the annotation's rc=, else the default."""
        cmds = self.commands()
        spec = self.options.get("rc")
        if not spec:
            return [default_rc(c.text) for c in cmds]
        entries = [frozenset(int(code) for code in entry.split("|")) for entry in spec.split(",")]
        return entries * len(cmds) if len(entries) == 1 else entries


# --------------------------------------------------------------------------- parsing

def read_readme(path: str = README) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def parse(text: str) -> Tuple[List[Block], List[str]]:
    """The fenced blocks of a Markdown text, and the annotations that precede no block."""
    lines = text.split("\n")
    blocks: List[Block] = []
    stray: List[str] = []
    section = "(top)"
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if not m:
            h = HEADING.match(line)
            if h:
                section = h.group(2)
            a = ANNOTATION.match(line)
            if a and not (i + 1 < len(lines) and FENCE.match(lines[i + 1])):
                stray.append(f"README.md line {i + 1}: the annotation `{line.strip()}` is not on the "
                             f"line right above a code block's opening fence")
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        lang = m.group("info").split()[0].lower() if m.group("info").split() else ""
        close = re.compile(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        content = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1:j]]
        block = Block(line=i + 1, lang=lang, lines=content, section=section)
        if i > 0:
            a = ANNOTATION.match(lines[i - 1])
            if a:
                block.annotation, block.annotation_line = a.group("body"), i
        blocks.append(block)
        i = j + 1
    return blocks, stray


def blocks(kind: Optional[str] = None, text: Optional[str] = None) -> List[Block]:
    """The README's blocks (those claimed by `kind` when given), in README order."""
    found, _ = parse(read_readme() if text is None else text)
    return [b for b in found if kind is None or (b.is_command_block and b.kind == kind)]


# --------------------------------------------------------------------------- commands

_OPENERS = {"do": "done", "if": "fi", "case": "esac", "{": "}"}


def _complete(text: str) -> bool:
    """Whether `text` is a whole shell command (no open quote, block or trailing operator)."""
    if text.endswith("\\"):
        return False
    lex = shlex.shlex(text, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    try:
        tokens = list(lex)
    except ValueError:          # "No closing quotation"
        return False
    depth = 0
    for tok in tokens:
        if tok in _OPENERS:
            depth += 1
        elif tok in _OPENERS.values():
            depth -= 1
    return depth <= 0 and not (tokens and tokens[-1] in ("&&", "||", "|"))


def split_commands(lines: List[str], first_line: int, console: bool = False) -> List[Command]:
    """Group `lines` (the first one being README line `first_line`) into shell commands."""
    out: List[Command] = []
    pending: List[str] = []
    start = 0
    for n, raw in enumerate(lines):
        line = raw.rstrip()
        if pending:
            pending.append(line)
            text = "\n".join(pending)
            if _complete(text):
                out.append(Command(text, start))
                pending = []
            continue
        if console:
            if not line.startswith("$ "):
                if out:
                    out[-1].output.append(line)
                continue
            line = line[2:]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        start = first_line + n
        if _complete(line):
            out.append(Command(line, start))
        else:
            pending = [line]
    if pending:
        out.append(Command("\n".join(pending), start))   # unfinished: the shell will say so
    return out


def simple_commands(text: str) -> List[List[str]]:
    """The simple commands of a list or pipeline (split at ; && || | and newlines), as words."""
    lex = shlex.shlex(text.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    try:
        tokens = list(lex)
    except ValueError:
        return [text.split()]
    out, cur = [], []
    for tok in tokens:
        if tok in (";", "&&", "||", "|", "&", "\n"):
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        out.append(cur)
    return out


def azbdiag_argv(words: List[str]) -> Optional[List[str]]:
    """The arguments after the program when `words` runs azbdiag (`azbdiag ...`, `sudo
    azbdiag ...`, `python3 azbdiag.pyz ...`), else None."""
    while words and (words[0] == "sudo" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
        words = words[1:]
    if words and os.path.basename(words[0]) == "azbdiag":
        return words[1:]
    if len(words) > 1 and re.match(r"^python3(\.\d+)?$", words[0]) and (
            words[1].endswith(".pyz") or words[1].startswith("$")):   # `python3 "$f" check`
        return words[2:]
    return None


def default_rc(text: str) -> FrozenSet[int]:
    """The exit status a command is expected to end with unless its annotation says otherwise:
    the status of its last simple command. `azbdiag check` and `summarize`: 0 or 1 (findings are
    not a failure); `azbdiag fix`/`undo` without --yes, --dry-run or --list: 4 (not confirmed:
    there is no terminal to ask on); anything else: 0."""
    simple = simple_commands(text)
    if not simple:
        return frozenset({0})
    args = azbdiag_argv(simple[-1])
    if args is None:
        return frozenset({0})
    words = [a for a in args if not a.startswith("--debug")]
    sub = words[0] if words else ""
    if sub in ("check", "summarize"):
        return frozenset({0, 1})
    if sub in ("fix", "undo") and not {"--yes", "-y", "--dry-run", "--list"} & set(words):
        return frozenset({4})
    return frozenset({0})


def output_mismatch(shown: List[str], actual: str) -> Optional[str]:
    """Where the output a console block shows after a command differs from what it printed
    (None when it matches). The lines shown must appear in that order, spaces compared loosely;
    a line `...` stands for any lines, and a line with `...` in it matches a printed line that
    starts with the text before the `...`."""
    have = [" ".join(line.split()) for line in actual.splitlines()]
    i = 0
    for raw in shown:
        want = " ".join(raw.split())
        if not want or want == "...":
            continue
        prefix = want.split("...", 1)[0].rstrip() if "..." in want else None
        while i < len(have) and not (have[i].startswith(prefix) if prefix is not None else have[i] == want):
            i += 1
        if i == len(have):
            return f"the README shows the output line `{raw.strip()}`, which the command does not print " \
                   f"(in that order)"
        i += 1
    return None


# --------------------------------------------------------------------------- checks

_LOOKS_LIKE_A_COMMAND = re.compile(r"^(\$ |sudo |azbdiag [a-z][a-z-]*(\s|$))")


def problems(text: Optional[str] = None) -> List[str]:
    """Everything that keeps the README's blocks from being claimed, one message each, saying
    which block, where, and how to fix it."""
    found, stray = parse(read_readme() if text is None else text)
    out = list(stray)
    for b in found:
        first = next((ln for ln in b.lines if ln.strip()), "")
        if not b.is_command_block:
            if b.annotation is not None:
                out.append(f"{b.where()}: a ```{b.lang} block is not run; drop its annotation "
                           f"`ci: {b.annotation}` or tag the fence ```sh if it shows commands")
            for ln in b.lines:
                if _LOOKS_LIKE_A_COMMAND.match(ln) and "[" not in ln:
                    out.append(f"{b.where()}: the ```{b.lang} block shows the command `{ln.strip()}`: "
                               f"tag it ```sh (```console for a `$ ` transcript) and {HOW_TO}")
                    break
            continue
        tag = f"```{b.lang}" if b.lang else "an untagged ```"
        if b.annotation is None:
            out.append(f"{b.where()}: {tag} block starting `{first.strip()}` is claimed by no runner: "
                       f"{HOW_TO}")
            continue
        if b.kind not in KINDS:
            out.append(f"{b.where()}: unknown runner `{b.kind}` in `<!-- ci: {b.annotation} -->` "
                       f"(known: {', '.join(KINDS)})")
            continue
        for key, value in b.options.items():
            if key not in OPTIONS.get(b.kind, ()):
                out.append(f"{b.where()}: `{key}` is not an option of `ci: {b.kind}`"
                           + (f" (it takes {', '.join(OPTIONS[b.kind])})" if b.kind in OPTIONS else ""))
            elif key == "rc":
                entries = value.split(",")
                if not all(re.fullmatch(r"\d+(\|\d+)*", e) for e in entries):
                    out.append(f"{b.where()}: rc={value}: give one exit status per command, comma "
                               f"separated, alternatives joined with | (rc=0,4,0|1), or one for all")
                elif len(entries) not in (1, len(b.commands())):
                    out.append(f"{b.where()}: rc={value} gives {len(entries)} exit statuses for "
                               f"{len(b.commands())} commands: one per command, or one for all")
        if not b.commands():
            out.append(f"{b.where()}: the block is claimed by `{b.kind}` but holds no command; "
                       f"tag it ```text if it shows output")
        if b.kind == "vm" and "systemd" not in b.options:
            for c in b.commands():
                if any(w in ("systemctl", "journalctl") for s in simple_commands(c.text) for w in s[:2]):
                    out.append(f"{b.where()}: line {c.line} runs `{c.text.split()[0]} ...`, which needs "
                               f"a running systemd: annotate the block `<!-- ci: vm systemd -->`")
                    break
    return out


# --------------------------------------------------------------------------- safety

# Live fixes that only rewrite files (inside the disposable root): the harness may run them
# with --yes. Every other fix unmounts, repairs file systems, restarts services, updates
# packages or edits networking, and must be shown with --root, --dry-run or without --yes.
FILE_ONLY_FIXES = frozenset({"--vmbackup-conf", "--scripts"})
_NEVER = frozenset({"umount", "mount", "fsfreeze", "xfs_freeze", "e2fsck", "fsck", "xfs_repair",
                    "losetup", "swapoff", "reboot", "shutdown", "poweroff", "halt", "kexec"})


def _invocations(text: str, depth: int = 0):
    """Every simple command of `text`, and of the scripts it carries in arguments (`sh -c`,
    `az ... --scripts "..."`), as lists of words."""
    for words in simple_commands(text):
        yield words
        if depth < 3:
            for word in words:
                if " " in word or "\n" in word:
                    yield from _invocations(word, depth + 1)


def unsafe(text: str) -> Optional[str]:
    """Why running the command `text` live in CI could harm the machine (None when it cannot):
    a fix with --yes beyond FILE_ONLY_FIXES without --root or --dry-run, a freeze test without
    --mount, or a program that mounts, freezes, repairs or stops file systems or the machine."""
    for words in _invocations(text):
        args = azbdiag_argv(words)
        if args is None:
            prog = os.path.basename(words[0]) if words else ""
            if words and words[0] == "sudo" and len(words) > 1:
                prog = os.path.basename(words[1])
            if prog in _NEVER or prog.startswith("mkfs"):
                return f"`{' '.join(words)}` would act on this machine's file systems or power state"
            continue
        args = [a for a in args if a != "--debug"]
        sub = args[0] if args else ""
        live = "--root" not in args and not any(a.startswith("--root=") for a in args)
        if sub == "fix" and live and "--dry-run" not in args and {"--yes", "-y"} & set(args):
            fixes = {a for a in args if a.startswith("--") and a not in ("--yes", "--mount", "--debug")}
            fixes -= {a for a in fixes if a.startswith("--mount=")}
            beyond = sorted(fixes - FILE_ONLY_FIXES)
            if beyond:
                return (f"`azbdiag {' '.join(args)}` would change the live system ({', '.join(beyond)}: "
                        f"mounts, file systems, services, packages or networking); show it with --root "
                        f"<disk>, --dry-run, or without --yes")
        if sub == "check" and "--freeze-test" in args and not [a for a in args if a.startswith("--mount")]:
            return f"`azbdiag {' '.join(args)}` would freeze every mount; name them with --mount"
    return None
