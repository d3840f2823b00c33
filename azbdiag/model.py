"""Results and rule metadata: the vocabulary shared by the engine, the rules and the reports."""

from __future__ import annotations

import dataclasses
import enum
from typing import Callable, List, Optional, Sequence, Tuple


class Status(str, enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"
    ERROR = "error"


STATUS_ORDER = (Status.OK, Status.WARN, Status.FAIL, Status.SKIPPED, Status.ERROR)


class SkipReason(str, enum.Enum):
    NOT_ROOT = "not root"
    OFFLINE_ROOT = "offline root"
    NOT_AZURE = "not an Azure VM"
    NOT_APPLICABLE = "not applicable"
    BY_USER = "skipped by the user"
    NO_INPUT = "input missing"
    NOT_ENABLED = "not enabled"


@dataclasses.dataclass
class Result:
    """The outcome of one rule on one host: status, summary and evidence, with the rule's metadata."""
    status: Status
    summary: str
    evidence: List[str] = dataclasses.field(default_factory=list)
    skip_reason: Optional[str] = None
    # Filled in by the engine from the rule's metadata.
    id: str = ""
    title: str = ""
    error_codes: Tuple[str, ...] = ()
    remedy: Optional[str] = None
    fix: Optional[str] = None
    duration_ms: int = 0
    # Optional data a fix planner needs (never printed).
    data: dict = dataclasses.field(default_factory=dict)


def ok(summary: str, evidence: Sequence[str] = (), **data) -> Result:
    return Result(Status.OK, summary, list(evidence), data=data)


def warn(summary: str, evidence: Sequence[str] = (), **data) -> Result:
    return Result(Status.WARN, summary, list(evidence), data=data)


def fail(summary: str, evidence: Sequence[str] = (), **data) -> Result:
    return Result(Status.FAIL, summary, list(evidence), data=data)


def skipped(reason: str, summary: str = "") -> Result:
    reason = reason.value if isinstance(reason, SkipReason) else str(reason)
    return Result(Status.SKIPPED, summary or reason, [], skip_reason=reason)


class SkipRule(Exception):
    """Raised by a rule or a fact when its input is missing: the rule is skipped, not failed."""

    def __init__(self, reason: str, summary: str = ""):
        reason = reason.value if isinstance(reason, SkipReason) else str(reason)
        super().__init__(summary or reason)
        self.reason = reason
        self.summary = summary or reason


class CheckError(Exception):
    """The check itself could not run; the message says why (reported as status error)."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """A registered check: its id, title, the Azure error codes it explains, when it runs, and the
    function that decides."""
    id: str
    title: str
    func: Callable
    error_codes: Tuple[str, ...] = ()
    needs_root: bool = False
    live_only: bool = False
    azure_only: bool = False
    remedy: Optional[str] = None
    fix: Optional[str] = None
    timeout: float = 15.0
    module: str = ""
    # Opt-in rules run only when asked for (for example --freeze-test).
    opt_in: Optional[str] = None

    @property
    def description(self) -> str:
        return (self.func.__doc__ or "").strip()
