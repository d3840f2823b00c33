"""str.isdigit() is true for characters int() refuses ('²', '¹', '߀'...): a number read from a
file or a command is checked as ASCII digits before int(), so such text never raises."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbdiag.parsers import df, ip_route, kernel_cmdline, proc

ODD_DIGITS = ["²", "¹", "³", "①", "߁", "1²"]


@pytest.mark.parametrize("digit", ODD_DIGITS)
def test_parsers_take_odd_digits_for_no_number(digit):
    assert proc.parse_meminfo(f"MemTotal: {digit} kB\n:{digit}") == {}
    assert [r.metric for r in ip_route.parse_ip_route(f"default via 10.0.0.1 dev eth0 metric {digit}")] == [0]
    assert [r.metric for r in ip_route.parse_proc_net_route(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        f"eth0\t00000000\t0100000A\t0003\t0\t0\t{digit}\t00000000\n")] == [0]
    assert kernel_cmdline.parse_cmdline(f"selinux={digit} enforcing={digit}").selinux is None
    row = df.parse_df("Filesystem 1K-blocks Used Available Use% Mounted on\n"
                      f"/dev/sda1 100 50 50 {digit}% /\n")
    assert row is None or row.percent is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ODD_DIGITS + ["0", "7", " ", ":", "kB", "\n", "metric", "%"]),
                max_size=30).map("".join))
def test_odd_digits_never_raise(text):
    proc.parse_meminfo(text)
    ip_route.parse_ip_route("default dev eth0 " + text)
    ip_route.parse_proc_net_route(text)
    kernel_cmdline.parse_cmdline("selinux=" + text)
    df.parse_df(text)
