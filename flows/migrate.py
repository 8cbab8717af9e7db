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
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Cancelled, Completed

from flows.approval import ask
from flows.common import require, running_versions
from flows.roll import roll
from flows.scope import Scope, handing, own_scope, phase_scope
from kafka_upgrade.core.errors import BadInput, StepFailed, in_phase
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
from kafka_upgrade.core.records import StepAction, StepRecord
from kafka_upgrade.core.requests import ClusterNotFound, MigrationRequest, resolve_cluster
from tasks.context import UpgradeContext, node_label, opened
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

Records = list[StepRecord]


def _load(request: MigrationRequest) -> tuple[Inventory, Path]:
    try:
        path = resolve_cluster(request.cluster)
        inventory = load_inventory(path)
    except (InventoryError, ClusterNotFound) as exc:
        raise BadInput(str(exc)) from None
    if not inventory.mode.uses_zookeeper or inventory.migration is None:
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


def _source(scope: Scope) -> Path:
    if scope.source is None:
        raise StepFailed("the migration's inventory file is unknown: start it with a path")
    return scope.source


def _scope(request: MigrationRequest) -> AbstractContextManager[Scope]:
    """What ``migrate-to-kraft`` handed this phase, or the phase's own (started alone): the
    inventory loaded once, the cluster held, a context of the phase's own."""
    return phase_scope(lambda: _load(request), request.cluster_wait_s, request.ticket, None)


# --------------------------------------------------------------------------
# phase flows
# --------------------------------------------------------------------------


@flow(name="migration-preflight", log_prints=True)
def migration_preflight(request: MigrationRequest) -> dict[str, Any]:
    """Check everything the migration needs before anything is touched; returns the
    cluster id and where the migration stands."""
    with _scope(request) as run:
        ctx = run.context
        inv = run.inventory
        running = running_versions(ctx)
        configs = {n.id: read_config(ctx, n.id) for n in inv.nodes}
        verdict = ready_to_migrate(inv, running, configs)
        if not verdict.ok:
            raise BadInput(f"the migration of {inv.cluster} cannot start: {verdict}")
        for c in controllers(inv):  # reachable over SSH, staged
            check_staged(ctx, c.id, node_label(c), inv.current_version)
        cluster_id = read_cluster_id(ctx)  # ZooKeeper answers
        wait_cluster_healthy(ctx, "before the migration")
        phase = observe_phase(ctx)
        return {"cluster_id": cluster_id, "phase": str(phase)}


@flow(name="provision-controllers", log_prints=True)
def provision_controllers(request: MigrationRequest) -> Records:
    """Write the new controllers' config (migration mode), format them with the cluster's id,
    start them and wait for their quorum."""
    with _scope(request) as run:
        ctx = run.context
        inv = run.inventory
        cluster_id = read_cluster_id(ctx)
        broker_props = read_config(ctx, inv.nodes[0].id)
        records = []
        for c in controllers(inv):
            started, label = time.time(), node_label(c)
            if controller_phase(read_controller_config(ctx, c.id)) is ControllerPhase.FINAL:
                continue  # the migration was finalized: never back into migration mode
            write_controller_config(ctx, c.id, label, controller_properties(inv, c, broker_props))
            switch_binary(ctx, c.id, label, inv.current_version)  # the brokers' version
            format_controller(ctx, c.id, label, cluster_id)
            start_node(ctx, c.id, label)
            records.append(
                ctx.record(
                    StepRecord(
                        "provision-controllers",
                        c.id,
                        StepAction.STARTED,
                        f"formatted with cluster id {cluster_id}, migration mode",
                        started,
                        version_after=inv.current_version,
                        label=label,
                    )
                )
            )
        wait_controller_quorum(ctx)
        return records


@flow(name="migrate-brokers", log_prints=True)
def migrate_brokers(request: MigrationRequest) -> Records:
    """Roll the brokers with the migration settings; wait until the metadata is migrated."""
    with _scope(request) as run:
        ctx = run.context
        migration = run.inventory.migration
        assert migration is not None
        records = roll(
            ctx,
            "migrate-brokers",
            run.inventory.current_version,
            lambda props: migrate_brokers_wants(migration, props),
            revert_failed_start=request.revert_on_failed_start,
        )
        wait_migration_complete(ctx)
        return records


@flow(name="brokers-to-kraft", log_prints=True)
def brokers_to_kraft(request: MigrationRequest) -> Records:
    """Roll the brokers into KRaft mode (the controllers still write to ZooKeeper)."""
    with _scope(request) as run:
        ctx = run.context
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
            run.inventory.current_version,
            lambda props: broker_kraft_config(migration, props),
            revert_failed_start=request.revert_on_failed_start,
        )
        return records


@flow(name="finalize-controllers", log_prints=True)
def finalize_controllers(request: MigrationRequest) -> Records:
    """The point of no return: the controllers leave migration mode (ZooKeeper is no longer
    written); then the KRaft inventory is written beside the old one."""
    with _scope(request) as run:
        ctx = run.context
        require(finalize_allowed(observe_phase(ctx)), "finalize-controllers")
        kraft = Inventory(**kraft_inventory(run.inventory))
        with opened(kraft) as kctx:  # the cluster as KRaft sees it: the controllers too
            records = roll(
                kctx,
                "finalize-controllers",
                run.inventory.current_version,
                finalize_controllers_wants,
                revert_failed_start=request.revert_on_failed_start,
            )
    target = kraft_inventory_path(_source(run))
    target.write_text(
        f"# Written by kafka-upgrade migrate from {_source(run).name}: the cluster in KRaft mode.\n"
        + kraft.to_yaml()
    )
    get_run_logger().info("KRaft inventory written to %s (the old one is kept)", target)
    return records


@flow(name="revert-migration", log_prints=True)
def revert_migration(request: MigrationRequest) -> Any:
    """Back to a plain ZooKeeper cluster from any phase before finalize-controllers.

    Brokers in KRaft mode go back to ZooKeeper mode with the migration flag; then the
    new controllers are stopped (their metadata log set aside), /controller is deleted
    so a broker becomes the controller, and the brokers are rolled without the
    migration settings.
    """
    logger = get_run_logger()
    with _scope(request) as run:
        ctx, inv = run.context, run.inventory
        phase = observe_phase(ctx)
        require(revert_allowed(phase), "revert-migration")
        records = []
        if phase in (ClusterPhase.BROKERS_TO_KRAFT, ClusterPhase.BROKERS_KRAFT):
            # Each broker's config as brokers-to-kraft found it: that phase is undone exactly.
            before = {
                n.id: read_backup(ctx, n.id, "brokers-to-kraft", run.inventory.current_version)
                for n in inv.nodes
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
                run.inventory.current_version,
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
                        StepAction.STOPPED,
                        "deprovisioned: metadata log set aside",
                        started,
                        version_before=run.inventory.current_version,
                        label=label,
                    )
                )
            )
        delete_zk_controller(ctx)
        records += roll(
            ctx,
            "revert-migrate-brokers",
            run.inventory.current_version,
            lambda props: revert_migrate_brokers_wants(inv, props),
            revert_failed_start=request.revert_on_failed_start,
        )
        wait_cluster_healthy(ctx, "after the revert")
        outcome = f"reverted: {inv.cluster} is a ZooKeeper-mode cluster again"
        logger.info("%s", outcome)
        return Completed(message=outcome, data={"records": records})


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
    rows = [record_row(r) for r in records]
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
    inv, source = _load(request)
    timeout = int(request.approval_timeout_s or inv.timeouts.approval_s)
    records: Records = []
    seconds: dict[str, float] = {}
    with (
        own_scope(inv, request.cluster_wait_s, request.ticket, None, source) as scope,
        handing(scope),  # each phase: this inventory and this hold, a context of its own
    ):
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
                raise in_phase(exc, name, inv.cluster) from exc
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
