"""The roll's hands and eyes in production: each method submits or calls the Prefect task
that does it (``tasks/node.py``, ``tasks/sensors.py``), so every step is a task run with
its retries, its name and its log. ``flows/roll.py`` drives them; its unit tests pass
fakes with the same methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka_upgrade.core.order import zookeeper_active_controller
from kafka_upgrade.core.roll_plan import StartOutcome
from tasks.context import UpgradeContext, each_node, node_label
from tasks.node import (
    backup_config,
    node_logs,
    observe_node,
    restore_config,
    set_config,
    start_node,
    stop_node,
    switch_binary,
)
from tasks.sensors import (
    hold_stable,
    read_quorum,
    record_lag,
    restore_leadership,
    wait_recovered,
    wait_safe_to_restart,
    watch_start,
)


class TaskNodes:
    """What the roll does to nodes, one task each."""

    def __init__(self, ctx: UpgradeContext, phase: str, binary: str) -> None:
        self.ctx, self.phase, self.binary = ctx, phase, binary

    def _label(self, node_id: int) -> str:
        return node_label(self.ctx.node(node_id))

    def _pairs(self, node_ids: Sequence[int]) -> list[tuple[int, str]]:
        return [(n, self._label(n)) for n in node_ids]

    def look(self, node_id: int) -> Any:  # a future of NodeObservation
        return observe_node.submit(self.ctx, node_id, self._label(node_id), self.binary)

    def backup(self, node_id: int) -> Any:  # a future of the backup's path
        label = self._label(node_id)
        return backup_config.submit(self.ctx, node_id, label, self.phase, self.binary)

    def set_config(self, node_id: int, changes: dict[str, str | None]) -> None:
        set_config(self.ctx, node_id, self._label(node_id), changes)

    def restore(self, node_id: int, backup: str) -> None:
        restore_config(self.ctx, node_id, self._label(node_id), backup)

    def stop(self, node_ids: Sequence[int]) -> None:
        each_node(True, stop_node, self.ctx, self._pairs(node_ids))

    def switch(self, node_id: int, version: str) -> None:
        switch_binary(self.ctx, node_id, self._label(node_id), version)

    def start(self, node_ids: Sequence[int]) -> list[StartOutcome]:
        """Start the nodes and watch each start until it succeeded or failed."""
        each_node(True, start_node, self.ctx, self._pairs(node_ids))
        return each_node(True, watch_start, self.ctx, self._pairs(node_ids))

    def logs(self, node_id: int) -> str:
        return node_logs(self.ctx, node_id)


class TaskSensors:
    """What the roll watches, one task each."""

    def __init__(self, ctx: UpgradeContext) -> None:
        self.ctx = ctx

    def active_controller(self) -> int | None:
        """ZooKeeper: the controller broker (``order.zookeeper_active_controller``). KRaft:
        the quorum leader."""
        ctx = self.ctx
        if ctx.inventory.mode.uses_zookeeper:
            controller = ctx.reader.snapshot().controller_id
            return zookeeper_active_controller(controller, ctx.inventory.broker_ids)
        return read_quorum(ctx).leader_id

    def replicas(self) -> list[tuple[int, ...]]:
        return [tuple(p.replicas) for p in self.ctx.reader.full_snapshot().partitions]

    def safe_to_restart(self, node_ids: list[int], label: str) -> None:
        wait_safe_to_restart(self.ctx, node_ids, label)

    def recovered(self, versions: dict[int, str], label: str, stable: bool = True) -> None:
        wait_recovered(self.ctx, versions, label, stable)

    def hold(self, versions: dict[int, str], label: str, back_at: float) -> Any:
        return hold_stable.submit(self.ctx, versions, label, back_at=back_at)

    def leadership(self, node_id: int) -> Any:
        return restore_leadership.submit(self.ctx, node_id, node_label(self.ctx.node(node_id)))

    def lag(self, label: str, after: Sequence[Any] = ()) -> Any:  # a future of LagReading
        return record_lag.submit(self.ctx, label, wait_for=list(after))

    def warm(self) -> None:
        self.ctx.lags().warm()
