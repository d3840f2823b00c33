"""The journal's records: what a step record and a mount record may hold, checked field by
field before anything acts on them, and the one-line description of a step rebuilt from those
checked fields (the plan `fix` prints, `undo --list` and the plan `undo` prints).

Nothing read from a journal is ever used as a command line: the command `undo` runs for a step
is rebuilt from its kind and checked fields (`undo_argv`), and the mount commands of a file
system repair from its mount record (azbdiag/fix/mounts.py).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from azbdiag import lazyre
from azbdiag.fix.files import clean_rel

FILE_KINDS = ("write", "delete", "chmod", "chown", "symlink")
MOUNT_KINDS = ("umount", "mount", "fsck")
KINDS = FILE_KINDS + ("run",) + MOUNT_KINDS
# planned: not started; pending: journaled, then acted on (maybe); ok: done; failed: it failed
# (nothing changed by it, or see error); not-applied: an interrupted step found not done;
# unknown: an interrupted command whose effect cannot be told.
OUTCOMES = ("planned", "pending", "ok", "failed", "not-applied", "unknown")
UNDO_STATES = ("pending", "ok", "failed", "changed", "skipped")
STATE_KINDS = ("file", "absent", "symlink", "dir", "other")
FSTYPES = ("ext2", "ext3", "ext4", "xfs")
ROLES = ("umount", "replay-mount", "replay-umount", "repair", "mount")
# mounted: as it was; unmounted: azbdiag unmounted it and it is not mounted again yet;
# mounted-again: mounted again after the repair; mounted-ro: mounted again read-only (the
# repair did not complete); lost: azbdiag could not mount it again.
MOUNT_STATES = ("mounted", "unmounted", "mounted-again", "mounted-ro", "lost")

_HEX64 = lazyre.compile(r"[0-9a-f]{64}")
_HEX = lazyre.compile(r"(?:[0-9a-f]{2}){1,2048}")
_BACKUP = lazyre.compile(r"[0-9]{3,6}")
_TMP = lazyre.compile(r"\.azbdiag-[0-9a-f]{16}")
_UNIT = lazyre.compile(r"[A-Za-z0-9][A-Za-z0-9@._:\\-]{0,255}")
_CONTEXT = lazyre.compile(r"[A-Za-z0-9_.]+:[A-Za-z0-9_.]+:[A-Za-z0-9_.]+(:[A-Za-z0-9_.,:]+)?")
MOUNT_OPTIONS = lazyre.compile(r"[A-Za-z0-9_,=.:+@/-]{1,1024}")
SYSTEMCTL_UNDO = {"unmask": "mask", "enable": "disable", "start": "stop",
                  "mask": "unmask", "disable": "enable", "stop": "start"}


class BadRecord(ValueError):
    """A journal field that is not what azbdiag writes: the journal is not replayed."""


def _int(value, low: int = 0, high: int = 2 ** 32) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _text(value, limit: int = 4096) -> bool:
    return isinstance(value, str) and len(value) <= limit and "\0" not in value


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise BadRecord(what)


def check_state(state, what: str) -> None:
    """A captured file state (files.capture)."""
    _need(isinstance(state, dict) and state.get("kind") in STATE_KINDS, f"{what}: kind")
    if state["kind"] == "absent":
        return
    _need(_int(state.get("mode"), 0, 0o7777), f"{what}: mode")
    _need(_int(state.get("uid")) and _int(state.get("gid")), f"{what}: owner")
    if state["kind"] == "symlink":
        _need(_text(state.get("target")) and state["target"] != "", f"{what}: link target")
    if state.get("sha256") is not None:
        _need(isinstance(state["sha256"], str) and bool(_HEX64.fullmatch(state["sha256"])),
              f"{what}: checksum")
    if state.get("backup") is not None:
        _need(isinstance(state["backup"], str) and bool(_BACKUP.fullmatch(state["backup"]))
              and state.get("sha256") is not None, f"{what}: backup")
    if state.get("selinux") is not None:
        _need(isinstance(state["selinux"], str) and bool(_HEX.fullmatch(state["selinux"])),
              f"{what}: label")


def check_mount(m, i: int) -> None:
    what = f"mount {i}"
    _need(isinstance(m, dict), what)
    _need(clean_rel(m.get("point")) and m["point"] != "/", f"{what}: mount point")
    _need(m.get("fstype") in FSTYPES, f"{what}: file system type")
    for key in ("device", "source", "repair_target"):
        _need(clean_rel(m.get(key)) and m[key] != "/", f"{what}: {key}")
    _need(m.get("backing_file") is None or (clean_rel(m["backing_file"])
                                            and m["backing_file"] != "/"), f"{what}: backing file")
    _need(isinstance(m.get("autoclear"), bool) and isinstance(m.get("fstab"), bool), what)
    _need(isinstance(m.get("options"), str) and bool(MOUNT_OPTIONS.fullmatch(m["options"])),
          f"{what}: options")
    _need(m.get("state") in MOUNT_STATES, f"{what}: state")
    _need(m.get("note") is None or _text(m["note"]), f"{what}: note")
    for key in ("offline", "was_mounted"):     # a rescue VM's repair (azbdiag/fix/offline_fs.py)
        _need(m.get(key) is None or isinstance(m[key], bool), f"{what}: {key}")


def check_undo_spec(spec) -> None:
    if spec is None:
        return
    _need(isinstance(spec, dict), "undo")
    if spec.get("cmd") == "systemctl":
        _need(spec.get("verb") in SYSTEMCTL_UNDO and isinstance(spec.get("unit"), str)
              and bool(_UNIT.fullmatch(spec["unit"])), "undo: systemctl")
    elif spec.get("cmd") == "chcon":
        _need(isinstance(spec.get("context"), str) and bool(_CONTEXT.fullmatch(spec["context"]))
              and clean_rel(spec.get("path")), "undo: chcon")
    else:
        raise BadRecord("undo: unknown command")


def check_record(rec, n: int, mounts: Sequence[dict]) -> None:
    what = f"step {n}"
    _need(isinstance(rec, dict) and rec.get("n") == n, f"{what}: number")
    kind = rec.get("kind")
    _need(kind in KINDS, f"{what}: kind")
    _need(rec.get("outcome") in OUTCOMES, f"{what}: outcome")
    _need(rec.get("undo_state") is None or rec["undo_state"] in UNDO_STATES, f"{what}: undo")
    _need(isinstance(rec.get("reversible"), bool), f"{what}: reversible")
    for key in ("why", "fix", "error", "path", "undo_error"):
        _need(rec.get(key) is None or _text(rec[key]), f"{what}: {key}")
    if kind in FILE_KINDS:
        _need(clean_rel(rec.get("target")) and rec["target"] != "/", f"{what}: target")
        if rec.get("before") is not None:
            check_state(rec["before"], f"{what}: before")
        elif rec["outcome"] not in ("planned", "failed", "not-applied"):
            raise BadRecord(f"{what}: no state before the step")
        dirs = rec.get("created_dirs") or []
        _need(isinstance(dirs, list) and all(clean_rel(d) and d != "/" and
                                             rec["target"].startswith(d + "/") for d in dirs),
              f"{what}: created folders")
    if kind == "write":
        _need(isinstance(rec.get("after_sha256"), str)
              and bool(_HEX64.fullmatch(rec["after_sha256"])), f"{what}: checksum")
        _need(rec.get("mode") is None or _int(rec["mode"], 0, 0o7777), f"{what}: mode")
        _need(rec.get("tmp") is None or (isinstance(rec["tmp"], str)
                                         and bool(_TMP.fullmatch(rec["tmp"]))), f"{what}: tmp")
    elif kind == "chmod":
        _need(_int(rec.get("mode"), 0, 0o7777), f"{what}: mode")
    elif kind == "chown":
        _need(_int(rec.get("uid")) and _int(rec.get("gid")), f"{what}: owner")
    elif kind == "symlink":
        _need(_text(rec.get("link_target")) and rec["link_target"] != "", f"{what}: link")
    elif kind == "run":
        argv = rec.get("argv")
        _need(isinstance(argv, list) and 0 < len(argv) <= 256 and all(_text(a) for a in argv),
              f"{what}: command")
        check_undo_spec(rec.get("undo"))
        _need(rec["reversible"] == (rec.get("undo") is not None), f"{what}: reversible")
    elif kind in MOUNT_KINDS:
        _need(_int(rec.get("group"), 0, len(mounts) - 1) if mounts else False, f"{what}: group")
        _need(rec.get("role") in ROLES, f"{what}: role")
        _need(rec["reversible"] is False, f"{what}: reversible")


# ---- undo commands, rebuilt from checked fields ------------------------------------------

def undo_spec(undo_argv: Optional[Sequence[str]], live: bool) -> Optional[dict]:
    """The checked form of a planner's `undo_argv`; ValueError when azbdiag does not know how
    to rebuild it (then the plan is refused: undo only runs commands it can rebuild)."""
    if undo_argv is None:
        return None
    argv = [str(a) for a in undo_argv]
    if len(argv) == 3 and argv[0] == "systemctl" and argv[1] in SYSTEMCTL_UNDO.values() \
            and _UNIT.fullmatch(argv[2]):
        return {"cmd": "systemctl", "verb": argv[1], "unit": argv[2]}
    if live and len(argv) == 4 and argv[:2] == ["chcon", "-h"] and _CONTEXT.fullmatch(argv[2]) \
            and clean_rel(argv[3]):
        return {"cmd": "chcon", "context": argv[2], "path": argv[3]}
    raise ValueError(f"azbdiag cannot undo with {' '.join(argv)[:200]!r}")


def undo_argv(spec: dict) -> List[str]:
    """The command that undoes a step, from its checked undo spec."""
    check_undo_spec(spec)
    if spec["cmd"] == "systemctl":
        return ["systemctl", spec["verb"], spec["unit"]]
    return ["chcon", "-h", spec["context"], spec["path"]]


# ---- descriptions ------------------------------------------------------------------------

def _shown(text) -> str:
    from azbdiag.redact import redact
    from azbdiag.render import one_line

    return redact(one_line(text))[:300]


def shell_words(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(str(a)) for a in argv)


def describe(rec: dict, mounts: Sequence[dict] = ()) -> str:
    """One line for a step, from its checked fields."""
    kind = rec["kind"]
    path = _shown(rec.get("path") or rec.get("target", ""))
    if kind == "write":
        mode = f" (mode {rec['mode']:04o})" if rec.get("mode") is not None else ""
        size = f", {rec['size']} bytes" if _int(rec.get("size")) else ""
        return f"write {path}{mode}{size}"
    if kind == "delete":
        return f"delete {path}"
    if kind == "chmod":
        return f"chmod {rec['mode']:04o} {path}"
    if kind == "chown":
        return f"chown {rec['uid']}:{rec['gid']} {path}"
    if kind == "symlink":
        return f"symlink {path} -> {_shown(rec['link_target'])}"
    if kind == "run":
        return "run: " + _shown(shell_words(rec["argv"]))
    from azbdiag.fix.mounts import step_argv

    return "run: " + _shown(shell_words(step_argv(rec, mounts[rec["group"]])))
