"""KRaft: the finalize, raised deliberately, feature by feature.

1. Gate: every node runs the new binary and supports the target metadata.version.
2. Plan: ``kafka-features.sh version-mapping --release-version R`` says what the
   release implies; ``describe`` what is finalized now. The features chosen
   (``finalize_features`` in the request, the approval form or the inventory;
   by default all but kraft.version, which changes the quorum and can never be
   undone) are raised; the rest is listed as not raised, with the command.
3. ``upgrade --feature ... --dry-run`` for all chosen at once, then one
   ``upgrade --feature NAME=LEVEL`` each, metadata.version first.
4. ``describe`` again: the report shows every feature before and after.

A 3.x target has no version-mapping: ``upgrade --metadata R`` raises
metadata.version alone.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from flows.common import load_for, require, running_versions, total_steps
from flows.scope import phase_scope
from kafka_upgrade.core.errors import BadInput, StepFailed
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.kafka_cli import parse_features_describe
from kafka_upgrade.core.phase_plan import PhasePlan, finalize_plan, parse_version_mapping
from kafka_upgrade.core.plan import all_on_binary, can_finalize, finalize_args, finalized_at
from kafka_upgrade.core.records import StepAction, StepRecord
from kafka_upgrade.core.requests import PhaseRequest
from kafka_upgrade.core.upgrade_path import release_of
from tasks.context import UpgradeContext
from tasks.kafka_tools import run_tool
from tasks.sensors import wait_cluster_healthy

PHASE = "finalize-metadata-version"


def _is_4x(release: str) -> bool:
    return tuple(int(x) for x in release.split(".")) >= (4, 0)


def plan_now(ctx: UpgradeContext, chosen: list[str] | None) -> PhasePlan:
    """The finalize's plan, observed now on the live cluster (the release's mapping comes
    from the target's own kafka-features.sh, staged on the node: 3.x tools lack it)."""
    inventory = ctx.inventory
    release = release_of(str(inventory.target_version))
    describe = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
    if _is_4x(release):
        mapping = parse_version_mapping(
            run_tool(
                ctx,
                "kafka-features.sh",
                ["version-mapping", "--release-version", release],
                version=str(inventory.target_version),
            )
        )
    else:  # 3.x: `upgrade --metadata` raises metadata.version alone
        mapping = {"metadata.version": (-1, release)}
    wanted = chosen if chosen is not None else inventory.finalize_features
    return finalize_plan(inventory.cluster, release, describe, mapping, wanted)


def _features_on(ctx: UpgradeContext, node_id: int) -> str:
    node = ctx.node(node_id)
    # Ask each node about itself: a broker through its client listener, a
    # controller-only node through the controller listener.
    if node.is_broker:
        return run_tool(
            ctx, "kafka-features.sh", ["describe"], on=node, bootstrap=_endpoint(ctx, node)
        )
    return run_tool(
        ctx,
        "kafka-features.sh",
        ["describe"],
        on=node,
        bootstrap=f"{node.host}:{node.controller_port}",
        bootstrap_flag="--bootstrap-controller",
    )


def _endpoint(ctx: UpgradeContext, node: Any) -> str:
    for server in ctx.inventory.bootstrap_servers.split(","):
        if server.strip().startswith(f"{node.host}:"):
            return server.strip()
    return ctx.inventory.bootstrap_servers


@flow(name=PHASE, log_prints=True)
def finalize_metadata_version(request: PhaseRequest) -> list[StepRecord]:
    """KRaft: raise metadata.version and the chosen features of the new release, one by one."""
    with phase_scope(
        lambda: (load_for(request.cluster, request.to_version), None),
        request.cluster_wait_s,
        request.ticket,
        total_steps,
        _kraft_only,
    ) as scope:
        progress = scope.progress
        assert progress is not None  # a phase is handed its run's tracker, or starts one
        progress.at(PHASE)
        records = finalize(scope.context, request.finalize_features)
        for record in records:
            progress.finished(record)
        return records


def _kraft_only(inventory: Inventory) -> None:
    if inventory.mode.pins_protocol:
        raise BadInput("finalize-metadata-version is for KRaft mode; ZooKeeper uses phase 2")


def finalize(ctx: UpgradeContext, chosen: list[str] | None) -> list[StepRecord]:
    logger = get_run_logger()
    inventory = ctx.inventory
    target = str(inventory.target_version)
    started = time.time()
    require(all_on_binary(running_versions(ctx), target, "the finalize"), "finalize")
    supported = {}
    for node in inventory.nodes:
        features = parse_features_describe(_features_on(ctx, node.id))
        supported[node.id] = features.get("metadata.version")
    current = next((f for f in supported.values() if f is not None), None)
    if not _is_4x(release_of(target)):
        return [_finalize_3x(ctx, current, supported, started)]
    plan = plan_now(ctx, chosen)
    for line in plan.lines():
        logger.info("finalize plan: %s", line)
    if not plan.raised:
        if not finalized_at(current, target).ok:
            raise StepFailed(
                f"finalize refused: metadata.version is {current.finalized if current else '?'} "
                "and no chosen feature raises it; include metadata.version in finalize_features"
            )
        return [
            ctx.record(
                StepRecord(
                    PHASE,
                    None,
                    StepAction.SKIPPED,
                    plan.summary,
                    started,
                    label=f"feature {f.name}",
                )
            )
            for f in plan.held
        ] or [ctx.record(StepRecord(PHASE, None, StepAction.SKIPPED, "already finalized", started))]
    require(can_finalize(supported, target), "finalize")
    wait_cluster_healthy(ctx, "before-finalize")
    args = [a for f in plan.raised for a in ("--feature", f.feature_arg)]
    for line in run_tool(ctx, "kafka-features.sh", ["upgrade", *args, "--dry-run"]).splitlines():
        logger.info("  dry run | %s", line)
    for feature in plan.raised:
        out = run_tool(ctx, "kafka-features.sh", ["upgrade", "--feature", feature.feature_arg])
        for line in out.splitlines():
            logger.info("  %s | %s", feature.name, line)
    after = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
    if any(f.name == "metadata.version" for f in plan.raised):
        require(finalized_at(after.get("metadata.version"), target), "finalize check")
    records = []
    for feature in plan.features:
        now = after.get(feature.name)
        level = now.finalized if now else None
        if feature.chosen and feature.name != "metadata.version" and level != str(feature.level):
            raise StepFailed(
                f"finalize check: {feature.name} is {level or 'not finalized'} after the "
                f"upgrade, expected {feature.after}"
            )
        records.append(
            ctx.record(
                StepRecord(
                    PHASE,
                    None,
                    StepAction.RAISED if feature.chosen else StepAction.NOT_RAISED,
                    feature.effect,
                    started,
                    version_before=feature.before or "0",
                    version_after=level or "0",
                    label=f"feature {feature.name}",
                )
            )
        )
        logger.info("%s: %s -> %s", feature.name, feature.before or "0", level or "0")
    return records


def _finalize_3x(ctx: UpgradeContext, current: Any, supported: dict, started: float) -> StepRecord:
    logger = get_run_logger()
    target = str(ctx.inventory.target_version)
    if finalized_at(current, target).ok:
        logger.info("metadata.version is already %s; nothing to finalize", current.finalized)
        return ctx.record(StepRecord(PHASE, None, StepAction.SKIPPED, "already finalized", started))
    require(can_finalize(supported, target), "finalize")
    wait_cluster_healthy(ctx, "before-finalize")
    for line in run_tool(ctx, "kafka-features.sh", finalize_args(target)).splitlines():
        logger.info("  | %s", line)
    after = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
    require(finalized_at(after.get("metadata.version"), target), "finalize check")
    level = after["metadata.version"].finalized
    logger.info("metadata.version finalized at %s", level)
    return ctx.record(
        StepRecord(
            PHASE,
            None,
            StepAction.FINALIZED,
            f"metadata.version {current.finalized if current else '?'} -> {level}",
            started,
            label="feature metadata.version",
        )
    )
