"""Preflight: refuse before anything is touched.

The upgrade path, every host reachable and staged, the protocol pins sane,
every node running (or left stopped by this very upgrade, which the roll then
starts first), and the cluster healthy.
"""

from __future__ import annotations

from prefect import get_run_logger

from kafka_upgrade.errors import BadInput
from kafka_upgrade.kafka_cli import parse_features_describe
from kafka_upgrade.node_commands import staged_command
from kafka_upgrade.plan import pin_conflicts
from kafka_upgrade.roll_plan import NodeState, Want, node_state
from kafka_upgrade.upgrade_path import check_upgrade_path
from tasks.context import UpgradeContext, node_label
from tasks.kafka_tools import run_tool
from tasks.node import observe_node, read_config
from tasks.sensors import wait_cluster_healthy


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
    left_down: list[str] = []
    for node in inv.nodes:
        label = node_label(node)
        staged = ctx.remote.run(node, staged_command(node, target), timeout=30)
        if staged.stdout.strip() != "staged":
            problems.append(
                f"node {node.id} ({node.host}): {node.version_dir(target)} is not installed; "
                f"stage Kafka {target} there first"
            )
        props = read_config(ctx, node.id)
        conflict = pin_conflicts(node.id, inv.current_version, target, props)
        problems.extend(r.message for r in conflict.reasons)
        obs = observe_node(ctx, node.id, label, [], target)
        state, reason = node_state(obs, Want(target))
        if state in (NodeState.STOPPED, NodeState.UNKNOWN):
            problems.append(f"node {node.id} ({node.host}): {reason.message}")
        elif state is NodeState.STOPPED_MID_UPGRADE:
            left_down.append(label)
            logger.warning("preflight: %s", reason.message)
        elif obs.binary not in (inv.current_version, target):
            problems.append(
                f"node {node.id} runs {obs.binary or 'a version that could not be read'}, "
                f"neither the inventory's current version {inv.current_version} nor the "
                f"target {target}"
            )
    if problems:
        raise BadInput("preflight refused; nothing was touched:\n  - " + "\n  - ".join(problems))
    if left_down:
        logger.warning(
            "preflight: %s left stopped by an earlier run of this upgrade; the roll starts "
            "them first and waits until the cluster is healthy before anything else",
            ", ".join(left_down),
        )
        return
    wait_cluster_healthy(ctx, "preflight")
    logger.info(
        "preflight: %s -> %s path valid, %d hosts reachable and staged, cluster healthy",
        inv.current_version,
        target,
        len(inv.nodes),
    )
