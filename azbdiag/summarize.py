"""The fleet summary behind `azbdiag summarize REPORT...`: one document across a fleet's
`azbdiag check --format json` reports (azbdiag/render/ prints it in each format).

Files and folders (searched recursively for *.json) are read, checked against the report JSON
Schema with azbdiag.schema (no jsonschema at run time), and the warn/fail/error results are
grouped by Azure error code and rule, with the hosts affected and the fix id. Files that are
not valid reports are named with the reason and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from azbdiag.render import one_line

MAX_REPORT_BYTES = 64 * 1024 * 1024
NO_CODE = "(no error code)"
FINDINGS = ("fail", "warn", "error")
SUMMARY_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Finding and loading reports


def find_reports(paths):
    """(files to read, [(path, reason)] for arguments that lead to no file).

    Folders are searched recursively for *.json without following symbolic links to folders;
    a file reached twice (named twice, or through a link) is read once."""
    import os

    files, rejected, seen = [], [], set()

    def add(path, key):
        if key not in seen:
            seen.add(key)
            files.append(path)

    def walk(top):
        found = 0
        # (path as shown, the same folder with symbolic links resolved)
        stack = [(top, os.path.realpath(top))]
        while stack:
            folder, real = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                rejected.append((folder, f"cannot read folder: {exc.strerror or exc}"))
                continue
            subfolders = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subfolders.append((entry.path, os.path.join(real, entry.name)))
                    elif entry.name.endswith(".json"):
                        found += 1
                        key = (os.path.realpath(entry.path) if entry.is_symlink()
                               else os.path.join(real, entry.name))
                        add(entry.path, key)
                except OSError as exc:
                    rejected.append((entry.path, f"cannot read: {exc.strerror or exc}"))
            stack.extend(reversed(subfolders))
        return found

    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            if not walk(path):
                rejected.append((path, "folder holds no *.json file"))
        elif os.path.lexists(path):
            add(path, os.path.realpath(path))
        else:
            rejected.append((path, "no such file or folder"))
    return files, rejected


class NotRegular(Exception):
    """A path that is not a regular file (a FIFO, device, socket): never opened for reading."""


def _kind(mode: int) -> str:
    import stat

    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str, limit: int) -> bytes:
    """At most `limit` bytes of the regular file `path`. A FIFO, device or socket (even
    named *.json, even behind a symlink) is refused before it is opened, and the file is
    opened non-blocking and checked again, so that a read can never wait for a writer."""
    import os
    import stat

    from azbdiag.bounded_read import read_fd

    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(f"{_kind(st.st_mode)}, not a regular file: not read")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise NotRegular("changed while azbdiag opened it: not read")
        if not 0 < now.st_size < limit:
            return read_fd(fd, limit)
        # Its size in one read (read_fd asks for 1 MiB), then on to an empty read as read_fd
        data = os.read(fd, now.st_size)
        more = os.read(fd, 1) if data else b""
        if not more:
            return data
        return data + more + read_fd(fd, limit - len(data) - 1)
    finally:
        os.close(fd)


def load_report(path: str, check):
    """(document, None) for a valid report, else (None, one-line reason)."""
    import json

    from azbdiag.schema import first_error

    try:
        raw = read_regular(path, MAX_REPORT_BYTES + 1)
    except NotRegular as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    if len(raw) > MAX_REPORT_BYTES:
        return None, "larger than 64 MiB, not a report"
    if not raw or raw.isspace():   # raw.strip() without copying it
        return None, "empty file"
    if b"\0" in raw:
        return None, "binary file, not a JSON report"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not UTF-8 text (binary, or another encoding), not a JSON report"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            return None, f"truncated JSON: {exc.msg} (line {exc.lineno}); was the copy cut short?"
        return None, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    except ValueError as exc:  # for example an integer with too many digits
        return None, f"malformed JSON: {exc}"
    if not isinstance(doc, dict) or ("schema_version" not in doc and "tool" not in doc):
        return None, "not an azbdiag report (JSON of another kind)"
    tool = doc.get("tool")
    name = tool.get("name") if isinstance(tool, dict) else None
    if isinstance(name, str) and name != "azbdiag":
        return None, f"not an azbdiag report (made by {one_line(name)[:40]!r})"
    if "schema_version" not in doc:
        return None, "no schema_version: not an azbdiag check report"
    version = doc["schema_version"]
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != 1:
        if isinstance(version, (int, float)) and not isinstance(version, bool) and version > 1:
            return None, (f"schema_version {one_line(repr(version))[:40]} is newer than this "
                          f"azbdiag reads (1): update azbdiag")
        return None, (f"schema_version {one_line(repr(version))[:40]} is not supported "
                      f"(this azbdiag reads version 1)")
    problem = first_error(doc, check)
    if problem is not None:
        return None, f"does not match the report schema: {one_line(problem)}"
    return doc, None


# ---------------------------------------------------------------------------------------------
# The summary document


def _labels(hosts):
    """Host names: host.hostname from the report, else the file's folder (reports/<name>/...).
    `hosts`: Fleet.hosts, whose first two fields are the file and the host name."""
    import collections
    import os

    def parent(path):
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or path

    names = [h[1] or one_line(parent(h[0])) or one_line(h[0]) for h in hosts]
    counts = collections.Counter(names)
    if len(counts) == len(names):   # every name once: the names are the labels
        return names
    labels = [f"{n} ({one_line(parent(h[0]))})" if counts[n] > 1 else n
              for n, h in zip(names, hosts)]
    counts = collections.Counter(labels)
    return [f"{n} ({one_line(h[0])})" if counts[lab] > 1 else lab
            for n, lab, h in zip(names, labels, hosts)]


def _natural(text: str):
    import re

    # Odd positions are the ASCII digit runs, so ints and strings never meet in a comparison.
    return [int(part) if i % 2 else part.lower()
            for i, part in enumerate(re.split(r"([0-9]+)", text))]


STATUSES = ("ok", "warn", "fail", "skipped", "error")   # the order of a digest's counts
_IS_FINDING = frozenset(FINDINGS).__contains__


def digest(path: str, doc: dict) -> tuple:
    """What the summary needs from one valid report, small enough to pass between processes:
    (file, host name, generated_at, tool version, live, root, is_root, counts, findings), the
    counts in STATUSES order and each finding (status, rule id, title, fix, error codes)."""
    from itertools import compress
    from operator import itemgetter

    results = doc["results"]
    statuses = list(map(itemgetter("status"), results))
    findings = tuple((r["status"], r["id"], r["title"], r["fix"], tuple(r["error_codes"]))
                     for r in compress(results, map(_IS_FINDING, statuses)))
    host = doc["host"]
    name = one_line(host.get("hostname") or "")
    return (path, name, doc["generated_at"], doc["tool"]["version"], host["live"],
            host["root"], host["is_root"], tuple(map(statuses.count, STATUSES)), findings)


class Fleet:
    """The valid reports read so far, kept small: one tuple per host, (file, host name,
    generated_at, tool version, live, root, is_root, group), the strings reports share stored
    once, and each distinct (counts, findings) once, as a group that hosts point to: it grows
    by a tuple, a file name and a host name per report."""

    def __init__(self):
        self.hosts = []
        self.groups = {}    # (counts, findings) -> its number, in the order first seen
        self._shared = {}

    def add(self, d) -> None:
        path, hostname, generated_at, tool_version, live, root, is_root, counts, findings = d
        group = self.groups.setdefault((counts, findings), len(self.groups))
        share = self._shared.setdefault
        self.hosts.append((path, hostname, share(generated_at, generated_at),
                           share(tool_version, tool_version), live, share(root, root), is_root,
                           group))


class HostTable(Sequence):
    """The summary's "hosts": a read-only sequence of one dict per host, made when asked for,
    so that a fleet's summary holds no dict per host. Equal to a list of the same dicts."""

    KEYS = ("host", "file", "hostname", "generated_at", "tool_version", "live", "root",
            "is_root") + STATUSES + ("failed_rules", "warned_rules", "error_rules")

    def __init__(self, hosts, labels, order, groups):
        self._hosts, self._labels, self._order = hosts, labels, order
        # per group: its counts, then its failed, warned and error rule ids
        self._groups = [counts + tuple([f[1] for f in findings if f[0] == status]
                                       for status in FINDINGS)
                        for counts, findings in groups]

    def __len__(self):
        return len(self._order)

    def _row(self, i):
        host, group = self._hosts[i], self._groups[self._hosts[i][7]]
        return dict(zip(self.KEYS, (self._labels[i],) + host[:7] + group[:5]
                        + tuple(map(list, group[5:]))))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._row(i) for i in self._order[index]]
        return self._row(self._order[index])

    def __iter__(self):
        return map(self._row, self._order)

    def json_lines(self):
        """Each host's dict as json.dumps() writes it, without making the dict: what hosts
        of a group share is encoded once."""
        import json
        from json.encoder import encode_basestring_ascii as text

        tails = [json.dumps(dict(zip(self.KEYS[8:], g[:5] + tuple(map(list, g[5:])))))[1:]
                 for g in self._groups]
        shared = {}
        for i in self._order:
            path, hostname, generated_at, tool_version, live, root, is_root, group = \
                self._hosts[i]
            if not (type(path) is type(hostname) is str and type(live) is type(is_root) is bool):
                yield json.dumps(self._row(i))
                continue
            common = shared.get((generated_at, tool_version, root, live, is_root))
            if common is None:
                if len(shared) > 256:   # reports made at different times share little
                    shared.clear()
                common = shared[generated_at, tool_version, root, live, is_root] = (
                    f', "generated_at": {text(generated_at)}, "tool_version": '
                    f'{text(tool_version)}, "live": {"true" if live else "false"}, "root": '
                    f'{text(root)}, "is_root": {"true" if is_root else "false"}, ')
            yield (f'{{"host": {text(self._labels[i])}, "file": {text(path)}, "hostname": '
                   f'{text(hostname)}{common}{tails[group]}')

    def __eq__(self, other):
        if isinstance(other, (HostTable, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self):
        return f"<HostTable of {len(self)} hosts>"


def build_summary(fleet: Fleet, rejected) -> dict:
    """fleet: the valid reports (Fleet); rejected: [(path, reason)]."""
    import datetime

    from azbdiag import __version__

    hosts = fleet.hosts
    groups = list(fleet.groups)
    labels = _labels(hosts)
    # Every host list is in natural order of the labels (equal keys: in the order read).
    order = sorted(range(len(hosts)), key=lambda i: _natural(labels[i]))
    rank = [0] * len(hosts)
    for position, i in enumerate(order):
        rank[i] = position

    rules = {}
    for _counts, findings in groups:   # in the order first seen, as reading every host would
        for _status, rule_id, title, fix, codes in findings:
            entry = rules.get(rule_id)
            if entry is None:
                entry = rules[rule_id] = {"id": rule_id, "title": one_line(title), "fix": fix,
                                          "error_codes": [], "fail": [], "warn": [], "error": [],
                                          "_codes": set()}
            if codes not in entry["_codes"]:
                entry["_codes"].add(codes)
                for code in codes:
                    code = one_line(code)
                    if code and code not in entry["error_codes"]:
                        entry["error_codes"].append(code)
            if entry["fix"] is None and fix:
                entry["fix"] = fix
    # Each rule's hosts per status: every host adds its label to the lists its group is in.
    lists_of_group = [list({(f[1], f[0]): rules[f[1]][f[0]] for f in findings}.values())
                      for _counts, findings in groups]
    for i in order:
        label = labels[i]
        for names in lists_of_group[hosts[i][7]]:
            names.append(label)
    unique = len(set(labels)) == len(labels)
    for entry in rules.values():
        del entry["_codes"]
        if not unique:
            for status in FINDINGS:
                entry[status] = list(dict.fromkeys(entry[status]))
        entry["fix"] = one_line(entry["fix"]) if entry["fix"] else None
    rule_list = sorted(rules.values(), key=lambda e: (-len(e["fail"]), -len(e["warn"]),
                                                      -len(e["error"]), e["id"]))
    by_code = {}
    for entry in rule_list:
        for code in entry["error_codes"] or [NO_CODE]:
            by_code.setdefault(code, []).append(entry)
    codes = []
    for code, members in by_code.items():
        affected = {s: set() for s in FINDINGS}
        for entry in members:
            for status in FINDINGS:
                affected[status].update(entry[status])
        codes.append({"error_code": code, "hosts_fail": len(affected["fail"]),
                      "hosts_warn": len(affected["warn"] - affected["fail"]),
                      "hosts_error": len(affected["error"]),
                      "rules": [e["id"] for e in members]})
    codes.sort(key=lambda c: (c["error_code"] == NO_CODE, -c["hosts_fail"], -c["hosts_warn"],
                              -c["hosts_error"], c["error_code"]))
    counts = [c for c, _findings in groups]   # (ok, warn, fail, skipped, error) per group
    host_order = sorted(range(len(hosts)), key=lambda i: (
        -counts[hosts[i][7]][2], -counts[hosts[i][7]][1], -counts[hosts[i][7]][4], rank[i]))
    size = [0] * len(groups)
    for h in hosts:
        size[h[7]] += 1

    def hosts_with(test):
        return sum(n for c, n in zip(counts, size) if test(c))

    totals = {"reports": len(hosts), "rejected": len(rejected),
              "hosts_fail": hosts_with(lambda c: c[2]),
              "hosts_warn_only": hosts_with(lambda c: c[1] and not c[2]),
              "hosts_error": hosts_with(lambda c: c[4]),
              "hosts_clean": hosts_with(lambda c: not (c[2] or c[1] or c[4])),
              "hosts_not_root": sum(1 for h in hosts if not h[6])}
    return {
        "summary_version": SUMMARY_VERSION,
        "tool": {"name": "azbdiag", "version": __version__},
        "generated_at": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "totals": totals,
        "error_codes": codes,
        "rules": rule_list,
        "hosts": HostTable(hosts, labels, host_order, groups),
        "rejected": [{"file": p, "reason": r} for p, r in rejected],
    }


_CHECK = []  # the compiled report schema, once per process


def _report_check():
    """The report schema (azbdiag.report.SCHEMA_PATH) compiled, without importing
    azbdiag.report and so the engine: 20 ms that summarize does not need."""
    import json
    import os

    from azbdiag.schema import compile_schema

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "report.schema.json")
    with open(path, encoding="utf-8") as fh:
        return compile_schema(json.load(fh))


def _load_one(path: str):
    """(digest, None) or (None, (path, reason)); never raises."""
    try:
        if not _CHECK:
            _CHECK.append(_report_check())
        doc, reason = load_report(path, _CHECK[0])
        if doc is None:
            return None, (path, reason)
        return digest(path, doc), None
    except Exception as exc:  # a bug must cost one file, not the whole fleet
        return None, (path, f"could not be read: {type(exc).__name__}: {one_line(exc)[:200]}")


PARALLEL_FROM = 200  # files; below this, worker processes cost more than they save


def load_all(files, jobs: int = 1):
    """(Fleet of the valid reports, [(path, reason)] of the others) of `files`, in order, using
    `jobs` worker processes (0: one per CPU, at most 8). Falls back to this process when
    workers cannot be started. One process is the default: at 20,000 reports, two workers
    took 1.4 times the CPU of one process and were no faster on the 2-CPU machine measured
    (bench/run, issue 15).
    """
    import gc
    import os

    jobs = jobs or min(os.cpu_count() or 1, 8)
    # Reading builds and drops one report's objects after another, none in a cycle: the
    # cycle collector would only walk the fleet read so far, again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        outcomes = None
        if jobs > 1 and len(files) >= PARALLEL_FROM:
            try:
                import concurrent.futures
                import multiprocessing

                context = multiprocessing.get_context("fork")
                with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
                    outcomes = _collect(pool.map(
                        _load_one, files, chunksize=max(8, min(64, len(files) // (jobs * 8)))))
            except (OSError, ImportError, ValueError, RuntimeError):  # no /dev/shm, no fork
                outcomes = None
        if outcomes is None:
            outcomes = _collect(_load_one(path) for path in files)
    finally:
        if collecting:
            gc.enable()
    return outcomes


def _collect(outcomes):
    """(Fleet, rejections) from an iterator of _load_one() answers, as they come."""
    fleet, rejected = Fleet(), []
    for d, r in outcomes:
        if r is not None:
            rejected.append(r)
        else:
            fleet.add(d)
    return fleet, rejected


def summarize_paths(paths, on_reject=None, jobs: int = 1):
    """Read every report under `paths`; returns the summary document."""
    files, rejected = find_reports(paths)
    fleet, bad = load_all(files, jobs)
    rejected += bad
    if on_reject:
        for path, reason in rejected:
            on_reject(path, reason)
    return build_summary(fleet, rejected)
