"""The engine: isolation of failing and hanging rules, timeouts, deadline, applicability."""

import time

import pytest
from conftest import make_host

from azbdiag import engine
from azbdiag.model import CheckError, Rule, SkipReason, SkipRule, Status, fail, ok
from azbdiag.runner import CommandResult, FakeRunner, ShRunner


def _rule(func, **kw):
    params = dict(id="test." + func.__name__, title=func.__name__, func=func)
    params.update(kw)
    return Rule(**params)


def _ctx(fs, **host_kw):
    return engine.Context(make_host(fs, {}, **host_kw), {})


def test_raising_rule_is_error_and_others_still_run(fs):
    def boom(ctx):
        raise RuntimeError("kaput")

    def fine(ctx):
        return ok("fine")

    results = engine.run_rules(_ctx(fs), rules=[_rule(boom), _rule(fine)])
    assert [r.status for r in results] == [Status.ERROR, Status.OK]
    assert "RuntimeError: kaput" in results[0].summary


def test_hanging_rule_is_cut_off_by_its_timeout(fs):
    def hang(ctx):
        time.sleep(30)

    def fine(ctx):
        return ok("fine")

    results = engine.run_rules(_ctx(fs), rules=[_rule(hang, timeout=0.3), _rule(fine)])
    assert results[0].status is Status.ERROR and "timed out" in results[0].summary
    assert results[1].status is Status.OK


def test_run_deadline_turns_remaining_rules_into_errors(fs):
    def slow(ctx):
        time.sleep(0.5)
        return ok("slow")

    rules = [_rule(slow, id=f"test.slow{i}", timeout=5) for i in range(4)]
    results = engine.run_rules(_ctx(fs), rules=rules, deadline=0.7)
    assert results[0].status is Status.OK
    assert results[-1].status is Status.ERROR and "deadline" in results[-1].summary


def test_skip_rule_and_check_error(fs):
    def missing(ctx):
        raise SkipRule(SkipReason.NO_INPUT, "no such file")

    def broken(ctx):
        raise CheckError("tune2fs failed")

    def wrong_type(ctx):
        return "not a result"

    res = engine.run_rules(_ctx(fs), rules=[_rule(missing), _rule(broken), _rule(wrong_type)])
    assert res[0].status is Status.SKIPPED and res[0].skip_reason == "input missing"
    assert res[1].status is Status.ERROR and "tune2fs failed" in res[1].summary
    assert res[2].status is Status.ERROR


@pytest.mark.parametrize("flags,host_kw,reason", [
    ({"needs_root": True}, {"is_root": False}, "not root"),
    ({"live_only": True}, {"root": "/mnt/disk", "live": False}, "offline root"),
    ({"azure_only": True}, {"azure": False}, "not an Azure VM"),
])
def test_applicability_skips_with_reason(fs, flags, host_kw, reason):
    called = []

    def probe(ctx):
        called.append(1)
        return ok("ran")

    res = engine.run_rules(_ctx(fs, **host_kw), rules=[_rule(probe, **flags)])
    assert res[0].status is Status.SKIPPED and res[0].skip_reason == reason
    assert not called


def test_only_and_skip_match_ids_and_prefixes(fs):
    def a(ctx):
        return fail("a")

    rules = [_rule(a, id="alpha.one"), _rule(a, id="alpha.two"), _rule(a, id="beta.one")]
    res = engine.run_rules(_ctx(fs), rules=rules, only=["alpha"], skip=["alpha.two"])
    assert [(r.id, r.status.value) for r in res] == [("alpha.one", "fail"),
                                                     ("alpha.two", "skipped")]
    assert res[1].skip_reason == "skipped by the user"


def test_fix_and_remedy_only_on_findings(fs):
    def good(ctx):
        return ok("fine")

    def bad(ctx):
        return fail("broken")

    res = engine.run_rules(_ctx(fs), rules=[_rule(good, fix="x", remedy="do y"),
                                            _rule(bad, fix="x", remedy="do y")])
    assert (res[0].fix, res[0].remedy) == (None, None)
    assert (res[1].fix, res[1].remedy) == ("x", "do y")


def test_sas_urls_are_redacted_in_results(fs):
    def leaky(ctx):
        return fail("blob https://acct.blob.core.windows.net/c/b?sv=2020&sig=SECRET",
                    ["sig=SECRET2&se=2030"])

    res = engine.run_rules(_ctx(fs), rules=[_rule(leaky)])
    assert "SECRET" not in res[0].summary and "SECRET" not in " ".join(res[0].evidence)
    assert "https://acct.blob.core.windows.net/c/b?" in res[0].summary


def test_facts_are_computed_once(fs):
    calls = []

    def fact(host):
        calls.append(1)
        return 42

    def r1(ctx):
        return ok(str(ctx.fact(fact)))

    ctx = _ctx(fs)
    engine.run_rules(ctx, rules=[_rule(r1, id="t.a"), _rule(r1, id="t.b")])
    assert len(calls) == 1


def test_hung_command_cannot_stall_check():
    """A real command that sleeps is killed by the runner's timeout, children included."""
    res = ShRunner().run(["sh", "-c", "sleep 30; echo never"], timeout=0.5)
    assert res.timed_out and not res.ok and "never" not in res.stdout


def test_fake_runner_table_and_unknown():
    runner = FakeRunner({"uname -r": "6.1.0\n", "false": (1, "", "nope"),
                         "slow": lambda argv, t: CommandResult(argv, None, timed_out=True)})
    assert runner.run(["uname", "-r"]).stdout == "6.1.0\n"
    assert runner.run(["false"]).rc == 1
    assert runner.run(["slow"]).timed_out
    assert runner.run(["missing"]).not_found
    assert runner.calls[0] == ("uname", "-r")


def test_registered_rule_ids_are_well_formed():
    import re

    for r in engine.all_rules():
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", r.id), r.id
        assert r.title and r.func.__doc__, r.id
