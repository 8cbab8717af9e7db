"""The upgrade as Prefect flows: one flow per phase, and ``rolling-upgrade`` around them.

::

    rolling-upgrade
      preflight            path valid, every host reachable and staged, cluster healthy
      phase-1-binaries     roll onto the new binary (ZK: protocol pinned to current)
      approval             a human approves (or rejects) before the next phase
      ZK:    phase-2-protocol            gate: every broker on the new binary; raise, roll
      KRaft: finalize-metadata-version   gate: every node supports it; kafka-features upgrade
      report               per-node table artifact

``rollback-binaries`` undoes phase 1 while the protocol is still pinned.
Each phase flow also runs on its own (from the UI, the API or the CLI).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Cancelled, Completed
from pydantic import Field

from flows.roll import roll
from kafka_upgrade.errors import BadInput, StepFailed
from kafka_upgrade.health import Verdict
from kafka_upgrade.inventory import Inventory, InventoryError, load_inventory
from kafka_upgrade.kafka_cli import parse_features_describe
from kafka_upgrade.node_commands import staged_command
from kafka_upgrade.plan import (
    all_on_binary,
    can_finalize,
    finalize_args,
    finalized_at,
    phase1_config,
    phase2_config,
    pin_conflicts,
    protocol_still_pinned,
)
from kafka_upgrade.upgrade_path import check_upgrade_path
from tasks.context import StepRecord, UpgradeContext
from tasks.kafka_tools import run_tool
from tasks.node import probe_node, read_config
from tasks.sensors import wait_cluster_healthy


class Approval(RunInput):
    """The form shown in the Prefect UI when the upgrade waits between phases."""

    approve: bool = Field(description="Tick to start the next phase; leave unticked to reject.")
    approver: str = Field(description="Who decides (name or ticket id).")
    comment: str = Field("", description="Why; kept in the run's log and report.")


def _load(inventory_path: str, to_version: str | None) -> Inventory:
    try:
        inventory = load_inventory(inventory_path)
    except InventoryError as exc:
        raise BadInput(str(exc)) from None
    target = to_version or inventory.target_version
    if not target:
        raise BadInput("no target version: pass to_version or set target_version in the inventory")
    return inventory.model_copy(update={"target_version": target})


def _run_tag() -> str:
    ctx = get_run_context()
    run_id = getattr(getattr(ctx, "flow_run", None), "id", None)
    return f"kafka-upgrade-{str(run_id or uuid.uuid4())[:8]}"


def _require(verdict: Verdict, what: str) -> None:
    if not verdict.ok:
        raise StepFailed(f"{what} refused: {verdict}")


def _records(records: list[StepRecord]) -> list[dict[str, Any]]:
    return [r.__dict__.copy() for r in records]


# --------------------------------------------------------------------------
# preflight
# --------------------------------------------------------------------------


def preflight(ctx: UpgradeContext) -> None:
    """Refuse before anything is touched: bad path, unreachable or unstaged host, sick cluster."""
    logger = get_run_logger()
    inv = ctx.inventory
    target = str(inv.target_version)
    metadata_version = None
    if inv.mode == "kraft":
        features = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
        mv = features.get("metadata.version")
        metadata_version = mv.finalized if mv is not None else None
        logger.info("preflight: metadata.version is finalized at %s", metadata_version)
    path = check_upgrade_path(
        inv.current_version, target, inv.mode, metadata_version=metadata_version
    )
    if not path.ok:
        raise BadInput(f"upgrade {inv.current_version} -> {target} refused: {path}")
    for note in path.notes:
        logger.info("preflight: %s", note)
    problems: list[str] = []
    for node in inv.nodes:
        staged = ctx.remote.run(node, staged_command(node, target), timeout=30)
        if staged.stdout.strip() != "staged":
            problems.append(
                f"node {node.id} ({node.host}): {node.version_dir(target)} is not installed; "
                f"stage Kafka {target} there first"
            )
        props = read_config(ctx, node.id)
        conflict = pin_conflicts(node.id, inv.current_version, target, props)
        problems.extend(r.message for r in conflict.reasons)
        state = probe_node(ctx, node.id)
        version = state.process.version if state.process else None
        if version is None:
            problems.append(
                f"node {node.id} ({node.host}) has no running Kafka process; start it (its "
                f"'current' link points to {state.link_version or 'nothing readable'}) and re-run"
            )
        elif version not in (inv.current_version, target):
            problems.append(
                f"node {node.id} runs {version}, neither the inventory's current "
                f"version {inv.current_version} nor the target {target}"
            )
    if problems:
        raise BadInput("preflight refused; nothing was touched:\n  - " + "\n  - ".join(problems))
    wait_cluster_healthy(ctx, "preflight")
    logger.info(
        "preflight: %s -> %s path valid, %d hosts reachable and staged, cluster healthy",
        inv.current_version,
        target,
        len(inv.nodes),
    )


# --------------------------------------------------------------------------
# phase flows
# --------------------------------------------------------------------------


@flow(name="phase-1-binaries", log_prints=True)
def phase_1_binaries(inventory_path: str, to_version: str | None = None) -> list[dict[str, Any]]:
    """Roll every node onto the new binary, the protocol pinned to the current release."""
    inventory = _load(inventory_path, to_version)
    ctx = UpgradeContext.open(inventory)
    try:
        started = time.time()
        records = roll(
            ctx,
            "phase-1-binaries",
            str(inventory.target_version),
            lambda props: phase1_config(inventory.mode, inventory.current_version, props),
            _run_tag(),
        )
        get_run_logger().info("phase-1-binaries: done in %.1f s", time.time() - started)
        return _records(records)
    finally:
        ctx.close()


def _running_versions(ctx: UpgradeContext) -> dict[int, str | None]:
    versions = {}
    for node in ctx.inventory.nodes:
        state = probe_node(ctx, node.id)
        versions[node.id] = state.process.version if state.process else None
    return versions


@flow(name="phase-2-protocol", log_prints=True)
def phase_2_protocol(inventory_path: str, to_version: str | None = None) -> list[dict[str, Any]]:
    """ZooKeeper mode: raise inter.broker.protocol.version to the new release, roll again."""
    inventory = _load(inventory_path, to_version)
    if inventory.mode != "zk":
        raise BadInput("phase-2-protocol is for ZooKeeper mode; KRaft finalizes metadata.version")
    target = str(inventory.target_version)
    ctx = UpgradeContext.open(inventory)
    try:
        _require(
            all_on_binary(_running_versions(ctx), target, "raising the protocol"),
            "phase-2-protocol",
        )
        started = time.time()
        records = roll(
            ctx,
            "phase-2-protocol",
            target,
            lambda props: phase2_config(inventory.mode, target, props),
            _run_tag(),
        )
        get_run_logger().info("phase-2-protocol: done in %.1f s", time.time() - started)
        return _records(records)
    finally:
        ctx.close()


def _features_on(ctx: UpgradeContext, node_id: int) -> str:
    node = ctx.node(node_id)
    # Ask each node about itself: a broker through its client listener, a
    # controller-only node through the controller listener.
    if node.is_broker:
        return run_tool(
            ctx, "kafka-features.sh", ["describe"], on=node, bootstrap=_endpoint(ctx, node)
        )
    controller = f"{node.host}:{node.controller_port}"
    return run_tool(
        ctx,
        "kafka-features.sh",
        ["describe"],
        on=node,
        bootstrap=controller,
        bootstrap_flag="--bootstrap-controller",
    )


def _endpoint(ctx: UpgradeContext, node: Any) -> str:
    for server in ctx.inventory.bootstrap_servers.split(","):
        if server.strip().startswith(f"{node.host}:"):
            return server.strip()
    return ctx.inventory.bootstrap_servers


@flow(name="finalize-metadata-version", log_prints=True)
def finalize_metadata_version(
    inventory_path: str, to_version: str | None = None
) -> list[dict[str, Any]]:
    """KRaft: finalize metadata.version at the new release once every node supports it."""
    logger = get_run_logger()
    inventory = _load(inventory_path, to_version)
    if inventory.mode != "kraft":
        raise BadInput("finalize-metadata-version is for KRaft mode; ZooKeeper uses phase 2")
    target = str(inventory.target_version)
    ctx = UpgradeContext.open(inventory)
    try:
        started = time.time()
        _require(all_on_binary(_running_versions(ctx), target, "the finalize"), "finalize")
        supported = {}
        for node in inventory.nodes:
            features = parse_features_describe(_features_on(ctx, node.id))
            supported[node.id] = features.get("metadata.version")
        current = next((f for f in supported.values() if f is not None), None)
        if finalized_at(current, target).ok:
            logger.info("metadata.version is already %s; nothing to finalize", current.finalized)  # type: ignore[union-attr]
            return _records(
                [ctx.record(StepRecord("finalize", 0, "skipped", "already finalized", started))]
            )
        _require(can_finalize(supported, target), "finalize")
        wait_cluster_healthy(ctx, "before-finalize")
        out = run_tool(ctx, "kafka-features.sh", finalize_args(target))
        for line in out.splitlines():
            logger.info("  | %s", line)
        after = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
        _require(finalized_at(after.get("metadata.version"), target), "finalize check")
        level = after["metadata.version"].finalized
        logger.info("metadata.version finalized at %s", level)
        return _records(
            [
                ctx.record(
                    StepRecord(
                        "finalize",
                        0,
                        "finalized",
                        f"metadata.version {current.finalized if current else '?'} -> {level}",
                        started,
                    )
                )
            ]
        )
    finally:
        ctx.close()


@flow(name="rollback-binaries", log_prints=True)
def rollback_binaries(inventory_path: str) -> list[dict[str, Any]]:
    """Undo phase 1: every node back onto the current (old) binary, while that is still safe."""
    inventory = _load(inventory_path, None)
    old = inventory.current_version
    ctx = UpgradeContext.open(inventory)
    try:
        if inventory.mode == "zk":
            configs = {n.id: read_config(ctx, n.id) for n in inventory.nodes}
            _require(protocol_still_pinned(configs, old), "rollback")
        else:
            features = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
            mv = features.get("metadata.version")
            if (
                mv is not None
                and mv.finalized
                and finalized_at(mv, str(inventory.target_version)).ok
            ):
                raise StepFailed(
                    f"rollback refused: metadata.version is already {mv.finalized}; the old "
                    "binary cannot read it"
                )
        records = roll(
            ctx,
            "rollback-binaries",
            old,
            lambda props: phase1_config(inventory.mode, old, props),
            _run_tag(),
        )
        return _records(records)
    finally:
        ctx.close()


# --------------------------------------------------------------------------
# the whole upgrade
# --------------------------------------------------------------------------


def _approval(phase: str, auto_approve: bool, timeout_s: int) -> tuple[bool, str]:
    logger = get_run_logger()
    if auto_approve:
        logger.info("approval for %s: given automatically (auto_approve)", phase)
        return True, "auto-approved"
    logger.info("waiting for approval to start %s (Resume in the UI, or the API)", phase)
    try:
        answer = pause_flow_run(
            wait_for_input=Approval.with_initial_data(
                description=f"Approve to start **{phase}**.", approve=False, approver=""
            ),
            timeout=timeout_s,
            poll_interval=1,
            key=f"approve-{phase}",
        )
    except FlowPauseTimeout:
        return False, f"nobody approved {phase} within {timeout_s} s"
    who = answer.approver or "someone"
    note = f" ({answer.comment})" if answer.comment else ""
    if not answer.approve:
        return False, f"{phase} rejected by {who}{note}"
    logger.info("%s approved by %s%s", phase, who, note)
    return True, f"approved by {who}{note}"


def _report(inventory: Inventory, records: list[dict[str, Any]], outcome: str) -> None:
    rows = [
        {
            "phase": r["phase"],
            "node": r["node_id"],
            "action": r["action"],
            "before": r.get("version_before") or "",
            "after": r.get("version_after") or "",
            "seconds": r["seconds"],
            "lag before": "" if r.get("lag_before") is None else r["lag_before"],
            "lag after": "" if r.get("lag_after") is None else r["lag_after"],
            "why": r["reason"],
        }
        for r in records
    ]
    key = f"upgrade-{inventory.cluster}"
    create_table_artifact(table=rows, key=key, description=f"{inventory.cluster}: {outcome}")
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=(
            f"# Upgrade of `{inventory.cluster}` ({inventory.mode})\n\n"
            f"{inventory.current_version} -> {inventory.target_version}: **{outcome}**\n\n"
            f"{sum(1 for r in records if r['action'] == 'restarted')} restarts, "
            f"{sum(1 for r in records if r['action'] == 'skipped')} nodes skipped (already done).\n"
        ),
    )


@flow(name="rolling-upgrade", log_prints=True)
def rolling_upgrade(
    inventory_path: str,
    to_version: str | None = None,
    auto_approve: bool = False,
    approval_timeout_s: int | None = None,
) -> Any:
    """Upgrade the whole cluster: preflight, phase 1, approval, phase 2 or finalize, report."""
    logger = get_run_logger()
    inventory = _load(inventory_path, to_version)
    target = str(inventory.target_version)
    timeout = int(approval_timeout_s or inventory.timeouts.approval_s)
    ctx = UpgradeContext.open(inventory)
    try:
        preflight(ctx)
    finally:
        ctx.close()
    records: list[dict[str, Any]] = []
    phase_seconds: dict[str, float] = {}

    def timed(name: str, fn: Any) -> None:
        started = time.time()
        try:
            records.extend(fn(inventory_path, target))
        except Exception as exc:
            # The report still shows what earlier phases did; the log names the node.
            _report(inventory, records, f"{name} failed: {exc}")
            raise
        phase_seconds[name] = round(time.time() - started, 1)

    timed("phase-1-binaries", phase_1_binaries)
    next_phase = "phase-2-protocol" if inventory.mode == "zk" else "finalize-metadata-version"
    approved, why = _approval(next_phase, auto_approve, timeout)
    if not approved:
        logger.warning("stopping before %s: %s", next_phase, why)
        _report(inventory, records, f"stopped before {next_phase}: {why}")
        return Cancelled(message=f"stopped before {next_phase}: {why}", data={"records": records})
    if inventory.mode == "zk":
        timed(next_phase, phase_2_protocol)
    else:
        timed(next_phase, finalize_metadata_version)
    outcome = f"every node on {target}"
    _report(inventory, records, outcome)
    logger.info("upgrade complete: %s; phase times %s", outcome, phase_seconds)
    return Completed(
        message=outcome,
        data={"records": records, "phase_seconds": phase_seconds, "approval": why},
    )
