"""The progress bar counts steps: a node in a phase, or a cluster-wide phase."""

from __future__ import annotations

from kafka_upgrade.core.records import StepRecord
from tasks.progress import Progress


def record(phase: str, node_id: int | None, action: str = "restarted") -> StepRecord:
    return StepRecord(phase, node_id, action, "", 0.0)


def test_a_finalize_with_a_row_per_feature_is_one_step() -> None:
    progress = Progress("c", None, total_steps=4)  # 3 nodes + the finalize
    progress.done = [record("phase-1-binaries", n) for n in (1, 2, 3)]
    assert progress.percent == 75.0
    progress.done += [record("finalize-metadata-version", None, "finalized") for _ in range(5)]
    assert (progress.steps_done, progress.percent) == (4, 100.0)
    assert progress.describe() == "c: starting (4 of 4 steps done)"


def test_a_node_started_first_and_then_skipped_is_one_step() -> None:
    progress = Progress("c", None, total_steps=6)
    progress.done = [
        record("phase-1-binaries", 3, "started"),
        record("phase-1-binaries", 3, "skipped"),
        record("phase-1-binaries", 1),
    ]
    assert progress.steps_done == 2
