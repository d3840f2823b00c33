"""The support bundle's container (`azbdiag collect`): members with what was redacted in each, a
size cap that leaves the least useful members out first, the manifest, and the .tar.gz itself,
reproducible (fixed times and owners in every member and in the gzip header). The command writes
it with azbdiag.fix.files.create_exclusive: a new file of mode 0600, never through a symlink,
never over anything."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
from typing import Dict, List, Optional

MANIFEST = "manifest.json"
# Every member gets the same time and owner: the bundle shows no identity of the machine that
# wrote it beyond what its files say (the manifest records each source file's own time).
MEMBER_MTIME = 0
MEMBER_MODE = 0o600


@dataclasses.dataclass
class Member:
    """One file of the support bundle: its bytes, where they come from and what was redacted."""
    name: str                               # path inside the bundle
    data: bytes
    source: str                             # the guest path or command it comes from
    kind: str                               # report, config, state, log, listing, command...
    redactions: Dict[str, int] = dataclasses.field(default_factory=dict)
    truncated: bool = False                 # only the tail (or the head) is in the bundle
    original_size: Optional[int] = None
    note: str = ""
    source_mtime: Optional[str] = None      # ISO time of the source file

    def entry(self) -> dict:
        out = {"name": self.name, "size": len(self.data),
               "sha256": hashlib.sha256(self.data).hexdigest(), "source": self.source,
               "kind": self.kind, "redactions": dict(sorted(self.redactions.items())),
               "truncated": self.truncated}
        if self.original_size is not None:
            out["original_size"] = self.original_size
        if self.source_mtime:
            out["source_mtime"] = self.source_mtime
        if self.note:
            out["note"] = self.note
        return out


class Bundle:
    """Members in the order they were added (most useful first), within `cap` bytes."""

    def __init__(self, cap: int):
        self.cap = cap
        self.members: List[Member] = []
        self.left_out: List[dict] = []
        self.size = 0
        self.names: set = set()

    def add(self, member: Member) -> bool:
        if member.name in self.names or member.name == MANIFEST:
            self.leave_out(member.source, f"a second file named {member.name} in the bundle")
            return False
        if self.size + len(member.data) > self.cap:
            self.leave_out(member.source, f"size cap: {len(member.data)} bytes would take the "
                                          f"bundle over {self.cap} bytes", size=len(member.data))
            return False
        self.members.append(member)
        self.names.add(member.name)
        self.size += len(member.data)
        return True

    def leave_out(self, source: str, reason: str, size: Optional[int] = None) -> None:
        entry = {"source": source, "reason": reason}
        if size is not None:
            entry["size"] = size
        self.left_out.append(entry)

    @property
    def capped(self) -> List[dict]:
        """What the size cap left out."""
        return [e for e in self.left_out if e["reason"].startswith("size cap")]

    def manifest(self, meta: dict, rules: Dict[str, str]) -> dict:
        totals: Dict[str, int] = {}
        for m in self.members:
            for rule, n in m.redactions.items():
                totals[rule] = totals.get(rule, 0) + n
        return {**meta, "size_cap_bytes": self.cap, "total_bytes": self.size,
                "members": [m.entry() for m in self.members],
                "left_out": self.left_out,
                "redactions_total": dict(sorted(totals.items())),
                "redaction_rules": rules,
                "note": f"{MANIFEST} lists every other member of the bundle with its size and "
                        f"sha256; what was redacted is counted by rule, never shown"}

    def tar_gz(self, manifest: dict) -> bytes:
        """The bundle: the manifest first, then the members by name."""
        raw = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=MEMBER_MTIME) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                text = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
                _add(tar, MANIFEST, text)
                for m in sorted(self.members, key=lambda m: m.name):
                    _add(tar, m.name, m.data)
        return raw.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = MEMBER_MTIME
    info.mode = MEMBER_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))
