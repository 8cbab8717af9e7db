"""The whole plan, observed without touching anything: what ``kafka-upgrade plan`` prints
and what every run shows as its first artifact.

It reads (over SSH and the admin client, never writing): the finalized
metadata.version, each node's state and server.properties, the roll order,
and for KRaft the target release's feature mapping (from the staged target's
own ``kafka-features.sh``). It runs the task functions directly (``.fn``), so
it needs no Prefect server.
"""

from __future__ import annotations

from collections.abc import Collection

from flows.finalize import plan_now
from flows.preflight import inspect_cluster
from flows.roll import batch_view, plan_roll
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.kafka_cli import parse_features_describe
from kafka_upgrade.core.phase_plan import PhasePlan, UpgradePlan, roll_plan
from kafka_upgrade.core.plan import phase1_config, phase2_config
from kafka_upgrade.core.preflight_checks import PreflightReport
from kafka_upgrade.core.upgrade_path import check_upgrade_path
from tasks.context import UpgradeContext, node_label
from tasks.kafka_tools import run_tool
from tasks.node import read_config


def observe_plan(inventory: Inventory, accept_unavailable: Collection[str] = ()) -> UpgradePlan:
    """Look at the cluster and say what the upgrade would do; changes nothing."""
    ctx = UpgradeContext.open(inventory)
    try:
        return plan_for(ctx, inspect_cluster(ctx, accept_unavailable, strict=False))
    finally:
        ctx.close()


def plan_for(ctx: UpgradeContext, report: PreflightReport) -> UpgradePlan:
    """The plan around a preflight report (``inspect_cluster(..., strict=False)``), so a
    run inspects the cluster once for both its plan and its preflight."""
    inv = ctx.inventory
    target = str(inv.target_version)
    blocking: list[str] = []
    notes: list[str] = []
    metadata_version = None
    if inv.mode.controller_role:
        features = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
        mv = features.get("metadata.version")
        metadata_version = mv.finalized if mv is not None else None
    path = check_upgrade_path(
        inv.current_version, target, inv.mode, metadata_version=metadata_version
    )
    blocking.extend(str(f) for f in report.blocking)
    notes.extend(str(f) for f in report.warnings if str(f) not in notes)
    props = {node_label(n): read_config.fn(ctx, n.id) for n in inv.nodes}
    phases: list[PhasePlan] = []
    if path.ok:
        racks = {n.id: props[node_label(n)].get("broker.rack") for n in inv.nodes}
        labels, batches = batch_view(ctx, plan_roll(ctx, racks))
        phase1 = {
            label: phase1_config(inv.mode, inv.current_version, p) for label, p in props.items()
        }
        phases.append(
            roll_plan("phase-1-binaries", inv.cluster, labels, target, phase1, props, batches)
        )
        if inv.mode.pins_protocol:
            after1 = {label: {**p, **phase1[label]} for label, p in props.items()}
            phase2 = {label: phase2_config(inv.mode, target, p) for label, p in after1.items()}
            phases.append(
                roll_plan("phase-2-protocol", inv.cluster, labels, target, phase2, after1, batches)
            )
        else:
            phases.append(plan_now(ctx, None))
    return UpgradePlan(
        cluster=inv.cluster,
        mode=inv.mode,
        current=inv.current_version,
        target=target,
        path="ok" if path.ok else "refused: " + " ".join(r.message for r in path.reasons),
        path_ok=path.ok,
        findings=tuple(notes),
        blocking=tuple(blocking),
        phases=tuple(phases),
    )
