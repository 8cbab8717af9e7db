"""Live progress of one run, for people watching it: a progress artifact updated
as each node starts and finishes, and a per-node table that grows with it.

Both artifacts hang on the top-level run (``rolling-upgrade``, or a phase
started on its own; ``flows/scope.py`` hands the tracker to the phases), so
``kafka-upgrade status RUN_ID`` and the run's Artifacts tab show them however
deep the phase subflow is. Losing a progress update never fails the upgrade: it
is logged and the roll goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import ProgressArtifact, TableArtifact, update_progress_artifact
from prefect.context import get_run_context

from kafka_upgrade.core.records import StepRecord


def record_row(r: StepRecord) -> dict[str, object]:
    """One row of the per-node report table."""
    return {
        "phase": r.phase,
        "node": r.label,
        "action": str(r.action),
        "before": r.version_before or "",
        "after": r.version_after or "",
        "seconds": r.seconds,
        "lag before": "" if r.lag_before is None else r.lag_before,
        "lag after": "" if r.lag_after is None else r.lag_after,
        "why": r.reason,
    }


@dataclass
class Progress:
    cluster: str
    flow_run_id: UUID | None
    total_steps: int
    done: list[StepRecord] = field(default_factory=list)
    now: str = "starting"
    _artifact_id: UUID | None = None

    @property
    def steps_done(self) -> int:
        """A step is a node in a phase, or a cluster-wide phase (the finalize writes a row
        per feature but is one step; a node started first and then skipped is one too)."""
        return len({(r.phase, r.node_id) for r in self.done})

    @property
    def percent(self) -> float:
        if self.total_steps <= 0:
            return 0.0
        return min(100.0, round(100.0 * self.steps_done / self.total_steps, 1))

    def describe(self) -> str:
        return f"{self.cluster}: {self.now} ({self.steps_done} of {self.total_steps} steps done)"

    def at(self, now: str) -> None:
        """Say what the run is doing now (e.g. 'phase-1-binaries: broker-2')."""
        self.now = now
        self._publish()

    def finished(self, record: StepRecord) -> None:
        self.done.append(record)
        self.now = f"{record.phase}: {record.label} {record.action}"
        self._publish(table=True)

    def _publish(self, table: bool = False) -> None:
        try:
            if self._artifact_id is None:
                artifact = ProgressArtifact(
                    key=f"progress-{self.cluster}",
                    progress=self.percent,
                    description=self.describe(),
                    flow_run_id=self.flow_run_id,
                ).create(_sync=True)  # type: ignore[call-arg]
                self._artifact_id = artifact.id
            else:
                update_progress_artifact(self._artifact_id, self.percent, self.describe())
            if table:
                TableArtifact(
                    key=f"nodes-{self.cluster}",
                    description=self.describe(),
                    table=[record_row(r) for r in self.done],
                    flow_run_id=self.flow_run_id,
                ).create(_sync=True)  # type: ignore[call-arg]
        except Exception as exc:  # noqa: BLE001 - progress is for people; the roll goes on
            get_run_logger().warning("could not update the progress artifact: %s", exc)


def begin(cluster: str, total_steps: int) -> Progress:
    """Start tracking this run (the top-level one: its phases are handed the tracker)."""
    run = getattr(get_run_context(), "flow_run", None)
    progress = Progress(cluster, getattr(run, "id", None), total_steps)
    progress.at("preflight")
    return progress
