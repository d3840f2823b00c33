"""SELinux parsers and rules: enforcing/permissive/disabled, mislabelled files, agent domain,
AVC denials in the formats the reference lists."""

import os

import pytest
from conftest import make_host, run_rule
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.parsers import (
    audit_avc,
    file_contexts,
    file_labels,
    kernel_cmdline,
    restorecon,
    selinux_config,
    selinux_context,
    selinuxfs,
)

CONFIG_ENF = "# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"
CONFIG_PERM = 'SELINUX="permissive"  # testing\nselinuxtype=targeted\n'
CONFIG_OFF = "SELINUX=disabled\nSELINUXTYPE=targeted\n"
MODSTORE = "/var/lib/selinux/targeted/active/modules/100/unconfined"
RESTORECON = "/usr/sbin/restorecon"

AVC_FREEZE = ('type=AVC msg=audit(1700000000.123:4567): avc:  denied  { ioctl } for  pid=1234 '
              'comm="safefreeze" path="/data" dev="sdc1" ino=2 ioctlcmd=0x5877 '
              'scontext=system_u:system_r:backup_t:s0 tcontext=system_u:object_r:default_t:s0 '
              'tclass=dir permissive=0')
AVC_OPEN = ('type=AVC msg=audit(1700000001.000:4568): avc:  denied  { read open } for  pid=1234 '
            'comm="safefreeze" path="/data" dev="sdc1" ino=2 '
            'scontext=system_u:system_r:backup_t:s0 tcontext=system_u:object_r:default_t:s0 '
            'tclass=dir permissive=1')
AVC_KERNEL = ('[  12.345678] audit: type=1400 audit(1700000002.5:99): avc:  denied  { search } for  '
              'pid=77 comm="python3" name="waagent" dev="sda1" ino=5 '
              'scontext=system_u:system_r:init_t:s0 tcontext=system_u:object_r:unlabeled_t:s0 '
              'tclass=dir')
AVC_AUSEARCH_I = ('type=AVC msg=audit(11/25/2026 10:00:00.123:4567) : avc:  denied  { sys_admin } '
                  'for  pid=1234 comm=fsfreeze capability=sys_admin  '
                  'scontext=system_u:system_r:backup_t:s0 tcontext=system_u:system_r:backup_t:s0 '
                  'tclass=capability permissive=0')
AVC_ENRICHED = AVC_FREEZE + '\x1dSUID="root" ioctlcmd=0x1234'
AVC_UNRELATED = ('type=AVC msg=audit(1700000003.0:100): avc:  denied  { read } for  pid=9 '
                 'comm="httpd" name="index.html" scontext=system_u:system_r:httpd_t:s0 '
                 'tcontext=unconfined_u:object_r:user_home_t:s0 tclass=file permissive=0')


# ---- parsers -----------------------------------------------------------------------------
def test_parse_config():
    conf = selinux_config.parse_config(CONFIG_PERM)
    assert conf.mode == "permissive" and conf.mode_line == 1 and conf.policy_type == "targeted"
    assert selinux_config.parse_config("SELINUX=Enforcing\n").mode == "enforcing"
    assert selinux_config.parse_config("selinux=enforcing\n").mode is None   # key is case-sensitive
    assert selinux_config.parse_config("SELINUX=bogus\n").mode is None


def test_parse_cmdline_and_enforce():
    cl = kernel_cmdline.parse_cmdline("BOOT_IMAGE=/vmlinuz ro selinux=0 enforcing=1 autorelabel=1")
    assert cl.selinux is False and cl.enforcing is True and cl.autorelabel
    assert kernel_cmdline.parse_grub_cmdline('GRUB_CMDLINE_LINUX="quiet enforcing=0"\n').enforcing is False
    assert selinuxfs.parse_enforce("1") is True and selinuxfs.parse_enforce(b"0") is False
    assert selinuxfs.parse_enforce("x") is None


@pytest.mark.parametrize("text,typ", [
    ("drwx------. root root system_u:object_r:var_lib_t:s0 /var/lib/waagent", "var_lib_t"),
    ("system_u:object_r:var_lib_t:s0 /var/lib/waagent", "var_lib_t"),
    ("drwx------. 5 root root system_u:object_r:default_t:s0 4096 Jan 1 /var/lib/waagent",
     "default_t"),
    ("unconfined_u:object_r:user_tmp_t:s0", "user_tmp_t"),
    (b"system_u:system_r:unconfined_service_t:s0\x00", "unconfined_service_t"),
    ('security.selinux="system_u:object_r:var_lib_t:s0"', "var_lib_t"),
    ("system_u:object_r:var_lib_t:s0-s0:c0.c1023", "var_lib_t"),
])
def test_contexts(text, typ):
    assert selinux_context.context_type(text) == typ


def test_relabel_formats():
    text = ("Would relabel /var/lib/waagent/x from unconfined_u:object_r:user_tmp_t:s0 to "
            "system_u:object_r:var_lib_t:s0\n"
            "Relabeled /etc/azure from system_u:object_r:default_t:s0 to system_u:object_r:etc_t:s0\n"
            "restorecon reset /var/log/azure context system_u:object_r:unlabeled_t:s0->"
            "system_u:object_r:var_log_t:s0\n"
            "/var/lib/waagent has context system_u:object_r:tmp_t:s0, should be "
            "system_u:object_r:var_lib_t:s0\n"
            "/var/lib/waagent verified.\n")
    rel = restorecon.parse_relabels(text)
    assert [r.path for r in rel] == ["/var/lib/waagent/x", "/etc/azure", "/var/log/azure",
                                     "/var/lib/waagent"]
    assert [r.old_type for r in rel] == ["user_tmp_t", "default_t", "unlabeled_t", "tmp_t"]
    assert rel[2].new_type == "var_log_t"


def test_matchpathcon_getfattr_ls():
    assert file_labels.parse_matchpathcon("/var/lib/waagent\tsystem_u:object_r:var_lib_t:s0\n") == {
        "/var/lib/waagent": "system_u:object_r:var_lib_t:s0"}
    assert file_labels.parse_getfattr('# file: var/lib/waagent\nsecurity.selinux="system_u:object_r:'
                             'var_lib_t:s0"\n') == {"/var/lib/waagent": "system_u:object_r:var_lib_t:s0"}
    assert file_labels.parse_ls_z("drwx------. root root system_u:object_r:var_lib_t:s0 /var/lib/waagent\n") \
        == {"/var/lib/waagent": "system_u:object_r:var_lib_t:s0"}


def test_avc_formats():
    a = audit_avc.parse_avc_line(AVC_FREEZE)
    assert a.comm == "safefreeze" and a.target == "/data" and a.permissive is False
    assert a.timestamp == pytest.approx(1700000000.123) and audit_avc.ioctl_name(a) == "FIFREEZE"
    k = audit_avc.parse_avc_line(AVC_KERNEL)
    assert k.comm == "python3" and k.target == "waagent" and k.permissive is None
    i = audit_avc.parse_avc_line(AVC_AUSEARCH_I)
    assert i.comm == "fsfreeze" and i.timestamp is None and i.serial == "4567"
    e = audit_avc.parse_avc_line(AVC_ENRICHED)
    assert e.get("ioctlcmd") == "0x5877"           # the enriched part is dropped
    assert audit_avc.parse_avc_line("type=SYSCALL msg=audit(1.0:1): arch=c000003e") is None
    assert len(audit_avc.parse_avcs("\n".join([AVC_FREEZE, AVC_OPEN, "junk", AVC_KERNEL]))) == 3


FILE_CONTEXTS = """\
/.*\tsystem_u:object_r:default_t:s0
/var/lib(/.*)?\tsystem_u:object_r:var_lib_t:s0
/var/lib/waagent/special\t--\tsystem_u:object_r:etc_t:s0
/var/lib/waagent/nolabel(/.*)?\t<<none>>
/etc/azure(/.*)?\tsystem_u:object_r:etc_t:s0
/bad[regex\tsystem_u:object_r:etc_t:s0
junk line here too
"""


def test_file_contexts_lookup():
    specs = file_contexts.parse_file_contexts(FILE_CONTEXTS)
    assert len(specs) == 6
    assert file_contexts.expected_context(specs, "/var/lib/waagent/x", "file").context.endswith(
        ":var_lib_t:s0")
    assert file_contexts.expected_context(specs, "/var/lib/waagent/special", "file").context.endswith(
        ":etc_t:s0")
    assert file_contexts.expected_context(specs, "/var/lib/waagent/special", "dir").context.endswith(
        ":var_lib_t:s0")                      # the -- line is for regular files only
    assert file_contexts.expected_context(specs, "/var/lib/waagent/nolabel/a", "file").context is None
    assert file_contexts.expected_context(specs, "/opt", "dir").context.endswith(":default_t:s0")
    assert file_contexts.expected_context(specs, "/bad[regex", "file").context.endswith(":default_t:s0")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parsers_never_raise_on_text(text):
    for spec_ in file_contexts.parse_file_contexts(text):
        file_contexts.expected_context([spec_], "/var/lib/waagent/x", "file")
    selinux_config.parse_config(text)
    kernel_cmdline.parse_cmdline(text)
    kernel_cmdline.parse_grub_cmdline(text)
    selinuxfs.parse_enforce(text)
    restorecon.parse_relabels(text)
    file_labels.parse_matchpathcon(text)
    file_labels.parse_getfattr(text)
    file_labels.parse_ls_z(text)
    audit_avc.parse_avcs(text)
    selinux_context.parse_context(text)
    selinux_context.parse_proc_attr(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "type=AVC msg=audit(", "1700000000.1:5", "11/25/2026 10:00:00.1:5", ") : ", "): ",
    "avc:  denied  ", "avc:  granted  ", "{ read open }", "{", "}", " for  ", "pid=1 ",
    'comm="safefreeze" ', "path=/x ", "permissive=", "ioctlcmd=0x5877 ", "\x1d", "scontext=",
    "a_u:b_r:c_t:s0", " ", "=", '"']), max_size=20))
def test_avc_never_raises(parts):
    line = "".join(parts)
    audit_avc.parse_avcs(line)
    a = audit_avc.parse_avc_line(line)
    if a is not None:
        audit_avc.ioctl_name(a)
        assert isinstance(a.perms, list)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_binary_never_raises(raw):
    selinuxfs.parse_enforce(raw)
    selinux_context.parse_proc_attr(raw)
    selinux_context.parse_context(raw)


# ---- helpers -----------------------------------------------------------------------------
def live(fs, enforce="1", config=CONFIG_ENF, cmdline="BOOT_IMAGE=/vmlinuz ro", extra=None,
         commands=None, **kw):
    files = {"/proc/cmdline": cmdline, "/etc/selinux/targeted/contexts/x": "", MODSTORE + "/cil": ""}
    if config is not None:
        files["/etc/selinux/config"] = config
    if enforce is not None:
        files["/sys/fs/selinux/enforce"] = enforce
    files.update(extra or {})
    return make_host(fs, files, commands, live=True, **kw)


def offline(fs, config=CONFIG_ENF, extra=None):
    files = {"/etc/selinux/targeted/contexts/x": "", MODSTORE + "/cil": ""}
    if config is not None:
        files["/etc/selinux/config"] = config
    files.update(extra or {})
    return make_host(fs, files, root="/mnt/disk", live=False)


def add_restorecon(fs):
    fs.create_file(RESTORECON, contents="#!/bin/sh\n")
    os.chmod(RESTORECON, 0o755)


SELINUX_RULES = ("selinux.mode", "selinux.policy", "selinux.labels", "selinux.agent_domain",
                 "selinux.avc")


# ---- not enabled -------------------------------------------------------------------------
def test_not_enabled_live_skips_every_rule(fs):
    h = live(fs, enforce=None, config=CONFIG_OFF,
             extra={"/var/lib/waagent/x": "", "/var/log/audit/audit.log": AVC_FREEZE})
    for rid in SELINUX_RULES:
        res = run_rule(h, rid)
        assert res.status.value == "skipped", rid
        assert res.summary == "SELinux not enabled" or rid == "selinux.agent_domain"


def test_not_enabled_offline(fs):
    res = run_rule(offline(fs, CONFIG_OFF), "selinux.mode")
    assert res.status.value == "skipped" and res.summary == "SELinux not enabled"


def test_no_config_offline(fs):
    res = run_rule(offline(fs, None), "selinux.policy")
    assert res.status.value == "skipped" and res.summary == "SELinux not enabled"


def test_grub_selinux_0_offline(fs):
    h = offline(fs, extra={"/etc/default/grub": 'GRUB_CMDLINE_LINUX="console=ttyS0 selinux=0"\n'})
    assert run_rule(h, "selinux.mode").status.value == "skipped"


# ---- mode --------------------------------------------------------------------------------
def test_mode_enforcing(fs):
    res = run_rule(live(fs), "selinux.mode")
    assert res.status.value == "ok" and "enforcing" in res.summary


def test_mode_permissive(fs):
    res = run_rule(live(fs, enforce="0", config=CONFIG_PERM), "selinux.mode")
    assert res.status.value == "ok" and "permissive" in res.summary and "does not block" in res.summary


def test_mode_runtime_differs_from_config(fs):
    res = run_rule(live(fs, enforce="0", cmdline="ro enforcing=0"), "selinux.mode")
    assert res.status.value == "warn" and "after the next reboot" in res.summary
    assert any("enforcing=0" in e for e in res.evidence)


def test_mode_offline_enforcing(fs):
    res = run_rule(offline(fs), "selinux.mode")
    assert res.status.value == "ok" and "at boot" in res.summary


# ---- policy ------------------------------------------------------------------------------
def test_policy_ok(fs):
    res = run_rule(live(fs), "selinux.policy")
    assert res.status.value == "ok" and "unconfined module enabled" in res.summary


def test_policy_unconfined_disabled(fs):
    h = live(fs, extra={"/var/lib/selinux/targeted/active/modules/disabled/unconfined": ""})
    res = run_rule(h, "selinux.policy")
    assert res.status.value == "fail" and "unconfined_service_t" in res.summary


def test_policy_not_installed(fs):
    res = run_rule(live(fs, config="SELINUX=enforcing\nSELINUXTYPE=mls\n"), "selinux.policy")
    assert res.status.value == "fail" and "not installed" in res.summary


def test_policy_permissive_is_warn(fs):
    h = live(fs, enforce="0", config="SELINUX=permissive\nSELINUXTYPE=minimum\n",
             extra={"/etc/selinux/minimum/x": "",
                    "/var/lib/selinux/minimum/active/modules/100/base/cil": ""})
    res = run_rule(h, "selinux.policy")
    assert res.status.value == "warn"      # minimum store has no unconfined module here


# ---- labels ------------------------------------------------------------------------------
PREVIEW = ("Would relabel /var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0/main"
           " from unconfined_u:object_r:user_tmp_t:s0 to system_u:object_r:var_lib_t:s0\n")


def test_labels_live_mislabelled(fs):
    cmd = "restorecon -R -n -v /var/lib/waagent /etc/azure"
    h = live(fs, extra={"/var/lib/waagent/x": "", "/etc/azure/vmbackup.conf": ""},
             commands={cmd: PREVIEW})
    add_restorecon(fs)
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "fail" and res.fix == "selinux"
    assert res.evidence == [PREVIEW.strip()]
    assert res.data["method"] == "restorecon" and res.data["roots"] == ["/var/lib/waagent", "/etc/azure"]
    assert "waagent_" not in (res.remedy or "")


def test_labels_live_permissive_is_warn(fs):
    h = live(fs, enforce="0", config=CONFIG_PERM, extra={"/var/lib/waagent/x": ""},
             commands={"restorecon -R -n -v /var/lib/waagent": PREVIEW})
    add_restorecon(fs)
    assert run_rule(h, "selinux.labels").status.value == "warn"


def test_labels_live_ok(fs):
    h = live(fs, extra={"/var/lib/waagent/x": ""},
             commands={"restorecon -R -n -v /var/lib/waagent": ""})
    add_restorecon(fs)
    assert run_rule(h, "selinux.labels").status.value == "ok"


def test_labels_restorecon_failure_is_error(fs):
    h = live(fs, extra={"/var/lib/waagent/x": ""},
             commands={"restorecon -R -n -v /var/lib/waagent": (255, "", "restorecon: oops\n")})
    add_restorecon(fs)
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "error" and "oops" in res.summary


def _label(path, ctx):
    os.setxattr(path, "security.selinux", ctx.encode() + b"\x00")


def test_labels_offline_from_xattrs(fs):
    h = offline(fs, extra={"/var/lib/waagent/a": "", "/var/lib/waagent/b": ""})
    _label("/mnt/disk/var/lib/waagent", "system_u:object_r:var_lib_t:s0")
    _label("/mnt/disk/var/lib/waagent/a", "system_u:object_r:var_lib_t:s0")
    _label("/mnt/disk/var/lib/waagent/b", "unconfined_u:object_r:user_tmp_t:s0")
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "fail" and res.data["method"] == "autorelabel"
    assert res.evidence == ["/var/lib/waagent/b: labelled unconfined_u:object_r:user_tmp_t:s0 "
                            "(user_tmp_t does not belong here)"]
    _label("/mnt/disk/var/lib/waagent/b", "system_u:object_r:var_lib_t:s0")
    assert run_rule(h, "selinux.labels").status.value == "ok"


def test_labels_offline_unlabelled_and_pending(fs):
    h = offline(fs, extra={"/var/lib/waagent/a": ""})
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "fail" and "no SELinux label" in res.evidence[0]
    fs.create_file("/mnt/disk/.autorelabel")
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "warn" and "already scheduled" in res.summary


def test_labels_offline_against_file_contexts(fs):
    base = "/etc/selinux/targeted/contexts/files/file_contexts"
    h = offline(fs, extra={"/var/lib/waagent/a": "", "/var/lib/waagent/special": "",
                           base: FILE_CONTEXTS})
    for p in ("", "/a", "/special"):
        _label("/mnt/disk/var/lib/waagent" + p, "system_u:object_r:var_lib_t:s0")
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "fail"
    assert res.evidence == ["/var/lib/waagent/special: labelled system_u:object_r:var_lib_t:s0, "
                            "the policy expects system_u:object_r:etc_t:s0"]
    _label("/mnt/disk/var/lib/waagent/special", "system_u:object_r:etc_t:s0")
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "ok" and "file_contexts" in res.summary
    fs.create_file("/mnt/disk" + base + ".local",
                   contents="/var/lib/waagent/a\tsystem_u:object_r:tmp_t:s0\n")
    res = run_rule(h, "selinux.labels")
    assert res.status.value == "fail" and "/var/lib/waagent/a:" in res.evidence[0]


def test_labels_nothing_to_check(fs):
    assert run_rule(offline(fs), "selinux.labels").status.value == "skipped"


# ---- agent domain ------------------------------------------------------------------------
def agent_proc(context, pid=812):
    return {f"/proc/{pid}/cmdline": b"/usr/bin/python3\x00-u\x00/usr/sbin/waagent\x00-daemon\x00",
            f"/proc/{pid}/attr/current": context,
            "/proc/900/cmdline": b"bash\x00", "/proc/900/attr/current": b"x"}


def test_agent_domain_unconfined(fs):
    h = live(fs, extra=agent_proc(b"system_u:system_r:unconfined_service_t:s0\x00"))
    res = run_rule(h, "selinux.agent_domain")
    assert res.status.value == "ok" and "pid 812" in res.evidence[0]


def test_agent_domain_confined(fs):
    h = live(fs, extra=agent_proc(b"system_u:system_r:init_t:s0\n"))
    res = run_rule(h, "selinux.agent_domain")
    assert res.status.value == "fail" and "init_t" in res.summary
    assert "Do not make init_t permissive" in res.remedy


def test_agent_domain_not_running(fs):
    assert run_rule(live(fs), "selinux.agent_domain").status.value == "skipped"


def test_agent_domain_offline_skipped(fs):
    assert run_rule(offline(fs), "selinux.agent_domain").skip_reason == "offline root"


# ---- AVC ---------------------------------------------------------------------------------
def test_avc_freeze_denial_fails(fs):
    h = live(fs, extra={"/var/log/audit/audit.log": "\n".join([AVC_UNRELATED, AVC_FREEZE]) + "\n"})
    res = run_rule(h, "selinux.avc")
    assert res.status.value == "fail" and "freeze" in res.summary
    assert len(res.evidence) == 1 and "ioctlcmd=0x5877" in res.evidence[0]
    assert res.evidence[0].startswith("2023-11-14 22:13:20Z")
    assert "semanage permissive -a backup_t" in res.remedy and "waagent_" not in res.remedy
    assert "-c safefreeze" in res.remedy


def test_avc_permissive_only_warns(fs):
    h = live(fs, extra={"/var/log/audit/audit.log": AVC_OPEN + "\n"})
    res = run_rule(h, "selinux.avc")
    assert res.status.value == "warn" and "permissive" in res.summary


def test_avc_init_t_never_made_permissive(fs):
    h = live(fs, extra={"/var/log/audit/audit.log": AVC_KERNEL + "\n"})
    res = run_rule(h, "selinux.avc")
    assert res.status.value == "fail"        # no permissive= field: enforcing mode decides
    assert "semanage permissive -a init_t" not in res.remedy


def test_avc_ausearch_interpreted_and_unrelated(fs):
    h = live(fs, extra={"/var/log/audit/audit.log": AVC_AUSEARCH_I + "\n" + AVC_UNRELATED + "\n"})
    res = run_rule(h, "selinux.avc")
    assert res.status.value == "fail" and len(res.evidence) == 1


def test_avc_none_ok(fs):
    h = live(fs, extra={"/var/log/audit/audit.log": AVC_UNRELATED + "\nbinary\x00junk\n"})
    assert run_rule(h, "selinux.avc").status.value == "ok"


def test_avc_no_log_offline_skipped(fs):
    res = run_rule(offline(fs), "selinux.avc")
    assert res.status.value == "skipped" and "audit.log" in res.summary


def test_avc_offline_log(fs):
    h = offline(fs, extra={"/var/log/audit/audit.log": AVC_FREEZE + "\n"})
    assert run_rule(h, "selinux.avc").status.value == "fail"


def test_avc_from_kernel_log_without_auditd(fs):
    h = live(fs, commands={"dmesg": "[    1.0] random line\n" + AVC_KERNEL + "\n"})
    res = run_rule(h, "selinux.avc")
    assert res.status.value == "fail" and "type=1400" in res.evidence[0]
