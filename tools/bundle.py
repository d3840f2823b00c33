"""Build steps shared by tools/fetch-wheels, tools/install-tree, tools/build-pyz, debian/rules,
rpm/azbdiag.spec and tools/install.

- fetch: the wheels pinned in tools/bundled.lock into wheels/, each checked against its SHA-256;
  taken from the cache folder ($AZBDIAG_WHEEL_CACHE, default ~/.cache/azbdiag/wheels) when there,
  downloaded into it otherwise. With --offline nothing is downloaded.
- install-tree: the program as the packages install it: <prefix>/share/azbdiag/ holds the
  azbdiag package (rules/ inside as azbdiag.rules), main.py and the bundled libraries under
  _vendor/<group>/; <prefix>/bin/azbdiag is the POSIX-sh launcher.
- pyz: azbdiag.pyz, the same tree in one zip file that any Python 3.9+ runs.

Runs on the build host's Python 3.6 or newer (RHEL 8 builds rpms with 3.6).
"""

import argparse
import hashlib
import io
import os
import shutil
import stat
import sys
import tempfile
import time
import urllib.request
import zipfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = os.path.join(SRC, "tools", "bundled.lock")
WHEELS = os.path.join(SRC, "wheels")
APP_SUBDIR = os.path.join("share", "azbdiag")
# Reproducible archives: SOURCE_DATE_EPOCH when set, else the zip format's earliest date.
ZIP_EPOCH = 315532800


class BuildError(Exception):
    pass


def read_lock(path=LOCK):
    """[{group, name, version, licence, sha256, url, filename}] from tools/bundled.lock."""
    entries = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            group, name, version, licence, sha256, url = line.split()
            entries.append({"group": group, "name": name, "version": version, "licence": licence,
                            "sha256": sha256, "url": url, "filename": url.rsplit("/", 1)[1]})
    return entries


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _good(path, sha256):
    return os.path.isfile(path) and sha256_of(path) == sha256


def default_cache():
    env = os.environ.get("AZBDIAG_WHEEL_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "azbdiag", "wheels")


def fetch(dest=WHEELS, cache=None, offline=False, log=print):
    """Put every locked wheel, hash-checked, into `dest`; return their paths."""
    cache = cache or default_cache()
    os.makedirs(dest, exist_ok=True)
    paths = []
    for entry in read_lock():
        target = os.path.join(dest, entry["filename"])
        cached = os.path.join(cache, entry["filename"])
        if not _good(target, entry["sha256"]):
            if not _good(cached, entry["sha256"]):
                if offline:
                    raise BuildError(
                        "{} is not in {} or {} (run ./tools/fetch-wheels online once, or put the "
                        "file there: SHA-256 {})".format(entry["filename"], dest, cache, entry["sha256"]))
                _download(entry, cache, log)
            shutil.copyfile(cached, target + ".tmp")
            os.replace(target + ".tmp", target)
        paths.append(target)
    return paths


def _download(entry, cache, log):
    os.makedirs(cache, exist_ok=True)
    log("downloading {}".format(entry["url"]))
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=cache)
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(entry["url"], timeout=120) as resp:
                shutil.copyfileobj(resp, out)
        got = sha256_of(tmp)
        if got != entry["sha256"]:
            raise BuildError(f"{entry['url']}: SHA-256 {got}, expected {entry['sha256']}: refusing it")
        os.replace(tmp, os.path.join(cache, entry["filename"]))
    except OSError as exc:
        raise BuildError(f"cannot download {entry['url']}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- the tree

def app_files():
    """[(source path, path under <appdir>)] for the azbdiag package with its rules, and main.py."""
    out = []
    for top, inside in (("azbdiag", "azbdiag"), ("rules", os.path.join("azbdiag", "rules"))):
        base = os.path.join(SRC, top)
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                    continue
                path = os.path.join(folder, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                out.append((path, os.path.join(inside, os.path.relpath(path, base))))
    out.append((os.path.join(SRC, "launcher", "main.py"), "main.py"))
    return out


def wheel_members(wheel):
    """[(name in the wheel, bytes)] of the importable files and metadata of a wheel (its
    .data/ scripts left out), each name checked to stay inside the target folder."""
    members = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or "\\" in name or not all(parts):
                raise BuildError(f"{wheel}: unsafe member {name!r}")
            if parts[0].endswith(".data"):
                continue
            members.append((name, zf.read(info)))
    return members


def bundled_members(wheels=WHEELS):
    """[(path under <appdir>, bytes)] of _vendor/<group>/..., from hash-checked wheels."""
    out = []
    for entry in read_lock():
        wheel = os.path.join(wheels, entry["filename"])
        if not _good(wheel, entry["sha256"]):
            raise BuildError(f"{wheel} is missing or has the wrong SHA-256: run ./tools/fetch-wheels")
        for name, data in wheel_members(wheel):
            out.append((os.path.join("_vendor", entry["group"], name), data))
    return out


def launcher_text(appdir):
    with open(os.path.join(SRC, "launcher", "azbdiag"), encoding="utf-8") as fh:
        text = fh.read()
    if "@APPDIR@" not in text:
        raise BuildError("launcher/azbdiag has no @APPDIR@")
    return text.replace("@APPDIR@", appdir)


def _write(path, data, mode, installed):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".azbdiag-new"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    installed.append(path)


def install_tree(destdir="", prefix="/usr", wheels=WHEELS, bundled=True, extras=False):
    """Install the program under destdir+prefix; return the installed file paths (with destdir)."""
    if not prefix.startswith("/"):
        raise BuildError(f"--prefix must be absolute: {prefix!r}")
    root = os.path.abspath(destdir) if destdir else ""
    appdir = os.path.join(prefix, APP_SUBDIR)
    target_app = root + appdir
    installed = []
    members = bundled_members(wheels) if bundled else []
    if os.path.isdir(target_app):
        # An older install of the same tree: replace it whole, so no module of it lingers.
        for sub in ("azbdiag", "_vendor"):
            shutil.rmtree(os.path.join(target_app, sub), ignore_errors=True)
    for source, inside in app_files():
        with open(source, "rb") as fh:
            _write(os.path.join(target_app, inside), fh.read(), 0o644, installed)
    for inside, data in members:
        _write(os.path.join(target_app, inside), data, 0o644, installed)
    _write(root + os.path.join(prefix, "bin", "azbdiag"), launcher_text(appdir).encode("utf-8"), 0o755,
           installed)
    if extras:
        for source, inside in (("man/azbdiag.1", "share/man/man1/azbdiag.1"),
                               ("completion/azbdiag", "share/bash-completion/completions/azbdiag")):
            with open(os.path.join(SRC, source), "rb") as fh:
                _write(root + os.path.join(prefix, inside), fh.read(), 0o644, installed)
    return installed


# --------------------------------------------------------------------------- azbdiag.pyz

def _epoch():
    try:
        return max(int(os.environ.get("SOURCE_DATE_EPOCH", ZIP_EPOCH)), ZIP_EPOCH)
    except ValueError:
        return ZIP_EPOCH


def build_pyz(out, wheels=WHEELS):
    """Write azbdiag.pyz to `out` (reproducible: sorted members, fixed dates); return its SHA-256."""
    date = time.gmtime(_epoch())[:6]
    entries = []
    with open(os.path.join(SRC, "launcher", "main.py"), "rb") as fh:
        entries.append(("__main__.py", fh.read()))
    entries.append(("launcher.sh", launcher_text("/nonexistent").encode("utf-8")))
    for source, inside in app_files():
        if inside == "main.py":
            continue
        with open(source, "rb") as fh:
            entries.append((inside.replace(os.sep, "/"), fh.read()))
    entries.extend((inside.replace(os.sep, "/"), data) for inside, data in bundled_members(wheels))
    buf = io.BytesIO()
    buf.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=date)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(buf.getvalue())
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return sha256_of(out)


# --------------------------------------------------------------------------- command line

def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools/bundle.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    p = sub.add_parser("fetch", help="the pinned wheels into wheels/")
    p.add_argument("--dest", default=WHEELS)
    p.add_argument("--cache", default=None, help="default: $AZBDIAG_WHEEL_CACHE or ~/.cache/azbdiag/wheels")
    p.add_argument("--offline", action="store_true", help="never download; fail when a wheel is missing")
    p = sub.add_parser("install-tree", help="install the program under DESTDIR/PREFIX")
    p.add_argument("--destdir", default="")
    p.add_argument("--prefix", default="/usr")
    p.add_argument("--wheels", default=WHEELS)
    p.add_argument("--no-bundled", dest="bundled", action="store_false",
                   help="leave the bundled libraries out (the system's are then needed)")
    p.add_argument("--extras", action="store_true", help="also the man page and the bash completion")
    p.add_argument("--manifest", help="write the installed paths (without DESTDIR) to this file")
    p = sub.add_parser("pyz", help="build azbdiag.pyz")
    p.add_argument("-o", "--output", default=os.path.join(SRC, "dist", "azbdiag.pyz"))
    p.add_argument("--wheels", default=WHEELS)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            for path in fetch(args.dest, args.cache, args.offline):
                print(f"ok {os.path.relpath(path)}")
        elif args.cmd == "install-tree":
            paths = install_tree(args.destdir, args.prefix, args.wheels, args.bundled, args.extras)
            if args.manifest:
                root = os.path.abspath(args.destdir) if args.destdir else ""
                with open(args.manifest, "w", encoding="utf-8") as fh:
                    fh.writelines(p[len(root):] + "\n" for p in paths)
            print(f"installed {len(paths)} files under {args.destdir}{args.prefix}")
        elif args.cmd == "pyz":
            digest = build_pyz(args.output, args.wheels)
            print(f"{args.output}: {os.path.getsize(args.output)} bytes, sha256 {digest}")
        else:
            parser.print_help()
            return 2
    except BuildError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
