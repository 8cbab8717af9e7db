"""The roll as tables: what a node looks like -> what state it is in -> what to do.

Three pure steps, each a table the tests read as the rules (the shape of
Strimzi's "KafkaRoller 2.0" proposal):

1. ``NodeObservation`` is what the tasks saw: the process, the binary it
   loaded, the ``current`` link, the phase's config keys, whether this
   upgrade's config backup exists, registration and ISR membership. Two rows
   come from the roll itself (``flows/roll.py``): a look that failed is an
   observation with ``probed=False``; a start the roll made that its watch saw
   fail is one with ``started_by_roll=True`` (and what it ran before).
2. ``node_state`` maps it to one ``NodeState`` with a reason in words:

   ============================  ==============================================
   state                         when
   ============================  ==============================================
   UNKNOWN                       the node could not be looked at
   START_FAILED                  this roll started it and the process is gone
   START_FAILED_LEFT_DOWN        the same, and the request opted out of reverts
                                 (or nothing is known to revert to)
   STOPPED_MID_UPGRADE           no process; the backup or the link show that
                                 this upgrade already touched it
   STOPPED                       no process and nothing explains why
   NEEDS_RESTART                 runs, but binary, link or config differ from
                                 what the phase wants
   RECOVERING                    runs what the phase wants, but is not yet
                                 registered or back in every ISR
   DONE                          runs what the phase wants, registered, in
                                 every ISR (or not a broker)
   ============================  ==============================================

3. ``ACTIONS`` maps each state to the ``Action`` the roll takes: skip, wait,
   restart (behind the restart gate), start (on the version the link points
   to: a node left down by a dead run), revert (back to the previous binary and
   config), or stop the run (a failed start the request opted out of reverting
   leaves the node down).

``restart_gate`` composes the health verdicts by role and mode, for one node or
a batch: a broker's partitions must stay available (``can_restart``; a batch:
``can_restart_together``), a controller-only node needs a healthy cluster, a
KRaft controller also a caught-up majority of the other voters
(``can_restart_controller``), and no other broker's listener may refuse
connections. ``recovered_gate`` is the same after the restart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from kafka_upgrade.core.health import (
    ClusterSnapshot,
    QuorumStatus,
    Reason,
    Verdict,
    can_restart,
    can_restart_controller,
    can_restart_together,
    cluster_healthy,
    controller_caught_up,
    node_recovered,
    node_running_version,
)
from kafka_upgrade.core.modes import Mode, mode_of
from kafka_upgrade.core.order import NodeObservation as _PinObservation
from kafka_upgrade.core.order import node_needs_restart


class NodeState(StrEnum):
    UNKNOWN = "unknown"
    START_FAILED = "start failed"
    START_FAILED_LEFT_DOWN = "start failed, left down"
    STOPPED_MID_UPGRADE = "stopped mid-upgrade"
    STOPPED = "stopped"
    NEEDS_RESTART = "needs restart"
    RECOVERING = "recovering"
    DONE = "done"


class Action(StrEnum):
    SKIP = "skip"
    WAIT = "wait until recovered"
    RESTART = "restart"
    START = "start"
    REVERT = "revert"
    STOP_RUN = "stop the run"


ACTIONS: Mapping[NodeState, Action] = {
    NodeState.UNKNOWN: Action.STOP_RUN,
    NodeState.START_FAILED: Action.REVERT,
    NodeState.START_FAILED_LEFT_DOWN: Action.STOP_RUN,
    NodeState.STOPPED_MID_UPGRADE: Action.START,
    NodeState.STOPPED: Action.STOP_RUN,
    NodeState.NEEDS_RESTART: Action.RESTART,
    NodeState.RECOVERING: Action.WAIT,
    NodeState.DONE: Action.SKIP,
}


@dataclass(frozen=True)
class NodeObservation:
    """What the tasks saw on one node, right now."""

    node_id: int
    roles: frozenset[str]
    probed: bool = True  # False: the probe itself failed (SSH)
    running: bool = False
    binary: str | None = None  # version of the jar the running process loaded
    link: str | None = None  # version the ``current`` link points to
    config: Mapping[str, str] = field(default_factory=dict)  # server.properties as set now
    backup_exists: bool = False  # this upgrade's backup of server.properties
    registered: bool | None = None  # brokers: in the cluster's metadata
    in_every_isr: bool | None = None  # brokers: in the ISR of every partition it replicates
    started_by_roll: bool = False  # this roll just issued the start (and the watch saw it fail)
    staged: bool | None = None  # the phase's version directory is installed (None: not looked)
    problem: str | None = None  # why the look failed (probed False) or the start did
    version_before: str | None = None  # started by the roll: what it ran before the restart

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(self.roles))

    @property
    def label(self) -> str:
        return f"broker-{self.node_id}" if "broker" in self.roles else f"controller-{self.node_id}"


@dataclass(frozen=True)
class Want:
    """What a phase wants of every node; ``revert_failed_start``: a node whose new start
    fails goes back to what it ran (else it is left down and the run stops)."""

    binary: str
    config: Mapping[str, str | None] = field(default_factory=dict)
    revert_failed_start: bool = True

    def switches(self, obs: NodeObservation) -> bool:
        """Does restarting this node move its ``current`` link (so the phase's binary must
        be staged there before anything stops)?"""
        return obs.link != self.binary


@dataclass(frozen=True)
class Decision:
    state: NodeState
    action: Action
    reason: Reason

    def __str__(self) -> str:
        return f"{self.state}: {self.reason.message} -> {self.action}"


def node_state(obs: NodeObservation, want: Want) -> tuple[NodeState, Reason]:
    """The state of one node for one phase, with the reason in words (table above)."""
    who = obs.label
    if not obs.probed:
        return NodeState.UNKNOWN, Reason(
            "node-unknown",
            f"{who} could not be looked at ({obs.problem or 'no answer over SSH'}); check the "
            "host and re-run.",
            (who,),
        )
    if not obs.running:
        if obs.started_by_roll:
            return _start_failed(obs, want, who)
        if obs.backup_exists or obs.link == want.binary:
            return NodeState.STOPPED_MID_UPGRADE, Reason(
                "stopped-mid-upgrade",
                f"{who} is stopped, and its config backup or 'current' link show this upgrade "
                f"stopped it (a run that died mid-node); it is started on "
                f"{obs.link or 'its current link'}.",
                (who,),
            )
        return NodeState.STOPPED, Reason(
            "stopped",
            f"{who} has no running Kafka process and nothing shows this upgrade stopped it "
            f"(its 'current' link points to {obs.link or 'nothing readable'}, no backup). Start "
            "it (or find out why it is down) and re-run.",
            (who,),
        )
    pins = _PinObservation(obs.node_id, True, obs.binary, obs.link, obs.config)
    differs = node_needs_restart(pins, want.binary, want.config, who)
    if differs is not None:
        return NodeState.NEEDS_RESTART, Reason(differs.rule, differs.message, (who,))
    if "broker" in obs.roles and (obs.registered is False or obs.in_every_isr is False):
        what = "registered" if obs.registered is False else "back in every ISR"
        return NodeState.RECOVERING, Reason(
            "recovering",
            f"{who} runs {want.binary} but is not {what} yet; waiting for it before going on.",
            (who,),
        )
    return NodeState.DONE, Reason(
        "done", f"{who} already runs {want.binary} with the wanted config.", (who,)
    )


def _start_failed(obs: NodeObservation, want: Want, who: str) -> tuple[NodeState, Reason]:
    """A start the roll made failed: reverted, unless the request opted out or nothing is
    known to revert to (then left down)."""
    said = f"{who} did not start on {obs.link or '?'}: {obs.problem or 'its process exited'}"
    if want.revert_failed_start and obs.version_before:
        return NodeState.START_FAILED, Reason("start-failed", said, (who,))
    why = "revert_on_failed_start is off" if obs.version_before else "no earlier version known"
    return NodeState.START_FAILED_LEFT_DOWN, Reason(
        "start-failed", f"{said}; left down ({why})", (who,)
    )


def decide(obs: NodeObservation, want: Want) -> Decision:
    state, reason = node_state(obs, want)
    return Decision(state, ACTIONS[state], reason)


def failed_start(obs: NodeObservation, binary: str, detail: str) -> NodeObservation:
    """What the roll knows of a node whose start onto ``binary`` it just saw fail: no
    process, the link on ``binary``, what it ran before (``obs``, seen before the stop)."""
    return replace(
        obs,
        running=False,
        binary=None,
        link=binary,
        started_by_roll=True,
        problem=detail,
        version_before=obs.binary or obs.link,
    )


# --------------------------------------------------------------------------
# gates
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class GateLimits:
    controller_max_lag: int = 1000
    controller_caught_up_ms: int = 5000


def unreachable_verdict(unreachable: Collection[int], node_id: int | None = None) -> Verdict:
    """Brokers whose client listener refuses connections right now: their process is most
    likely down, seconds before the cluster fences them (broker.session.timeout.ms)."""
    down = sorted(set(unreachable) - {node_id})
    if not down:
        return Verdict.yes()
    who = ", ".join(f"broker {b}" for b in down)
    return Verdict.no(
        Reason(
            "broker-unreachable",
            f"{who} {'refuses' if len(down) == 1 else 'refuse'} connections on its listener: its "
            "Kafka process is probably down. Nothing else restarts until it is back; start it "
            "or read its server.log.",
            tuple(f"broker {b}" for b in down),
        )
    )


def _quorum_missing(node_id: int) -> Verdict:
    return Verdict.no(
        Reason(
            "quorum-unknown",
            f"the metadata quorum could not be read, so restarting controller {node_id} cannot "
            "be judged safe; waiting",
        )
    )


@dataclass(frozen=True)
class Seen:
    """What one poll saw of the cluster: what every gate judges."""

    snapshot: ClusterSnapshot
    expected_brokers: Collection[int]
    quorum: QuorumStatus | None = None  # read when a KRaft controller is judged
    unreachable: Collection[int] = ()  # brokers whose client listener refuses connections


@dataclass(frozen=True)
class GateReads:
    """What a restart gate reads of the cluster, beyond what every poll reads."""

    quorum: bool  # the metadata quorum: a KRaft controller restarts (always alone)
    partitions_of: tuple[int, ...] = ()  # a batch: every partition of its members


def restart_gate_reads(mode: Mode | str, members: Mapping[int, Collection[str]]) -> GateReads:
    """What ``restart_gate`` will read for these members, so a sensor fetches that and no
    more: a batch, its members' partitions (``can_restart_together``); one node, the quorum
    when it is a KRaft controller."""
    if len(members) > 1:
        return GateReads(quorum=False, partitions_of=tuple(members))
    ((_, roles),) = members.items()
    return GateReads(quorum=mode_of(mode).gates_quorum_of(roles))


def restart_gate(
    mode: Mode | str,
    members: Mapping[int, Collection[str]],
    seen: Seen,
    limits: GateLimits = GateLimits(),
) -> Verdict:
    """May these nodes (node id -> roles; one, or a batch) restart now?

    One node: a broker's partitions stay available (``can_restart``); a controller-only
    node needs a healthy cluster; a KRaft controller also a caught-up majority of the other
    voters (``can_restart_controller``). Several: brokers only (a controller is never
    batched), and every partition keeps min.insync.replicas with all of them down
    (``can_restart_together``). Always: no other broker's listener refuses connections."""
    if len(members) > 1:
        return _batch_gate(members, seen)
    ((node_id, roles),) = members.items()
    verdicts = [
        unreachable_verdict(seen.unreachable, node_id),
        can_restart(seen.snapshot, node_id, seen.expected_brokers)
        if "broker" in roles
        else cluster_healthy(seen.snapshot, seen.expected_brokers),
    ]
    if mode_of(mode).gates_quorum_of(roles):
        verdicts.append(
            _quorum_missing(node_id)
            if seen.quorum is None
            else can_restart_controller(
                seen.quorum, node_id, limits.controller_max_lag, limits.controller_caught_up_ms
            )
        )
    return Verdict.all_of(*verdicts)


def _batch_gate(members: Mapping[int, Collection[str]], seen: Seen) -> Verdict:
    controllers = sorted(n for n, roles in members.items() if "controller" in roles)
    if controllers:
        return Verdict.no(
            Reason(
                "controller-in-batch",
                f"node {controllers[0]} has the controller role and may not restart together "
                "with other nodes; controllers restart one at a time. This is a bug in the batch "
                "plan: report it.",
                tuple(f"node {n}" for n in controllers),
            )
        )
    return Verdict.all_of(
        unreachable_verdict(set(seen.unreachable) - set(members)),
        can_restart_together(seen.snapshot, list(members), seen.expected_brokers),
    )


def recovered_gate(
    mode: Mode | str,
    roles: Collection[str],
    node_id: int,
    reported_version: str | None,
    version: str,
    seen: Seen,
    limits: GateLimits = GateLimits(),
) -> Verdict:
    """Is this node back: on ``version``, registered and in every ISR (brokers), caught up
    with the quorum (KRaft controllers), and the cluster healthy (no other broker's listener
    refusing connections)?"""
    snapshot, expected = seen.snapshot, seen.expected_brokers
    if "broker" in roles:
        verdicts = [node_recovered(snapshot, node_id, reported_version, version, expected)]
    else:
        verdicts = [
            node_running_version(node_id, reported_version, version),
            cluster_healthy(snapshot, expected),
        ]
    verdicts.append(unreachable_verdict(seen.unreachable, node_id))
    if mode_of(mode).gates_quorum_of(roles):
        verdicts.append(
            _quorum_missing(node_id)
            if seen.quorum is None
            else controller_caught_up(seen.quorum, node_id, limits.controller_max_lag)
        )
    return Verdict.all_of(*verdicts)


def registration(snapshot: ClusterSnapshot, node_id: int) -> tuple[bool, bool]:
    """(registered, in the ISR of every partition it replicates) for a broker."""
    registered = node_id in snapshot.brokers
    in_isr = all(node_id in p.isr for p in snapshot.partitions_of(node_id))
    return registered, in_isr


# -- watching a start -------------------------------------------------------------

# The start scripts exec the JVM at once: no Kafka process this long after the start
# means it died. A controller-only node that has stayed up this long counts as started
# (its quorum check follows in the recovered gate).
JVM_GONE_AFTER_S = 3.0
CONTROLLER_UP_S = 3.0


@dataclass(frozen=True)
class StartLook:
    """One look at a node right after the roll started it."""

    elapsed: float  # seconds since the start command
    observed: bool  # False: the node could not be probed this time
    pid: int | None = None  # the Kafka process now, None if none
    registered: bool = False  # (brokers) in the cluster's metadata


@dataclass(frozen=True)
class StartOutcome:
    ok: bool
    seconds: float
    detail: str  # what was seen, in words


def start_outcome(
    look: StartLook, earlier_pid: int | None, is_broker: bool, limit: float
) -> StartOutcome | None:
    """Has the start succeeded, failed, or is it still under way (None)?

    ``earlier_pid`` is a process an earlier look saw; ``limit`` is
    ``timeouts.start_s``, the most a broker may take to register.
    """
    t = look.elapsed
    if not look.observed:
        if t > limit:
            return StartOutcome(False, t, f"could not be observed for {limit:.0f} s")
        return None
    if look.pid is None and (earlier_pid is not None or t > JVM_GONE_AFTER_S):
        what = f"pid {earlier_pid} exited" if earlier_pid else "its JVM exited at once"
        return StartOutcome(False, t, f"{what}; no Kafka process {t:.1f} s after the start")
    if look.pid is not None:
        if is_broker and look.registered:
            return StartOutcome(True, t, f"pid {look.pid} registered after {t:.1f} s")
        if not is_broker and t >= CONTROLLER_UP_S:
            return StartOutcome(True, t, f"pid {look.pid} up for {t:.0f} s")
    if t > limit:
        return StartOutcome(
            False, t, f"pid {look.pid or earlier_pid} did not register within {limit:.0f} s"
        )
    return None
