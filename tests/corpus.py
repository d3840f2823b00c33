"""A distribution corpus: realistic offline OS-disk roots for Ubuntu 22.04 and 24.04, Debian 12,
RHEL 8 and 9, SLES 15 and Azure Linux 3, built in a tmp dir at test time.

Each root is built from the distribution's own shipped files in the shared upstream data
(waagent.conf, the agent's unit, the extension's HandlerManifest.json and templates, the
agent's sample status file), read from ``<checkout>/../shared/upstream-data``, else
``/work/shared/upstream-data``, or from ``$AZBDIAG_UPSTREAM_DATA``. They are never copied into
the repository: without them the tests skip, saying why.

Around those files each root gets the layout the distribution has on Azure: os-release, the
package database (dpkg status stanzas; for RPM systems an emulated `rpm` in the fake command
table, because an rpmdb cannot be written as text), the agent's CLI, Python package and
interpreter paths, the unit and its enablement link, /var/lib/waagent with an auto-updated
``WALinuxAgent-<v>`` directory and the VMSnapshotLinux extension directory as the agent and
the extension lay them out, healthy agent and extension logs, fstab (UUID/PARTUUID/LABEL, LVM
/dev/mapper names, btrfs subvolumes, vfat /boot/efi), the network configuration the image
ships, and SELinux for RHEL. Binaries are stand-ins: small files with an ELF header and the
right names and modes; nothing in a root is ever executed.

Where a version string was not read from a public source (package releases, kernels), it is a
plausible value of the right format for that release; the notes in DISTROS cite the sources of
the ones that were (issue numbers).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import datetime
import json
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest

from azbdiag.runner import CommandResult, FakeRunner

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
UPSTREAM_ENV = "AZBDIAG_UPSTREAM_DATA"
HANDLER = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
EXT_VERSION = "1.0.9225.0"          # the version azure-linux-extensions#2172 shows (2026-05)
LIB = "/var/lib/waagent"
EXT_LOG_DIR = f"/var/log/azure/{HANDLER}"
TASK_IDENTITY = "task_identity_FD76C85E-406F-4CFA-8EB0-CF18B123365C"
MACHINE_IDENTITY = "machine_identity_FD76C85E-406F-4CFA-8EB0-CF18B123365C"
ETC_MACHINE_IDENTITY = "/etc/azure/machine_identity_FD76C85E-406F-4CFA-8EB0-CF18B123358B"


# ---- the upstream data -------------------------------------------------------------------

def upstream_dir() -> Optional[str]:
    """Where the shared upstream data is, or None."""
    env = os.environ.get(UPSTREAM_ENV)
    candidates = [env] if env else [os.path.join(CHECKOUT, "..", "shared", "upstream-data"),
                                    "/work/shared/upstream-data"]
    for path in candidates:
        if path and os.path.isfile(os.path.join(path, "README.md")):
            return os.path.abspath(path)
    return None


def need_upstream() -> str:
    """The upstream data directory, or skip the calling test with the reason."""
    path = upstream_dir()
    if path is None:
        where = (f"${UPSTREAM_ENV}={os.environ[UPSTREAM_ENV]}" if os.environ.get(UPSTREAM_ENV)
                 else f"{os.path.join(CHECKOUT, '..', 'shared', 'upstream-data')} or "
                      f"/work/shared/upstream-data")
        pytest.skip(f"the distribution corpus needs the shared upstream data files (the agent's "
                    f"and the extension's shipped files), not found at {where}")
    return path


def upstream_bytes(rel: str) -> bytes:
    path = os.path.join(need_upstream(), rel)
    if not os.path.isfile(path):
        pytest.skip(f"upstream data file {rel} is missing from {need_upstream()}")
    with open(path, "rb") as fh:
        return fh.read()


def upstream_text(rel: str) -> str:
    return upstream_bytes(rel).decode("utf-8")


# ---- what each distribution looks like ------------------------------------------------------

@dataclasses.dataclass
class Package:
    name: str
    version: str              # full distro version (epoch-less), e.g. 2.2.46-0ubuntu5.1


@dataclasses.dataclass
class Layout:
    key: str
    title: str
    os_release: str
    os_release_path: str                  # /etc/os-release or /usr/lib/os-release
    usrmerge: bool
    kernel: str
    hostname: str
    shell: str                            # what /bin/sh points at
    pkg_format: str                       # dpkg or rpm
    rpm_dbpath: str = ""                  # the root's %_dbpath (rpm only)
    agent_pkg: Package = None             # type: ignore[assignment]
    other_pkgs: Tuple[Package, ...] = ()
    agent_version: str = ""               # AGENT_VERSION of the installed package
    cli: str = "/usr/sbin/waagent"
    cli_python: str = "/usr/bin/python3"  # the CLI's shebang
    site: str = ""                        # the directory holding azurelinuxagent/
    pythons: Dict[str, str] = dataclasses.field(default_factory=dict)  # path -> link target or ""
    python_version: str = ""              # what the interpreter reports, x.y.z
    unit_name: str = "waagent.service"
    unit_dir: str = "/usr/lib/systemd/system"
    unit_src: str = ""                    # upstream-data path of the unit
    unit_edit: Optional[Callable[[str], str]] = None   # the distribution's own change to it
    conf_src: str = ""                    # upstream-data path of waagent.conf
    conf_edit: Optional[Callable[[str], str]] = None
    goal_agents: Tuple[str, ...] = ()     # auto-updated WALinuxAgent-<v> directories
    fstab: str = ""
    # The extension's freeze list for this fstab; an entry that is a tuple is one mount point
    # of a device that has several (lsblk names one of them: util-linux lsblk-mnt.c picks the
    # last mount of the device whose fs root is "/", else the last one).
    freeze_order: Tuple = ()
    network: Dict[str, str] = dataclasses.field(default_factory=dict)
    selinux: bool = False
    os_label: str = ""                    # osVersion as the extension reports it
    extra_files: Dict[str, str] = dataclasses.field(default_factory=dict)
    vmbackup_conf: Optional[str] = None
    notes: str = ""


def _os_release(**fields) -> str:
    return "".join(f'{k}="{v}"\n' if " " in v or not v.replace(".", "").isalnum() else f"{k}={v}\n"
                   for k, v in fields.items())


UBUNTU_FSTAB = (
    "LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,commit=30,errors=remount-ro\t0 1\n"
    "LABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1\n"
    "/dev/disk/cloud/azure_resource-part1\t/mnt\tauto\tdefaults,nofail,x-systemd.after="
    "cloud-init.service,_netdev,comment=cloudconfig\t0\t2\n"
)

RHEL_LVM_FSTAB = """
#
# /etc/fstab
# Created by anaconda on {date}
#
# Accessible filesystems, by reference, are maintained under '/dev/disk/'.
# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info.
#
# After editing this file, run 'systemctl daemon-reload' to update systemd
# units generated from this file.
#
/dev/mapper/rootvg-rootlv /                       xfs     defaults        0 0
UUID={boot} /boot                   xfs     defaults        0 0
UUID={efi}          /boot/efi               vfat    defaults,uid=0,gid=0,umask=077,shortname=winnt 0 2
/dev/mapper/rootvg-homelv /home                   xfs     defaults        0 0
/dev/mapper/rootvg-optlv /opt                    xfs     defaults        0 0
/dev/mapper/rootvg-tmplv /tmp                    xfs     defaults        0 0
/dev/mapper/rootvg-usrlv /usr                    xfs     defaults        0 0
/dev/mapper/rootvg-varlv /var                    xfs     defaults        0 0
"""

SLES_BTRFS_SUBVOLS = ("/var", "/usr/local", "/tmp", "/srv", "/root", "/opt", "/home",
                      "/boot/grub2/x86_64-efi", "/boot/grub2/i386-pc", "/.snapshots")


def _sles_fstab() -> str:
    root = "UUID=3c0f5d4e-8f7b-4d2a-9a51-6f1e0c2b7d11"
    width = max(len(p) for p in SLES_BTRFS_SUBVOLS) + 2
    lines = [f"{root}  {'/':<{width}}btrfs  defaults                      0  0"]
    for point in SLES_BTRFS_SUBVOLS:
        opt = f"subvol=/@{point}"
        lines.append(f"{root}  {point:<{width}}btrfs  {opt:<31} 0  0")
    lines.append(f"UUID=7A1B-3C9D  {'/boot/efi':<{width}}vfat   utf8                          0  2")
    return "\n".join(lines) + "\n"


RHEL_FILE_CONTEXTS = """\
/.*\tsystem_u:object_r:default_t:s0
/etc/.*\tsystem_u:object_r:etc_t:s0
/var/lib(/.*)?\tsystem_u:object_r:var_lib_t:s0
/var/log(/.*)?\tsystem_u:object_r:var_log_t:s0
/var/log/.*\\.log\t--\tsystem_u:object_r:var_log_t:s0
"""

SELINUX_CONFIG = """
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
# See also:
# https://docs.fedoraproject.org/en-US/quick-docs/getting-started-with-selinux/#getting-started-with-selinux-selinux-states-and-modes
#
# NOTE: In earlier Fedora kernel builds, SELINUX=disabled would also
# fully disable SELinux during boot. If you need a system with SELinux
# fully disabled instead of SELinux running with no policy loaded, you
# need to pass selinux=0 to the kernel command line. You can use grubby
# to persistently set the bootloader to boot with selinux=0:
#
#    grubby --update-kernel ALL --args selinux=0
#
# To revert back to SELinux enabled:
#
#    grubby --update-kernel ALL --remove-args selinux
#
SELINUX=enforcing
# SELINUXTYPE= can take one of these three values:
#     targeted - Targeted processes are protected,
#     minimum - Modification of targeted policy. Only selected processes are protected.
#     mls - Multi Level Security protection.
SELINUXTYPE=targeted

"""

NETPLAN_CLOUD_INIT = """\
network:
    ethernets:
        eth0:
            dhcp4: true
            dhcp4-overrides:
                route-metric: 100
            dhcp6: false
            match:
                driver: hv_netvsc
                macaddress: 00:0d:3a:{mac}
            set-name: eth0
    version: 2
"""

NETPLAN_HOTPLUG_AZURE = """\
# This netplan yaml is delivered in Azure cloud images to support
# attaching and detaching NICs at runtime.
network:
    version: 2
    ethernets:
        ephemeral:
            dhcp4: true
            dhcp4-overrides:
                route-metric: 200
            dhcp6: false
            match:
                driver: hv_netvsc
                name: "!eth0"
            optional: true
"""

DEBIAN_NETPLAN_DEFAULT = """\
network:
    version: 2
    ethernets:
        all-en:
            match:
                name: en*
            dhcp4: true
            dhcp4-overrides:
                use-domains: true
            dhcp6: true
            dhcp6-overrides:
                use-domains: true
        all-eth:
            match:
                name: eth*
            dhcp4: true
            dhcp4-overrides:
                use-domains: true
            dhcp6: true
            dhcp6-overrides:
                use-domains: true
"""

RHEL8_IFCFG = """\
# Created by cloud-init on instance boot automatically, do not edit.
#
AUTOCONNECT_PRIORITY=120
BOOTPROTO=dhcp
DEVICE=eth0
HWADDR=00:0D:3A:{MAC}
ONBOOT=yes
TYPE=Ethernet
USERCTL=no
"""

RHEL9_KEYFILE = """\
# Generated by cloud-init. Changes will be lost.

[connection]
id=cloud-init eth0
uuid=1dd9a779-d327-56e1-8454-c65e2556c12c
autoconnect-priority=120
type=ethernet

[user]
org.freedesktop.NetworkManager.origin=cloud-init

[ethernet]
mac-address=00:0D:3A:{MAC}

[ipv4]
method=auto
may-fail=false

"""

SUSE_IFCFG = """\
BOOTPROTO='dhcp'
DHCLIENT6_MODE='managed'
DHCLIENT_SET_HOSTNAME='no'
DHCLIENT_ROUTE_PRIORITY='10{n}00'
STARTMODE='auto'
CLOUD_NETCONFIG_MANAGE='yes'
"""

AZL_CLOUD_INIT_NETWORKD = """\
[Match]
MACAddress=00:0d:3a:{mac}
Name=eth0

[Network]
DHCP=ipv4

[DHCP]
RouteMetric=100
UseMTU=true

"""

AZL_IMAGE_NETWORKD = """\
[Match]
Name=e*

[Network]
DHCP=yes
IPv6AcceptRA=no
"""


def _debian_unit(text: str) -> str:
    """Debian's waagent package ships its own walinuxagent.service: the CLI runs directly
    (its shebang picks python3) and the unit only starts on Hyper-V."""
    text = text.replace("ExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon",
                        "ExecStart=/usr/sbin/waagent -daemon")
    return text.replace("ConditionPathExists=/etc/waagent.conf",
                        "ConditionPathExists=/etc/waagent.conf\nConditionVirtualization=microsoft")


def _debian_conf(text: str) -> str:
    """Debian's package sets Provisioning.Agent=cloud-init and AutoUpdate.Enabled=n
    (reference/packaging.md, the waagent package of bookworm)."""
    text = text.replace("Provisioning.Agent=auto", "Provisioning.Agent=cloud-init")
    return text.rstrip("\n") + "\n\n# Debian: never auto-update the agent\nAutoUpdate.Enabled=n\n"


def _rhel8_unit(text: str) -> str:
    """RHEL 8 runs the agent under the platform Python (WALinuxAgent#2728)."""
    return text.replace("ExecStart=/usr/bin/python3 -u", "ExecStart=/usr/libexec/platform-python -u")


DISTROS: Dict[str, Layout] = {}


def _add(layout: Layout) -> None:
    DISTROS[layout.key] = layout


_add(Layout(
    key="ubuntu2204", title="Ubuntu 22.04 LTS",
    os_release=_os_release(PRETTY_NAME="Ubuntu 22.04.5 LTS", NAME="Ubuntu", VERSION_ID="22.04",
                           VERSION="22.04.5 LTS (Jammy Jellyfish)", VERSION_CODENAME="jammy",
                           ID="ubuntu", ID_LIKE="debian", HOME_URL="https://www.ubuntu.com/",
                           SUPPORT_URL="https://help.ubuntu.com/",
                           BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/",
                           PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/"
                                              "privacy-policy",
                           UBUNTU_CODENAME="jammy"),
    os_release_path="/usr/lib/os-release", usrmerge=True, kernel="6.8.0-1041-azure",
    hostname="jammy-web01", shell="dash", pkg_format="dpkg",
    agent_pkg=Package("walinuxagent", "2.2.46-0ubuntu5.1"),
    other_pkgs=(Package("python3", "3.10.6-1~22.04.1"), Package("python3.10", "3.10.12-1~22.04.10"),
                Package("netplan.io", "0.106.1-7ubuntu0.22.04.4"),
                Package("cloud-init", "25.1.4-0ubuntu0~22.04.1")),
    agent_version="2.2.46", cli_python="/usr/bin/python3",
    site="/usr/lib/python3/dist-packages",
    pythons={"/usr/bin/python3": "python3.10", "/usr/bin/python3.10": ""}, python_version="3.10.12",
    unit_name="walinuxagent.service", unit_dir="/lib/systemd/system",
    unit_src="WALinuxAgent/init/ubuntu/walinuxagent.service",
    conf_src="WALinuxAgent/config/ubuntu/waagent.conf",
    goal_agents=("2.11.1.4",),
    fstab=UBUNTU_FSTAB + "UUID=0b8c5b48-4d35-4f5f-9d76-3a1f0e4c2a61\t/datadrive\txfs\t"
                         "defaults,nofail\t1\t2\n",
    freeze_order=("/datadrive", "/"),
    network={"/etc/netplan/50-cloud-init.yaml": NETPLAN_CLOUD_INIT,
             "/etc/netplan/90-hotplug-azure.yaml": NETPLAN_HOTPLUG_AZURE},
    os_label="Ubuntu-22.04",
    notes="installed agent 2.2.46 with goal state agent 2.11.1.4, as WALinuxAgent#3161 shows",
))

_add(Layout(
    key="ubuntu2404", title="Ubuntu 24.04 LTS",
    os_release=_os_release(PRETTY_NAME="Ubuntu 24.04.3 LTS", NAME="Ubuntu", VERSION_ID="24.04",
                           VERSION="24.04.3 LTS (Noble Numbat)", VERSION_CODENAME="noble",
                           ID="ubuntu", ID_LIKE="debian", HOME_URL="https://www.ubuntu.com/",
                           SUPPORT_URL="https://help.ubuntu.com/",
                           BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/",
                           PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/"
                                              "privacy-policy",
                           UBUNTU_CODENAME="noble", LOGO="ubuntu-logo"),
    os_release_path="/usr/lib/os-release", usrmerge=True, kernel="6.14.0-1012-azure",
    hostname="noble-db01", shell="dash", pkg_format="dpkg",
    agent_pkg=Package("walinuxagent", "2.9.1.1-0ubuntu5"),
    other_pkgs=(Package("python3", "3.12.3-0ubuntu2"), Package("python3.12", "3.12.3-1ubuntu0.8"),
                Package("netplan.io", "1.1.2-2~ubuntu24.04.2"),
                Package("cloud-init", "25.1.4-0ubuntu0~24.04.1")),
    agent_version="2.9.1.1", site="/usr/lib/python3/dist-packages",
    pythons={"/usr/bin/python3": "python3.12", "/usr/bin/python3.12": ""}, python_version="3.12.3",
    unit_name="walinuxagent.service", unit_dir="/lib/systemd/system",
    unit_src="WALinuxAgent/init/ubuntu/walinuxagent.service",
    conf_src="WALinuxAgent/config/ubuntu/waagent.conf",
    goal_agents=("2.11.1.4", "2.13.1.1"),
    fstab=UBUNTU_FSTAB
    + "UUID=5d0e2f1a-7c3b-4e8d-a6f2-91b0c4d3e5f7\t/data1\txfs\tdefaults,nofail\t1\t2\n"
    + "UUID=8a4c6e2d-1b3f-4a5c-9d7e-0f2b4d6c8a1e\t/data2\text4\tdefaults,nofail\t1\t2\n",
    freeze_order=("/data2", "/data1", "/"),
    network={"/etc/netplan/50-cloud-init.yaml": NETPLAN_CLOUD_INIT,
             "/etc/netplan/90-hotplug-azure.yaml": NETPLAN_HOTPLUG_AZURE},
    os_label="Ubuntu-24.04",
    notes="WALinuxAgent-2.9.1.1 on Python 3.12.3, as azure-linux-extensions#1922 shows",
))

_add(Layout(
    key="debian12", title="Debian 12 (bookworm)",
    os_release=_os_release(PRETTY_NAME="Debian GNU/Linux 12 (bookworm)", NAME="Debian GNU/Linux",
                           VERSION_ID="12", VERSION="12 (bookworm)", VERSION_CODENAME="bookworm",
                           ID="debian", HOME_URL="https://www.debian.org/",
                           SUPPORT_URL="https://www.debian.org/support",
                           BUG_REPORT_URL="https://bugs.debian.org/"),
    os_release_path="/usr/lib/os-release", usrmerge=True, kernel="6.1.0-40-cloud-amd64",
    hostname="bookworm-app01", shell="dash", pkg_format="dpkg",
    agent_pkg=Package("waagent", "2.7.3.0-1"),
    other_pkgs=(Package("python3", "3.11.2-1+b1"), Package("python3.11", "3.11.2-6+deb12u6"),
                Package("netplan.io", "0.106-2+deb12u1"), Package("cloud-init", "22.4.2-1+deb12u3")),
    agent_version="2.7.3.0", site="/usr/lib/python3/dist-packages",
    pythons={"/usr/bin/python3": "python3.11", "/usr/bin/python3.11": ""}, python_version="3.11.2",
    unit_name="walinuxagent.service", unit_dir="/lib/systemd/system",
    unit_src="WALinuxAgent/init/ubuntu/walinuxagent.service", unit_edit=_debian_unit,
    conf_src="WALinuxAgent/config/debian/waagent.conf", conf_edit=_debian_conf,
    goal_agents=(),
    fstab=("# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
           "PARTUUID=6c9e8f2a-3b1d-4e5f-8a7c-2d4b6f8e0a13 / ext4 rw,discard,errors=remount-ro,"
           "x-systemd.growfs 0 1\n"
           "PARTUUID=9b1d3f5a-7c2e-4a6b-8d0f-1e3c5a7b9d24 /boot/efi vfat defaults 0 0\n"
           "UUID=2f4a6c8e-0b1d-4e3f-a5c7-9e1b3d5f7a02 /srv/data ext4 defaults,nofail 0 2\n"),
    freeze_order=("/srv/data", "/"),
    network={"/etc/netplan/90-default.yaml": DEBIAN_NETPLAN_DEFAULT,
             "/etc/netplan/50-cloud-init.yaml": NETPLAN_CLOUD_INIT},
    os_label="debian-12",
    notes="waagent 2.7.3.0 with Debian's AutoUpdate.Enabled=n and Provisioning.Agent=cloud-init "
          "(reference/packaging.md); netplan is the default in Debian 12 cloud images "
          "(wiki.debian.org/Netplan)",
))

_RHEL_COMMON = dict(
    usrmerge=True, shell="bash", pkg_format="rpm", rpm_dbpath="/var/lib/rpm", selinux=True,
    unit_name="waagent.service", unit_dir="/usr/lib/systemd/system",
    unit_src="WALinuxAgent/init/redhat/waagent.service",
    conf_src="WALinuxAgent/config/waagent.conf",
    freeze_order=("/var", "/usr", "/tmp", "/opt", "/home", "/boot", "/"),
    os_release_path="/etc/os-release",
)

_add(Layout(
    key="rhel8", title="Red Hat Enterprise Linux 8.10 (LVM, xfs, SELinux enforcing)",
    os_release=_os_release(NAME="Red Hat Enterprise Linux", VERSION="8.10 (Ootpa)", ID="rhel",
                           ID_LIKE="fedora", VERSION_ID="8.10", PLATFORM_ID="platform:el8",
                           PRETTY_NAME="Red Hat Enterprise Linux 8.10 (Ootpa)", ANSI_COLOR="0;31",
                           CPE_NAME="cpe:/o:redhat:enterprise_linux:8::baseos",
                           HOME_URL="https://www.redhat.com/",
                           DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/"
                                             "red_hat_enterprise_linux/8",
                           BUG_REPORT_URL="https://bugzilla.redhat.com/",
                           REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 8",
                           REDHAT_BUGZILLA_PRODUCT_VERSION="8.10",
                           REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux",
                           REDHAT_SUPPORT_PRODUCT_VERSION="8.10"),
    kernel="4.18.0-553.72.1.el8_10.x86_64", hostname="rhel8-sap01",
    agent_pkg=Package("WALinuxAgent", "2.7.0.6-10.el8_10"),
    other_pkgs=(Package("platform-python", "3.6.8-69.el8_10"),
                Package("NetworkManager", "1.40.16-19.el8_10"), Package("cloud-init", "23.4-7.el8_10.8")),
    agent_version="2.7.0.6", cli_python="/usr/libexec/platform-python",
    site="/usr/lib/python3.6/site-packages",
    pythons={"/usr/libexec/platform-python": "platform-python3.6",
             "/usr/libexec/platform-python3.6": ""},
    python_version="3.6.8", unit_edit=_rhel8_unit, goal_agents=("2.13.1.1",),
    fstab=RHEL_LVM_FSTAB.format(date="Wed Jun 11 07:55:14 2025",
                                boot="4c2e9a1b-5f7d-4b3e-9c8a-6d1f0e2b4a37", efi="3A1E-8F2C"),
    network={"/etc/sysconfig/network-scripts/ifcfg-eth0": RHEL8_IFCFG},
    os_label="redhat-8.10",
    notes="no /usr/bin/python3: the agent runs under /usr/libexec/platform-python (WALinuxAgent#2728)",
    **_RHEL_COMMON,
))

_add(Layout(
    key="rhel9", title="Red Hat Enterprise Linux 9.6 (LVM, xfs, SELinux enforcing)",
    os_release=_os_release(NAME="Red Hat Enterprise Linux", VERSION="9.6 (Plow)", ID="rhel",
                           ID_LIKE="fedora", VERSION_ID="9.6", PLATFORM_ID="platform:el9",
                           PRETTY_NAME="Red Hat Enterprise Linux 9.6 (Plow)", ANSI_COLOR="0;31",
                           LOGO="fedora-logo-icon",
                           CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos",
                           HOME_URL="https://www.redhat.com/",
                           DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/"
                                             "red_hat_enterprise_linux/9",
                           BUG_REPORT_URL="https://issues.redhat.com/",
                           REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9",
                           REDHAT_BUGZILLA_PRODUCT_VERSION="9.6",
                           REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux",
                           REDHAT_SUPPORT_PRODUCT_VERSION="9.6"),
    kernel="5.14.0-570.42.2.el9_6.x86_64", hostname="rhel9-app02",
    agent_pkg=Package("WALinuxAgent", "2.7.0.6-16.el9_6"),
    other_pkgs=(Package("python3", "3.9.21-2.el9_6.1"), Package("NetworkManager", "1.52.0-5.el9_6"),
                Package("cloud-init", "24.4-4.el9_6.3")),
    agent_version="2.7.0.6", site="/usr/lib/python3.9/site-packages",
    pythons={"/usr/bin/python3": "python3.9", "/usr/bin/python3.9": ""}, python_version="3.9.21",
    goal_agents=("2.14.0.1",),
    fstab=RHEL_LVM_FSTAB.format(date="Tue Aug 12 09:14:03 2025",
                                boot="b1e3d5f7-2a4c-4e6b-8d0f-3c5e7a9b1d46", efi="5C2D-91AF"),
    network={"/etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection": RHEL9_KEYFILE},
    os_label="redhat-9.6",
    **_RHEL_COMMON,
))

_add(Layout(
    key="sles15", title="SUSE Linux Enterprise Server 15 SP6 (btrfs with subvolumes)",
    os_release=_os_release(NAME="SLES", VERSION="15-SP6", VERSION_ID="15.6",
                           PRETTY_NAME="SUSE Linux Enterprise Server 15 SP6", ID="sles",
                           ID_LIKE="suse", ANSI_COLOR="0;32", CPE_NAME="cpe:/o:suse:sles:15:sp6",
                           DOCUMENTATION_URL="https://documentation.suse.com/"),
    os_release_path="/usr/lib/os-release", usrmerge=False, kernel="6.4.0-150600.8.40-azure",
    hostname="sles15-hana01", shell="bash", pkg_format="rpm", rpm_dbpath="/usr/lib/sysimage/rpm",
    agent_pkg=Package("python-azure-agent", "2.9.1.1-150100.3.50.1"),
    other_pkgs=(Package("python3", "3.6.15-150300.10.84.1"), Package("wicked", "0.6.76-150600.11.15.1"),
                Package("cloud-netconfig-azure", "1.15-150000.25.23.1")),
    agent_version="2.9.1.1", site="/usr/lib/python3.6/site-packages",
    pythons={"/usr/bin/python3": "python3.6", "/usr/bin/python3.6": ""}, python_version="3.6.15",
    unit_src="WALinuxAgent/init/sles/waagent.service",
    conf_src="WALinuxAgent/config/suse/waagent.conf",
    goal_agents=("2.14.0.1",),
    fstab=_sles_fstab(), freeze_order=(("/.snapshots", "/") + SLES_BTRFS_SUBVOLS[:-1],),
    network={"/etc/sysconfig/network/ifcfg-eth0": SUSE_IFCFG.format(n=0)},
    os_label="SuSE-15.6",
    notes="btrfs root with the subvolumes YaST creates; the rpm database lives in "
          "/usr/lib/sysimage/rpm with /var/lib/rpm a link to it",
))

_add(Layout(
    key="azurelinux3", title="Azure Linux 3.0",
    os_release=_os_release(NAME="Microsoft Azure Linux", VERSION="3.0.20250910", ID="azurelinux",
                           VERSION_ID="3.0", PRETTY_NAME="Microsoft Azure Linux 3.0",
                           ANSI_COLOR="1;34", HOME_URL="https://aka.ms/azurelinux",
                           BUG_REPORT_URL="https://aka.ms/azurelinux",
                           SUPPORT_URL="https://aka.ms/azurelinux"),
    os_release_path="/etc/os-release", usrmerge=True, kernel="6.6.96.2-2.azl3",
    hostname="azl3-node01", shell="bash", pkg_format="rpm", rpm_dbpath="/var/lib/rpm",
    agent_pkg=Package("WALinuxAgent", "2.13.1.1-1.azl3"),
    other_pkgs=(Package("python3", "3.12.9-4.azl3"), Package("systemd-networkd", "255-21.azl3")),
    agent_version="2.13.1.1", cli="/usr/bin/waagent", site="/usr/lib/python3.12/site-packages",
    pythons={"/usr/bin/python": "python3", "/usr/bin/python3": "python3.12", "/usr/bin/python3.12": ""},
    python_version="3.12.9",
    unit_src="WALinuxAgent/init/mariner/waagent.service",
    conf_src="WALinuxAgent/config/mariner/waagent.conf",
    goal_agents=("2.15.0.1",),
    fstab=("# Begin /etc/fstab\n"
           "PARTUUID=3e6b2a9c-4d1f-4c8e-b7a5-0d2f6e8c1a93 / ext4 defaults 0 1\n"
           "PARTUUID=e8a1c3f5-9b2d-4f6e-a0c4-7d9b1f3e5a28 /boot/efi vfat umask=0077 0 2\n"
           "# End /etc/fstab\n"),
    freeze_order=("/",),
    network={"/etc/systemd/network/10-cloud-init-eth0.network": AZL_CLOUD_INIT_NETWORKD,
             "/etc/systemd/network/99-dhcp-en.network": AZL_IMAGE_NETWORKD},
    os_label="azurelinux-3.0",
    vmbackup_conf="[SnapshotThread]\ntimeout = 90\nSafeFreezeWaitInSeconds = 90\n",
))


# ---- the fake command table --------------------------------------------------------------

class CorpusRunner(FakeRunner):
    """The fake command table of a corpus root, plus two commands emulated from the root:

    * `rpm`: answers -q queries from the root's package list, and only when the query reads
      the root's own database: `--root R --dbpath <the root's %_dbpath>`. Without --dbpath it
      answers as Debian's rpm on a rescue VM does (its own %_dbpath, ~/.rpmdb under the
      root, is empty): every package "is not installed".
    * `df -P -k|-i PATH`: the file system of PATH in the root's fstab, with plausible numbers.
    """

    def __init__(self, root, table=None):
        super().__init__(table)
        self.root = root

    def run(self, argv, timeout=10.0, input=None, env=None):
        argv = tuple(str(a) for a in argv)
        if argv and argv[0] == "rpm" and self.root.layout.pkg_format == "rpm" \
                and " ".join(argv) not in self.table:
            self.calls.append(argv)
            return self._rpm(argv)
        if argv and argv[0] == "df" and " ".join(argv) not in self.table:
            self.calls.append(argv)
            return self._df(argv)
        return super().run(argv, timeout=timeout, input=input, env=env)

    def _rpm(self, argv) -> CommandResult:
        args = list(argv[1:])
        root = dbpath = qf = None
        names: List[str] = []
        query = False
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--root":
                root, i = args[i + 1], i + 2
                continue
            if a == "--dbpath":
                dbpath, i = args[i + 1], i + 2
                continue
            if a in ("--qf", "--queryformat"):
                qf, i = args[i + 1], i + 2
                continue
            if a in ("-q", "--query"):
                query = True
            elif not a.startswith("-"):
                names.append(a)
            i += 1
        if not query:
            return CommandResult(argv, 1, "", "rpm: only -q is emulated here\n")
        if root is not None and os.path.realpath(root) != os.path.realpath(str(self.root.path)):
            return CommandResult(argv, 1, "", f"error: cannot open {root}\n")
        reads_root_db = root is None or (dbpath is not None and self.root.same_dbpath(dbpath))
        pkgs = {p.name: p for p in self.root.packages()} if reads_root_db else {}
        out, rc = [], 0
        for name in names:
            p = pkgs.get(name)
            if p is None:
                out.append(f"package {name} is not installed\n")
                rc = 1
                continue
            version, _, release = p.version.rpartition("-")
            fmt = qf if qf is not None else "%{NAME}-%{VERSION}-%{RELEASE}.noarch\n"
            line = (fmt.replace("%{NAME}", p.name).replace("%{VERSION}", version)
                    .replace("%{RELEASE}", release).replace("\\t", "\t").replace("\\n", "\n"))
            out.append(line)
        return CommandResult(argv, rc, "".join(out))

    def _df(self, argv) -> CommandResult:
        path = argv[-1]
        guest = self.root.guest_path(path)
        if guest is None:
            return CommandResult(argv, 1, "", f"df: {path}: No such file or directory\n")
        entry = self.root.covering_fstab(guest)
        device = entry[0] if entry else "/dev/root"
        mount_point = os.path.join(str(self.root.path), entry[1].lstrip("/")) if entry else path
        if "-i" in argv:
            head = "Filesystem      Inodes  IUsed   IFree IUse% Mounted on\n"
            row = f"{device} 3932160 187406 3744754 5% {mount_point}\n"
        else:
            head = "Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
            row = f"{device} 30298176 6513180 23768612 22% {mount_point}\n"
        return CommandResult(argv, 0, head + row)


# ---- a root ------------------------------------------------------------------------------

ELF_X86_64 = (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00"
              + b"\x00" * 40 + b"\nstand-in binary of the azbdiag test corpus\n")


class Root:
    """A built root: its path, its layout, and helpers to plant faults in it."""

    def __init__(self, path: Path, layout: Layout, now: datetime.datetime):
        self.path = path
        self.layout = layout
        self.now = now                           # the "present" of this root's logs
        self.ext_dir = f"{LIB}/{HANDLER}-{EXT_VERSION}"
        self.seq = 7
        self.table: Dict[str, object] = {}
        self.labels: Optional[bool] = None       # SELinux labels written (None: not applicable)

    # -- paths
    def p(self, guest: str) -> Path:
        return self.path / guest.lstrip("/")

    def guest_path(self, real: str) -> Optional[str]:
        real = os.path.abspath(real)
        base = str(self.path)
        if real == base:
            return "/"
        if real.startswith(base + os.sep):
            return "/" + os.path.relpath(real, base)
        return None

    def exists(self, guest: str) -> bool:
        return os.path.lexists(self.p(guest))

    # -- writing
    def write(self, guest: str, data, mode: int = 0o644, mtime: Optional[datetime.datetime] = None):
        path = self.p(guest)
        _mkdirs(self, os.path.dirname(guest))
        if os.path.lexists(path) and os.path.islink(path):
            os.unlink(path)
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(path, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode)
        if mtime is not None:
            stamp = mtime.timestamp()
            os.utime(path, (stamp, stamp))
        return path

    def append(self, guest: str, text: str):
        with open(self.p(guest), "a", encoding="utf-8") as fh:
            fh.write(text)

    def read(self, guest: str) -> str:
        return self.p(guest).read_text(encoding="utf-8")

    def read_bytes(self, guest: str) -> bytes:
        return self.p(guest).read_bytes()

    def mkdir(self, guest: str, mode: int = 0o755):
        _mkdirs(self, guest)
        os.chmod(self.p(guest), mode)

    def symlink(self, guest: str, target: str):
        _mkdirs(self, os.path.dirname(guest))
        path = self.p(guest)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)

    def remove(self, guest: str):
        path = self.p(guest)
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)

    # -- knowledge the fake commands use
    def packages(self) -> List[Package]:
        return [self.layout.agent_pkg, *self.layout.other_pkgs]

    def same_dbpath(self, dbpath: str) -> bool:
        """Whether `dbpath` (a guest path) leads to the root's rpm database, links followed
        inside the root."""
        want = os.path.realpath(self.p(self.layout.rpm_dbpath))
        try:
            got = os.path.realpath(self.p(dbpath))
        except OSError:
            return False
        return got == want

    def covering_fstab(self, guest: str) -> Optional[Tuple[str, str]]:
        best = None
        for line in self.read("/etc/fstab").splitlines():
            fields = line.split()
            if len(fields) < 3 or fields[0].startswith("#"):
                continue
            mp = fields[1]
            if guest == mp or guest.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best[1]):
                    best = (fields[0], mp)
        return best

    # -- faults and variants
    def waagent_conf(self) -> str:
        return self.read("/etc/waagent.conf")

    def set_waagent_conf(self, key: str, value: str):
        """Set `key` in /etc/waagent.conf the way an admin edits it: the existing line in place,
        else a new line at the end."""
        text = self.waagent_conf()
        pattern = re.compile(rf"^{re.escape(key)}=.*$", re.MULTILINE)
        if pattern.search(text):
            text = pattern.sub(f"{key}={value}", text)
        else:
            text = text.rstrip("\n") + f"\n{key}={value}\n"
        self.write("/etc/waagent.conf", text)

    def agent_dir(self, version: str) -> str:
        return f"{LIB}/WALinuxAgent-{version}"

    def write_status(self, code: int, health_code: int, *, status: str = "success",
                     real_status: Optional[str] = None, message: str = "",
                     ext_error: str = "", consistency: int = 0, age_minutes: float = 40,
                     seq: Optional[int] = None, snapshots: Optional[List[dict]] = None):
        """Write status/<seq>.status as the extension does (the upstream sample's shape)."""
        seq = self.seq if seq is None else seq
        when = self.now - datetime.timedelta(minutes=age_minutes)
        doc = status_document(self.layout, when, code=code, health_code=health_code,
                              status=status, real_status=real_status, message=message,
                              ext_error=ext_error, consistency=consistency, snapshots=snapshots)
        self.write(f"{self.ext_dir}/status/{seq}.status", json.dumps(doc, separators=(",", ":")),
                   mtime=when)

    def fstab_append(self, line: str):
        self.append("/etc/fstab", line.rstrip("\n") + "\n")

    def vmbackup_conf(self, text, mode: int = 0o644):
        self.write("/etc/azure/vmbackup.conf", text, mode)

    def set_extension_version(self, version: str):
        """Move the extension directory to another version, as the agent would have laid it
        out: the directory name, HandlerEnvironment.json and the status telemetry follow."""
        new = f"{LIB}/{HANDLER}-{version}"
        os.rename(self.p(self.ext_dir), self.p(new))
        self.ext_dir = new
        self.write(f"{new}/HandlerEnvironment.json", handler_environment(new))
        for name in os.listdir(self.p(f"{new}/status")):
            path = f"{new}/status/{name}"
            when = datetime.datetime.fromtimestamp(os.stat(self.p(path)).st_mtime,
                                                   datetime.timezone.utc)
            text = self.read(path).replace(EXT_VERSION, version)
            self.write(path, text, mtime=when)

    def use_python(self, version: str):
        """Make /usr/bin/python3 point at python<version> (the distribution's next Python)."""
        self.write(f"/usr/bin/python{version}", ELF_X86_64, 0o755)
        self.symlink("/usr/bin/python3", f"python{version}")

    def script_plugin(self, changes: Optional[dict] = None, *, pre: bool = True,
                      post: bool = True, config_mode: int = 0o600):
        """Application-consistent backup as the documentation sets it up: the extension's own
        template VMSnapshotScriptPluginConfig.json filled in, root-only scripts."""
        config = json.loads(upstream_text(
            "azure-linux-extensions/VMBackup/main/tempPlugin/VMSnapshotScriptPluginConfig.json"))
        config.update({"preScriptLocation": "/etc/azure/prescript.sh",
                       "postScriptLocation": "/etc/azure/postscript.sh",
                       "preScriptParams": [], "postScriptParams": []})
        config.update(changes or {})
        self.write("/etc/azure/VMSnapshotScriptPluginConfig.json", json.dumps(config, indent=4),
                   config_mode)
        for role, wanted in (("prescript", pre), ("postscript", post)):
            if wanted:
                self.write(f"/etc/azure/{role}.sh", "#!/bin/sh\n# quiesce the application\n"
                                                    "sync\nexit 0\n", 0o700)


def _mkdirs(root: Root, guest: str):
    """mkdir -p inside the root, creating real directories (never through a link that leaves
    the root: the roots' /bin, /lib links are relative)."""
    os.makedirs(root.p(guest), exist_ok=True)


# ---- the files the agent and the extension write -------------------------------------------

def _ticks(when: datetime.datetime) -> str:
    """.NET ticks (100 ns since 0001-01-01), as commandStartTimeUTCTicks carries them."""
    epoch = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
    delta = when - epoch
    return str((delta.days * 86400 + delta.seconds) * 10**7 + delta.microseconds * 10)


def status_document(layout: Layout, when: datetime.datetime, *, code: int, health_code: int,
                    status: str = "success", real_status: Optional[str] = None, message: str = "",
                    ext_error: str = "", consistency: int = 0,
                    snapshots: Optional[List[dict]] = None) -> list:
    """An N.status as VMSnapshotLinux writes it for an ARM VM, built from the agent's sample
    status file (tests/data/ext/sample-status.json): the top-level status is "success" for any
    terminal result, the real one is in `code` and in the JSON report held by
    substatus[0].name (its vmHealthInfo.vmHealthStatusCode is the extension error code)."""
    sample = json.loads(upstream_text("WALinuxAgent/tests/data/ext/sample-status.json"))
    top = copy.deepcopy(sample[0])
    inner = json.loads(top["status"]["substatus"][0]["name"])[0]
    task = str(uuid.UUID(int=(layout.key.__hash__() & (2**128 - 1)) ^ 0x5A5A))
    machine = "cf2545fd-fef4-250b-d167-f2edb86da1ac"
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    ticks = _ticks(when - datetime.timedelta(minutes=3))
    msg = {"messageStr": message or "snapshotCreator=backupHostService, "
                                    "hostStatusCodePreSnapshot=200, hostStatusCodeDoSnapshot=200, ",
           "snapshotConsistency": consistency, "jobMessage": "", "isSizeComputationFailed": False}
    for obj in (top, inner):
        st = obj["status"]
        st["name"] = HANDLER
        st["code"] = str(code)
        st["taskId"] = task
        st["commandStartTimeUTCTicks"] = ticks
        st["uniqueMachineId"] = machine
        st["formattedMessage"] = {"lang": "en-US", "message": json.dumps(msg)}
        st["vmHealthInfo"] = {"vmHealthState": 0 if health_code in (0, 1) else 128,
                              "vmHealthStatusCode": health_code}
    top["status"]["status"] = status
    top["timestampUTC"] = stamp
    inner["status"]["status"] = real_status or ("success" if code in (0, 1, 3, 4) else "error")
    inner["timestampUTC"] = f"\\/Date({int(when.timestamp() * 1000)})\\/"
    if snapshots is not None:
        inner["status"]["snapshotInfo"] = snapshots
    else:
        for info in inner["status"]["snapshotInfo"] or []:
            info["snapshotUri"] = re.sub(r"snapshot=[^&]*", "snapshot=" + when.strftime(
                "%Y-%m-%dT%H:%M:%S.0000000Z"), info["snapshotUri"])
    telemetry = {item["Key"]: item["Value"] for item in inner["status"]["telemetryData"]}
    telemetry.update({"kernelVersion": layout.kernel, "extensionVersion": EXT_VERSION,
                      "guestAgentVersion": (layout.goal_agents[-1] if layout.goal_agents
                                            else layout.agent_version),
                      "pythonVersion": layout.python_version, "osVersion": layout.os_label,
                      "networkFSTypePresentInMount": "False",
                      "extErrorCode": ext_error or ("success" if health_code in (0, 1)
                                                    else str(health_code))})
    telemetry.pop("statusBlobUploadError", None)
    inner["status"]["telemetryData"] = [{"Key": k, "Value": v} for k, v in telemetry.items()]
    top["status"]["substatus"][0]["name"] = json.dumps([inner])
    return [top]


def _dpkg_stanza(pkg: Package, layout: Layout, agent: bool) -> str:
    ubuntu = layout.key.startswith("ubuntu")
    maint = ("Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>" if ubuntu
             else "Debian Cloud Team <debian-cloud@lists.debian.org>")
    lines = [f"Package: {pkg.name}", "Status: install ok installed", "Priority: optional",
             "Section: admin" if agent else "Section: python",
             "Installed-Size: 2890" if agent else "Installed-Size: 92",
             f"Maintainer: {maint}", "Architecture: all" if agent else "Architecture: amd64",
             f"Version: {pkg.version}"]
    if agent:
        lines += [
            "Depends: python3-distro, python3:any, python3-pkg-resources, ca-certificates, openssl",
            "Suggests: cloud-init, parted, iptables, openssh-server, sudo",
            "Conffiles:",
            " /etc/logrotate.d/waagent.logrotate 6c1d4e5b0a2f9e8d7c6b5a4f3e2d1c0b",
            " /etc/waagent.conf 1f2e3d4c5b6a79880f1e2d3c4b5a6978",
            "Description: Windows Azure Linux Agent",
            " The Windows Azure Linux Agent (waagent) manages Linux provisioning and VM",
            " interaction with the Azure Fabric Controller.",
            "Homepage: https://github.com/Azure/WALinuxAgent"]
    else:
        lines += [f"Description: {pkg.name} (corpus stanza)"]
    return "\n".join(lines) + "\n"


def _dpkg_text(layout: Layout) -> str:
    pkgs = [(layout.agent_pkg, True)] + [(p, False) for p in layout.other_pkgs]
    # dpkg keeps the file sorted by name; a removed package (an old kernel) keeps its stanza.
    old_kernel = re.sub(r"-(\d+)-", lambda m: f"-{int(m.group(1)) - 1}-", layout.kernel, count=1)
    removed = (f"Package: linux-image-{old_kernel}\nStatus: deinstall ok config-files\n"
               f"Architecture: amd64\nVersion: {old_kernel}\n")
    body = [_dpkg_stanza(p, layout, agent) for p, agent in sorted(pkgs, key=lambda x: x[0].name)]
    return "\n".join(body + [removed]) + "\n"


def handler_environment(ext_dir: str) -> str:
    env = {"logFolder": EXT_LOG_DIR, "configFolder": f"{ext_dir}/config",
           "statusFolder": f"{ext_dir}/status", "heartbeatFile": f"{ext_dir}/heartbeat.log",
           "eventsFolder": f"{EXT_LOG_DIR}/events", "eventsFolder_preview": f"{EXT_LOG_DIR}/events",
           "deploymentid": "7e3f1c5a-9b2d-4e6f-8a0c-2d4f6b8e0a1c",
           "rolename": "_vm", "instance": "_vm", "hostResolverAddress": None}
    return json.dumps([{"name": HANDLER, "version": 1.0, "handlerEnvironment": env}])


def agent_manifest(version: str, egg_py: str = "py3.8") -> str:
    """HandlerManifest.json of an auto-updated agent directory, as makepkg.py writes it."""
    return json.dumps([{
        "name": "WALinuxAgent", "version": 1.0,
        "handlerManifest": {
            "installCommand": "", "uninstallCommand": "", "updateCommand": "",
            "enableCommand": f"python -u bin/WALinuxAgent-{version}-{egg_py}.egg -run-exthandlers",
            "disableCommand": "", "rebootAfterInstall": False, "reportHeartbeat": False}}],
        indent=4)


def settings_document(root: Root, when: datetime.datetime) -> str:
    """N.settings after the extension rewrote it without protectedSettings."""
    obj = base64.b64encode(json.dumps({
        "backupMetadata": [{"Key": "BackupPolicyType", "Value": "V1"}],
        "snapshotTaskToken": None, "includedDisks": {"dataDiskLunList": [], "isOSDiskIncluded": True},
        "dynamicConfigsFromCRP": []}).encode()).decode()
    return json.dumps({"runtimeSettings": [{"handlerSettings": {
        "protectedSettingsCertThumbprint": "9A4F2C6E8B1D3F5A7C9E0B2D4F6A8C1E3B5D7F90",
        "publicSettings": {"locale": "en-us", "taskId": "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9",
                           "commandToExecute": "snapshot",
                           "commandStartTimeUTCTicks": _ticks(when),
                           "vmType": "microsoft.compute/virtualmachines", "objectStr": obj}}}]})


def waagent_log(root: Root) -> str:
    """A healthy /var/log/waagent.log: daemon start, the goal-state agent, heartbeats every
    30 minutes and one backup run, ending at root.now."""
    L = root.layout
    start = root.now - datetime.timedelta(hours=6, minutes=2)
    goal = L.goal_agents[-1] if L.goal_agents else ""
    old_daemon = _version_tuple(L.agent_version) < (2, 2, 47)

    def line(when, level, thread, prefix, msg, old=False):
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if old:
            return f"{stamp} {level} {prefix} {msg}"
        return f"{stamp} {level} {thread} {prefix} {msg}"

    out = []
    t = start
    dist_id, dist_ver = _distro_words(L)
    daemon = lambda msg, dt=0.01: out.append(line(t + datetime.timedelta(seconds=dt), "INFO", "Daemon",  # noqa: E731
                                                  "Daemon", msg, old_daemon))
    daemon(f"Azure Linux Agent Version: {L.agent_version}")
    daemon(f"OS: {dist_id} {dist_ver}")
    daemon(f"Python: {L.python_version}")
    daemon("Run daemon")
    daemon(f"No RDMA handler exists for distro='{dist_id}' version='{dist_ver}'")
    provisioning = re.search(r"^Provisioning.Agent=(\S+)", root.waagent_conf(), re.M)
    daemon(f"Provisioning agent: {provisioning.group(1) if provisioning else 'auto'}")
    if goal:
        daemon(f"Determined Agent WALinuxAgent-{goal} to be the latest agent")
        agent_cmd = f"{L.cli_python} -u bin/WALinuxAgent-{goal}-py3.8.egg -run-exthandlers"
    else:
        daemon(f"Installed Agent WALinuxAgent-{L.agent_version} is the most current agent")
        agent_cmd = f"{L.cli_python} -u {L.cli} -run-exthandlers"
    running = goal or L.agent_version
    t += datetime.timedelta(seconds=3)
    eh = lambda msg, dt=0.0, prefix="ExtHandler": out.append(  # noqa: E731
        line(t + datetime.timedelta(seconds=dt), "INFO", "ExtHandler", prefix, msg))
    eh(f"Azure Linux Agent (Goal State Agent version {running})")
    eh(f"OS: {dist_id} {dist_ver}")
    eh(f"Python: {L.python_version}")
    eh("CPU Arch: x86_64")
    eh(f"Distro: {dist_id}-{dist_ver}; OSUtil: {_osutil(L)}; AgentService: "
       f"{L.unit_name[:-len('.service')]}; Python: {L.python_version}; Arch: x86_64; systemd: True; "
       f"systemd_version: systemd 255; LISDrivers: Absent; logrotate: logrotate 3.21.0;")
    daemon(f"Agent WALinuxAgent-{running} launched with command '{agent_cmd}' is successfully "
           f"running", dt=20)
    auto = 0 if "AutoUpdate.Enabled=n" in root.waagent_conf() else 1
    counter = 0
    beat_id = "3a6c9e1f-5b7d-4f2a-8c0e-6d1b3f5a7c9e"
    t += datetime.timedelta(seconds=30)
    while t <= root.now - datetime.timedelta(minutes=5):
        eh(f"[HEARTBEAT] Agent WALinuxAgent-{running} is running as the goal state agent "
           f"[DEBUG HeartbeatCounter: {counter};HeartbeatId: {beat_id};UpdateGSErrors: 0;"
           f"AutoUpdate: {auto};UpdateMode: SelfUpdate;]")
        if counter == 9:
            backup = root.now - datetime.timedelta(minutes=44)
            ext = f"[{HANDLER}-{EXT_VERSION}]"
            t0 = backup
            for dt, prefix, msg in (
                    (0, "ExtHandler", "ProcessExtensionsGoalState started [incarnation_41 channel: "
                                      "WireServer source: Fabric activity: 5d1f3b7a-9c2e-4a6b-8d0f-"
                                      "1e3c5a7b9d24 correlation 7b9d1f3e-5a7c-4e9b-a1d3-f5b7d9e1a3c5 "
                                      "created: " + backup.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "]"),
                    (0.1, ext, "Target handler state: enabled [incarnation_41]"),
                    (0.1, ext, "[Enable] current handler state is: enabled"),
                    (0.2, ext, "Enable extension: [main/handle.sh enable]"),
                    (0.2, ext, f"Executing command: {root.ext_dir}/main/handle.sh enable with "
                               f"environment variables: {{\"AZURE_GUEST_AGENT_EXTENSION_VERSION\": "
                               f"\"{EXT_VERSION}\", \"ConfigSequenceNumber\": \"{root.seq}\"}}"),
                    (2.4, ext, "Command: main/handle.sh enable\n[stdout]\n\n[stderr]\n"),
                    (2.5, "ExtHandler", "ProcessExtensionsGoalState completed [incarnation_41 2512 ms]"),
                    (95, "ExtHandler", f"Extension status: [('{HANDLER}', 'success')]"),
                    (95, "ExtHandler", f"All extensions in the goal state have reached a terminal "
                                       f"state: [('{HANDLER}', 'success')]")):
                out.append(line(t0 + datetime.timedelta(seconds=dt), "INFO", "ExtHandler", prefix,
                                msg))
        counter += 1
        t += datetime.timedelta(minutes=30)
    out.sort(key=lambda s: s[:27])
    return "\n".join(out) + "\n"


def extension_log(root: Root) -> str:
    """A healthy extension.log of one backup run (the Python 3 line format of HandlerUtil:
    `<utcnow> [<name>-1.0]<message>`), the freeze in the extension's order."""
    when = root.now - datetime.timedelta(minutes=44)
    prefix = f"[{HANDLER}-1.0]"
    mounts = [m if isinstance(m, str) else m[0] for m in root.layout.freeze_order]
    binary = f"{root.ext_dir}/main/safefreeze/bin/safefreeze"
    msgs = [
        f"ConfigSequenceNumber from environment variable: {root.seq}",
        "command is enable",
        "setting the sequence number to " + str(root.seq),
        "Transitioning state in extension",
        "doing daemon",
        "isArm64Machine : False Using x64 safefreeze binary",
        "Checking for the safefreeze binary",
        f"path of the file{binary}",
        "file path exists True",
    ]
    msgs += [f"mounts list item added, mount point {m}" for m in reversed(mounts)]
    msgs += [f"fsfreeze mount :{m}" for m in mounts]
    msgs += ["skipped mount :", "skip freeze is : False",
             "arg : " + repr([binary, "60", *mounts]),
             "proceeded for accepting signals",
             "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile file opened Sucessfully",
             "Aquiring lock succeeded",
             "Thread for binary is called",
             "================== Logs during Freeze Start ==============",
             "Waited in thread for 3 seconds",
             "****** 1. Starting Freeze Binary ",
             "Binary subprocess Created",
             "****** 2. Binary Freeze Started"]
    msgs += [f"Freezing: {m}" for m in mounts]
    msgs += ["****** 3. Binary Freeze Completed",
             "****** 4. Freeze Completed (Signal=1 received)",
             "****** 5. Snaphotting Host Started",
             "****** 6. Snaphotting Host Completed",
             "****** 7. Sending Thaw Signal to Binary",
             "****** 8. Binary Thaw Signal Received"]
    msgs += [f"Thawing: {m}" for m in reversed(mounts)]
    msgs += ["****** 9. Binary Process completed (Signal=2 received)",
             "================== Logs during Freeze End ==============",
             "T:S ***** freeze, time_before_freeze=..., freezeTimeTaken=0:00:00.412930",
             "T:S snapshotall ends...",
             "Enable Succeeded"]
    out = []
    for i, msg in enumerate(msgs):
        stamp = (when + datetime.timedelta(milliseconds=137 * i)).strftime("%Y-%m-%d %H:%M:%S.%f")
        out.append(f"{stamp} {prefix}{msg}")
    return "\n".join(out) + "\n"


def shell_log(root: Root) -> str:
    when = root.now - datetime.timedelta(minutes=44)
    stamp = when.strftime("%a %b %d %H:%M:%S UTC %Y")
    found = next((n for n in ("python3.8", "python3.7", "python3.6", "python3.5", "python3.4",
                              "python3.3", "python3", "python2.7", "python2.6", "python2", "python")
                  if n in {os.path.basename(p) for p in root.layout.pythons if p.startswith("/usr/bin/")}),
                 None)
    lines = [f"{stamp}- ConfigSequenceNumber from environment variable seqNo:{root.seq}"]
    lines.append(f"{stamp}- {found} path exists" if found else f"{stamp}- python path exists")
    lines.append(f"{stamp}- 0 returned from handle.py")
    return "\n".join(lines) + "\n"


def _version_tuple(text: str) -> Tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:4])


def _distro_words(L: Layout) -> Tuple[str, str]:
    m = re.search(r'^ID="?([^"\n]+)', L.os_release, re.M)
    v = re.search(r'^VERSION_ID="?([^"\n]+)', L.os_release, re.M)
    return (m.group(1) if m else "linux"), (v.group(1) if v else "")


def _osutil(L: Layout) -> str:
    return {"ubuntu2204": "Ubuntu18OSUtil", "ubuntu2404": "Ubuntu18OSUtil",
            "debian12": "DebianOSModernUtil", "rhel8": "RedhatOSModernUtil",
            "rhel9": "RedhatOSModernUtil", "sles15": "SUSEOSUtil",
            "azurelinux3": "MarinerOSUtil"}.get(L.key, "DefaultOSUtil")


# ---- building ----------------------------------------------------------------------------

def build(tmp_path, key: str, now: Optional[datetime.datetime] = None) -> Root:
    """Lay out the healthy root of distribution `key` under tmp_path/<key>."""
    need_upstream()
    layout = DISTROS[key]
    path = Path(tmp_path) / key
    path.mkdir(parents=True, exist_ok=False)
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    root = Root(path, layout, now)
    _base_system(root)
    _agent(root)
    _agent_state(root)
    _extension(root)
    _network(root)
    if layout.selinux:
        _selinux(root)
    return root


def _base_system(root: Root):
    L = root.layout
    for d in ("etc", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "var/lib", "var/log", "tmp",
              "root", "home", "boot/efi", "mnt", "opt", "srv", "run"):
        root.mkdir("/" + d)
    if L.usrmerge:
        for link in ("bin", "sbin", "lib", "lib64"):
            root.symlink("/" + link, f"usr/{link}")
    else:
        for d in ("bin", "sbin", "lib", "lib64"):
            root.mkdir("/" + d)
    root.write(L.os_release_path, L.os_release)
    if L.os_release_path != "/etc/os-release":
        root.symlink("/etc/os-release", "../usr/lib/os-release")
    root.write("/etc/hostname", L.hostname + "\n")
    root.write("/etc/fstab", L.fstab)
    root.mkdir(f"/usr/lib/modules/{L.kernel}")
    shell_dir = "/usr/bin" if L.usrmerge else "/bin"
    root.write(f"{shell_dir}/{L.shell}", ELF_X86_64, 0o755)
    if L.usrmerge:
        root.symlink("/usr/bin/sh", L.shell)
    else:
        root.symlink("/bin/sh", L.shell)
    for path, target in L.pythons.items():
        if target:
            root.symlink(path, target)
        else:
            root.write(path, ELF_X86_64, 0o755)
    if L.pkg_format == "dpkg":
        root.write("/var/lib/dpkg/status", _dpkg_text(L))
    else:
        db = L.rpm_dbpath
        name = "Packages.db" if "sysimage" in db else (
            "Packages" if L.key == "rhel8" else "rpmdb.sqlite")
        root.write(f"{db}/{name}", b"rpm database stand-in: see tests/corpus.py CorpusRunner\n")
        if db != "/var/lib/rpm":
            root.symlink("/var/lib/rpm", "../../usr/lib/sysimage/rpm")
    for path, text in L.extra_files.items():
        root.write(path, text)


def _agent(root: Root):
    L = root.layout
    root.write(L.cli, f"#!{L.cli_python}\n# stand-in for the agent's CLI in the azbdiag test "
                      f"corpus; the real one imports azurelinuxagent.agent\n", 0o755)
    pkg = f"{L.site}/azurelinuxagent"
    for sub in ("", "/common", "/ga", "/daemon"):
        root.write(f"{pkg}{sub}/__init__.py", "")
    root.write(f"{pkg}/agent.py", "# stand-in\n")
    root.write(f"{pkg}/common/version.py",
               "AGENT_NAME = 'WALinuxAgent'\n"
               f"AGENT_VERSION = '{L.agent_version}'\n"
               "AGENT_LONG_VERSION = '{0}-{1}'.format(AGENT_NAME, AGENT_VERSION)\n")
    egg = f"{L.site}/WALinuxAgent-{L.agent_version}-py{L.python_version.rsplit('.', 1)[0]}.egg-info"
    root.write(f"{egg}/PKG-INFO", f"Metadata-Version: 2.1\nName: WALinuxAgent\nVersion: "
                                  f"{L.agent_version}\n")
    unit = upstream_text(L.unit_src)
    if L.unit_edit:
        unit = L.unit_edit(unit)
    unit_path = f"{L.unit_dir}/{L.unit_name}"
    root.write(unit_path, unit)
    root.symlink(f"/etc/systemd/system/multi-user.target.wants/{L.unit_name}", unit_path)
    conf = upstream_text(L.conf_src)
    if L.conf_edit:
        conf = L.conf_edit(conf)
    root.write("/etc/waagent.conf", conf)
    root.write("/etc/logrotate.d/waagent.logrotate",
               "/var/log/waagent.log {\n    compress\n    monthly\n    rotate 6\n    notifempty\n"
               "    missingok\n}\n")


def _agent_state(root: Root):
    L = root.layout
    root.mkdir(LIB, 0o700)
    for version in L.goal_agents:
        d = root.agent_dir(version)
        root.write(f"{d}/HandlerManifest.json", agent_manifest(version))
        root.write(f"{d}/manifest.xml", f'<?xml version="1.0" encoding="utf-8" ?>\n<ExtensionImage '
                                        f'xmlns="http://schemas.microsoft.com/windowsazure">\n'
                                        f'  <ProviderNameSpace>Microsoft.OSTCLinuxAgent'
                                        f'</ProviderNameSpace>\n  <Type>Prod</Type>\n  <Version>'
                                        f'{version}</Version>\n</ExtensionImage>\n')
        root.write(f"{d}/bin/WALinuxAgent-{version}-py3.8.egg", b"PK\x03\x04 egg stand-in\n")
        root.write(f"{LIB}/WALinuxAgent-{version}.zip", b"PK\x03\x04 package stand-in\n")
    hist = f"{LIB}/history/{(root.now - datetime.timedelta(hours=1)).strftime('%Y-%m-%dT%H-%M-%S')}__41"
    root.mkdir(f"{LIB}/history", 0o700)
    root.write(f"{hist}/GoalState.xml",
               upstream_bytes("WALinuxAgent/tests/data/wire/goal_state.xml"))
    root.write(f"{hist}/HostingEnvironmentConfig.xml",
               upstream_bytes("WALinuxAgent/tests/data/wire/hosting_env.xml"))
    root.write(f"{LIB}/HostingEnvironmentConfig.xml",
               upstream_bytes("WALinuxAgent/tests/data/wire/hosting_env.xml"))
    root.write(f"{LIB}/WireServerEndpoint", "168.63.129.16")
    root.write(f"{LIB}/Protocol", "WireProtocol")
    root.write(f"{LIB}/provisioned", "")
    root.write(f"{LIB}/GoalState.1.xml", "<xml>empty placeholder file</xml>")
    root.write("/var/log/waagent.log", waagent_log(root))


def _extension(root: Root):
    L = root.layout
    d = root.ext_dir
    ran = root.now - datetime.timedelta(minutes=44)
    root.write(f"{d}/HandlerManifest.json",
               upstream_bytes("azure-linux-extensions/VMBackup/HandlerManifest.json"))
    root.write(f"{d}/HandlerEnvironment.json", handler_environment(d))
    root.write(f"{d}/config/HandlerState", "Enabled")
    root.write(f"{d}/config/HandlerStatus", json.dumps({
        "name": HANDLER, "version": EXT_VERSION, "status": "Ready", "code": 0,
        "message": "Plugin enabled", "supports_multi_config": False}))
    for seq in (root.seq - 2, root.seq - 1):
        old = ran - datetime.timedelta(days=root.seq - seq)
        root.write(f"{d}/config/{seq}_settings", settings_document(root, old), 0o600, mtime=old)
        doc = status_document(L, old, code=1, health_code=1)
        root.write(f"{d}/status/{seq}_status", json.dumps(doc, separators=(",", ":")), mtime=old)
    root.write(f"{d}/config/{root.seq}.settings", settings_document(root, ran), 0o600, mtime=ran)
    root.write_status(code=1, health_code=1, age_minutes=42)
    root.write(f"{d}/mrseq", str(root.seq))
    root.write(f"{d}/{TASK_IDENTITY}", "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9")
    root.write(f"{d}/{MACHINE_IDENTITY}", "4d9a3b6c-2e1f-4a8b-9c7d-0e5f3a1b2c6d")
    root.write(f"{d}/main/handle.sh", "#!/usr/bin/env sh\n# stand-in for the extension's "
                                      "main/handle.sh in the azbdiag test corpus\nexit 0\n", 0o755)
    root.write(f"{d}/main/handle.py", "# stand-in\n")
    root.write(f"{d}/main/safefreeze/bin/safefreeze", ELF_X86_64, 0o755)
    root.write(f"{d}/main/safefreezeArm64/bin/safefreeze", ELF_X86_64.replace(b"\x3e\x00", b"\xb7\x00", 1),
               0o755)
    root.write(f"{d}/main/VMSnapshotPluginHost.conf",
               upstream_bytes("azure-linux-extensions/VMBackup/main/VMSnapshotPluginHost.conf"))
    for rel in ("main/tempPlugin/vmbackup.conf", "main/tempPlugin/VMSnapshotScriptPluginConfig.json",
                "main/workloadPatch/WorkloadUtils/workload.conf"):
        root.write(f"{d}/{rel}", upstream_bytes(f"azure-linux-extensions/VMBackup/{rel}"))
    # handle.sh install copies the workload template to /etc/azure; the freeze creates the lock
    # directory (and removes the lock file on thaw); the extension keeps the machine id there.
    root.write("/etc/azure/workload.conf",
               upstream_bytes("azure-linux-extensions/VMBackup/main/workloadPatch/WorkloadUtils/"
                              "workload.conf"))
    root.mkdir("/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock")
    root.write(ETC_MACHINE_IDENTITY, "cf2545fd-fef4-250b-d167-f2edb86da1ac")
    if L.vmbackup_conf is not None:
        root.write("/etc/azure/vmbackup.conf", L.vmbackup_conf)
    root.write(f"{EXT_LOG_DIR}/extension.log", extension_log(root))
    root.write(f"{EXT_LOG_DIR}/shell.log", shell_log(root))
    root.write(f"{EXT_LOG_DIR}/CommandExecution.log",
               f"{ran.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} INFO ExtHandler [{HANDLER}-{EXT_VERSION}] "
               f"Command: main/handle.sh enable\n")
    root.mkdir(f"{EXT_LOG_DIR}/events")


def _network(root: Root):
    for path, text in root.layout.network.items():
        mode = 0o600 if "NetworkManager" in path or "netplan" in path else 0o644
        root.write(path, text.format(mac="22:48:5b", MAC="22:48:5B"), mode)


def _selinux(root: Root):
    root.write("/etc/selinux/config", SELINUX_CONFIG)
    root.write("/etc/selinux/targeted/contexts/files/file_contexts", RHEL_FILE_CONTEXTS)
    root.write("/etc/selinux/targeted/contexts/files/file_contexts.local", "")
    for module in ("base", "unconfined", "rhcd", "sysadm"):
        root.write(f"/var/lib/selinux/targeted/active/modules/100/{module}/cil", "; stand-in\n")
    root.labels = label_tree(root)


LABELS = (("/var/lib/waagent", "system_u:object_r:var_lib_t:s0"),
          ("/etc/azure", "system_u:object_r:etc_t:s0"),
          ("/var/log/azure", "system_u:object_r:var_log_t:s0"))


def label_tree(root: Root, labels=LABELS) -> bool:
    """Give the agent's and the extension's files the labels a relabel would give them. False
    when this file system or user cannot set security.selinux (then selinux.labels cannot be
    judged on this root)."""
    try:
        for top, context in labels:
            for dirpath, dirnames, filenames in os.walk(root.p(top)):
                for name in [""] + dirnames + filenames:
                    path = os.path.join(dirpath, name) if name else dirpath
                    if os.path.islink(path):
                        continue
                    os.setxattr(path, "security.selinux", context.encode() + b"\x00")
    except (OSError, AttributeError):
        return False
    return True


# ---- running azbdiag on a root -----------------------------------------------------------

@dataclasses.dataclass
class Report:
    doc: dict
    exit_code: int
    output: str
    runner: CorpusRunner

    @property
    def by_id(self) -> Dict[str, dict]:
        return {r["id"]: r for r in self.doc["results"]}

    def result(self, rule_id: str) -> dict:
        found = self.by_id.get(rule_id)
        assert found is not None, f"no result for {rule_id}: {sorted(self.by_id)}"
        return found

    def with_status(self, *statuses: str) -> List[dict]:
        return [r for r in self.doc["results"] if r["status"] in statuses]

    def freeze_list_matches(self, expected) -> bool:
        """The freeze list is `expected`, where a tuple entry accepts any one of its points."""
        got = self.freeze_list()
        return len(got) == len(expected) and all(
            g == e if isinstance(e, str) else g in e for g, e in zip(got, expected))

    def freeze_list(self) -> List[str]:
        """The mount points freeze.mount_list lists as frozen, in its order."""
        out = []
        for line in self.result("freeze.mount_list")["evidence"]:
            m = re.match(r"^\d+\. (\S+)", line)
            if m:
                out.append(m.group(1))
        return out


@contextlib.contextmanager
def _patched_runner(runner):
    """Every Host the CLI builds gets the corpus runner instead of the real sh runner."""
    from azbdiag import host as host_module

    saved = host_module.ShRunner
    host_module.ShRunner = lambda *args, **kwargs: runner
    try:
        yield
    finally:
        host_module.ShRunner = saved


def check(root: Root, *args: str) -> Report:
    """`azbdiag check --root ROOT --format json [args]` in-process, with the corpus's fake
    command table; the report is read from --output."""
    from typer.testing import CliRunner

    from azbdiag.cli import app

    runner = CorpusRunner(root, root.table)
    with tempfile.TemporaryDirectory(prefix="azbdiag-corpus-") as tmp:
        out = os.path.join(tmp, "report.json")
        with _patched_runner(runner):
            res = CliRunner().invoke(app, ["check", "--root", str(root.path), "--format", "json",
                                           "--output", out, *args])
        if not os.path.isfile(out):
            raise AssertionError(f"azbdiag check wrote no report (exit {res.exit_code}): "
                                 f"{res.output}\n{res.exception!r}")
        with open(out, encoding="utf-8") as fh:
            doc = json.load(fh)
    return Report(doc, res.exit_code, res.output, runner)


def explain(*args: str) -> Tuple[int, str]:
    from typer.testing import CliRunner

    from azbdiag.cli import app

    res = CliRunner().invoke(app, ["explain", *args])
    return res.exit_code, res.output


def describe(report: Report, statuses: Sequence[str] = ("fail", "error", "warn")) -> str:
    """The results with these statuses, one line each (for assertion messages)."""
    return "\n".join(f"{r['status'].upper()} {r['id']}: {r['summary']} | "
                     + " | ".join(r.get("evidence") or [])[:600]
                     for r in report.with_status(*statuses))
