"""Start azbdiag with the right libraries, installed or from azbdiag.pyz.

Installed (.deb, .rpm, tools/install) this file is <appdir>/main.py, next to the azbdiag
package and _vendor/, and the /usr/bin/azbdiag launcher runs it with a Python it has checked
is 3.9 or newer. In azbdiag.pyz it is __main__.py: it unpacks azbdiag and _vendor/ into a
private temporary folder (azbdiag reads its data files by path), runs from there and removes
the folder when it ends.

The libraries (typer with click, sh, distro): the system's copy is used when it is at least
the oldest release CI tests (MINIMUM), and the bundled copy under _vendor/ otherwise.
AZBDIAG_LIBS=bundled or =system forces one side; `--debug` prints the choice on stderr.

Any Python, even 2.7, must be able to parse this file: an old one has to reach the message
that names a usable Python, so no f-strings and no annotations here.
"""

import os
import re
import sys

MIN_PYTHON = (3, 9)
EXIT_CANNOT_RUN = 3

# Bundle groups: (folder under _vendor/, [(module, oldest system release used, first release not used)]).
# typer and click form one group, so a bundled typer never runs with the system's click.
GROUPS = (
    ("typer", (("typer", (0, 4, 0), None), ("click", (8, 0), None))),
    ("sh", (("sh", (1, 14, 2), (3,)),)),
    ("distro", (("distro", (1, 7, 0), None),)),
)

_META = re.compile(r"^([A-Za-z0-9_.-]+?)-(\d[^-]*?)(?:-py\d[\d.]*)?\.(?:dist|egg)-info$")


def _version_tuple(text):
    parts = []
    for piece in text.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group(0)))
        if m.group(0) != piece:
            break
    return tuple(parts)


def _has_module(folder, module):
    return os.path.isfile(os.path.join(folder, module, "__init__.py")) or \
        os.path.isfile(os.path.join(folder, module + ".py"))


def _metadata_version(folder, module):
    """The version in the dist-info/egg-info name of `module` in `folder`, or None."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for entry in names:
        m = _META.match(entry)
        if m and m.group(1).replace("-", "_").lower() == module:
            return m.group(2)
    return None


def find_copy(module, path):
    """(folder, version string or None) of the copy of `module` that `import` would load from
    the folders in `path`, without importing it; (None, None) when there is none."""
    for folder in path:
        if not isinstance(folder, str) or not folder or not os.path.isdir(folder):
            continue
        if _has_module(folder, module):
            return folder, _metadata_version(folder, module)
    return None, None


def usable(version, oldest, too_new):
    if not version:
        return False
    v = _version_tuple(version)
    return v >= oldest and (too_new is None or v < too_new)


def choose(vendor, path, mode="auto"):
    """Decide per group between the system's copy and the bundled one.

    Returns (folders to put in front of sys.path, notes) where notes are "NAME VERSION
    system|bundled ..." strings for --debug."""
    front, notes = [], []
    for group, modules in GROUPS:
        bundled_dir = os.path.join(vendor, group)
        system = [(m, find_copy(m, path)) for m, _, _ in modules]
        system_ok = all(usable(found[1], oldest, too_new)
                        for (m, found), (_, oldest, too_new) in zip(system, modules))
        use_bundled = mode == "bundled" or (mode != "system" and not system_ok)
        if use_bundled and os.path.isdir(bundled_dir):
            front.append(bundled_dir)
            for m, found in system:
                why = ""
                if mode != "bundled":
                    why = " (system: %s)" % (found[1] or "none") if found[0] else " (system: none)"
                notes.append("%s %s bundled%s" % (m, _metadata_version(bundled_dir, m) or "?", why))
        else:
            for m, found in system:
                notes.append("%s %s system" % (m, found[1] or "?") if found[0] else "%s missing" % m)
    return front, notes


def _old_python(here, zip_path):
    """Running on a Python older than 3.9. From the .pyz, hand over to the launcher script
    inside it, which looks for a newer Python and runs the .pyz with it, or names the package
    to install; installed, say to use the launcher."""
    found = "%d.%d" % sys.version_info[:2]
    if zip_path and not os.environ.get("AZBDIAG_LAUNCHER_MAIN"):
        import zipfile
        try:
            script = zipfile.ZipFile(zip_path).read("launcher.sh").decode("utf-8")
        except Exception:
            script = None
        if script and os.path.exists("/bin/sh"):
            env = dict(os.environ)
            env["AZBDIAG_LAUNCHER_MAIN"] = zip_path
            os.execve("/bin/sh", ["/bin/sh", "-c", script, "azbdiag"] + sys.argv[1:], env)
    sys.stderr.write("azbdiag: needs Python 3.9 or newer, found %s %s; run azbdiag with one "
                     "(the azbdiag command finds it by itself)\n" % (sys.executable or "python", found))
    return EXIT_CANNOT_RUN


def _unpack(zip_path):
    """Unpack azbdiag/ and _vendor/ from the .pyz into a new private folder; return it. Folders
    left by earlier runs that were killed (their process is gone) are removed first."""
    import shutil
    import tempfile
    import zipfile

    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        m = re.match(r"^azbdiag-pyz-(\d+)-", entry)
        stale = os.path.join(tmp, entry)
        if not m or not os.path.isfile(os.path.join(stale, ".azbdiag-pyz")):
            continue
        try:
            if os.lstat(stale).st_uid != os.getuid():
                continue
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass
    folder = tempfile.mkdtemp(prefix="azbdiag-pyz-%d-" % os.getpid())
    with open(os.path.join(folder, ".azbdiag-pyz"), "w") as fh:
        fh.write(zip_path + "\n")
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename
            if not (name.startswith("azbdiag/") or name.startswith("_vendor/")):
                continue
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or "\\" in name:
                raise SystemExit("azbdiag: %s: unsafe entry %r" % (zip_path, name))
            zf.extract(info, folder)
    return folder


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    zip_path = here if os.path.isfile(here) else None
    if sys.version_info < MIN_PYTHON:
        return _old_python(here, zip_path)
    sys.dont_write_bytecode = True  # never leave __pycache__ in the installed tree
    folder = None
    try:
        if zip_path:
            # Run from the unpacked copy only; the .pyz itself leaves the import path.
            sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != zip_path]
            folder = appdir = _unpack(zip_path)
        else:
            appdir = here
        mode = os.environ.get("AZBDIAG_LIBS", "auto")
        front, notes = choose(os.path.join(appdir, "_vendor"), sys.path, mode)
        sys.path[:0] = [appdir] + front
        if "--debug" in sys.argv[1:]:
            sys.stderr.write("azbdiag: Python %s (%s); %s\n" % (
                sys.version.split()[0], sys.executable, ", ".join(notes)))
        from azbdiag.__main__ import main as azbdiag_main

        return azbdiag_main()
    finally:
        if folder:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
