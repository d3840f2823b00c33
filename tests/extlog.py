"""Realistic extension.log text for tests, built from the line formats and markers the backup
extension writes (reference vmbackup-extension.md §2.4, §2.5; VMBackup main/backuplogger.py,
Utils/HandlerUtil.py log_py3, fsfreezer.py, freezesnapshotter.py, safefreeze.c as read):

- lines written at once: `str(datetime.utcnow()) + " [<handler>-1.0]" + message`;
- while frozen, lines are buffered as `YYYY/MM/DD HH:MM:SS.ffffff  Info  message ` and written
  after the thaw between "Logs during Freeze Start/End" (the first behind the write's prefix);
- safefreeze's output is logged after it exits, each line behind the binary's local time.

`backup_run(...)` returns the lines of one run; `status_json(...)` the N.status text.
"""

from __future__ import annotations

import datetime
import json
from typing import List, Optional, Sequence

PREFIX = "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]"
BINARY = ("/var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0"
          "/main/safefreeze/bin/safefreeze")
S = datetime.timedelta(seconds=1)


def td(seconds: float) -> str:
    return str(datetime.timedelta(seconds=seconds))


def status_json(code: int, ext_code: int, when: datetime.datetime, real: str = "",
                telemetry: Optional[dict] = None) -> str:
    """An N.status as the extension writes it for an ARM VM (top-level status forced to
    success; the real result inside substatus[0].name)."""
    real = real or ("success" if code in (0, 1) else "transitioning" if code == 4 else "error")
    inner = [{"version": "1.0", "timestampUTC": f"\\/Date({int(when.timestamp() * 1000)})\\/",
              "status": {"name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux",
                         "operation": "Enable", "status": real, "code": str(code),
                         "telemetryData": [{"Key": k, "Value": v}
                                           for k, v in (telemetry or {}).items()],
                         "vmHealthInfo": {"vmHealthState": 0 if ext_code in (0, 1) else 128,
                                          "vmHealthStatusCode": ext_code}}}]
    message = {"messageStr": "snapshotCreator=backupHostService, hostStatusCodePreSnapshot=200, ",
               "snapshotConsistency": 0, "jobMessage": "", "isSizeComputationFailed": False}
    return json.dumps([{"version": "1.0", "timestampUTC": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "status": {"name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux",
                                   "operation": "Enable", "status": "success", "code": str(code),
                                   "formattedMessage": {"lang": "en-US",
                                                        "message": json.dumps(message)},
                                   "substatus": [{"code": "0", "status": "success",
                                                  "formattedMessage": None,
                                                  "name": json.dumps(inner)}]}}])


class _Writer:
    def __init__(self, start: datetime.datetime):
        self.t = start
        self.lines: List[str] = []
        self.buffer: Optional[List[str]] = None

    def at(self, seconds: float) -> _Writer:
        self.t += datetime.timedelta(seconds=seconds)
        return self

    def log(self, msg: str, level: str = "Info") -> None:
        if self.buffer is not None:
            self.buffer.append(f"{self.t:%Y/%m/%d %H:%M:%S.%f}  {level}  {msg} ")
        else:
            self.lines.append(f"{self.t} {PREFIX}{msg}")

    def binary(self, msgs: Sequence[str], when: datetime.datetime) -> None:
        """safefreeze's stdout, read after it exited (each line behind the binary's time)."""
        self.log("============== Binary output traces start ================= ")
        for msg in msgs:
            self.log(f"{when:%Y-%m-%d %H:%M:%S} {msg}".rstrip())
        self.log("============== Binary output traces end ================= ")

    def freeze_start(self) -> None:
        self.buffer = ["================== Logs during Freeze Start =============="]

    def freeze_end(self) -> None:
        block = self.buffer + ["================== Logs during Freeze End ==============", ""]
        self.buffer = None
        self.lines.append(f"{self.t} {PREFIX}" + "\n".join(block))

    def status(self, code: int, ext_code: int, message: str = "", telemetry=None) -> None:
        run_status = "success" if code in (0, 1, 4) else "error"
        self.log(f"Enable,{run_status},{code},{message},False")
        self.log("file status report message:")
        self.log(status_json(code, ext_code, self.t, telemetry=telemetry))


def backup_run(start: datetime.datetime, mounts: Sequence[str] = ("/data", "/"),
               freeze: float = 5.3, snapshot: float = 2.0, outcome: str = "success",
               failing_mount: str = "", path: str = "Host", timeout: int = 60,
               safe_freeze_wait: int = 66, task: str = "6b1c0e52-3f1d-4a4e-9d51-b3b0f0c2a001",
               finish: bool = True) -> List[str]:
    """The lines of one backup run. outcome: success, freeze_failed (FIFREEZE fails on
    `failing_mount`: code 121), timeout (SafeFreezeWaitInSeconds runs out: code 122)."""
    w = _Writer(start)
    w.log("starting enable")
    w.at(0.02).log("patch_class_name: UbuntuPatching and orig_distro: ubuntu")
    w.at(0.03).log(f"taskId: {task}")
    w.log("Sleeping for milliseconds: 2317")
    w.at(2.4).status(4, 1, "Transitioning state in extension")
    w.at(0.6).log("starting daemon initially", "Warning")
    w.log("patch_class_name: UbuntuPatching and orig_distro: ubuntu")
    w.at(0.5).log("safeFreezeBinary exists True")
    w.at(0.4).log(f"T:S freeze, timeout value {timeout}")
    before_freeze = w.t
    w.log("skipped mount :")
    for mp in list(mounts)[::-1]:
        w.log(f"fsfreeze mount :{mp}")
    w.log("skip freeze is : False")
    args = [BINARY, str(timeout)] + list(mounts)
    w.log(f"arg : {args}")
    w.log("proceeded for accepting signals")
    w.freeze_start()
    w.at(0.01).log("/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile file "
                   "opened Sucessfully")
    w.log("Aquiring lock succeeded")
    w.log("Wait time to aquire lock 0:00:00.000215")
    w.log("Aquired Lock Successful")
    w.log("Thread for binary is called")
    w.log("inside while with sig_handle 0")
    w.at(3).log("Waited in thread for 3 seconds")
    w.log("****** 1. Starting Freeze Binary ")
    binary_start = w.t
    w.log("Binary subprocess Created")
    w.log("inside while with sig_handle 0")
    if outcome == "freeze_failed":
        w.at(0.4).log("some child process terminated")
        w.log("binary child terminated")
        w.log("****** 9. Binary Process completed (Signal=2 received)")
        w.log("Binary output for signal handled: 2")
        w.log("freeze_safe after returning from startproc : sig_handle=2")
        frozen = [mp for mp in mounts[:mounts.index(failing_mount)]]
        out = ["****** 2. Binary Freeze Started "]
        for mp in frozen:
            out.append(f"Freezing: {mp}")
        out += [f"Freezing: {failing_mount}",
                f"Failed to FIFREEZE: {failing_mount} with error message: Device or resource busy"]
        for mp in list(mounts)[::-1]:
            if mp not in frozen:
                out.append(f"Failed to FITHAW: {mp} with error message : Invalid argument")
        w.binary(out, binary_start)
        w.log("freeze failed for some mount", "Error")
        w.log(f"T:S ***** freeze, time_before_freeze={before_freeze}, time_after_freeze={w.t}, "
              f"freezeTimeTaken={w.t - before_freeze}")
        w.log("T:S freeze result freeze failed for some mount\n, timedout :False")
        w.log("T:S Enable failed with error: freeze failed for some mount\n"
              " StatusCode.FailedRetryableFsFreezeFailed,", "Warning")
        w.log("Binary output after process end when no thaw sent: ")
        w.freeze_end()
        w.log("snapshot result inconsistent", "Error")
        w.at(1).status(121, 121, "T:S Enable failed with error: freeze failed for some mount")
        return w.lines
    if outcome == "timeout":
        polls = safe_freeze_wait // 2
        for _ in range(polls - 1):
            w.at(2).log("inside while with sig_handle 0")
        w.at(2).log("Binary output for signal handled: 0")
        w.log("freeze_safe after returning from startproc : sig_handle=0")
        stuck = freeze          # the binary froze only after this many seconds
        out = ["****** 2. Binary Freeze Started "] + [f"Freezing: {mp}" for mp in mounts]
        out += ["****** 3. Binary Freeze Completed "] + ["sleep for 1 second "] * 3
        out += ["Failed to receive timely Thaw from parent process"]
        out += [f"Thawing: {mp}" for mp in list(mounts)[::-1]]
        w.t = max(w.t, binary_start + datetime.timedelta(seconds=stuck + timeout))
        w.binary(out, binary_start + datetime.timedelta(seconds=stuck))
        w.log("freeze timed-out", "Error")
        w.log(f"T:S ***** freeze, time_before_freeze={before_freeze}, time_after_freeze={w.t}, "
              f"freezeTimeTaken={w.t - before_freeze}")
        w.log("T:S freeze result freeze timed-out\n, timedout :True")
        w.log("T:S ###### Enable failed with error: freeze took longer than timeout "
              "StatusCode.FailedRetryableFsFreezeTimeout,", "Error")
        w.freeze_end()
        w.at(1).status(122, 122, "T:S ###### Enable failed with error: freeze took longer than timeout")
        return w.lines
    # success: the binary froze everything `freeze` seconds after freeze() began
    frozen_at = before_freeze + datetime.timedelta(seconds=freeze)
    while w.t + 2 * S < frozen_at:
        w.at(2).log("inside while with sig_handle 0")
    w.t = frozen_at - datetime.timedelta(seconds=0.2)
    w.log("freezed")
    w.log("****** 4. Freeze Completed (Signal=1 received)")
    w.t = frozen_at
    w.log("Binary output for signal handled: 1")
    w.log("freeze_safe after returning from startproc : sig_handle=1")
    w.log(f"T:S ***** freeze, time_before_freeze={before_freeze}, time_after_freeze={w.t}, "
          f"freezeTimeTaken={w.t - before_freeze}")
    w.log("T:S freeze result , timedout :False")
    before_snapshot = w.t
    w.log("T:S doing snapshot now...")
    w.at(0.05).log(f"****** 5. Snaphotting ({path}) Started")
    w.at(snapshot).log(f"****** 6. Snaphotting ({path}) Completed")
    w.log("child process still running")
    w.at(0.05).log("****** 7. Sending Thaw Signal to Binary")
    if not finish:          # the daemon died here: nothing after the freeze was written
        return w.lines
    thaw_started = w.t
    w.at(0.3)
    w.freeze_end()
    frozen_for = int(snapshot) + 1
    out = ["****** 2. Binary Freeze Started "] + [f"Freezing: {mp}" for mp in mounts]
    out += ["****** 3. Binary Freeze Completed "] + ["sleep for 1 second "] * frozen_for
    out += ["****** 8. Binary Thaw Signal Received "] + [f"Thawing: {mp}" for mp in mounts[::-1]]
    w.binary(out, binary_start)
    thaw = (w.t - thaw_started).total_seconds()
    w.log("T:S thaw result ")
    after_snapshot = w.t
    kind = "takeSnapshotFromHost" if path == "Host" else "***** takeSnapshotFromGuest"
    w.log(f"T:S {kind}, time_before_snapshot={before_snapshot}, time_after_snapshot="
          f"{after_snapshot}, snapshotTimeTaken={after_snapshot - before_snapshot}")
    w.log("T:S snapshotall ends...")
    w.at(0.2).status(1, 1, "", telemetry={"FreezeTime": td(max(freeze - 5, 0)), "ThawTime": td(thaw),
                                          "snapshotTimeTaken": str(after_snapshot - before_snapshot)})
    return w.lines


def skipped_enable(start: datetime.datetime) -> List[str]:
    """An Enable the extension skips: the sequence number was already handled."""
    w = _Writer(start)
    w.log("starting enable")
    w.at(0.02).log("patch_class_name: UbuntuPatching and orig_distro: ubuntu")
    w.log("the sequence number are same, so skip, current:5== last:5")
    return w.lines


def day(n: int, hour: int = 22) -> datetime.datetime:
    return datetime.datetime(2026, 11, n, hour, 0, 1, 100000)


# ---- a whole disk: several runs, rotated logs, status files, garbage ------------------------

LOG_DIR = "var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
EXT_DIR = "var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0"
GARBAGE = ["\x00\x00\x00\x17\x03binary junk\x00", "2026-11-31 25:61:00.000000 [X-1.0]no such time",
           "2026-1"]

# (day, outcome, freeze s, snapshot s, file): freezes grow week by week, one fails on /srv,
# one times out, the newest is still running. Day 0 is known from its status file only.
SCENARIO = [
    (1, "success", 5.3, 2.0, "extension.log.2.gz"),
    (2, "success", 6.1, 2.2, "extension.log.2.gz"),
    (3, "freeze_failed", None, None, "extension.log.1"),
    (4, "success", 9.8, 2.5, "extension.log.1"),
    (5, "timeout", 80.0, None, "extension.log"),
    (6, "success", 25.2, 7.25, "extension.log"),
    (7, "success", 40.4, 3.1, "extension.log"),
    (8, "unfinished", 48.6, 2.0, "extension.log"),
]


def write_scenario(root, gz_garbage: bool = True) -> dict:
    """Write the SCENARIO under `root` (a directory path): the logs (the live one with garbage
    lines, .1 plain, .2.gz compressed), status files 0_status, 7_status and 8.status, and a
    vmbackup.conf with the default limits written out. Returns {day: expected values}."""
    import gzip
    import os

    files: dict = {}
    mounts = ("/data", "/srv", "/")
    for n, outcome, freeze, snapshot, name in SCENARIO:
        lines = files.setdefault(name, [])
        if n == 4:
            lines += skipped_enable(day(4, 6))
        if outcome == "freeze_failed":
            lines += backup_run(day(n), mounts, outcome=outcome, failing_mount="/srv")
        elif outcome == "timeout":
            lines += backup_run(day(n), mounts, outcome=outcome, freeze=freeze)
        else:
            lines += backup_run(day(n), mounts, freeze=freeze, snapshot=snapshot,
                                path="Guest-seq" if n == 6 else "Host",
                                finish=outcome != "unfinished")
        if name == "extension.log" and n == 6:
            lines += GARBAGE[:2]
        if name == "extension.log.2.gz" and n == 1 and gz_garbage:
            lines += GARBAGE[2:]
    log_dir = os.path.join(root, LOG_DIR)
    os.makedirs(log_dir, exist_ok=True)
    for name, lines in files.items():
        data = ("\n".join(lines) + "\n").encode()
        with open(os.path.join(log_dir, name), "wb") as fh:
            fh.write(gzip.compress(data) if name.endswith(".gz") else data)
    status_dir = os.path.join(root, EXT_DIR, "status")
    os.makedirs(status_dir, exist_ok=True)
    for name, code, when in (("0_status", 1, day(1, 1)), ("7_status", 1, day(7) + 40 * S),
                             ("8.status", 4, day(8) + 2 * S)):
        with open(os.path.join(status_dir, name), "w") as fh:
            fh.write(status_json(code, 1, when))
    os.makedirs(os.path.join(root, "etc/azure"), exist_ok=True)
    with open(os.path.join(root, "etc/azure/vmbackup.conf"), "w") as fh:
        fh.write("[SnapshotThread]\nSafeFreezeWaitInSeconds = 66\ntimeout = 60\n")
    return {n: (outcome, freeze, snapshot, name) for n, outcome, freeze, snapshot, name in SCENARIO}


def write_failed_freeze(root) -> None:
    """On a disk (a directory path): a last backup that failed with 121 because FIFREEZE
    failed on /srv, after a good one: its status file and its extension.log."""
    import os

    status_dir = os.path.join(root, EXT_DIR, "status")
    os.makedirs(status_dir, exist_ok=True)
    for name in os.listdir(status_dir):
        os.unlink(os.path.join(status_dir, name))
    with open(os.path.join(status_dir, "7.status"), "w") as fh:
        fh.write(status_json(121, 121, day(7)))
    os.makedirs(os.path.join(root, LOG_DIR), exist_ok=True)
    with open(os.path.join(root, LOG_DIR, "extension.log"), "w") as fh:
        fh.write("\n".join(backup_run(day(6)) + backup_run(
            day(7), ("/data", "/srv", "/"), outcome="freeze_failed", failing_mount="/srv")) + "\n")
