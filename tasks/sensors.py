"""Health sensors: tasks that watch the cluster until a verdict holds, stably.

They observe (a fresh snapshot every poll, at one second or faster) and ask
the pure verdicts in ``kafka_upgrade.core.health`` what the snapshot means. A
refusal is logged with its reasons whenever the reasons change, so the run log
says in plain words what the upgrade is waiting for. If the verdict does not
hold stably within the inventory's timeout, the sensor fails and the run stops:
no other node is touched.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kafka_upgrade.adapters.admin_worker import AdminChildDied
from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable, LagReading
from kafka_upgrade.adapters.quorum_wire import QuorumWireError, describe_quorum
from kafka_upgrade.adapters.remote import TransientRemoteError
from kafka_upgrade.core.errors import StepFailed, UnsafeNow
from kafka_upgrade.core.health import (
    ClusterSnapshot,
    QuorumStatus,
    SeenStable,
    Stability,
    Verdict,
    carried_stability,
    cluster_healthy,
    poll_pause,
    window_clean,
)
from kafka_upgrade.core.kafka_cli import quorum_from_replication
from kafka_upgrade.core.node_commands import NodeState, parse_probe, probe_command
from kafka_upgrade.core.roll_plan import (
    GateLimits,
    Seen,
    StartLook,
    StartOutcome,
    recovered_gate,
    restart_gate,
    restart_gate_reads,
    start_outcome,
    unreachable_verdict,
)
from tasks.context import UpgradeContext
from tasks.kafka_tools import run_tool


def _watch(
    ctx: UpgradeContext,
    what: str,
    judge: Callable[[], Verdict],
    timeout: float,
    carried: str | None = None,
    stable: bool = True,
    healthy_at: float | None = None,
) -> int:
    """Poll ``judge`` until it is stably ok (``stable_checks`` polls in a row over at least
    ``stable_s``); returns the polls used. ``carried`` (why the cluster is already known to
    be stably healthy) makes one healthy poll enough; a bad poll voids it. ``stable=False``
    asks for one healthy poll (the caller watches stability next, see ``hold_stable``).
    ``healthy_at``: the same judge already said ok at that moment (``time.monotonic()``);
    the streak starts there.

    Polls come every ``poll_interval_s``; after a poll whose snapshot took long (a big
    cluster), the next waits at least as long as that snapshot took, so the cluster and the
    admin child are never polled flat out. Waiting on SSH (the probes) loads neither.
    """
    logger = get_run_logger()
    health = ctx.inventory.health
    deadline = time.monotonic() + timeout

    def fresh() -> Stability:
        return Stability(health.stable_checks, health.stable_s)

    stability = Stability(1) if carried or not stable else fresh()
    if healthy_at is not None:
        stability = stability.observe(Verdict.of(()), at=healthy_at)
    polls = 0
    last_said = ""
    verdict: Verdict | None = None
    blind_since: float | None = None
    while True:
        polls += 1
        began = time.monotonic()
        try:
            verdict = judge()
        except (KafkaUnavailable, TransientRemoteError) as exc:
            verdict = None
            blind_since = blind_since or time.monotonic()
            blind = time.monotonic() - blind_since
            # Said again every 10 s: how long the cluster has not answered matters.
            said = (
                f"{what}: the cluster does not answer (for {int(blind // 10) * 10} s so far): {exc}"
            )
            stability, carried = (fresh() if stable else stability), None  # unseen: not healthy
        else:
            blind_since = None
            said = f"{what}: {verdict}"
            if carried and not verdict.ok:
                stability, carried = fresh(), None  # what was carried no longer holds
            stability = stability.observe(verdict, at=time.monotonic())
        if said != last_said:
            (logger.info if verdict is not None and verdict.ok else logger.warning)(said)
            last_said = said
        if stability.stable:
            if carried:
                logger.info("%s: one healthy poll is enough: %s", what, carried)
            return polls
        if time.monotonic() >= deadline:
            reasons = str(verdict) if verdict is not None else last_said
            raise UnsafeNow(
                f"{what}: not stably healthy within {timeout:.0f} s; last verdict: {reasons}. "
                "The run stops here and touches no other node; fix the cause and re-run."
            )
        took = time.monotonic() - began
        time.sleep(poll_pause(health.poll_interval_s, took, ctx.reader.last_snapshot_s))


def _seen_stable(ctx: UpgradeContext, after: str, since: float | None = None) -> None:
    """Remember that the cluster was just seen stably healthy; not when a sensor running at
    the same time saw it unhealthy after ``since`` (when this watch's streak began)."""
    if since is None or window_clean(since, ctx.unhealthy_seen):
        ctx.stable_seen = SeenStable(time.monotonic(), after)


def _saw_unhealthy(ctx: UpgradeContext) -> None:
    """Anything seen unhealthy voids what was carried: the next gate watches for stability."""
    ctx.unhealthy_seen = time.monotonic()
    ctx.stable_seen = None


def _carried(ctx: UpgradeContext) -> str | None:
    return carried_stability(
        ctx.stable_seen,
        ctx.unhealthy_seen,
        time.monotonic(),
        ctx.inventory.health.stable_reuse_s,
    )


def _snapshot(ctx: UpgradeContext, nodes: Collection[int] = ()) -> ClusterSnapshot:
    """The cluster now, carrying the partitions of ``nodes``: a snapshot holds all the
    verdicts will read of it (they never ask the cluster for more)."""
    return ctx.reader.snapshot(nodes)


@task(task_run_name="wait-cluster-healthy-{label}", cache_policy=NO_CACHE)
def wait_cluster_healthy(ctx: UpgradeContext, label: str) -> int:
    expected = ctx.expected_brokers()
    polls = _watch(
        ctx,
        f"cluster {ctx.inventory.cluster} ({label})",
        lambda: cluster_healthy(_snapshot(ctx), expected),
        ctx.inventory.timeouts.healthy_before_s,
    )
    _seen_stable(ctx, label)
    return polls


def unreachable_brokers(ctx: UpgradeContext, timeout: float = 0.5) -> set[int]:
    """Brokers whose client listener (from bootstrap_servers, matched by host) refuses a TCP
    connection right now. Seen within a poll, long before the cluster fences a dead broker."""
    listeners = {}
    for server in ctx.inventory.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        for node in ctx.inventory.nodes:
            if node.is_broker and node.host == host and port.isdigit():
                listeners[node.id] = (host, int(port))

    def refused(address: tuple[str, int]) -> bool:
        try:
            with socket.create_connection(address, timeout=timeout):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:  # a timeout or a routing problem is not proof the process is down
            return False

    if not listeners:
        return set()
    with ThreadPoolExecutor(max_workers=min(32, len(listeners))) as pool:
        results = dict(zip(listeners, pool.map(refused, listeners.values()), strict=True))
    return {node_id for node_id, down in results.items() if down}


def _limits(ctx: UpgradeContext) -> GateLimits:
    health = ctx.inventory.health
    return GateLimits(health.controller_max_lag, health.controller_caught_up_ms)


def _quorum_if_needed(ctx: UpgradeContext, roles: list[str]) -> QuorumStatus | None:
    if ctx.inventory.mode.gates_quorum_of(roles):
        return read_quorum(ctx)
    return None


@task(task_run_name="wait-safe-to-restart-{label}", cache_policy=NO_CACHE)
def wait_safe_to_restart(ctx: UpgradeContext, node_ids: list[int], label: str) -> int:
    """Block until restarting these nodes (one, or a batch of brokers) keeps every partition
    (and the quorum) available (``roll_plan.restart_gate``)."""
    members = {n: ctx.node(n).roles for n in node_ids}
    expected = ctx.expected_brokers()
    reads = restart_gate_reads(ctx.inventory.mode, members)

    def judge() -> Verdict:
        seen = Seen(
            _snapshot(ctx, reads.partitions_of),
            expected,
            read_quorum(ctx) if reads.quorum else None,
            unreachable_brokers(ctx),
        )
        return restart_gate(ctx.inventory.mode, members, seen, _limits(ctx))

    carried = _carried(ctx)
    ctx.stable_seen = None  # these nodes are about to go down
    return _watch(
        ctx,
        f"before restarting {label}",
        judge,
        ctx.inventory.timeouts.healthy_before_s,
        carried,
    )


def _recovered_judge(ctx: UpgradeContext, versions: dict[int, str]) -> Callable[[], Verdict]:
    """Every node (node id -> the version it must run) runs its version and is back in every
    ISR, and the cluster is healthy: each node's ``recovered_gate`` on one snapshot per poll."""
    expected = ctx.expected_brokers()

    def probe(node_id: int) -> NodeState:
        node = ctx.node(node_id)
        return parse_probe(ctx.remote.look(node, probe_command(node)).stdout)

    def judge() -> Verdict:
        # The SSH probes run while the snapshot is taken: a poll costs the slower of them.
        with ThreadPoolExecutor(max_workers=min(8, len(versions))) as pool:
            probes = pool.map(probe, versions)
            snapshot, down = _snapshot(ctx), unreachable_brokers(ctx)
            states = dict(zip(versions, probes, strict=True))
        verdicts = []
        for node_id, version in versions.items():
            node, state = ctx.node(node_id), states[node_id]
            seen = Seen(snapshot, expected, _quorum_if_needed(ctx, node.roles), down)
            reported = state.process.version if state.process else None
            verdicts.append(
                recovered_gate(
                    ctx.inventory.mode, node.roles, node_id, reported, version, seen, _limits(ctx)
                )
            )
        if len(verdicts) == 1:
            return verdicts[0]
        # Once per poll, not once per member ("broker 5 missing" is in every other's gate).
        return Verdict.of(
            dict.fromkeys(r for v in verdicts for r in v.reasons),
            dict.fromkeys(n for v in verdicts for n in v.notes),
        )

    return judge


@task(task_run_name="wait-healthy-{label}", cache_policy=NO_CACHE)
def wait_recovered(
    ctx: UpgradeContext, versions: dict[int, str], label: str, stable: bool = True
) -> int:
    """Block until every node (node id -> the version it must run) runs its version and is
    back in every ISR, and the cluster is healthy (stably; ``stable=False``: one healthy
    poll, the roll then runs ``hold_stable``)."""
    timeout = ctx.inventory.timeouts.start_s + ctx.inventory.timeouts.recover_s
    polls = _watch(
        ctx, f"after restarting {label}", _recovered_judge(ctx, versions), timeout, stable=stable
    )
    if stable:
        _seen_stable(ctx, f"after {label}'s recovery")
    return polls


@task(task_run_name="stable-{label}", cache_policy=NO_CACHE)
def hold_stable(ctx: UpgradeContext, versions: dict[int, str], label: str, back_at: float) -> int:
    """Right after the restarted node(s) came back (``wait_recovered`` said ok at
    ``back_at``, ``time.monotonic()``): watch that they stay back and the cluster healthy
    for the stability window (``stable_checks`` polls over ``stable_s``, from that poll).
    The roll runs this beside the work that touches no process (leadership, lag, the next
    look); the next node is stopped only after it holds."""
    polls = _watch(
        ctx,
        f"stability after restarting {label}",
        _recovered_judge(ctx, versions),
        ctx.inventory.timeouts.recover_s,
        healthy_at=back_at,
    )
    _seen_stable(ctx, f"after {label}'s recovery", since=back_at)
    return polls


@task(task_run_name="watch-start-{label}", cache_policy=NO_CACHE)
def watch_start(ctx: UpgradeContext, node_id: int, label: str) -> StartOutcome:
    """Right after a start, look at the node (process; a broker's registration) a few
    times a second until ``roll_plan.start_outcome`` says it started or failed: a JVM
    that dies is seen within seconds, not after the recovery timeout."""
    node = ctx.node(node_id)
    started = time.monotonic()
    seen_pid: int | None = None
    while True:
        look = _look_at_start(ctx, node_id, label, time.monotonic() - started)
        outcome = start_outcome(look, seen_pid, node.is_broker, ctx.inventory.timeouts.start_s)
        if outcome is not None:
            return outcome
        seen_pid = look.pid or seen_pid
        time.sleep(_START_POLL_S)


_START_POLL_S = 0.25
_LAG_DEADLINE_S = 3.0


def _look_at_start(ctx: UpgradeContext, node_id: int, label: str, elapsed: float) -> StartLook:
    node = ctx.node(node_id)
    try:
        probe = ctx.remote.look(node, probe_command(node))
    except TransientRemoteError as exc:  # an unseen poll proves nothing either way
        get_run_logger().warning("%s: cannot look at the node right now (%s)", label, exc)
        return StartLook(elapsed, observed=False)
    state = parse_probe(probe.stdout) if probe.ok else None
    if state is None:
        return StartLook(elapsed, observed=False)
    pid = state.process.pid if state.process else None
    registered = False
    if pid is not None and node.is_broker:
        try:
            registered = node_id in _snapshot(ctx).brokers
        except KafkaUnavailable:
            pass
    return StartLook(elapsed, observed=True, pid=pid, registered=registered)


@task(task_run_name="restore-leadership-{label}", cache_policy=NO_CACHE)
def restore_leadership(ctx: UpgradeContext, node_id: int, label: str) -> int:
    """Elect the restarted broker leader of its preferred partitions and wait until it leads
    them (bounded by ``timeouts.leadership_s``). Returns how many still wait; an imbalance is
    worth a warning, never a stop: it is not unsafe."""
    logger = get_run_logger()
    deadline = time.monotonic() + ctx.inventory.timeouts.leadership_s
    expected = ctx.expected_brokers()
    asked_at: float | None = None
    said = ""
    waiting: tuple = ()
    while time.monotonic() < deadline:
        down = unreachable_brokers(ctx)
        if down:  # say so now; the next node's gate holds the roll until it is back
            _saw_unhealthy(ctx)
            logger.warning("%s", unreachable_verdict(down))
            return -1
        try:
            snapshot = _snapshot(ctx, [node_id])  # with its partitions: who leads them
            if not cluster_healthy(snapshot, expected).ok:
                _saw_unhealthy(ctx)  # the next gate watches for stability again
            waiting = snapshot.awaiting_preferred_leader(node_id)
            if not waiting:
                logger.info("%s leads its preferred partitions again", label)
                return 0
            if asked_at is None or time.monotonic() - asked_at >= 5:  # ask; again every 5 s
                failed = ctx.reader.elect_preferred([(p.topic, p.partition) for p in waiting])
                if asked_at is None:
                    logger.info(
                        "%s: preferred leader election for %d partition(s)%s",
                        label,
                        len(waiting),
                        f"; not done for {sorted(failed)[:5]}" if failed else "",
                    )
                asked_at = time.monotonic()
        except KafkaUnavailable as exc:
            _saw_unhealthy(ctx)
            if str(exc) != said:
                logger.info("%s: leadership not readable right now (%s)", label, exc)
                said = str(exc)
        time.sleep(ctx.inventory.health.poll_interval_s)
    logger.warning(
        "%s still does not lead %d of its preferred partitions after %.0f s (e.g. %s); going on: "
        "the next controlled shutdown moves a little more load",
        label,
        len(waiting),
        ctx.inventory.timeouts.leadership_s,
        ", ".join(p.name for p in waiting[:5]),
    )
    return len(waiting)


@task(task_run_name="consumer-lag-{label}", cache_policy=NO_CACHE)
def record_lag(ctx: UpgradeContext, label: str) -> LagReading:
    """Total lag per consumer group right now, and the groups not read in time
    (informational; never blocks the roll)."""
    try:
        # Bounded tighter than a standalone read: right after a restart a group's
        # coordinator may be moving, and the roll should not wait on a number that is
        # only informational; groups not read in time are named as unread.
        try:
            return ctx.lags().lag_reading(deadline_s=_LAG_DEADLINE_S)
        except AdminChildDied as exc:
            # librdkafka can crash on a coordinator that moved (its child contains it):
            # one more read, from a new child.
            get_run_logger().info("consumer lag: %s; reading again", exc)
            return ctx.lags().lag_reading(deadline_s=_LAG_DEADLINE_S)
    except KafkaUnavailable as exc:
        get_run_logger().warning("consumer lag not available (%s)", exc)
        return LagReading({}, note=str(exc))


def read_quorum(ctx: UpgradeContext) -> QuorumStatus:
    """The KRaft metadata quorum: leader, voters, their lag and how recently they caught up.

    PLAINTEXT clusters: one DescribeQuorum request to a broker (``quorum_wire``),
    milliseconds. Others: ``kafka-metadata-quorum.sh`` on a live node with the
    inventory's ``tools_command_config`` (a JVM per read, 1.5-2 s).

    A quorum that cannot be described right now (an election under way, the asked
    brokers restarting) is an unseen poll for the sensors, not a failed step.
    """
    if ctx.inventory.kafka.security_protocol == "PLAINTEXT":
        try:
            return describe_quorum(ctx.inventory.bootstrap_servers)
        except QuorumWireError as exc:
            raise KafkaUnavailable(f"the metadata quorum could not be read: {exc}") from None
    try:
        replication = run_tool(ctx, "kafka-metadata-quorum.sh", ["describe", "--replication"])
    except StepFailed as exc:
        raise KafkaUnavailable(f"the metadata quorum could not be read: {exc}") from None
    # Ages relative to the leader's own clock: skew between hosts cannot fake a lag.
    return quorum_from_replication(replication)
