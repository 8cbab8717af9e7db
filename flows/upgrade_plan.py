"""The whole plan, observed without touching anything: what ``kafka-upgrade plan`` prints
and what every run shows as its first artifact.

It reads (over SSH and the admin client, never writing): the finalized
metadata.version, each node's state and server.properties, the roll order,
and for KRaft the target release's feature mapping (from the staged target's
own ``kafka-features.sh``). It runs the task functions directly (``.fn``), so
it needs no Prefect server.
"""

from __future__ import annotations

from flows.finalize import plan_now
from flows.roll import plan_order
from kafka_upgrade.inventory import Inventory
from kafka_upgrade.kafka_cli import parse_features_describe
from kafka_upgrade.node_commands import staged_command
from kafka_upgrade.phase_plan import PhasePlan, UpgradePlan, roll_plan
from kafka_upgrade.plan import phase1_config, phase2_config, pin_conflicts
from kafka_upgrade.roll_plan import NodeState, Want, node_state
from kafka_upgrade.upgrade_path import check_upgrade_path
from tasks.context import UpgradeContext, node_label
from tasks.kafka_tools import run_tool
from tasks.node import observe_node, read_config


def observe_plan(
    inventory: Inventory, extra_findings: tuple[list[str], list[str]] = ([], [])
) -> UpgradePlan:
    """Look at the cluster and say what the upgrade would do; changes nothing."""
    ctx = UpgradeContext.open(inventory)
    try:
        return _observe(ctx, extra_findings)
    finally:
        ctx.close()


def _observe(ctx: UpgradeContext, extra: tuple[list[str], list[str]]) -> UpgradePlan:
    inv = ctx.inventory
    target = str(inv.target_version)
    blocking: list[str] = list(extra[0])
    notes: list[str] = list(extra[1])
    metadata_version = None
    if inv.mode == "kraft":
        features = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
        mv = features.get("metadata.version")
        metadata_version = mv.finalized if mv is not None else None
    path = check_upgrade_path(
        inv.current_version, target, inv.mode, metadata_version=metadata_version
    )
    notes.extend(n.message for n in path.notes)
    props: dict[str, dict[str, str]] = {}
    for node in inv.nodes:
        label = node_label(node)
        staged = ctx.remote.run(node, staged_command(node, target), timeout=30)
        if staged.stdout.strip() != "staged":
            blocking.append(f"{label} ({node.host}): {node.version_dir(target)} is not installed")
        props[label] = read_config.fn(ctx, node.id)
        blocking.extend(
            r.message
            for r in pin_conflicts(node.id, inv.current_version, target, props[label]).reasons
        )
        obs = observe_node.fn(ctx, node.id, label, [], target)
        state, reason = node_state(obs, Want(target))
        if state in (NodeState.STOPPED, NodeState.UNKNOWN):
            blocking.append(reason.message)
        elif state is NodeState.STOPPED_MID_UPGRADE:
            notes.append(reason.message)
    phases: list[PhasePlan] = []
    if path.ok:
        labels = [node_label(ctx.node(i)) for i in plan_order(ctx)]
        phase1 = {
            label: phase1_config(inv.mode, inv.current_version, p) for label, p in props.items()
        }
        phases.append(roll_plan("phase-1-binaries", inv.cluster, labels, target, phase1, props))
        if inv.mode == "zk":
            after1 = {label: {**p, **phase1[label]} for label, p in props.items()}
            phase2 = {label: phase2_config("zk", target, p) for label, p in after1.items()}
            phases.append(
                roll_plan("phase-2-protocol", inv.cluster, labels, target, phase2, after1)
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
