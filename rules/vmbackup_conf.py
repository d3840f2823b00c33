"""/etc/azure/vmbackup.conf: the backup extension's own settings file."""

from __future__ import annotations

import stat

from azbdiag.engine import rule
from azbdiag.facts import VMBACKUP_CONF as PATH
from azbdiag.facts import (
    asr_present,
    extension_python,
    mounts,
    mounts_source,
    vmbackup_conf,
    vmbackup_conf_exists,
)
from azbdiag.fix import RefuseFix, WriteFile, fix
from azbdiag.model import SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers import vmbackup_conf as vc
from azbdiag.parsers.vmbackup_conf_repair import repair

FALLBACK = ("The extension swallows the parse error and silently uses its defaults for every "
            "key: MountsToSkip, timeout and SafeFreezeWaitInSeconds set here are ignored.")


def _needs_conf(ctx):
    conf = ctx.fact(vmbackup_conf)
    if not conf.parses:
        raise SkipRule(SkipReason.NOT_APPLICABLE, f"{PATH} does not parse (see vmbackup_conf.parses)")
    return conf


def _shown_key(key: str) -> str:
    """A key as the extension's code spells it (ConfigParser lowercases option names)."""
    for name in list(vc.INT_KEYS) + list(vc.STR_KEYS):
        if name == key.lower():
            return vc.KEY_NAMES.get(name, key)
    return key


def _default_of(key: str) -> str:
    low = key.lower()
    if low in vc.INT_KEYS:
        return f"{_shown_key(key)} falls back to its default {vc.INT_KEYS[low]}"
    if low in vc.STR_KEYS:
        return f"{_shown_key(key)} falls back to its default {vc.STR_KEYS[low]!r}"
    return f"{key} is lost"


def _show(conf, number):
    line = conf.line(number)
    return f"line {number}: {line.text!r}" if line else f"line {number}"


@rule("vmbackup_conf.parses", "vmbackup.conf can be read by the backup extension",
      error_codes=("UserErrorFsFreezeFailed", "ExtensionConfigParsingFailure",
                   "VMBackupLinuxExtensionConfFileWrongEncodingFormat"),
      fix="vmbackup-conf",
      remedy="Run `sudo azbdiag fix --vmbackup-conf`, or edit the file by hand: plain ASCII, "
             "a [SnapshotThread] header first, each key once, `key = value` lines that start "
             "in column 1, and no % in values.")
def conf_parses(ctx):
    """The file parses with Python 3 ConfigParser, as the extension reads it."""
    if not ctx.fact(vmbackup_conf_exists):
        return ok(f"{PATH} is absent: the extension uses its defaults, which is fine")
    conf = ctx.fact(vmbackup_conf)
    if not conf.parses:
        return fail(f"{PATH} does not parse: {conf.error_message}. {FALLBACK}",
                    [_show(conf, conf.error_line)] if conf.error_line else [])
    problems, lost = [], []
    for number, key in conf.glued_lines:
        line = conf.line(number)
        glued_key = vc.OPTION_RE.match(line.text.strip()) if line else None
        names = [key] + ([glued_key.group("option").strip()] if glued_key else [])
        lost += names
        problems.append(f"{_show(conf, number)} is indented, so it is glued onto the value of "
                        f"{key!r}: " + " and ".join(_default_of(n) for n in names))
    for key, number in conf.interpolation_errors.items():
        lost.append(key)
        problems.append(f"{_show(conf, number)}: the % in the value of {key} breaks "
                        f"ConfigParser's interpolation for this key only, so "
                        f"{_default_of(key)}")
    if vc.SECTION not in conf.sections:
        found = ", ".join(f"[{s}]" for s in conf.sections) or "none"
        return fail(f"{PATH} has no [{vc.SECTION}] section (section names are case-sensitive; "
                    f"found: {found}), so every setting takes its default", problems)
    if problems:
        # The extension builds a parser for each key it reads and swallows that lookup's
        # error (Utils/HandlerUtil.py get_value_from_configfile): a bad value costs its key.
        names = ", ".join(dict.fromkeys(_shown_key(k) for k in lost))
        freeze = [k for k in lost if k.lower() == "mountstoskip"]
        result = fail if freeze else warn
        what = ("MountsToSkip is lost, so every mount is frozen, the ones meant to be skipped "
                "too" if freeze else "the other keys are read as written")
        return result(f"{PATH}: {names} take(s) the default value; {what}", problems)
    keys = ", ".join(sorted(conf.snapshot_thread)) or "no keys"
    if conf.non_ascii_lines:
        return _non_ascii(ctx, conf, keys)
    return ok(f"{PATH} parses ([{vc.SECTION}]: {keys})")


def _service_lang(host) -> str:
    """LANG from /etc/locale.conf, which systemd passes to services, the agent among them."""
    text = host.try_read_text("/etc/locale.conf", 64 * 1024) or ""
    found = ""
    for line in text.splitlines():
        key, _, value = line.strip().partition("=")
        if key in ("LANG", "LC_ALL", "LC_CTYPE") and value:
            found = value.strip().strip('"')
    return found


def _non_ascii(ctx, conf, keys: str):
    """Valid UTF-8 with non-ASCII text: ConfigParser.read decodes with the locale's encoding;
    Python 3.7+ coerces the C locale to UTF-8 (PEP 538/540), Python 3.6 does not, and Python 2
    reads bytes."""
    shown = [_show(conf, n) for n in conf.non_ascii_lines[:5]]
    interp = extension_python(ctx)
    if interp is None or interp.version is None:
        return ok(f"{PATH} parses ([{vc.SECTION}]: {keys}); it holds non-ASCII UTF-8 text, "
                  f"which Python 3.7 and later read under any locale", shown +
                  ["the Python the extension runs is not known here; Python 3.6 reads it only "
                   "under a UTF-8 locale"])
    version = f"Python {interp.version[0]}.{interp.version[1]}"
    if interp.version >= (3, 7) or interp.version < (3, 0):
        return ok(f"{PATH} parses ([{vc.SECTION}]: {keys}); its non-ASCII UTF-8 text is read as "
                  f"written by {interp.path} ({version}), under any locale", shown)
    lang = _service_lang(ctx.host)
    if "utf-8" in lang.lower() or "utf8" in lang.lower():
        return ok(f"{PATH} parses under {version} ({interp.path}) because services run with "
                  f"LANG={lang} (/etc/locale.conf)", shown)
    return warn(f"{PATH} holds non-ASCII text, and the extension runs {interp.path} ({version}), "
                f"which decodes it only under a UTF-8 locale (no PEP 538 coercion before 3.7): "
                f"under LANG={lang or 'C'} every key falls back to its default", shown)


@rule("vmbackup_conf.isanysnapshotfailed", "isanysnapshotfailed is not left at True",
      error_codes=("ExtensionFailedSnapshotLimitReachedError",),
      fix="vmbackup-conf",
      remedy="Set `isanysnapshotfailed = False` in [SnapshotThread] of /etc/azure/vmbackup.conf "
             "(`sudo azbdiag fix --vmbackup-conf`). Current extension versions no longer read "
             "this key, but the documented step for Site Recovery users still asks for False.")
def isanysnapshotfailed(ctx):
    """Old extension versions set isanysnapshotfailed = True after a snapshot limit error."""
    conf = _needs_conf(ctx)
    value = conf.snapshot_thread.get("isanysnapshotfailed")
    if value is None:
        return ok("isanysnapshotfailed is not set")
    line = next((ln for ln in conf.option_lines() if (ln.key or "").lower() == "isanysnapshotfailed"),
                None)
    evidence = [_show(conf, line.number)] if line else []
    if value.strip().lower() != "true":
        return ok(f"isanysnapshotfailed = {value}")
    asr = ctx.fact(asr_present)
    if asr:
        return fail("isanysnapshotfailed = True while Azure Site Recovery is installed: the "
                    "documented cause of ExtensionFailedSnapshotLimitReachedError",
                    evidence + [f"Site Recovery present: {p}" for p in asr])
    return warn("isanysnapshotfailed = True is left over from an old extension version "
                "(legacy key, not read by current versions)", evidence)


# ---- fix --vmbackup-conf: repairs what the two rules above find -----------------------------
# The rewrite itself is azbdiag.parsers.vmbackup_conf_repair.repair (pure, fuzzed); this planner only
# decides whether to write and refuses what it cannot do safely.

@fix("vmbackup-conf", title="Repair /etc/azure/vmbackup.conf",
     rules=("vmbackup_conf.parses", "vmbackup_conf.isanysnapshotfailed"), order=20, live_only=False)
def plan_vmbackup_conf(ctx, findings):
    """Rewrite the file so the extension can parse it and isanysnapshotfailed is False."""
    host = ctx.host
    if not ctx.fact(vmbackup_conf_exists):
        return []
    conf = ctx.fact(vmbackup_conf)
    try:
        st = host.stat(PATH)
    except OSError as exc:
        raise RefuseFix(f"cannot stat {PATH}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise RefuseFix(f"{PATH} is not a regular file")
    if st.st_size != len(conf.raw):
        raise RefuseFix(f"{PATH} is {st.st_size} bytes, more than azbdiag reads or changed "
                        f"while it was checked; edit it by hand")
    new, changes = repair(conf.raw)
    if new == conf.raw:
        return []
    return [WriteFile(PATH, new, why="; ".join(changes))]


@rule("vmbackup_conf.keys", "vmbackup.conf has no obsolete or unknown keys",
      remedy="Remove keys that have no effect, and use the names the extension reads now: "
             "seqsnapshot instead of doseq; fsFreezeEnabled in "
             "/etc/azure/VMSnapshotScriptPluginConfig.json instead of fsfreeze.")
def conf_keys(ctx):
    """Keys that no longer have an effect, or that the extension never reads."""
    conf = _needs_conf(ctx)
    known = set(vc.INT_KEYS) | set(vc.STR_KEYS) | vc.LEGACY_KEYS
    evidence = []
    for line in conf.option_lines():
        key = (line.key or "").lower()
        if key in vc.OBSOLETE_KEYS:
            evidence.append(f"{_show(conf, line.number)}: {line.key} is {vc.OBSOLETE_KEYS[key]}")
        elif key not in known:
            evidence.append(f"{_show(conf, line.number)}: {line.key} is not a key the extension "
                            f"reads (typo?)")
    method = conf.value("snapshotmethod")
    if method is not None and method not in vc.SNAPSHOT_METHODS:
        evidence.append(f"SnapshotMethod = {method!r} is not one of "
                        f"{', '.join(vc.SNAPSHOT_METHODS)}; it behaves as firstHostThenGuest")
    for key in ("writelog", "uploadstatusandlog"):
        value = conf.value(key)
        if value is not None and value != "True":
            evidence.append(f"{key} = {value!r}: anything but the exact word True turns it off")
    if evidence:
        return warn(f"{len(evidence)} setting(s) in {PATH} do not do what they seem to", evidence)
    return ok("every key is one the extension reads")


@rule("vmbackup_conf.integer_keys", "integer settings in vmbackup.conf are integers",
      error_codes=("UserErrorFsFreezeFailed", "UserErrorFsFreezeTimeout"),
      remedy="Give timeout, SafeFreezeWaitInSeconds, seqsnapshot, sudo_off, LoggingOff and "
             "disable_logging whole numbers, without comments on the same line; "
             "SafeFreezeWaitInSeconds at least 6 (the default is 66).")
def integer_keys(ctx):
    """A value int() rejects makes the extension log a warning and use the default. The
    extension waits for the freeze in main/fsfreezer.py: safefreeze starts after a fixed 3 s
    (thread_for_binary) while FreezeHandler.startproc polls int(N/2) times, 2 s apart, so a
    SafeFreezeWaitInSeconds of 3 or less ends every backup with 122 (freeze timed out) and 4
    or 5 leave about a second for the freeze."""
    conf = _needs_conf(ctx)
    fails, warns = [], []
    for key, default in vc.INT_KEYS.items():
        value = conf.snapshot_thread.get(key)
        if value is None or key in conf.interpolation_errors:   # vmbackup_conf.parses says it
            continue
        name = vc.KEY_NAMES.get(key, key)
        number = vc.parse_int(value)
        if number is None:
            fails.append(f"{name} = {value!r} is not an integer: the default {default} is used")
        elif key == "safefreezewaitinseconds" and number <= 3:
            fails.append(f"SafeFreezeWaitInSeconds = {number}: the extension starts safefreeze "
                         f"3 s after it starts waiting and waits int({number}/2) = "
                         f"{max(0, int(number / 2))} round(s) of 2 s, so the freeze always "
                         f"times out (122, UserErrorFsFreezeTimeout)")
        elif key == "safefreezewaitinseconds" and number <= 5:
            warns.append(f"SafeFreezeWaitInSeconds = {number} leaves about {number - 3} s after "
                         f"safefreeze starts for every file system to freeze; a busy one times "
                         f"out (122)")
        elif key == "timeout" and number <= 0:
            fails.append(f"timeout = {number} must be positive")
        elif key == "seqsnapshot" and number not in (0, 1, 2):
            fails.append(f"seqsnapshot = {number} is not 0, 1 or 2")
    floor = [e for e in fails if e.startswith("SafeFreezeWaitInSeconds")]
    tail = f"; {len(warns)} more barely long enough" if warns else ""
    if floor:
        others = len(fails) - 1
        return fail(floor[0].split(":")[0] + " makes every freeze time out (122)"
                    + (f"; {others} more integer setting(s) will not be used as written"
                       if others else "") + tail, fails + warns)
    if fails:
        return fail(f"{len(fails)} integer setting(s) will not be used as written" + tail,
                    fails + warns)
    if warns:
        return warn("SafeFreezeWaitInSeconds is barely long enough for a freeze", warns)
    return ok("integer settings are valid")


@rule("vmbackup_conf.mounts_to_skip", "MountsToSkip names real mount points the way the "
      "extension splits them",
      error_codes=("UserErrorFsFreezeFailed", "UserErrorUnableToOpenMount"),
      remedy="List exact mount points separated by commas with no spaces "
             "(MountsToSkip = /data,/mnt/nfs). `/` cannot be skipped.")
def mounts_to_skip(ctx):
    """MountsToSkip is split on commas without trimming and matched exactly
    (main/fsfreezer.py freeze_safe). "/" is tested before the list, so it is always frozen:
    naming it is a no-op, and the value "/" alone only keeps the extension's logs local."""
    conf = _needs_conf(ctx)
    value = conf.value("mountstoskip")
    if not value:
        return ok("MountsToSkip is not set: every freezable mount is frozen")
    entries = vc.mounts_to_skip(value)
    evidence = []
    problems_fail = False
    try:
        points = {m.mount_point for m in ctx.fact(mounts)}
    except SkipRule:
        points = None
    for entry in entries:
        if entry != entry.strip():
            problems_fail = True
            evidence.append(f"{entry!r} has spaces around it: the extension compares it as "
                            f"written, so {entry.strip()!r} is NOT skipped")
            continue
        if not entry:
            evidence.append("an empty entry (two commas or a trailing comma)")
            continue
        if entry == "/":
            evidence.append("'/' is a no-op: the extension always freezes the root, last"
                            + ("; the value '/' alone only keeps its logs local during the "
                               "freeze" if value == "/" else ""))
            continue
        if any(ch in entry for ch in "*?["):
            problems_fail = True
            evidence.append(f"{entry!r}: wildcards are not supported; entries are exact paths")
            continue
        if points is not None and entry.rstrip("/") not in points and entry not in points:
            evidence.append(f"{entry!r} matches no mount point in the {mounts_source(ctx.host)}")
        elif points is not None and entry != "/" and entry.endswith("/"):
            problems_fail = True
            evidence.append(f"{entry!r} has a trailing slash; mount points are compared exactly")
    if all(e.startswith("'/' is a no-op") for e in evidence):
        return ok(f"MountsToSkip = {value}", evidence)
    result = fail if problems_fail else warn
    return result(f"MountsToSkip = {value!r} will not skip what it seems to", evidence)
