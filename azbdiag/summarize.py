"""The fleet summary behind `azbdiag summarize REPORT...`: one document across a fleet's
`azbdiag check --format json` reports (azbdiag/render/ prints it in each format).

Files and folders (searched recursively for *.json) are read, checked against the report JSON
Schema with azbdiag.schema (no jsonschema at run time), and the warn/fail/error results are
grouped by Azure error code and rule, with the hosts affected and the fix id. Files that are
not valid reports are named with the reason and skipped.
"""

from __future__ import annotations

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
        return read_fd(fd, limit)
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
    if not raw.strip():
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


def _labels(entries):
    """Host names: host.hostname from the report, else the file's folder (reports/<name>/...)."""
    import collections
    import os

    def parent(path):
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or path

    names = [d["hostname"] or one_line(parent(d["path"])) or one_line(d["path"]) for d in entries]
    counts = collections.Counter(names)
    labels = [f"{n} ({one_line(parent(d['path']))})" if counts[n] > 1 else n
              for n, d in zip(names, entries)]
    counts = collections.Counter(labels)
    return [f"{n} ({one_line(d['path'])})" if counts[lab] > 1 else lab
            for n, lab, d in zip(names, labels, entries)]


def _natural(text: str):
    import re

    # Odd positions are the ASCII digit runs, so ints and strings never meet in a comparison.
    return [int(part) if i % 2 else part.lower()
            for i, part in enumerate(re.split(r"([0-9]+)", text))]


def digest(path: str, doc: dict) -> dict:
    """What the summary needs from one valid report: small enough to pass between processes."""
    counts = {"ok": 0, "warn": 0, "fail": 0, "skipped": 0, "error": 0}
    findings = []
    for r in doc["results"]:
        status = r["status"]
        counts[status] += 1
        if status in FINDINGS:
            findings.append((status, r["id"], r["title"], r["fix"], tuple(r["error_codes"])))
    host = doc["host"]
    return {"path": path, "hostname": one_line(host.get("hostname") or ""),
            "generated_at": doc["generated_at"], "tool_version": doc["tool"]["version"],
            "live": host["live"], "root": host["root"], "is_root": host["is_root"],
            "counts": counts, "findings": findings}


def build_summary(entries, rejected) -> dict:
    """entries: digest() of each valid report; rejected: [(path, reason)]."""
    import datetime

    from azbdiag import __version__

    rules = {}
    hosts = []
    for label, d in zip(_labels(entries), entries):
        found = {s: [] for s in FINDINGS}
        for status, rule_id, title, fix, codes in d["findings"]:
            found[status].append(rule_id)
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
            entry[status].append(label)
        hosts.append({
            "host": label, "file": d["path"], "hostname": d["hostname"],
            "generated_at": d["generated_at"], "tool_version": d["tool_version"],
            "live": d["live"], "root": d["root"], "is_root": d["is_root"],
            **d["counts"], "failed_rules": found["fail"], "warned_rules": found["warn"],
            "error_rules": found["error"],
        })
    for entry in rules.values():
        del entry["_codes"]
        for status in FINDINGS:
            entry[status] = sorted(set(entry[status]), key=_natural)
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
    hosts.sort(key=lambda h: (-h["fail"], -h["warn"], -h["error"], _natural(h["host"])))
    totals = {
        "reports": len(hosts),
        "rejected": len(rejected),
        "hosts_fail": sum(1 for h in hosts if h["fail"]),
        "hosts_warn_only": sum(1 for h in hosts if h["warn"] and not h["fail"]),
        "hosts_error": sum(1 for h in hosts if h["error"]),
        "hosts_clean": sum(1 for h in hosts if not (h["fail"] or h["warn"] or h["error"])),
        "hosts_not_root": sum(1 for h in hosts if not h["is_root"]),
    }
    return {
        "summary_version": SUMMARY_VERSION,
        "tool": {"name": "azbdiag", "version": __version__},
        "generated_at": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "totals": totals,
        "error_codes": codes,
        "rules": rule_list,
        "hosts": hosts,
        "rejected": [{"file": p, "reason": r} for p, r in rejected],
    }


_CHECK = []  # the compiled report schema, once per process


def _load_one(path: str):
    """(digest, None) or (None, (path, reason)); never raises."""
    try:
        if not _CHECK:
            from azbdiag.report import load_schema
            from azbdiag.schema import compile_schema

            _CHECK.append(compile_schema(load_schema()))
        doc, reason = load_report(path, _CHECK[0])
        if doc is None:
            return None, (path, reason)
        return digest(path, doc), None
    except Exception as exc:  # a bug must cost one file, not the whole fleet
        return None, (path, f"could not be read: {type(exc).__name__}: {one_line(exc)[:200]}")


PARALLEL_FROM = 200  # files; below this, worker processes cost more than they save


def load_all(files, jobs: int = 0):
    """Digests and rejections of `files`, in order, using `jobs` worker processes (0: one per
    CPU, at most 8). Falls back to this process when workers cannot be started."""
    import os

    jobs = jobs or min(os.cpu_count() or 1, 8)
    outcomes = None
    if jobs > 1 and len(files) >= PARALLEL_FROM:
        try:
            import concurrent.futures
            import multiprocessing

            context = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
                outcomes = _collect(pool.map(_load_one, files,
                                             chunksize=max(8, min(64, len(files) // (jobs * 8)))))
        except (OSError, ImportError, ValueError, RuntimeError):  # no /dev/shm, no fork, ...
            outcomes = None
    if outcomes is None:
        outcomes = _collect(_load_one(path) for path in files)
    return outcomes


def _collect(outcomes):
    """(digests, rejections) from an iterator of _load_one() answers, as they come. What
    reports have in common (their findings, counts, dates and versions) is kept once and
    shared, so that the memory held grows by a few pointers per report, not by its text."""
    entries, rejected, shared = [], [], {}
    for d, r in outcomes:
        if r is not None:
            rejected.append(r)
            continue
        d["findings"] = [shared.setdefault(f, f) for f in d["findings"]]
        d["counts"] = shared.setdefault(tuple(d["counts"].items()), d["counts"])
        for key in ("generated_at", "tool_version", "root"):
            if isinstance(d[key], str):
                d[key] = shared.setdefault(d[key], d[key])
        entries.append(d)
    return entries, rejected


def summarize_paths(paths, on_reject=None, jobs: int = 0):
    """Read every report under `paths`; returns the summary document."""
    files, rejected = find_reports(paths)
    entries, bad = load_all(files, jobs)
    rejected += bad
    if on_reject:
        for path, reason in rejected:
            on_reject(path, reason)
    return build_summary(entries, rejected)
