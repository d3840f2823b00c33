"""Whether the installed guest agent works: its Python can import it, it logs a heartbeat,
and its log (/var/log/waagent.log) shows no recent errors that stop extensions, and so
backups, from being processed."""

from __future__ import annotations

import datetime
import re

from azbdiag.engine import rule
from azbdiag.facts import CMD_TIMEOUT, agent_interpreter, require_agent
from azbdiag.model import CheckError, SkipReason, SkipRule, fail, ok, warn
from azbdiag.parsers.waagent_log import HEARTBEAT_MARK, classify, heartbeat_counters, parse_log

LOG = "/var/log/waagent.log"
AGENT_CODES = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
               "AzureVmOffline")


# ---- agent.python_import ----------------------------------------------------------------

@rule("agent.python_import", "The agent's Python can import azurelinuxagent",
      error_codes=AGENT_CODES, live_only=True,
      remedy="Reinstall the agent package from the distribution so that its interpreter and "
             "module match, or point the unit's ExecStart at the Python that has the module "
             "(a systemd drop-in).")
def python_import(ctx):
    """A Python upgrade or a hand-installed agent can leave the service's interpreter
    without the azurelinuxagent module: the daemon then dies at start."""
    require_agent(ctx)
    argv = agent_interpreter(ctx)
    if argv is None:
        raise SkipRule(SkipReason.NO_INPUT, "cannot tell which Python runs the agent")
    res = ctx.host.run(argv + ["-c", "import azurelinuxagent.agent"], timeout=CMD_TIMEOUT)
    shown = " ".join(argv)
    if res.timed_out:
        raise CheckError(f"{shown} did not finish within {CMD_TIMEOUT:g} s")
    if res.not_found:
        return fail(f"the agent's interpreter {shown} does not exist", [shown])
    if res.rc != 0:
        last = (res.stderr.strip().splitlines() or [f"exit {res.rc}"])[-1]
        return fail(f"{shown} cannot import azurelinuxagent: the agent cannot start",
                    [last[:300]])
    return ok(f"{shown} imports azurelinuxagent")


# ---- the log -----------------------------------------------------------------------------

def log_fact(host):
    """The parsed lines of the last 2 MiB of waagent.log."""
    if not host.isfile(LOG):
        raise SkipRule(SkipReason.NO_INPUT, f"no {LOG}")
    try:
        text = host.read_tail(LOG, 2 * 1024 * 1024)
    except OSError as exc:
        raise SkipRule(SkipReason.NO_INPUT, f"cannot read {LOG}: {exc.strerror}") from None
    return parse_log(text)


def _aware(when: datetime.datetime) -> datetime.datetime:
    return when if when.tzinfo is not None else when.astimezone()


def _reference_time(ctx, lines):
    """Now (live, or options['now'] in tests), or the time of the log's last line offline."""
    if ctx.options.get("now") is not None:
        return _aware(ctx.options["now"]), "now"
    if ctx.host.live:
        return datetime.datetime.now(datetime.timezone.utc), "now"
    stamped = [ln.when for ln in lines if ln.when is not None]
    if not stamped:
        return None, ""
    return _aware(stamped[-1]), "the end of the log"


def _age(delta: datetime.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


HEARTBEAT_LIMIT = datetime.timedelta(minutes=35)


@rule("agent.heartbeat", "The agent logged a heartbeat recently", error_codes=AGENT_CODES,
      remedy="Restart the agent (`sudo systemctl restart <unit>`) and read /var/log/waagent.log "
             "for why its extension handler stopped.")
def heartbeat(ctx):
    """The extension handler logs [HEARTBEAT] every 30 minutes while it works."""
    lines = ctx.fact(log_fact)
    if not lines:
        return warn(f"{LOG} has no agent log lines")
    ref, what = _reference_time(ctx, lines)
    beats = [ln for ln in lines if HEARTBEAT_MARK in ln.message and ln.when is not None]
    if not beats:
        return warn(f"no heartbeat in the last {len(lines)} lines of {LOG}: the extension "
                    f"handler is not running, or the agent is too old to log one",
                    [lines[-1].raw[:300]])
    last = beats[-1]
    evidence = [f"line {last.number}: {last.raw[:300]}"]
    counters = heartbeat_counters(last.message)
    age = ref - _aware(last.when) if ref is not None else datetime.timedelta(0)
    if age > HEARTBEAT_LIMIT:
        return fail(f"the last heartbeat is {_age(age)} older than {what}: the extension "
                    f"handler has stopped working", evidence)
    errors = counters.get("UpdateGSErrors", "0")
    if errors.isascii() and errors.isdigit() and int(errors) > 0:
        return warn(f"heartbeat is recent, but the agent counts {errors} goal state update "
                    f"error(s)", evidence)
    return ok(f"last heartbeat {_age(max(age, datetime.timedelta(0)))} before {what}", evidence)


@rule("agent.log_errors", "No recent agent errors in waagent.log", error_codes=AGENT_CODES + (
      "ExtensionSnapshotFailedNoNetwork",),
      remedy="Read the lines shown; the matching azbdiag rule (connectivity, noexec, service, "
             "version) names the cause.")
def log_errors(ctx):
    """ERROR lines and known problem messages of the last 24 hours, grouped."""
    lines = ctx.fact(log_fact)
    ref, what = _reference_time(ctx, lines)
    since = ref - datetime.timedelta(hours=24) if ref is not None else None
    groups = {}
    for ln in lines:
        if ln.when is None or (since is not None and _aware(ln.when) < since):
            continue
        kind = classify(ln.message)
        if kind is None and ln.level != "ERROR":
            continue
        if kind is None:
            kind = "error: " + re.sub(r"\d+", "N", ln.message)[:80]
        count, _first, _last = groups.get(kind, (0, ln, ln))
        groups[kind] = (count + 1, _first, ln)
    if not groups:
        return ok(f"no errors in the 24 hours before {what or 'the end of the log'}")
    ranked = sorted(groups.items(), key=lambda kv: -kv[1][0])
    evidence = [f"{count}x {kind}; last, line {last.number}: {last.raw[:240]}"
                for kind, (count, _f, last) in ranked[:8]]
    return warn(f"{sum(g[0] for g in groups.values())} error line(s) in the 24 hours before "
                f"{what}: {', '.join(k for k, _ in ranked[:3])}", evidence)
