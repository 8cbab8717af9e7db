"""Health sensors: tasks that watch the cluster until a verdict holds, stably.

They observe (a fresh snapshot every poll, at one second or faster) and ask
the pure verdicts in ``kafka_upgrade.health`` what the snapshot means. A
refusal is logged with its reasons whenever the reasons change, so the run log
says in plain words what the upgrade is waiting for. If the verdict does not
hold stably within the inventory's timeout, the sensor fails and the run stops:
no other node is touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kafka_upgrade.errors import UnsafeNow
from kafka_upgrade.health import (
    ClusterSnapshot,
    Stability,
    Verdict,
    can_restart,
    can_restart_controller,
    cluster_healthy,
    controller_caught_up,
    node_recovered,
    node_running_version,
)
from kafka_upgrade.kafka_admin import KafkaUnavailable
from kafka_upgrade.kafka_cli import quorum_from_replication
from kafka_upgrade.node_commands import parse_probe, probe_command
from kafka_upgrade.remote import TransientRemoteError
from tasks.context import UpgradeContext
from tasks.kafka_tools import run_tool


def _watch(
    ctx: UpgradeContext,
    what: str,
    judge: Callable[[], Verdict],
    timeout: float,
) -> int:
    """Poll ``judge`` until it is ok ``stable_checks`` times in a row; returns the polls used."""
    logger = get_run_logger()
    health = ctx.inventory.health
    deadline = time.monotonic() + timeout
    stability = Stability(health.stable_checks)
    polls = 0
    last_said = ""
    verdict: Verdict | None = None
    while True:
        polls += 1
        try:
            verdict = judge()
        except (KafkaUnavailable, TransientRemoteError) as exc:
            verdict = None
            said = f"{what}: cannot observe the cluster right now ({exc})"
            stability = Stability(health.stable_checks)  # an unseen poll is not a healthy one
        else:
            said = f"{what}: {verdict}"
            stability = stability.observe(verdict)
        if said != last_said:
            (logger.info if verdict is not None and verdict.ok else logger.warning)(said)
            last_said = said
        if stability.stable:
            return polls
        if time.monotonic() >= deadline:
            reasons = str(verdict) if verdict is not None else last_said
            raise UnsafeNow(
                f"{what}: not stably healthy within {timeout:.0f} s; last verdict: {reasons}. "
                "The run stops here and touches no other node; fix the cause and re-run."
            )
        time.sleep(health.poll_interval_s)


def _snapshot(ctx: UpgradeContext) -> ClusterSnapshot:
    return ctx.reader.snapshot()


@task(task_run_name="wait-cluster-healthy-{label}", cache_policy=NO_CACHE)
def wait_cluster_healthy(ctx: UpgradeContext, label: str) -> int:
    expected = ctx.expected_brokers()
    return _watch(
        ctx,
        f"cluster {ctx.inventory.cluster} ({label})",
        lambda: cluster_healthy(_snapshot(ctx), expected),
        ctx.inventory.timeouts.healthy_before_s,
    )


@task(task_run_name="wait-safe-to-restart-{label}", cache_policy=NO_CACHE)
def wait_safe_to_restart(ctx: UpgradeContext, node_id: int, label: str) -> int:
    """Block until restarting this node keeps every partition available."""
    node = ctx.node(node_id)
    expected = ctx.expected_brokers()
    health = ctx.inventory.health

    def judge() -> Verdict:
        verdicts = []
        if node.is_broker:
            verdicts.append(can_restart(_snapshot(ctx), node_id, expected))
        else:
            verdicts.append(cluster_healthy(_snapshot(ctx), expected))
        if ctx.inventory.mode == "kraft" and node.is_controller:
            quorum = read_quorum(ctx)
            verdicts.append(
                can_restart_controller(
                    quorum, node_id, health.controller_max_lag, health.controller_caught_up_ms
                )
            )
        return Verdict.all_of(*verdicts)

    return _watch(ctx, f"before restarting {label}", judge, ctx.inventory.timeouts.healthy_before_s)


@task(task_run_name="wait-healthy-{label}", cache_policy=NO_CACHE)
def wait_recovered(ctx: UpgradeContext, node_id: int, label: str, version: str) -> int:
    """Block until the node runs ``version``, is back in every ISR, and the cluster is healthy."""
    node = ctx.node(node_id)
    expected = ctx.expected_brokers()
    health = ctx.inventory.health

    def judge() -> Verdict:
        state = parse_probe(ctx.remote.run(node, probe_command(node), timeout=30).stdout)
        reported = state.process.version if state.process else None
        if node.is_broker:
            verdict = node_recovered(_snapshot(ctx), node_id, reported, version, expected)
        else:
            verdict = Verdict.all_of(
                *[
                    node_running_version(node_id, reported, version),
                    cluster_healthy(_snapshot(ctx), expected),
                ]
            )
        if ctx.inventory.mode == "kraft" and node.is_controller:
            quorum = read_quorum(ctx)
            verdict = Verdict.all_of(
                *[verdict, controller_caught_up(quorum, node_id, health.controller_max_lag)]
            )
        return verdict

    timeout = ctx.inventory.timeouts.start_s + ctx.inventory.timeouts.recover_s
    return _watch(ctx, f"after restarting {label}", judge, timeout)


@task(task_run_name="consumer-lag-{label}", cache_policy=NO_CACHE)
def record_lag(ctx: UpgradeContext, label: str) -> dict[str, int]:
    """Total lag per consumer group right now (informational; never blocks the roll)."""
    try:
        return ctx.reader.consumer_lag()
    except KafkaUnavailable as exc:
        get_run_logger().warning("consumer lag not available (%s)", exc)
        return {}


def read_quorum(ctx: UpgradeContext):  # type: ignore[no-untyped-def]
    """The KRaft quorum as kafka-metadata-quorum.sh reports it (run on a live node)."""
    replication = run_tool(ctx, "kafka-metadata-quorum.sh", ["describe", "--replication"])
    # Ages relative to the leader's own clock: skew between hosts cannot fake a lag.
    return quorum_from_replication(replication)
