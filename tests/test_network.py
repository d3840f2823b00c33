"""Network parsers: the YAML subset (checked against PyYAML), ifcfg, keyfiles, networkd,
ifupdown, cloud-init, `ip` and stack status output, and the line-preserving edits."""

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from azbdiag.parsers import network as nw

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
    if isinstance(value, str) and nw.yaml_bool(value) is not None:
        return None
    return value


@pytest.mark.parametrize("text", [
    AZURE_NETPLAN, STATIC_NETPLAN,
    "network: {version: 2, ethernets: {eth0: {dhcp4: true, addresses: [10.1.0.4/24]}}}\n",
    "a: 'it''s'\nb: \"x\\ty\"\nc:\n- 1\n- k: v\n  k2: [a, {b: c}]\n- - x\n  - y\n",
    "---\nkey: value # comment\nurl: http://x/#frag\n...\n",
    "k:\n  - a\n  -\n    b: 1\n",
])
def test_yaml_matches_pyyaml(text):
    doc = nw.parse_yaml(text)
    assert doc.ok, doc.error
    assert _drop_bools(doc.data) == _drop_bools(_plain(yaml.safe_load(text)))


@pytest.mark.parametrize("text", [
    "a: [1, 2\n", "a: 'x\n", "\tkey: v\n", "a: 1\n  b: 2\n", "a:\n  b: 1\n c: 2\n", "[a: 1",
])
def test_yaml_errors_are_reported_not_raised(text):
    assert not nw.parse_yaml(text).ok


def test_yaml_bool():
    assert [nw.yaml_bool(v) for v in ("true", "On", "YES", "y", "no", "off", "x", None)] == \
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


@settings(max_examples=500, deadline=None)
@given(yaml_lines)
def test_yaml_never_raises_on_lines(lines):
    text = "\n".join(lines)
    doc = nw.parse_yaml(text)
    assert doc.ok or doc.error
    for nid, cfg in nw.netplan_ethernets(doc.data).items():
        nw.netplan_matches(nid, cfg, "eth0", "00:11:22:33:44:55")
        nw.netplan_method(cfg)
    _off, net = nw.cloud_init_network(doc.data)
    if net:
        nw.cloud_init_nic(net, "eth0", "00:11:22:33:44:55")
    if isinstance(doc.data, dict):
        nw.cloud_init_nic(doc.data, "eth0")
    new, why = nw.netplan_set_dhcp4(text, "eth0")
    assert (new is None) != (why is None)
    if new is not None:             # the edit does what it says and breaks nothing else
        after = nw.parse_yaml(new)
        assert after.ok, (new, after.error)
        assert nw.yaml_bool(after.data["network"]["ethernets"]["eth0"]["dhcp4"]) is True
        strip = dict(after.data["network"]["ethernets"]["eth0"])
        strip.pop("dhcp4")
        old = dict(doc.data["network"]["ethernets"]["eth0"] or {})
        old.pop("dhcp4", None)
        assert strip == old


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_yaml_never_raises_on_text(text):
    doc = nw.parse_yaml(text)
    assert doc.ok or doc.error
    nw.netplan_set_dhcp4(text, "eth0")


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
    doc = nw.parse_yaml(text)
    assume(doc.ok)
    assume("&" not in text and "*" not in text and "|" not in text and "\\" not in text)
    assert _drop_bools(doc.data) == _drop_bools(_plain(expected))


# ---- netplan edits -----------------------------------------------------------------------
def test_netplan_set_dhcp4_replaces_value_and_keeps_the_rest():
    new, why = nw.netplan_set_dhcp4(STATIC_NETPLAN, "eth0")
    assert why is None
    assert "      dhcp4: true   # pinned by ops\n" in new
    assert new.replace("dhcp4: true", "dhcp4: no") == STATIC_NETPLAN
    assert nw.yaml_bool(nw.parse_yaml(new).data["network"]["ethernets"]["eth0"]["dhcp4"])


def test_netplan_set_dhcp4_inserts_key():
    text = AZURE_NETPLAN.replace("            dhcp4: true\n", "")
    new, _ = nw.netplan_set_dhcp4(text, "eth0")
    assert new == AZURE_NETPLAN


def test_netplan_set_dhcp4_refuses_flow_and_missing():
    flow = "network: {version: 2, ethernets: {eth0: {dhcp4: false}}}\n"
    assert nw.netplan_set_dhcp4(flow, "eth0")[0] is None
    assert nw.netplan_set_dhcp4(STATIC_NETPLAN, "eth1")[0] is None
    assert nw.netplan_set_dhcp4("a: [\n", "eth0")[0] is None


def test_netplan_helpers():
    data = nw.parse_yaml(AZURE_NETPLAN).data
    eth = nw.netplan_ethernets(data)
    assert nw.netplan_matches("eth0", eth["eth0"], "eth0")
    assert nw.netplan_method(eth["eth0"])[0] == "dhcp"
    static = nw.netplan_ethernets(nw.parse_yaml(STATIC_NETPLAN).data)["eth0"]
    assert nw.netplan_method(static)[:2] == ("static", ["10.0.0.5/24", "10.0.0.6/24"])
    by_mac = {"match": {"macaddress": "00:0D:3A:00:00:01"}}
    assert nw.netplan_matches("lan", by_mac, "eth0", "00:0d:3a:00:00:01")
    assert not nw.netplan_matches("lan", by_mac, "eth0", None)
    merged = nw.deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}})
    assert merged == {"a": {"b": 3, "c": 2}}


# ---- ifcfg -------------------------------------------------------------------------------
def test_ifcfg_rhel_and_suse():
    rhel = nw.parse_shell_vars('DEVICE=eth0\nBOOTPROTO="none"\nIPADDR=10.0.0.5\nPREFIX=24\n')
    assert nw.ifcfg_method(rhel)[:2] == ("static", ["10.0.0.5"])
    assert nw.ifcfg_method(nw.parse_shell_vars("BOOTPROTO=DHCP\n"))[0] == "dhcp"
    assert nw.ifcfg_method(nw.parse_shell_vars("BOOTPROTO=none\n"))[0] == "disabled"
    suse = nw.parse_shell_vars("BOOTPROTO='static'\nIPADDR='10.0.0.5/24'\nSTARTMODE='auto'\n")
    assert nw.ifcfg_method(suse, suse=True)[0] == "static"
    assert nw.ifcfg_method(nw.parse_shell_vars("BOOTPROTO='dhcp4+autoip'\n"), suse=True)[0] == "dhcp"
    assert nw.ifcfg_method(nw.parse_shell_vars("BOOTPROTO='dhcp6'\n"), suse=True)[0] == "disabled"
    assert nw.ifcfg_method(nw.parse_shell_vars("IPADDR='10.0.0.5/24'\n"), suse=True)[0] == "static"


def test_ifcfg_set_dhcp_keeps_quotes_and_lines():
    text = "# eth0\nDEVICE=eth0\nBOOTPROTO=\"static\"\nIPADDR=10.0.0.5\n"
    assert nw.ifcfg_set_dhcp(text) == text.replace('"static"', '"dhcp"')
    suse = "BOOTPROTO='static'\nIPADDR='10.0.0.5/24'"
    assert nw.ifcfg_set_dhcp(suse, suse=True) == "BOOTPROTO='dhcp'\nIPADDR='10.0.0.5/24'"
    assert nw.ifcfg_set_dhcp("IPADDR=1.2.3.4", suse=True) == "IPADDR=1.2.3.4\nBOOTPROTO='dhcp'\n"


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
    kf = nw.parse_keyfile(KEYFILE)
    assert (kf.id, kf.interface_name, kf.method) == ("System eth0", "eth0", "manual")
    assert nw.keyfile_method(kf)[:2] == ("static", ["10.0.0.5/24"])
    new = nw.keyfile_set_auto(KEYFILE)
    assert new == KEYFILE.replace("method=manual", "method=auto")
    assert nw.keyfile_method(nw.parse_keyfile(new))[0] == "dhcp"
    no_ipv4 = "[connection]\nid=x\ntype=ethernet"
    assert nw.keyfile_method(nw.parse_keyfile(no_ipv4))[0] == "dhcp"
    assert nw.keyfile_set_auto(no_ipv4) == no_ipv4 + "\n\n[ipv4]\nmethod=auto\n"
    assert nw.keyfile_set_auto("[ipv4]\naddress1=1.2.3.4/24\n") == \
        "[ipv4]\nmethod=auto\naddress1=1.2.3.4/24\n"


def test_networkd():
    nf = nw.parse_networkd("[Match]\nName=eth0 en*\n\n[Network]\nDHCP=ipv4\n")
    assert nw.networkd_matches(nf, "eth0") and nw.networkd_method(nf)[0] == "dhcp"
    st_ = nw.parse_networkd("[Match]\nMACAddress=00:0d:3a:aa:bb:cc\n[Network]\nAddress=10.0.0.5/24\n"
                            "[Address]\nAddress=10.0.0.6/24\n")
    assert nw.networkd_matches(st_, "eth0", "00:0D:3A:AA:BB:CC")
    assert not nw.networkd_matches(st_, "eth0", None)
    assert nw.networkd_method(st_)[:2] == ("static", ["10.0.0.5/24", "10.0.0.6/24"])
    wlan = nw.parse_networkd("[Match]\nType=wlan\n[Network]\nDHCP=yes\n")
    assert not nw.networkd_matches(wlan, "eth0")
    assert not nw.networkd_matches(nw.parse_networkd("[Match]\nName=!eth0\n"), "eth0")


# ---- ifupdown and cloud-init -------------------------------------------------------------
def test_interfaces():
    text = ("source /etc/network/interfaces.d/*\nsource-directory extra\nauto lo\niface lo inet "
            "loopback\n\nauto eth0\niface eth0 inet static\n    address 10.0.0.5/24\n"
            "    gateway 10.0.0.1\n")
    parsed = nw.parse_interfaces(text)
    assert parsed.sources == ["/etc/network/interfaces.d/*"] and parsed.source_dirs == ["extra"]
    eth0 = [i for i in parsed.ifaces if i.name == "eth0"][0]
    assert nw.ifupdown_method(eth0)[:2] == ("static", ["10.0.0.5/24"])
    assert "eth0" in parsed.auto
    dhcp = nw.parse_interfaces("allow-hotplug eth0\niface eth0 inet dhcp\n").ifaces[0]
    assert nw.ifupdown_method(dhcp)[0] == "dhcp"


def test_cloud_init():
    disabled = nw.parse_yaml("network: {config: disabled}\n").data
    assert nw.cloud_init_network(disabled) == (True, None)
    v1 = nw.parse_yaml("network:\n  version: 1\n  config:\n  - type: physical\n    name: eth0\n"
                       "    subnets:\n    - type: static\n      address: 10.0.0.5/24\n").data
    off, net = nw.cloud_init_network(v1)
    assert off is False and nw.cloud_init_nic(net, "eth0")[1:3] == ("static", ["10.0.0.5/24"])
    v2 = nw.parse_yaml("network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n").data
    assert nw.cloud_init_nic(nw.cloud_init_network(v2)[1], "eth0")[1] == "dhcp"


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
    routes = nw.parse_ip_route(ROUTES)
    assert nw.default_route_dev(routes) == "eth0"
    assert [r.proto for r in routes if r.dev == "eth0"].count("dhcp") == 3
    proc = nw.parse_proc_net_route(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\n")
    assert nw.default_route_dev(proc) == "eth0"
    addrs = nw.parse_ip_addr(ADDRS)
    assert [a.address for a in addrs] == ["10.0.0.4/24", "10.0.0.9/24"]
    assert "dynamic" not in addrs[0].flags and "noprefixroute" in addrs[1].flags


def test_stack_status():
    fields = nw.parse_nmcli_terse("GENERAL.CONNECTION:cloud-init eth0\n"
                                  "DHCP4.OPTION[1]:dhcp_lease_time = 4294967295\n"
                                  "DHCP4.OPTION[2]:routers = 10.0.0.1\n")
    assert nw.nmcli_has_dhcp4(fields) and fields["GENERAL.CONNECTION"] == "cloud-init eth0"
    assert not nw.nmcli_has_dhcp4(nw.parse_nmcli_terse("GENERAL.CONNECTION:--\n"))
    assert nw.networkctl_dhcp4("        Address: 10.0.0.4 (DHCP4 via 168.63.129.16)")
    assert nw.networkctl_dhcp4("        Address: 10.0.0.4/24 (DHCPv4 via 168.63.129.16)")
    assert not nw.networkctl_dhcp4("        Address: 10.0.0.4/24")
    assert nw.wicked_dhcp4("      leases:   ipv4 dhcp granted\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_text_parsers_never_raise(text):
    nw.parse_shell_vars(text)
    nw.ifcfg_method(nw.parse_shell_vars(text))
    nw.ifcfg_method(nw.parse_shell_vars(text), suse=True)
    nw.ifcfg_set_dhcp(text)
    nw.keyfile_method(nw.parse_keyfile(text))
    nw.keyfile_set_auto(text)
    nf = nw.parse_networkd(text)
    nw.networkd_matches(nf, "eth0", "00:11:22:33:44:55")
    nw.networkd_method(nf)
    for iface in nw.parse_interfaces(text).ifaces:
        nw.ifupdown_method(iface)
    nw.default_route_dev(nw.parse_ip_route(text))
    nw.parse_proc_net_route(text)
    nw.parse_ip_addr(text)
    nw.parse_nmcli_terse(text)
    nw.networkctl_dhcp4(text)
    nw.wicked_dhcp4(text)


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
    assert nw.ifcfg_method(nw.parse_shell_vars(nw.ifcfg_set_dhcp(text)))[0] == "dhcp"
    assert nw.ifcfg_method(nw.parse_shell_vars(nw.ifcfg_set_dhcp(text, suse=True)), suse=True)[0] == "dhcp"
    assert nw.keyfile_method(nw.parse_keyfile(nw.keyfile_set_auto(text)))[0] == "dhcp"
