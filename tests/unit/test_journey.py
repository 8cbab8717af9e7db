"""`make demo MODE=journey`: its table, its verdict and its inventory edit, without Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kafka_upgrade.app.journey import (
    REST,
    PhaseRow,
    StepResult,
    journey_ok,
    phase_rows,
    set_current_version,
)
from kafka_upgrade.core.inventory import load_inventory
from kafka_upgrade.core.versions import JOURNEY
from tests.unit.test_migration_inventory import zk_inventory

UPGRADE = StepResult(
    "upgrade-to-3.9.1",
    "COMPLETED",
    "every node on 3.9.1",
    100.0,
    {"phase-1-binaries": 60.0, "phase-2-protocol": 30.0},
)
EDIT = StepResult("inventory-current-3.9.1", "COMPLETED", "set", 0.1)
MIGRATE = StepResult("migrate-to-kraft", "FAILED", "migrate-brokers failed", 50.0)


def test_the_journey_goes_through_3_9_to_4() -> None:
    assert (JOURNEY.start, JOURNEY.migrate_on, JOURNEY.end) == ("3.7.2", "3.9.1", "4.1.1")


def test_phase_rows_give_each_step_its_phases_the_rest_and_its_total() -> None:
    assert phase_rows([UPGRADE, EDIT, MIGRATE]) == [
        PhaseRow("upgrade-to-3.9.1", "phase-1-binaries", 60.0),
        PhaseRow("upgrade-to-3.9.1", "phase-2-protocol", 30.0),
        PhaseRow("upgrade-to-3.9.1", REST, 10.0),
        PhaseRow("upgrade-to-3.9.1", "step total: COMPLETED", 100.0, total=True),
        PhaseRow("inventory-current-3.9.1", "step total: COMPLETED", 0.1, total=True),
        PhaseRow("migrate-to-kraft", "step total: FAILED", 50.0, total=True),
    ]


@pytest.mark.parametrize(
    ("steps", "lost", "failed", "ok"),
    [
        ([UPGRADE, EDIT, UPGRADE, UPGRADE], 0, 0, True),
        ([UPGRADE, EDIT, UPGRADE, UPGRADE], 1, 0, False),
        ([UPGRADE, EDIT, UPGRADE, UPGRADE], 0, 2, False),
        ([UPGRADE, EDIT, MIGRATE], 0, 0, False),  # stopped at the failed step
        ([UPGRADE, EDIT], 0, 0, False),  # steps left out are not success
    ],
)
def test_journey_ok_needs_every_step_and_no_loss(
    steps: list[StepResult], lost: int, failed: int, ok: bool
) -> None:
    assert journey_ok(steps, 4, lost, failed) is ok


def test_set_current_version_rewrites_the_inventory_and_keeps_the_old_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({**zk_inventory(), "current_version": "3.7.2"}))
    before, kept = set_current_version(path, "3.9.1")
    assert before == "3.7.2"
    assert load_inventory(kept).current_version == "3.7.2"
    after = load_inventory(path)
    assert after.current_version == "3.9.1"
    assert after.migration is not None and [c.id for c in after.migration.controllers] == [
        3001,
        3002,
        3003,
    ]
    assert path.read_text().startswith("# current_version set to 3.9.1")
