"""What a run did, node by node: the report's rows, typed, from the roll to the CLI.

Every flow returns its ``StepRecord``s; the parent adds them up, the run's
artifacts show them as rows (``tasks/progress.record_row``), and the CLI prints
them (``app/cli.print_upgrade``) or dumps them as JSON (``as_json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class StepAction(StrEnum):
    RESTARTED = "restarted"  # stopped and started onto what the phase wants
    SKIPPED = "skipped"  # already what the phase wants (or a feature held back)
    STARTED = "started"  # a node left down by an earlier run, or a new controller
    STOPPED = "stopped"  # a controller taken out (the migration's revert)
    RAISED = "raised"  # a feature level raised by the finalize
    NOT_RAISED = "not raised"  # a feature the finalize was told to keep
    FINALIZED = "finalized"  # metadata.version raised (3.x)


@dataclass(frozen=True)
class StepRecord:
    """One line of the final report: a node's step (``label`` 'broker-0', 'controller-1')
    or a cluster-wide one (``node_id`` None, ``label`` 'cluster' or 'feature X')."""

    phase: str
    node_id: int | None
    action: StepAction
    reason: str
    started_at: float
    seconds: float = 0.0
    version_before: str | None = None
    version_after: str | None = None
    lag_before: int | None = None
    lag_after: int | None = None
    label: str = "cluster"

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", StepAction(self.action))

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "action": str(self.action)}


def count(records: list[StepRecord], action: StepAction) -> int:
    return sum(1 for r in records if r.action is action)
