"""The facts layer: what more than one rule module needs to know about the machine.

A fact is a function of the host, `fact(host)`: it reads files or runs commands through the
host and hands the text to a parser in azbdiag.parsers. A rule asks for it with
`ctx.fact(fact)`; the engine computes it once per run and gives every rule the same value, or
re-raises the same exception.

- Missing input is signalled one way: the fact raises SkipRule with the reason (NO_INPUT,
  or OFFLINE_ROOT, NOT_ROOT, NOT_APPLICABLE when that is why) and a summary naming the input.
  A fact never returns None to mean "could not read it". A rule that can decide without the
  input catches SkipRule around ctx.fact; any other rule is skipped with the fact's reason.
- Absence that is itself an answer is data, not missing input: `waagent_conf_path` is None
  when there is no waagent.conf, `vmbackup_conf_exists` is False when the extension uses its
  defaults, `asr_present` is [] without Site Recovery, `processes` is [] on an offline root.
  A rule for which absence decides something asks such a fact before the one that raises.
- A fact never calls another fact: that would bypass the cache. What combines facts, or
  depends on the run's options (--mount), is a plain function of ctx that gets its inputs
  with ctx.fact and does no slow work of its own (`freeze_targets`, `resource_points`).
- Facts used by one rule module only live in that module, next to its rules; a fact moves
  here when a second rule module needs it. Rule modules never import each other.

The modules: mount_table (mounts), frozen_mounts (what the backup extension freezes),
extension (the extension's directories, the Python its handle.sh runs),
process_table (processes, a backup running now), block_devices (the running machine's mounts,
block devices and kernel log, which a rescue VM reads for the disk under --root), guest_fs (the
OS disk's file systems on a rescue VM and their guest mount points), fs_checks (whether a file
system is clean, mounted or not), agent (the agent's install, waagent.conf and
unit), vmbackup (vmbackup.conf), site_recovery, network (the primary NIC's configuration in
every network stack, the routing table), distro (distribution knowledge). Everything public is
importable from azbdiag.facts itself.

backup_history: the backup runs in the extension's logs and status files, the freeze limits of
vmbackup.conf, and `with_last_backup`, which adds the last run to extension.last_status's data
for the verdict at the top of the report and the metrics.
"""

from azbdiag.facts.agent import (
    CLI_DIRS,
    CMD_TIMEOUT,
    CONF,
    CONF_PATHS,
    PACKAGES,
    UNIT_DIRS,
    AgentDir,
    AgentUnit,
    agent_cli,
    agent_conf_or_skip,
    agent_dirs_fact,
    agent_interpreter,
    agent_module,
    agent_packages,
    agent_unit,
    installed_and_running,
    installed_evidence,
    link_target,
    require_agent,
    running_agent,
    runs_newest_on_disk,
    waagent_conf,
    waagent_conf_path,
)
from azbdiag.facts.backup_history import (
    FreezeLimits,
    History,
    freeze_limits,
    read_history,
    recent_history,
    with_last_backup,
)
from azbdiag.facts.block_devices import (
    BlockDevice,
    Topology,
    active_swaps,
    block_devices,
    machine,
    machine_kernel_log,
    machine_mounts,
    real_root,
    resolve_source,
)
from azbdiag.facts.distro import expected_package, expected_unit, family, update_argvs, uses_grubby
from azbdiag.facts.extension import (
    BREAKS,
    HANDLE_SH_NAMES,
    ExtDir,
    Interpreter,
    PythonBreak,
    active_ext_dir,
    active_ext_path,
    ext_dirs,
    extension_interpreters,
    extension_python,
    interpreter_version,
    starts,
)
from azbdiag.facts.frozen_mounts import (
    FREEZABLE_TYPES,
    NETWORK_TYPES,
    FreezeList,
    extension_freeze_list,
    freeze_list,
    freeze_targets,
    is_loop,
    is_network_or_fuse,
    last_per_mount_point,
    lsblk_rows,
    resource_disk_device,
    resource_points,
    same_superblock,
    skip_entries,
    stacked,
)
from azbdiag.facts.fs_checks import mounted_fs_state, unmounted_fs_state
from azbdiag.facts.guest_fs import DiskSet, GuestFs, disk_filesystems, rescue_filesystems
from azbdiag.facts.mount_table import kernel_name, mounts, mounts_source
from azbdiag.facts.network import (
    MANAGERS,
    TAKES_EFFECT,
    WHY_DHCP,
    Nic,
    NicConfig,
    NicConfigs,
    active_services,
    cloud_init_config,
    ip_routes,
    nic_configs,
    primary_nic,
    read_network_file,
)
from azbdiag.facts.process_table import (
    SAFEFREEZE_LOCK,
    Process,
    backup_in_progress,
    mount_holders,
    processes,
    runs_in_extension_dir,
)
from azbdiag.facts.site_recovery import ASR_MARKERS, asr_present
from azbdiag.facts.vmbackup import VMBACKUP_CONF, vmbackup_conf, vmbackup_conf_exists

__all__ = [
    "ASR_MARKERS", "AgentDir", "AgentUnit", "BREAKS", "BlockDevice", "DiskSet", "GuestFs",
    "Topology", "active_swaps", "block_devices", "disk_filesystems", "machine",
    "machine_kernel_log", "machine_mounts", "mounted_fs_state", "real_root", "rescue_filesystems",
    "resolve_source", "unmounted_fs_state", "CLI_DIRS", "CMD_TIMEOUT", "CONF",
    "CONF_PATHS", "ExtDir", "FREEZABLE_TYPES", "FreezeList", "HANDLE_SH_NAMES", "Interpreter",
    "MANAGERS", "NETWORK_TYPES", "Nic", "NicConfig", "NicConfigs", "PACKAGES", "Process",
    "PythonBreak", "SAFEFREEZE_LOCK", "TAKES_EFFECT", "UNIT_DIRS", "VMBACKUP_CONF", "WHY_DHCP",
    "active_ext_dir", "active_ext_path", "active_services", "agent_cli", "agent_conf_or_skip",
    "agent_dirs_fact", "agent_interpreter", "agent_module", "agent_packages", "agent_unit",
    "asr_present", "backup_in_progress", "cloud_init_config", "expected_package", "expected_unit",
    "ext_dirs", "extension_freeze_list", "extension_interpreters", "extension_python", "family",
    "freeze_list", "freeze_targets", "installed_and_running", "installed_evidence",
    "interpreter_version", "ip_routes", "is_loop", "is_network_or_fuse", "kernel_name",
    "last_per_mount_point", "link_target", "lsblk_rows", "mounts", "mounts_source", "nic_configs",
    "primary_nic", "processes", "read_network_file", "require_agent", "resource_disk_device",
    "resource_points", "running_agent", "runs_in_extension_dir", "runs_newest_on_disk",
    "same_superblock", "skip_entries", "stacked", "starts", "update_argvs", "uses_grubby",
    "vmbackup_conf", "vmbackup_conf_exists", "waagent_conf", "waagent_conf_path",
]
__all__ += ["FreezeLimits", "History", "freeze_limits", "read_history", "recent_history",
            "with_last_backup"]
__all__ += ["mount_holders"]
