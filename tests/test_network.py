"""Network parsers: the YAML subset (checked against PyYAML), ifcfg, keyfiles, networkd,
ifupdown, cloud-init, `ip` and stack status output, and the line-preserving edits."""

import contextlib
import os

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from azbdiag.parsers import (
    cloud_init,
    ifcfg,
    interfaces,
    ip_addr,
    ip_route,
    netplan,
    networkctl,
    networkd,
    nmcli,
    nmconnection,
    wicked,
    yamldoc,
)

AZURE_NETPLAN = """\
# This file is generated from information provided by the datasource.  Changes
# to it will not persist across an instance reboot.
network:
    ethernets:
        eth0:
            dhcp4: true
            dhcp4-overrides:
                route-metric: 100
            dhcp6: false
            match:
                driver: hv_netvsc
                macaddress: 00:0d:3a:12:34:56
            set-name: eth0
    version: 2
"""
STATIC_NETPLAN = """\
network:
  version: 2
  renderer: networkd
  ethernets:
    eth0:
      dhcp4: no   # pinned by ops
      addresses: [10.0.0.5/24, "10.0.0.6/24"]
      routes:
        - to: default
          via: 10.0.0.1
      nameservers:
        addresses:
        - 168.63.129.16
        search: [a.internal, b]
"""


def _plain(value):
    """PyYAML's typed value as our all-strings form."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    return str(value)


def _drop_bools(value):
    if isinstance(value, dict):
        return {k: _drop_bools(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_bools(v) for v in value]
    if isinstance(value, str) and yamldoc.yaml_bool(value) is not None:
        return None
    return value


MATCHING_TEXTS = [
    AZURE_NETPLAN, STATIC_NETPLAN,
    "network: {version: 2, ethernets: {eth0: {dhcp4: true, addresses: [10.1.0.4/24]}}}\n",
    "a: 'it''s'\nb: \"x\\ty\"\nc:\n- 1\n- k: v\n  k2: [a, {b: c}]\n- - x\n  - y\n",
    "---\nkey: value # comment\nurl: http://x/#frag\n...\n",
    "k:\n  - a\n  -\n    b: 1\n",
]
READERS = [yamldoc.parse_yaml_subset, yamldoc.parse_yaml_pyyaml]
READER_IDS = ["subset", "pyyaml"]


@contextlib.contextmanager
def pyyaml_missing():
    """parse_yaml (and so the netplan edit and the rules) as on a machine without PyYAML."""
    saved, yamldoc._pyyaml = yamldoc._yaml(), None
    try:
        yield
    finally:
        yamldoc._pyyaml = saved


def test_parse_yaml_uses_pyyaml_when_importable_and_the_subset_otherwise():
    text = "a: &x [1]\nb: *x\n"            # aliases: PyYAML resolves them, the subset does not
    assert yamldoc.parse_yaml(text).data == {"a": ["1"], "b": ["1"]}
    with pyyaml_missing():
        assert yamldoc.parse_yaml(text).data == {"a": ["1"], "b": "*x"}
        assert yamldoc.parse_yaml_pyyaml(text).data == {"a": ["1"], "b": "*x"}


def _sample_yaml_files():
    found = []
    for base in ("healthy", "broken"):
        d = os.path.join(os.path.dirname(__file__), "samples", base, "etc", "netplan")
        found += [os.path.join(d, n) for n in sorted(os.listdir(d))] if os.path.isdir(d) else []
    return found


# Every YAML text the tests and the sample roots feed the dhcp rules and the netplan edit.
TEST_INPUTS = MATCHING_TEXTS + [
    AZURE_NETPLAN.replace("            dhcp4: true\n", ""),
    AZURE_NETPLAN.replace("            dhcp6: false\n",
                          "            dhcp6: false\n            addresses: [10.0.0.9/24]\n"),
    "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n",
    "network: {config: disabled}\n",
    "network:\n  version: 1\n  config:\n  - type: physical\n    name: eth0\n"
    "    subnets:\n    - type: static\n      address: 10.0.0.5/24\n",
    "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n",
    "users: []\n", "", "# only a comment\n",
] + [open(p, encoding="utf-8").read() for p in _sample_yaml_files()]


@pytest.mark.parametrize("text", TEST_INPUTS)
def test_pyyaml_and_the_subset_read_the_test_inputs_alike(text):
    a, b = yamldoc.parse_yaml_subset(text), yamldoc.parse_yaml_pyyaml(text)
    assert (a.error, a.data, a.keys, a.flow) == (b.error, b.data, b.keys, b.flow)
    new_a = netplan.netplan_set_dhcp4(text, "eth0")
    with pyyaml_missing():
        assert netplan.netplan_set_dhcp4(text, "eth0") == new_a


def test_the_sample_roots_have_netplan_files():
    assert len(_sample_yaml_files()) >= 2


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
@pytest.mark.parametrize("text", MATCHING_TEXTS)
def test_yaml_matches_pyyaml(reader, text):
    doc = reader(text)
    assert doc.ok, doc.error
    assert _drop_bools(doc.data) == _drop_bools(_plain(yaml.safe_load(text)))


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
@pytest.mark.parametrize("text", [
    "a: [1, 2\n", "a: 'x\n", "\tkey: v\n", "a: 1\n  b: 2\n", "a:\n  b: 1\n c: 2\n", "[a: 1",
])
def test_yaml_errors_are_reported_not_raised(reader, text):
    doc = reader(text)
    assert not doc.ok and doc.error and doc.data is None


def test_yaml_input_is_bounded():
    big = "a: " + "x" * yamldoc.MAX_YAML_CHARS
    assert "larger than" in yamldoc.parse_yaml_pyyaml(big).error
    assert "larger than" in yamldoc.parse_yaml_subset(big).error
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))
    assert "more than" in yamldoc.parse_yaml_pyyaml(bomb).error
    assert "refers to the collection" in yamldoc.parse_yaml_pyyaml("a: &a [*a]\n").error
    for reader in READERS:
        deep = reader("[" * 5000)
        assert not deep.ok and "deep" in deep.error
        assert reader("a:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(1, 70))).error
    assert yamldoc.parse_yaml_pyyaml("a: " + "[" * 50 + "]" * 50 + "\n").ok


def test_yaml_bool():
    assert [yamldoc.yaml_bool(v) for v in ("true", "On", "YES", "y", "no", "off", "x", None)] == \
        [True, True, True, True, False, False, None, None]


yaml_lines = st.lists(st.sampled_from([
    "network:", "  ethernets:", "    eth0:", "      dhcp4: true", "      dhcp4: no",
    "      addresses: [10.0.0.4/24]", "      addresses:", "        - 10.0.0.5/24", "  version: 2",
    "- a", "  - b", "k: {a: [1, {b: c}]}", "k: 'q''x'", 'k: "a\\"b"', "k: |", "   text", "# c",
    "---", "...", "x: &a 1", "y: *a", "[", "{", "}", "]", ": ", "-", "? k", "\t", "  ", "k:v",
    "'k': v", '"k": v', "k: [", "  a,", "  b]", "version: 1", "version: 2", "config:",
    "  - type: physical", "    name: eth0", "    subnets:", "    - type: static",
    "      address: 10.0.0.5/24", "ethernets: {eth0: {dhcp4: y, match: {name: e*}}}",
]), max_size=14)


def _check_lines(text):
    doc = yamldoc.parse_yaml(text)
    assert doc.ok or doc.error
    for nid, cfg in netplan.netplan_ethernets(doc.data).items():
        netplan.netplan_matches(nid, cfg, "eth0", "00:11:22:33:44:55")
        netplan.netplan_method(cfg)
    _off, net = cloud_init.cloud_init_network(doc.data)
    if net:
        cloud_init.cloud_init_nic(net, "eth0", "00:11:22:33:44:55")
    if isinstance(doc.data, dict):
        cloud_init.cloud_init_nic(doc.data, "eth0")
    new, why = netplan.netplan_set_dhcp4(text, "eth0")
    assert (new is None) != (why is None)
    if new is not None:             # the edit does what it says and breaks nothing else
        after = yamldoc.parse_yaml(new)
        assert after.ok, (new, after.error)
        assert yamldoc.yaml_bool(after.data["network"]["ethernets"]["eth0"]["dhcp4"]) is True
        strip = dict(after.data["network"]["ethernets"]["eth0"])
        strip.pop("dhcp4")
        old = dict(doc.data["network"]["ethernets"]["eth0"] or {})
        old.pop("dhcp4", None)
        assert strip == old


@settings(max_examples=500, deadline=None)
@given(yaml_lines)
def test_yaml_never_raises_on_lines(lines):
    _check_lines("\n".join(lines))


@settings(max_examples=300, deadline=None)
@given(yaml_lines)
def test_yaml_never_raises_on_lines_without_pyyaml(lines):
    with pyyaml_missing():
        _check_lines("\n".join(lines))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_yaml_never_raises_on_text(text):
    for reader in READERS:
        doc = reader(text)
        assert doc.ok or doc.error
    netplan.netplan_set_dhcp4(text, "eth0")
    with pyyaml_missing():
        netplan.netplan_set_dhcp4(text, "eth0")


@settings(max_examples=200, deadline=None)
@given(yaml_lines)
def test_yaml_agrees_with_pyyaml_when_both_parse(lines):
    text = "\n".join(lines)
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    except Exception:            # PyYAML's own odd failures (e.g. recursion) are not ours
        return
    doc = yamldoc.parse_yaml_subset(text)
    assume(doc.ok)
    assume("&" not in text and "*" not in text and "|" not in text and "\\" not in text)
    assert _drop_bools(doc.data) == _drop_bools(_plain(expected))


# ---- netplan edits -----------------------------------------------------------------------
def test_netplan_set_dhcp4_replaces_value_and_keeps_the_rest():
    new, why = netplan.netplan_set_dhcp4(STATIC_NETPLAN, "eth0")
    assert why is None
    assert "      dhcp4: true   # pinned by ops\n" in new
    assert new.replace("dhcp4: true", "dhcp4: no") == STATIC_NETPLAN
    assert yamldoc.yaml_bool(yamldoc.parse_yaml(new).data["network"]["ethernets"]["eth0"]["dhcp4"])


def test_netplan_set_dhcp4_inserts_key():
    text = AZURE_NETPLAN.replace("            dhcp4: true\n", "")
    new, _ = netplan.netplan_set_dhcp4(text, "eth0")
    assert new == AZURE_NETPLAN


def test_netplan_set_dhcp4_refuses_flow_and_missing():
    flow = "network: {version: 2, ethernets: {eth0: {dhcp4: false}}}\n"
    assert netplan.netplan_set_dhcp4(flow, "eth0")[0] is None
    assert netplan.netplan_set_dhcp4(STATIC_NETPLAN, "eth1")[0] is None
    assert netplan.netplan_set_dhcp4("a: [\n", "eth0")[0] is None


def test_netplan_helpers():
    data = yamldoc.parse_yaml(AZURE_NETPLAN).data
    eth = netplan.netplan_ethernets(data)
    assert netplan.netplan_matches("eth0", eth["eth0"], "eth0")
    assert netplan.netplan_method(eth["eth0"])[0] == "dhcp"
    static = netplan.netplan_ethernets(yamldoc.parse_yaml(STATIC_NETPLAN).data)["eth0"]
    assert netplan.netplan_method(static)[:2] == ("static", ["10.0.0.5/24", "10.0.0.6/24"])
    by_mac = {"match": {"macaddress": "00:0D:3A:00:00:01"}}
    assert netplan.netplan_matches("lan", by_mac, "eth0", "00:0d:3a:00:00:01")
    assert not netplan.netplan_matches("lan", by_mac, "eth0", None)
    merged = yamldoc.deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}})
    assert merged == {"a": {"b": 3, "c": 2}}


# ---- ifcfg -------------------------------------------------------------------------------
def test_ifcfg_rhel_and_suse():
    rhel = ifcfg.parse_shell_vars('DEVICE=eth0\nBOOTPROTO="none"\nIPADDR=10.0.0.5\nPREFIX=24\n')
    assert ifcfg.ifcfg_method(rhel)[:2] == ("static", ["10.0.0.5"])
    assert ifcfg.ifcfg_method(ifcfg.parse_shell_vars("BOOTPROTO=DHCP\n"))[0] == "dhcp"
    assert ifcfg.ifcfg_method(ifcfg.parse_shell_vars("BOOTPROTO=none\n"))[0] == "disabled"
    suse = ifcfg.parse_shell_vars("BOOTPROTO='static'\nIPADDR='10.0.0.5/24'\nSTARTMODE='auto'\n")
    assert ifcfg.ifcfg_method(suse, suse=True)[0] == "static"
    assert ifcfg.ifcfg_method(ifcfg.parse_shell_vars("BOOTPROTO='dhcp4+autoip'\n"), suse=True)[0] == "dhcp"
    assert ifcfg.ifcfg_method(ifcfg.parse_shell_vars("BOOTPROTO='dhcp6'\n"), suse=True)[0] == "disabled"
    assert ifcfg.ifcfg_method(ifcfg.parse_shell_vars("IPADDR='10.0.0.5/24'\n"), suse=True)[0] == "static"


def test_ifcfg_set_dhcp_keeps_quotes_and_lines():
    text = "# eth0\nDEVICE=eth0\nBOOTPROTO=\"static\"\nIPADDR=10.0.0.5\n"
    assert ifcfg.ifcfg_set_dhcp(text) == text.replace('"static"', '"dhcp"')
    suse = "BOOTPROTO='static'\nIPADDR='10.0.0.5/24'"
    assert ifcfg.ifcfg_set_dhcp(suse, suse=True) == "BOOTPROTO='dhcp'\nIPADDR='10.0.0.5/24'"
    assert ifcfg.ifcfg_set_dhcp("IPADDR=1.2.3.4", suse=True) == "IPADDR=1.2.3.4\nBOOTPROTO='dhcp'\n"


# ---- keyfiles and networkd ---------------------------------------------------------------
KEYFILE = """\
[connection]
id=System eth0
uuid=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03
type=ethernet
interface-name=eth0

[ipv4]
address1=10.0.0.5/24,10.0.0.1
method=manual

[ipv6]
method=ignore
"""


def test_keyfile():
    kf = nmconnection.parse_keyfile(KEYFILE)
    assert (kf.id, kf.interface_name, kf.method) == ("System eth0", "eth0", "manual")
    assert nmconnection.keyfile_method(kf)[:2] == ("static", ["10.0.0.5/24"])
    new = nmconnection.keyfile_set_auto(KEYFILE)
    assert new == KEYFILE.replace("method=manual", "method=auto")
    assert nmconnection.keyfile_method(nmconnection.parse_keyfile(new))[0] == "dhcp"
    no_ipv4 = "[connection]\nid=x\ntype=ethernet"
    assert nmconnection.keyfile_method(nmconnection.parse_keyfile(no_ipv4))[0] == "dhcp"
    assert nmconnection.keyfile_set_auto(no_ipv4) == no_ipv4 + "\n\n[ipv4]\nmethod=auto\n"
    assert nmconnection.keyfile_set_auto("[ipv4]\naddress1=1.2.3.4/24\n") == \
        "[ipv4]\nmethod=auto\naddress1=1.2.3.4/24\n"


def test_networkd():
    nf = networkd.parse_networkd("[Match]\nName=eth0 en*\n\n[Network]\nDHCP=ipv4\n")
    assert networkd.networkd_matches(nf, "eth0") and networkd.networkd_method(nf)[0] == "dhcp"
    st_ = networkd.parse_networkd("[Match]\nMACAddress=00:0d:3a:aa:bb:cc\n[Network]\nAddress=10.0.0.5/24\n"
                            "[Address]\nAddress=10.0.0.6/24\n")
    assert networkd.networkd_matches(st_, "eth0", "00:0D:3A:AA:BB:CC")
    assert not networkd.networkd_matches(st_, "eth0", None)
    assert networkd.networkd_method(st_)[:2] == ("static", ["10.0.0.5/24", "10.0.0.6/24"])
    wlan = networkd.parse_networkd("[Match]\nType=wlan\n[Network]\nDHCP=yes\n")
    assert not networkd.networkd_matches(wlan, "eth0")
    assert not networkd.networkd_matches(networkd.parse_networkd("[Match]\nName=!eth0\n"), "eth0")


# ---- ifupdown and cloud-init -------------------------------------------------------------
def test_interfaces():
    text = ("source /etc/network/interfaces.d/*\nsource-directory extra\nauto lo\niface lo inet "
            "loopback\n\nauto eth0\niface eth0 inet static\n    address 10.0.0.5/24\n"
            "    gateway 10.0.0.1\n")
    parsed = interfaces.parse_interfaces(text)
    assert parsed.sources == ["/etc/network/interfaces.d/*"] and parsed.source_dirs == ["extra"]
    eth0 = [i for i in parsed.ifaces if i.name == "eth0"][0]
    assert interfaces.ifupdown_method(eth0)[:2] == ("static", ["10.0.0.5/24"])
    assert "eth0" in parsed.auto
    dhcp = interfaces.parse_interfaces("allow-hotplug eth0\niface eth0 inet dhcp\n").ifaces[0]
    assert interfaces.ifupdown_method(dhcp)[0] == "dhcp"


def test_cloud_init():
    disabled = yamldoc.parse_yaml("network: {config: disabled}\n").data
    assert cloud_init.cloud_init_network(disabled) == (True, None)
    v1 = yamldoc.parse_yaml("network:\n  version: 1\n  config:\n  - type: physical\n    name: eth0\n"
                       "    subnets:\n    - type: static\n      address: 10.0.0.5/24\n").data
    off, net = cloud_init.cloud_init_network(v1)
    assert off is False and cloud_init.cloud_init_nic(net, "eth0")[1:3] == ("static", ["10.0.0.5/24"])
    v2 = yamldoc.parse_yaml("network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n").data
    assert cloud_init.cloud_init_nic(cloud_init.cloud_init_network(v2)[1], "eth0")[1] == "dhcp"


# ---- live output -------------------------------------------------------------------------
ROUTES = """\
default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.4 metric 100
10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.4 metric 100
168.63.129.16 via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.4 metric 100
169.254.169.254 via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.4 metric 100
default via 10.1.0.1 dev eth1 proto static metric 200
"""
ADDRS = ("2: eth0    inet 10.0.0.4/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever "
         "preferred_lft forever\n"
         "2: eth0    inet 10.0.0.9/24 brd 10.0.0.255 scope global secondary noprefixroute eth0\\"
         "       valid_lft forever preferred_lft forever\n")


def test_routes_and_addresses():
    routes = ip_route.parse_ip_route(ROUTES)
    assert ip_route.default_route_dev(routes) == "eth0"
    assert [r.proto for r in routes if r.dev == "eth0"].count("dhcp") == 3
    proc = ip_route.parse_proc_net_route(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\n")
    assert ip_route.default_route_dev(proc) == "eth0"
    addrs = ip_addr.parse_ip_addr(ADDRS)
    assert [a.address for a in addrs] == ["10.0.0.4/24", "10.0.0.9/24"]
    assert "dynamic" not in addrs[0].flags and "noprefixroute" in addrs[1].flags


def test_stack_status():
    fields = nmcli.parse_nmcli_terse("GENERAL.CONNECTION:cloud-init eth0\n"
                                  "DHCP4.OPTION[1]:dhcp_lease_time = 4294967295\n"
                                  "DHCP4.OPTION[2]:routers = 10.0.0.1\n")
    assert nmcli.nmcli_has_dhcp4(fields) and fields["GENERAL.CONNECTION"] == "cloud-init eth0"
    assert not nmcli.nmcli_has_dhcp4(nmcli.parse_nmcli_terse("GENERAL.CONNECTION:--\n"))
    assert networkctl.networkctl_dhcp4("        Address: 10.0.0.4 (DHCP4 via 168.63.129.16)")
    assert networkctl.networkctl_dhcp4("        Address: 10.0.0.4/24 (DHCPv4 via 168.63.129.16)")
    assert not networkctl.networkctl_dhcp4("        Address: 10.0.0.4/24")
    assert wicked.wicked_dhcp4("      leases:   ipv4 dhcp granted\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_text_parsers_never_raise(text):
    ifcfg.parse_shell_vars(text)
    ifcfg.ifcfg_method(ifcfg.parse_shell_vars(text))
    ifcfg.ifcfg_method(ifcfg.parse_shell_vars(text), suse=True)
    ifcfg.ifcfg_set_dhcp(text)
    nmconnection.keyfile_method(nmconnection.parse_keyfile(text))
    nmconnection.keyfile_set_auto(text)
    nf = networkd.parse_networkd(text)
    networkd.networkd_matches(nf, "eth0", "00:11:22:33:44:55")
    networkd.networkd_method(nf)
    for iface in interfaces.parse_interfaces(text).ifaces:
        interfaces.ifupdown_method(iface)
    ip_route.default_route_dev(ip_route.parse_ip_route(text))
    ip_route.parse_proc_net_route(text)
    ip_addr.parse_ip_addr(text)
    nmcli.parse_nmcli_terse(text)
    networkctl.networkctl_dhcp4(text)
    wicked.wicked_dhcp4(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "[Match]", "[Network]", "[ipv4]", "[connection]", "Name=eth0", "DHCP=yes", "method=manual",
    "address1=10.0.0.5/24", "interface-name=eth0", "BOOTPROTO='static'", "BOOTPROTO=dhcp",
    "IPADDR=10.0.0.5", "iface eth0 inet static", "  address 10.0.0.5", "auto eth0", "source x",
    "default via 1.2.3.4 dev eth0 proto dhcp metric x", "unicast", "2: eth0 inet", "\\", "=", "[",
    "#", "DEVICE=\"eth0", "key=", "Address=10.0.0.7/24"]), max_size=15))
def test_structured_parsers_never_raise(lines):
    text = "\n".join(lines)
    test_text_parsers_never_raise.hypothesis.inner_test(text)
    # the edits always leave a file that reads as DHCP
    assert ifcfg.ifcfg_method(ifcfg.parse_shell_vars(ifcfg.ifcfg_set_dhcp(text)))[0] == "dhcp"
    assert ifcfg.ifcfg_method(ifcfg.parse_shell_vars(ifcfg.ifcfg_set_dhcp(text, suse=True)),
                              suse=True)[0] == "dhcp"
    assert nmconnection.keyfile_method(
        nmconnection.parse_keyfile(nmconnection.keyfile_set_auto(text)))[0] == "dhcp"


@pytest.mark.parametrize("text", ["- a\n  \n  - b", "k: a\n  b\n\n\n  c", 'k: "a\n  \n  b"', "k: a\n  b"])
def test_an_empty_line_in_a_continued_scalar_is_a_line_break_as_in_pyyaml(text):
    assert yamldoc.parse_yaml_subset(text).data == yaml.safe_load(text)
