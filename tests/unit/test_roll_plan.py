"""The roll's rules as tables: observation -> state -> action, and the restart gate."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.health import QuorumStatus, VoterState
from kafka_upgrade.core.roll_plan import (
    ACTIONS,
    Action,
    GateReads,
    NodeObservation,
    NodeState,
    Seen,
    StartLook,
    Want,
    decide,
    failed_start,
    recovered_gate,
    restart_gate,
    restart_gate_reads,
    start_outcome,
)
from tests.unit.snapshots import cluster

OLD, NEW = "3.9.1", "4.1.1"
IBP = "inter.broker.protocol.version"
BROKER = frozenset({"broker"})
CONTROLLER = frozenset({"controller"})
COMBINED = frozenset({"broker", "controller"})
WANT = Want(NEW)
WANT_PIN = Want(NEW, {IBP: "3.9"})


def obs(roles: frozenset[str] = BROKER, **seen: object) -> NodeObservation:
    base: dict[str, object] = {
        "probed": True,
        "running": True,
        "binary": NEW,
        "link": NEW,
        "registered": True,
        "in_every_isr": True,
    }
    return NodeObservation(node_id=2, roles=roles, **{**base, **seen})  # type: ignore[arg-type]


# Each row: what was seen -> the state -> the action.
STATES = [
    ("probe failed", obs(probed=False), WANT, NodeState.UNKNOWN, Action.STOP_RUN),
    (
        "just started, process gone",
        obs(running=False, binary=None, started_by_roll=True, version_before=OLD),
        WANT,
        NodeState.START_FAILED,
        Action.REVERT,
    ),
    (
        "just started, process gone, the request opted out of reverts",
        obs(running=False, binary=None, started_by_roll=True, version_before=OLD),
        Want(NEW, revert_failed_start=False),
        NodeState.START_FAILED_LEFT_DOWN,
        Action.STOP_RUN,
    ),
    (
        "just started, process gone, nothing known to revert to",
        obs(running=False, binary=None, started_by_roll=True),
        WANT,
        NodeState.START_FAILED_LEFT_DOWN,
        Action.STOP_RUN,
    ),
    (
        "stopped, link already on the target",
        obs(running=False, binary=None, link=NEW),
        WANT,
        NodeState.STOPPED_MID_UPGRADE,
        Action.START,
    ),
    (
        "stopped on the old link, but this upgrade's backup exists",
        obs(running=False, binary=None, link=OLD, backup_exists=True),
        WANT,
        NodeState.STOPPED_MID_UPGRADE,
        Action.START,
    ),
    (
        "stopped, nothing explains it",
        obs(running=False, binary=None, link=OLD),
        WANT,
        NodeState.STOPPED,
        Action.STOP_RUN,
    ),
    (
        "runs the old binary",
        obs(binary=OLD, link=OLD),
        WANT,
        NodeState.NEEDS_RESTART,
        Action.RESTART,
    ),
    (
        "runs new, link points back to old",
        obs(link=OLD),
        WANT,
        NodeState.NEEDS_RESTART,
        Action.RESTART,
    ),
    (
        "binary unreadable",
        obs(binary=None),
        WANT,
        NodeState.NEEDS_RESTART,
        Action.RESTART,
    ),
    (
        "runs new, protocol pin missing",
        obs(config={}),
        WANT_PIN,
        NodeState.NEEDS_RESTART,
        Action.RESTART,
    ),
    (
        "runs new, not registered yet",
        obs(registered=False),
        WANT,
        NodeState.RECOVERING,
        Action.WAIT,
    ),
    (
        "runs new, still out of an ISR",
        obs(in_every_isr=False),
        WANT,
        NodeState.RECOVERING,
        Action.WAIT,
    ),
    ("done", obs(), WANT, NodeState.DONE, Action.SKIP),
    ("done, pins as wanted", obs(config={IBP: "3.9"}), WANT_PIN, NodeState.DONE, Action.SKIP),
    (
        "controller-only node done (no registration to wait for)",
        obs(CONTROLLER, registered=None, in_every_isr=None),
        WANT,
        NodeState.DONE,
        Action.SKIP,
    ),
    (
        "controller-only node stopped mid-upgrade",
        obs(CONTROLLER, running=False, binary=None, link=NEW, registered=None),
        WANT,
        NodeState.STOPPED_MID_UPGRADE,
        Action.START,
    ),
    (
        "combined node not back in its ISRs",
        obs(COMBINED, in_every_isr=False),
        WANT,
        NodeState.RECOVERING,
        Action.WAIT,
    ),
    (
        "combined node on the old binary",
        obs(COMBINED, binary=OLD, link=OLD),
        WANT,
        NodeState.NEEDS_RESTART,
        Action.RESTART,
    ),
]


@pytest.mark.parametrize(
    ("seen", "want", "state", "action"), [row[1:] for row in STATES], ids=[r[0] for r in STATES]
)
def test_observation_to_state_to_action(
    seen: NodeObservation, want: Want, state: NodeState, action: Action
) -> None:
    decision = decide(seen, want)
    assert (decision.state, decision.action) == (state, action)
    label = "controller-2" if seen.roles == CONTROLLER else "broker-2"
    assert label in decision.reason.message


def test_every_state_has_an_action() -> None:
    assert set(ACTIONS) == set(NodeState)


def test_an_unexplained_stop_says_what_to_do() -> None:
    decision = decide(obs(running=False, binary=None, link=OLD), WANT)
    assert "Start it" in decision.reason.message and OLD in decision.reason.message


def _quorum(leader: int, lags: dict[int, int]) -> QuorumStatus:
    return QuorumStatus(
        leader_id=leader,
        voters=tuple(
            VoterState(n, 100 - lag, lag, 0 if lag < 50 else 60_000) for n, lag in lags.items()
        ),
    )


HEALTHY = cluster(1, 2, 3).topic("orders", partitions=3, rf=3, min_isr=2)
QUORUM_OK = _quorum(1, {1: 0, 2: 0, 3: 0})
QUORUM_3_BEHIND = _quorum(1, {1: 0, 2: 0, 3: 5000})

GATES = [
    # (why, mode, roles, node, snapshot, quorum, ok, rules)
    ("zk broker, healthy", "zk", BROKER, 2, HEALTHY.build(), None, True, ()),
    (
        "zk broker, another broker down",
        "zk",
        BROKER,
        2,
        cluster(1, 2, 3).topic("orders", partitions=3, rf=3, min_isr=2).stopped(3).build(),
        None,
        False,
        ("broker-missing",),
    ),
    ("kraft combined, healthy quorum", "kraft", COMBINED, 2, HEALTHY.build(), QUORUM_OK, True, ()),
    (
        "kraft combined, another voter behind",
        "kraft",
        COMBINED,
        2,
        HEALTHY.build(),
        QUORUM_3_BEHIND,
        False,
        ("would-lose-quorum",),
    ),
    (
        "kraft combined, quorum unreadable",
        "kraft",
        COMBINED,
        2,
        HEALTHY.build(),
        None,
        False,
        ("quorum-unknown",),
    ),
    (
        "kraft controller-only, cluster healthy",
        "kraft",
        CONTROLLER,
        2,
        HEALTHY.build(),
        QUORUM_OK,
        True,
        (),
    ),
    (
        "kraft controller-only, a broker lagging",
        "kraft",
        CONTROLLER,
        2,
        cluster(1, 3, 4).topic("orders", partitions=1, rf=3, min_isr=2).lagging(4).build(),
        _quorum(1, {1: 0, 2: 0, 5: 0}),
        False,
        ("under-replicated",),
    ),
    (
        "kraft broker-only: no quorum needed",
        "kraft",
        BROKER,
        2,
        HEALTHY.build(),
        None,
        True,
        (),
    ),
]


@pytest.mark.parametrize(
    ("mode", "roles", "node", "snapshot", "quorum", "ok", "rules"),
    [g[1:] for g in GATES],
    ids=[g[0] for g in GATES],
)
def test_restart_gate(mode, roles, node, snapshot, quorum, ok, rules) -> None:  # noqa: ANN001
    expected = snapshot.brokers | {b for p in snapshot.partitions for b in p.replicas}
    verdict = restart_gate(mode, {node: roles}, Seen(snapshot, expected, quorum))
    assert verdict.ok is ok, str(verdict)
    assert set(rules) <= set(verdict.rules)


RECOVERED = [
    ("broker back on new", BROKER, NEW, HEALTHY.build(), None, True, ()),
    (
        "broker still on old",
        BROKER,
        OLD,
        HEALTHY.build(),
        None,
        False,
        ("wrong-version",),
    ),
    (
        "broker not registered yet",
        BROKER,
        NEW,
        cluster(1, 2, 3).topic("orders", partitions=3, rf=3, min_isr=2).stopped(2).build(),
        None,
        False,
        ("node-not-registered",),
    ),
    ("combined node, caught up", COMBINED, NEW, HEALTHY.build(), QUORUM_OK, True, ()),
    (
        "combined node, quorum unknown",
        COMBINED,
        NEW,
        HEALTHY.build(),
        None,
        False,
        ("quorum-unknown",),
    ),
    (
        "controller-only node, lagging",
        CONTROLLER,
        NEW,
        HEALTHY.build(),
        _quorum(1, {1: 0, 2: 5000, 3: 0}),
        False,
        ("controller-lagging",),
    ),
    (
        "controller-only node, not running",
        CONTROLLER,
        None,
        HEALTHY.build(),
        QUORUM_OK,
        False,
        ("wrong-version",),
    ),
]


@pytest.mark.parametrize(
    ("roles", "reported", "snapshot", "quorum", "ok", "rules"),
    [r[1:] for r in RECOVERED],
    ids=[r[0] for r in RECOVERED],
)
def test_recovered_gate(roles, reported, snapshot, quorum, ok, rules) -> None:  # noqa: ANN001
    verdict = recovered_gate("kraft", roles, 2, reported, NEW, Seen(snapshot, {1, 2, 3}, quorum))
    assert verdict.ok is ok, str(verdict)
    assert set(rules) <= set(verdict.rules)


def test_a_broker_whose_listener_refuses_is_named_by_both_gates() -> None:
    snapshot = HEALTHY.build()
    before = restart_gate("kraft", {2: BROKER}, Seen(snapshot, {1, 2, 3}, unreachable={3}))
    assert before.rules == ("broker-unreachable",)
    assert "broker 3 refuses connections" in before.reasons[0].message
    after = recovered_gate("zk", BROKER, 2, NEW, NEW, Seen(snapshot, {1, 2, 3}, unreachable={2, 3}))
    assert after.rules == ("broker-unreachable",)  # the node itself is judged by its own rules
    assert restart_gate("zk", {2: BROKER}, Seen(snapshot, {1, 2, 3}, unreachable={2})).ok


# Watching a start: (look, pid seen before, is a broker) -> ok / failed / still watching.
LIMIT = 60.0
START = [
    # id, look, earlier pid, broker, expected (None: keep watching), words
    ("no process yet, 1 s in", StartLook(1.0, True), None, True, None, ""),
    ("no process after 3 s: JVM died", StartLook(3.2, True), None, True, False, "exited at once"),
    ("pid seen, then gone", StartLook(1.5, True), 4242, True, False, "pid 4242 exited"),
    ("broker up, not registered", StartLook(5, True, 4242), None, True, None, ""),
    ("broker registered", StartLook(5, True, 4242, True), None, True, True, "registered"),
    ("broker never registers", StartLook(61, True, 4242), 4242, True, False, "within 60 s"),
    ("controller up 1 s", StartLook(1, True, 7), None, False, None, ""),
    ("controller up 3 s", StartLook(3, True, 7), 7, False, True, "up for 3 s"),
    ("controller died", StartLook(2, True), 7, False, False, "pid 7 exited"),
    ("combined node: registration", StartLook(9, True, 7, True), 7, True, True, "registered"),
    ("unseen, within the limit", StartLook(10, False), 7, True, None, ""),
    ("unseen past the limit", StartLook(61, False), 7, True, False, "could not be observed"),
]


@pytest.mark.parametrize(
    ("look", "earlier", "broker", "ok", "words"),
    [r[1:] for r in START],
    ids=[r[0] for r in START],
)
def test_start_outcome(look, earlier, broker, ok, words) -> None:  # noqa: ANN001
    outcome = start_outcome(look, earlier, broker, LIMIT)
    if ok is None:
        assert outcome is None
    else:
        assert outcome is not None and outcome.ok is ok and words in outcome.detail


def test_a_failed_start_is_observed_as_such_and_remembers_what_ran_before() -> None:
    before = obs(binary=OLD, link=OLD, config={IBP: "3.9"})
    seen = failed_start(before, NEW, "its JVM exited at once")
    assert (seen.running, seen.binary, seen.link) == (False, None, NEW)
    assert (seen.started_by_roll, seen.version_before, seen.config) == (True, OLD, {IBP: "3.9"})
    assert decide(seen, WANT).action is Action.REVERT
    assert "did not start on 4.1.1: its JVM exited at once" in decide(seen, WANT).reason.message


def test_a_gate_reads_the_quorum_for_a_kraft_controller_and_a_batch_its_partitions() -> None:
    assert restart_gate_reads("kraft", {2: COMBINED}) == GateReads(quorum=True)
    assert restart_gate_reads("kraft", {2: BROKER}) == GateReads(quorum=False)
    assert restart_gate_reads("zk", {2: BROKER}) == GateReads(quorum=False)
    assert restart_gate_reads("kraft", {4: BROKER, 5: BROKER}) == GateReads(False, (4, 5))
