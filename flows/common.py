"""What every phase flow does the same way: find the inventory a request names, refuse on
a failed gate, count steps for the progress bar."""

from __future__ import annotations

from typing import Any

from kafka_upgrade.core.errors import BadInput, StepFailed
from kafka_upgrade.core.health import Verdict
from kafka_upgrade.core.inventory import Inventory, InventoryError, load_inventory
from kafka_upgrade.core.requests import ClusterNotFound, resolve_cluster
from tasks.context import UpgradeContext
from tasks.node import probe_node


def load_for(cluster: str, to_version: str | None, max_parallel: int | None = None) -> Inventory:
    """The inventory a request names, with the target (and the request's max_parallel, which
    overrides the inventory's) filled in; BadInput when unusable."""
    try:
        inventory = load_inventory(resolve_cluster(cluster))
    except (InventoryError, ClusterNotFound) as exc:
        raise BadInput(str(exc)) from None
    target = to_version or inventory.target_version
    if not target:
        raise BadInput("no target version: pass to_version or set target_version in the inventory")
    update: dict[str, Any] = {"target_version": target}
    if max_parallel is not None:
        update["max_parallel"] = max_parallel
    return inventory.model_copy(update=update)


def require(verdict: Verdict, what: str) -> None:
    if not verdict.ok:
        raise StepFailed(f"{what} refused: {verdict}")


def total_steps(inventory: Inventory) -> int:
    """Steps of the whole upgrade, for the progress bar (ZK: two rolls; KRaft: one + finalize)."""
    return inventory.mode.total_steps(len(inventory.nodes))


def running_versions(ctx: UpgradeContext) -> dict[int, str | None]:
    versions = {}
    for node in ctx.inventory.nodes:
        state = probe_node(ctx, node.id)
        versions[node.id] = state.process.version if state.process else None
    return versions
