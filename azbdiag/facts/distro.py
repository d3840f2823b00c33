"""What differs between the distributions azbdiag serves: the family, the agent's package
and unit names, the package manager that updates it, and the tool that edits the kernel
command line."""

from __future__ import annotations

from typing import List


def family(host) -> str:
    """debian, rhel, suse, azurelinux or other, from os-release's ID and ID_LIKE."""
    f = host.facts()
    ids = {f.distro_id.lower()} | set(f.distro_like.lower().split())
    if ids & {"debian", "ubuntu"}:
        return "debian"
    if ids & {"mariner", "azurelinux"}:
        return "azurelinux"
    if ids & {"sles", "suse", "opensuse", "opensuse-leap", "sles_sap"}:
        return "suse"
    if ids & {"rhel", "centos", "fedora", "ol", "almalinux", "rocky"}:
        return "rhel"
    return "other"


def expected_unit(host) -> str:
    """The agent's systemd unit as the distribution's package names it."""
    return "walinuxagent.service" if family(host) == "debian" else "waagent.service"


def expected_package(host) -> str:
    """The agent's package as the distribution names it."""
    fam = family(host)
    if fam == "debian":
        return "walinuxagent" if host.facts().distro_id.lower() == "ubuntu" else "waagent"
    return {"suse": "python-azure-agent"}.get(fam, "WALinuxAgent")


def update_argvs(host, package: str) -> List[List[str]]:
    """The distro's own package manager commands that update `package` ([] when unknown)."""
    fam = family(host)
    if fam == "debian":
        return [["apt-get", "update"],
                ["apt-get", "install", "--only-upgrade", "-y", package]]
    if fam == "suse":
        return [["zypper", "--non-interactive", "update", package]]
    if fam == "azurelinux":
        return [["tdnf", "update", "-y", package]]
    if fam == "rhel":
        return [["yum", "update", "-y", package]]
    return []


def uses_grubby(host) -> bool:
    """Whether the kernel command line is changed with grubby (RHEL, SUSE and Azure Linux
    families) rather than in /etc/default/grub followed by update-grub."""
    return family(host) in ("rhel", "suse", "azurelinux")
