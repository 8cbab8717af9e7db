"""ZooKeeper -> KRaft migration as Prefect flows: one flow per phase, ``migrate-to-kraft``
around them, and ``revert-migration``.

::

    migrate-to-kraft
      migration-preflight     brokers on 3.9.x (IBP 3.9), ZooKeeper answers, the new
                              controllers reachable and staged, the cluster id read
      provision-controllers   write their config (migration mode), format with the
                              cluster id, start them, wait for their quorum
      approval
      migrate-brokers         roll the brokers with the migration settings (the
                              upgrade's roll); wait until the controller logs that the
                              metadata was copied (state MIGRATION, dual writes)
      approval
      brokers-to-kraft        roll the brokers into KRaft mode
      approval                names the point of no return
      finalize-controllers    roll the controllers without the migration flag; write
                              the KRaft inventory beside the old one
      report

Each phase reads where the migration stands from the nodes' own configs
(``kafka_upgrade.core.migration.cluster_phase``), so a re-run resumes; the rolls skip
nodes already done. ``revert-migration`` undoes everything before the last phase,
following the Apache procedure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Cancelled, Completed

from flows.approval import ask
from flows.cluster_lock import hold_cluster
from flows.common import as_values, require, running_versions
from flows.roll import roll
from kafka_upgrade.core.errors import BadInput, StepFailed
from kafka_upgrade.core.inventory import Inventory, InventoryError, load_inventory
from kafka_upgrade.core.migration import (
    ClusterPhase,
    ControllerPhase,
    broker_kraft_config,
    broker_phase,
    cluster_phase,
    controller_phase,
    controller_properties,
    finalize_allowed,
    finalize_controllers_wants,
    kraft_inventory,
    kraft_inventory_path,
    migrate_brokers_wants,
    phases_to_run,
    ready_to_migrate,
    revert_allowed,
    revert_migrate_brokers_wants,
    revert_to_migration_wants,
)
from kafka_upgrade.core.requests import ClusterNotFound, MigrationRequest, resolve_cluster
from tasks.context import StepRecord, UpgradeContext, node_label
from tasks.migration import (
    controllers,
    delete_zk_controller,
    format_controller,
    read_backup,
    read_cluster_id,
    read_controller_config,
    set_aside_metadata,
    wait_controller_quorum,
    wait_migration_complete,
    write_controller_config,
)
from tasks.node import check_staged, read_config, start_node, stop_node, switch_binary
from tasks.progress import record_row
from tasks.sensors import wait_cluster_healthy

Records = list[dict[str, Any]]


def _load(request: MigrationRequest) -> tuple[Inventory, Path]:
    try:
        path = resolve_cluster(request.cluster)
        inventory = load_inventory(path)
    except (InventoryError, ClusterNotFound) as exc:
        raise BadInput(str(exc)) from None
    if inventory.mode != "zk" or inventory.migration is None:
        raise BadInput(
            f"inventory {path}: the migration needs a ZooKeeper-mode inventory with a "
            "'migration' section naming the KRaft controllers to add (see README, "
            "ZooKeeper -> KRaft migration)"
        )
    return inventory, path


def observe_phase(ctx: UpgradeContext) -> ClusterPhase:
    """Where the migration stands, from every node's server.properties."""
    brokers = {n.id: broker_phase(read_config(ctx, n.id)) for n in ctx.inventory.nodes}
    added = {
        c.id: controller_phase(read_controller_config(ctx, c.id))
        for c in controllers(ctx.inventory)
    }
    phase = cluster_phase(brokers, added)
    get_run_logger().info(
        "migration of %s: %s (brokers %s; controllers %s)",
        ctx.inventory.cluster,
        phase,
        ", ".join(f"{i}: {p}" for i, p in sorted(brokers.items())),
        ", ".join(f"{i}: {p}" for i, p in sorted(added.items())),
    )
    return phase


class _Run:
    """One flow's hold on the cluster: the inventory, the context, the lock."""

    def __init__(self, request: MigrationRequest) -> None:
        self.request = request
        self.inventory, self.path = _load(request)
        self.version = self.inventory.current_version

    def __enter__(self) -> UpgradeContext:
        self._hold = hold_cluster(
            self.inventory.cluster, self.request.cluster_wait_s, self.request.ticket
        )
        self._hold.__enter__()
        self.ctx = UpgradeContext.open(self.inventory)
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        try:
            self.ctx.close()
        finally:
            self._hold.__exit__(*exc)


# --------------------------------------------------------------------------
# phase flows
# --------------------------------------------------------------------------


@flow(name="migration-preflight", log_prints=True)
def migration_preflight(request: MigrationRequest) -> dict[str, Any]:
    """Check everything the migration needs before anything is touched; returns the
    cluster id and where the migration stands."""
    run = _Run(request)
    with run as ctx:
        inv = run.inventory
        running = running_versions(ctx)
        configs = {n.id: read_config(ctx, n.id) for n in inv.nodes}
        verdict = ready_to_migrate(inv, running, configs)
        if not verdict.ok:
            raise BadInput(f"the migration of {inv.cluster} cannot start: {verdict}")
        for c in controllers(inv):
            check_staged(ctx, c.id, node_label(c), run.version)  # reachable over SSH, staged
        cluster_id = read_cluster_id(ctx)  # ZooKeeper answers
        wait_cluster_healthy(ctx, "before the migration")
        phase = observe_phase(ctx)
        return {"cluster_id": cluster_id, "phase": str(phase)}


@flow(name="provision-controllers", log_prints=True)
def provision_controllers(request: MigrationRequest) -> Records:
    """Write the new controllers' config (migration mode), format them with the cluster's id,
    start them and wait for their quorum."""
    run = _Run(request)
    with run as ctx:
        inv = run.inventory
        cluster_id = read_cluster_id(ctx)
        broker_props = read_config(ctx, inv.nodes[0].id)
        records = []
        for c in controllers(inv):
            started, label = time.time(), node_label(c)
            if controller_phase(read_controller_config(ctx, c.id)) is ControllerPhase.FINAL:
                continue  # the migration was finalized: never back into migration mode
            write_controller_config(ctx, c.id, label, controller_properties(inv, c, broker_props))
            switch_binary(ctx, c.id, label, run.version)  # `current` -> the brokers' version
            format_controller(ctx, c.id, label, cluster_id)
            start_node(ctx, c.id, label)
            records.append(
                ctx.record(
                    StepRecord(
                        "provision-controllers",
                        c.id,
                        "started",
                        f"formatted with cluster id {cluster_id}, migration mode",
                        started,
                        version_after=run.version,
                        label=label,
                    )
                )
            )
        wait_controller_quorum(ctx)
        return as_values(records)


@flow(name="migrate-brokers", log_prints=True)
def migrate_brokers(request: MigrationRequest) -> Records:
    """Roll the brokers with the migration settings; wait until the metadata is migrated."""
    run = _Run(request)
    with run as ctx:
        migration = run.inventory.migration
        assert migration is not None
        records = roll(
            ctx,
            "migrate-brokers",
            run.version,
            lambda props: migrate_brokers_wants(migration, props),
            revert_failed_start=request.revert_on_failed_start,
        )
        wait_migration_complete(ctx)
        return as_values(records)


@flow(name="brokers-to-kraft", log_prints=True)
def brokers_to_kraft(request: MigrationRequest) -> Records:
    """Roll the brokers into KRaft mode (the controllers still write to ZooKeeper)."""
    run = _Run(request)
    with run as ctx:
        migration = run.inventory.migration
        assert migration is not None
        phase = observe_phase(ctx)
        if phase not in (
            ClusterPhase.BROKERS_MIGRATED,
            ClusterPhase.BROKERS_TO_KRAFT,
            ClusterPhase.BROKERS_KRAFT,
        ):
            raise StepFailed(f"brokers-to-kraft refused: the migration is at '{phase}'")
        wait_migration_complete(ctx)
        records = roll(
            ctx,
            "brokers-to-kraft",
            run.version,
            lambda props: broker_kraft_config(migration, props),
            revert_failed_start=request.revert_on_failed_start,
        )
        return as_values(records)


@flow(name="finalize-controllers", log_prints=True)
def finalize_controllers(request: MigrationRequest) -> Records:
    """The point of no return: the controllers leave migration mode (ZooKeeper is no longer
    written); then the KRaft inventory is written beside the old one."""
    run = _Run(request)
    with run as ctx:
        require(finalize_allowed(observe_phase(ctx)), "finalize-controllers")
        kraft = Inventory(**kraft_inventory(run.inventory))
        kctx = UpgradeContext.open(kraft)
        try:
            records = roll(
                kctx,
                "finalize-controllers",
                run.version,
                finalize_controllers_wants,
                revert_failed_start=request.revert_on_failed_start,
            )
        finally:
            kctx.close()
    target = kraft_inventory_path(run.path)
    target.write_text(
        f"# Written by kafka-upgrade migrate from {run.path.name}: the cluster in KRaft mode.\n"
        + kraft.to_yaml()
    )
    get_run_logger().info("KRaft inventory written to %s (the old one is kept)", target)
    return as_values(records)


@flow(name="revert-migration", log_prints=True)
def revert_migration(request: MigrationRequest) -> Any:
    """Back to a plain ZooKeeper cluster from any phase before finalize-controllers.

    Brokers in KRaft mode go back to ZooKeeper mode with the migration flag; then the
    new controllers are stopped (their metadata log set aside), /controller is deleted
    so a broker becomes the controller, and the brokers are rolled without the
    migration settings.
    """
    logger = get_run_logger()
    run = _Run(request)
    inv = run.inventory
    with run as ctx:
        phase = observe_phase(ctx)
        require(revert_allowed(phase), "revert-migration")
        records = []
        if phase in (ClusterPhase.BROKERS_TO_KRAFT, ClusterPhase.BROKERS_KRAFT):
            # Each broker's config as brokers-to-kraft found it: that phase is undone exactly.
            before = {
                n.id: read_backup(ctx, n.id, "brokers-to-kraft", run.version) for n in inv.nodes
            }
            missing = [i for i, b in before.items() if b is None]
            if missing:
                logger.warning(
                    "brokers %s: no backup from brokers-to-kraft; zookeeper.connect and the "
                    "protocol are restored, other ZooKeeper settings must be re-added by hand",
                    missing,
                )
            records += roll(
                ctx,
                "revert-brokers-to-zookeeper-mode",
                run.version,
                lambda props: revert_to_migration_wants(inv, before, props),
                revert_failed_start=request.revert_on_failed_start,
            )
        suffix = f"reverted-{int(time.time())}"
        for c in controllers(inv):
            label = node_label(c)
            if read_controller_config(ctx, c.id) is None:
                continue
            started = time.time()
            stop_node(ctx, c.id, label)
            set_aside_metadata(ctx, c.id, label, suffix)
            records.append(
                ctx.record(
                    StepRecord(
                        "revert-controllers",
                        c.id,
                        "stopped",
                        "deprovisioned: metadata log set aside",
                        started,
                        version_before=run.version,
                        label=label,
                    )
                )
            )
        delete_zk_controller(ctx)
        records += roll(
            ctx,
            "revert-migrate-brokers",
            run.version,
            lambda props: revert_migrate_brokers_wants(inv, props),
            revert_failed_start=request.revert_on_failed_start,
        )
        wait_cluster_healthy(ctx, "after the revert")
        outcome = f"reverted: {inv.cluster} is a ZooKeeper-mode cluster again"
        logger.info("%s", outcome)
        return Completed(message=outcome, data={"records": as_values(records)})


# --------------------------------------------------------------------------
# the whole migration
# --------------------------------------------------------------------------

_APPROVALS = {
    "migrate-brokers": "Roll every broker with the migration settings. The controller then "
    "copies the metadata from ZooKeeper and dual-writes. Undo: `revert-migration`.",
    "brokers-to-kraft": "Roll every broker into **KRaft mode**. ZooKeeper is still written by "
    "the controllers. Undo: `revert-migration` (brokers rolled back to ZooKeeper mode).",
    "finalize-controllers": "**POINT OF NO RETURN.** The controllers leave migration mode and "
    "stop writing to ZooKeeper. After this, the cluster cannot go back to ZooKeeper.",
}


def _report(inv: Inventory, records: Records, outcome: str, seconds: dict[str, float]) -> None:
    rows = [record_row(StepRecord(**r)) for r in records]
    key = f"migration-{inv.cluster}"
    create_table_artifact(table=rows, key=key, description=f"{inv.cluster}: {outcome}")
    times = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=f"# Migration of `{inv.cluster}` to KRaft\n\n**{outcome}**\n\nPhase times: "
        f"{times or 'none'}\n",
    )


@flow(name="migrate-to-kraft", log_prints=True)
def migrate_to_kraft(request: MigrationRequest) -> Any:
    """The whole migration: preflight, the four phases with approvals between them, report."""
    logger = get_run_logger()
    inv, _ = _load(request)
    timeout = int(request.approval_timeout_s or inv.timeouts.approval_s)
    records: Records = []
    seconds: dict[str, float] = {}
    with hold_cluster(inv.cluster, request.cluster_wait_s, request.ticket):
        started = time.time()
        checked = migration_preflight(request)
        seconds["migration-preflight"] = round(time.time() - started, 1)
        todo = phases_to_run(ClusterPhase(checked["phase"]))
        flows = {
            "provision-controllers": provision_controllers,
            "migrate-brokers": migrate_brokers,
            "brokers-to-kraft": brokers_to_kraft,
            "finalize-controllers": finalize_controllers,
        }
        for name in todo:
            phase_flow = flows[name]
            if name in _APPROVALS:
                approval = ask(name, request.auto_approve, timeout, _APPROVALS[name])
                if not approval.approved:
                    outcome = f"stopped before {name}: {approval.why}"
                    _report(inv, records, outcome, seconds)
                    return Cancelled(message=outcome, data={"records": records})
            began = time.time()
            try:
                records += phase_flow(request)
            except Exception as exc:
                _report(inv, records, f"{name} failed: {exc}", seconds)
                raise StepFailed(f"{name} failed on {inv.cluster}: {exc}") from exc
            seconds[name] = round(time.time() - began, 1)
            logger.info("%s: done in %.1f s", name, seconds[name])
            if request.stop_after == name:
                outcome = f"stopped after {name}, as asked"
                _report(inv, records, outcome, seconds)
                return Completed(
                    message=outcome, data={"records": records, "phase_seconds": seconds}
                )
    outcome = "migrated to KRaft: every broker in KRaft mode, ZooKeeper no longer used"
    _report(inv, records, outcome, seconds)
    logger.info("%s; phase times %s", outcome, seconds)
    return Completed(message=outcome, data={"records": records, "phase_seconds": seconds})


__all__ = [
    "brokers_to_kraft",
    "finalize_controllers",
    "migrate_brokers",
    "migrate_to_kraft",
    "migration_preflight",
    "provision_controllers",
    "revert_migration",
]
