"""The rolling restart every phase shares.

For each node, in the order ``kafka_upgrade.order.roll_order`` decides
(ZooKeeper: brokers by id, the active controller last; KRaft: controllers
first with the quorum leader last, then brokers):

1. observe it (running binary, ``current`` link, server.properties);
2. skip it if it already is what the phase wants (so a re-run resumes);
   check that the phase's binary is staged on it before touching it;
3. wait until restarting it keeps every partition available (and, for a
   KRaft controller, the quorum); a node found stopped (a run that died
   mid-node) is only started, which cannot make anything less available;
4. back up server.properties, apply the phase's settings;
5. controlled stop, wait for the process to exit;
6. point ``current`` at the phase's binary; start;
7. wait until it runs that binary, is back in every ISR, and the cluster is
   healthy for ``stable_checks`` polls in a row.

Rules never broken: one node at a time; nothing is touched while anything is
unhealthy; the first failure stops the phase (and so the run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prefect import get_run_logger

from kafka_upgrade.health import lag_report
from kafka_upgrade.order import NodeObservation, NodeRef, node_needs_restart, roll_order
from tasks.context import StepRecord, UpgradeContext, node_label
from tasks.node import (
    backup_config,
    check_staged,
    probe_node,
    read_config,
    set_config,
    start_node,
    stop_node,
    switch_binary,
)
from tasks.progress import Progress
from tasks.sensors import read_quorum, record_lag, wait_recovered, wait_safe_to_restart

WantedConfig = Callable[[Mapping[str, str]], dict[str, str]]


def active_controller(ctx: UpgradeContext) -> int | None:
    """ZooKeeper: the controller broker. KRaft: the metadata quorum leader."""
    if ctx.inventory.mode == "zk":
        return ctx.reader.snapshot().controller_id
    return read_quorum(ctx).leader_id


def plan_order(ctx: UpgradeContext) -> list[int]:
    refs = [NodeRef(n.id, frozenset(n.roles)) for n in ctx.inventory.nodes]
    return roll_order(refs, ctx.inventory.mode, active_controller(ctx))


def roll(
    ctx: UpgradeContext,
    phase: str,
    binary: str,
    wanted_config: WantedConfig,
    run_tag: str,
    progress: Progress | None = None,
) -> list[StepRecord]:
    """Restart every node that is not yet what ``phase`` wants, one at a time."""
    logger = get_run_logger()
    order = plan_order(ctx)
    logger.info(
        "%s: roll order %s (%s)",
        phase,
        " -> ".join(node_label(ctx.node(i)) for i in order),
        "active controller last"
        if ctx.inventory.mode == "zk"
        else "controllers first, leader last",
    )
    records: list[StepRecord] = []
    for node_id in order:
        if progress is not None:
            progress.at(f"{phase}: {node_label(ctx.node(node_id))}")
        try:
            records.append(_roll_node(ctx, phase, node_id, binary, wanted_config, run_tag))
            if progress is not None:
                progress.finished(records[-1])
        except BaseException as exc:
            done = ", ".join(f"{node_label(ctx.node(r.node_id))} {r.action}" for r in records)
            logger.error(
                "%s stopped at %s: %s. Done before it: %s. No other node was touched; "
                "fix the cause and re-run: done nodes are skipped.",
                phase,
                node_label(ctx.node(node_id)),
                exc,
                done or "none",
            )
            raise
    return records


def _roll_node(
    ctx: UpgradeContext,
    phase: str,
    node_id: int,
    binary: str,
    wanted_config: WantedConfig,
    run_tag: str,
) -> StepRecord:
    logger = get_run_logger()
    node = ctx.node(node_id)
    label = node_label(node)
    started = time.time()
    state = probe_node(ctx, node_id)
    props = read_config(ctx, node_id)
    wanted = wanted_config(props)
    observation = NodeObservation(
        node_id=node_id,
        running=state.running,
        binary_version=state.process.version if state.process else None,
        current_link_version=state.link_version,
        config_pins={k: props[k] for k in wanted if k in props},
    )
    reason = node_needs_restart(observation, binary, wanted)
    if reason is None:
        logger.info(
            "%s: %s already runs %s with %s; skipped", phase, label, binary, wanted or "its config"
        )
        return ctx.record(
            StepRecord(
                phase, node_id, "skipped", "already done", started, 0, binary, binary, label=label
            )
        )
    logger.info("%s: %s needs a restart: %s", phase, label, reason.message)
    if state.link_version != binary:
        # Checked before the stop, so a missing install never leaves a node down.
        check_staged(ctx, node_id, label, binary)
    if state.running:
        wait_safe_to_restart(ctx, node_id, label)
    else:
        # Starting a stopped node cannot make anything less available (a run that
        # died mid-node is resumed here).
        logger.warning("%s: %s is not running; it is started without a restart gate", phase, label)
    lag_before = record_lag(ctx, label)
    backup_config(ctx, node_id, label, run_tag)
    if wanted:
        set_config(ctx, node_id, label, wanted)
    if state.running:
        stop_node(ctx, node_id, label)
    if state.link_version != binary:
        switch_binary(ctx, node_id, label, binary)
    start_node(ctx, node_id, label)
    wait_recovered(ctx, node_id, label, binary)
    lag_after = record_lag(ctx, label)
    lag = lag_report(lag_before, lag_after, ctx.inventory.health.lag_growth_warn)
    (logger.info if lag.ok else logger.warning)("%s: consumer lag %s", label, lag)
    record = ctx.record(
        StepRecord(
            phase,
            node_id,
            "restarted",
            reason.message,
            started,
            version_before=observation.binary_version,
            version_after=binary,
            lag_before=sum(lag_before.values()) if lag_before else None,
            lag_after=sum(lag_after.values()) if lag_after else None,
            label=label,
        )
    )
    logger.info("%s: %s done in %.1f s", phase, label, record.seconds)
    return record
