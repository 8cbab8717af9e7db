"""The health rules as a spec: tables of cluster snapshots and the verdict each must get."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.health import (
    ClusterSnapshot,
    PartitionState,
    QuorumStatus,
    Reason,
    SeenStable,
    Stability,
    Verdict,
    VoterState,
    can_restart,
    can_restart_controller,
    carried_stability,
    cluster_healthy,
    lag_by_group,
    lag_report,
    node_recovered,
    poll_pause,
    stable,
    window_clean,
)
from tests.unit.snapshots import ImpossibleState, SnapshotBuilder, cluster


def orders(*brokers: int, min_isr: int = 2) -> SnapshotBuilder:
    """Three brokers (or the ones given), topic 'orders': 3 partitions, RF 3."""
    return cluster(*(brokers or (1, 2, 3))).topic("orders", partitions=3, rf=3, min_isr=min_isr)


# ---------------------------------------------------------------------------
# The test builder refuses impossible states
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: cluster(1, 2, 3).partition("t", 0, replicas=[1, 2], isr=[1, 3]), "subset"),
        (lambda: cluster(1, 2, 3).partition("t", 0, replicas=[1, 2], isr=[2], leader=1), "leader"),
        (
            lambda: cluster(1, 2).partition("t", 0, replicas=[1]).partition("t", 0, replicas=[2]),
            "defined twice",
        ),
        (lambda: cluster(1, 2).partition("t", 0, replicas=[1, 5]), "not part of this cluster"),
        (lambda: cluster(1, 2).partition("t", 0, replicas=[1, 1]), "twice"),
        (lambda: cluster(1, 2).partition("t", 0, replicas=[]), "at least one replica"),
        (lambda: cluster(1, 2).partition("t", 0, replicas=[1], min_isr=0), "at least 1"),
        (
            lambda: (
                cluster(1, 2)
                .partition("t", 0, replicas=[1, 2], min_isr=2)
                .partition("t", 1, replicas=[1, 2], min_isr=1)
            ),
            "topic config",
        ),
        (lambda: cluster(1, 2).partition("t", 0, replicas=[1]).lagging(1), "only in-sync"),
        (lambda: cluster(1, 2).topic("t", rf=3), "needs 3 brokers"),
        (
            lambda: cluster(1, 2).unregistered(2).partition("t", 0, replicas=[1, 2]).build(),
            "not registered",
        ),
        (lambda: cluster(1, 2).unregistered(1).controller(1).build(), "controller 1"),
    ],
    ids=[
        "isr-not-subset",
        "leader-outside-isr",
        "duplicate-partition",
        "unknown-broker",
        "duplicate-replica",
        "no-replicas",
        "min-isr-zero",
        "min-isr-per-partition",
        "isr-emptied",
        "rf-above-brokers",
        "stopped-broker-in-isr",
        "stopped-controller",
    ],
)
def test_builder_refuses_impossible_states(build, words: str) -> None:
    with pytest.raises(ImpossibleState, match=words):
        build()


def test_builder_stopped_moves_leadership_and_takes_last_replicas_offline() -> None:
    snap = (
        cluster(1, 2, 3)
        .partition("t", 0, replicas=[3, 1, 2])
        .partition("solo", 0, replicas=[3])
        .stopped(3)
        .build()
    )
    t0, solo = snap.partitions[1], snap.partitions[0]
    assert (t0.isr, t0.leader) == ((1, 2), 1)
    assert (solo.isr, solo.leader) == ((3,), None)
    assert snap.brokers == {1, 2}


# ---------------------------------------------------------------------------
# Snapshot helpers
# ---------------------------------------------------------------------------


def test_snapshot_helpers() -> None:
    snap = (
        cluster(1, 2, 3)
        .partition("a", 0, replicas=[1, 2, 3], isr=[1], min_isr=2)
        .partition("b", 0, replicas=[2, 3], isr=[2, 3])
        .partition("c", 0, replicas=[1], min_isr=2)  # RF below min ISR: never "under min ISR"
        .stopped(1)
        .build()
    )
    names = lambda ps: [p.name for p in ps]  # noqa: E731
    assert names(snap.offline()) == ["a-0", "c-0"]
    assert names(snap.under_replicated()) == ["a-0"]
    assert names(snap.under_min_isr()) == ["a-0"]
    assert names(snap.partitions_of(3)) == ["a-0", "b-0"]
    assert names(snap.awaiting_preferred_leader(2)) == []  # 2 leads b-0 already
    assert names(snap.awaiting_preferred_leader(1)) == ["a-0", "c-0"]


def test_model_accepts_lists_from_the_admin_client() -> None:
    p = PartitionState("t", 0, [1, 2], [1, 2], 1)  # type: ignore[arg-type]
    snap = ClusterSnapshot({1, 2}, [p])  # type: ignore[arg-type]
    assert p.replicas == (1, 2) and snap.brokers == frozenset({1, 2})
    hash(snap)


# ---------------------------------------------------------------------------
# Rules 1-4: cluster_healthy
# ---------------------------------------------------------------------------

HEALTH_TABLE = [
    # id, snapshot, expected brokers (None = all), refusal rules, note rules
    ("healthy", orders(), None, (), ()),
    ("broker-3-stopped", orders().stopped(3), None, ("broker-missing", "under-replicated"), ()),
    (
        "rf1-partition-offline",
        orders().partition("solo", 0, replicas=[3]).stopped(3),
        None,
        ("broker-missing", "partition-offline", "under-replicated"),
        (),
    ),
    ("broker-2-lagging", orders().lagging(2), None, ("under-replicated",), ()),
    ("two-lagging-below-min-isr", orders().lagging(2, 3), None, ("under-min-isr",), ()),
    (
        "rf-below-min-isr-is-a-note",
        orders().partition("tiny", 0, replicas=[1], min_isr=2),
        None,
        (),
        ("rf-below-min-isr",),
    ),
    (
        "rf-equals-min-isr-and-short-counts",
        cluster(1, 2, 3).partition("pair", 0, replicas=[1, 2], isr=[1], min_isr=2),
        None,
        ("under-min-isr",),
        (),
    ),
    ("broker-outside-inventory", orders(), {1, 2}, (), ("unexpected-broker",)),
    ("never-registered", orders(), {1, 2, 3, 4}, ("broker-missing",), ()),
]


@pytest.mark.parametrize(
    ("builder", "expected", "rules", "notes"),
    [row[1:] for row in HEALTH_TABLE],
    ids=[row[0] for row in HEALTH_TABLE],
)
def test_cluster_healthy(builder, expected, rules, notes) -> None:
    verdict = cluster_healthy(builder.build(), expected or builder.expected)
    assert verdict.rules == rules
    assert verdict.note_rules == notes
    assert verdict.ok is (not rules)


def test_missing_broker_message_names_it_and_says_what_to_do() -> None:
    verdict = cluster_healthy(orders().stopped(3).build(), {1, 2, 3})
    (missing,) = [r for r in verdict.reasons if r.rule == "broker-missing"]
    assert "broker 3 is not registered" in missing.message
    assert "server.log" in missing.message
    assert missing.subjects == ("broker 3",)


def test_under_replicated_message_caps_the_list() -> None:
    builder = cluster(1, 2, 3).topic("big", partitions=8, rf=3).lagging(3)
    (urp,) = cluster_healthy(builder.build(), {1, 2, 3}).reasons
    assert urp.rule == "under-replicated"
    assert "8 partitions are under-replicated" in urp.message
    assert "and 3 more" in urp.message
    assert "broker 3" in urp.message
    assert len(urp.subjects) == 8


def test_offline_partition_message() -> None:
    snap = cluster(1, 2, 3).partition("solo", 0, replicas=[3]).stopped(3).build()
    reason = next(
        r for r in cluster_healthy(snap, {1, 2, 3}).reasons if r.rule == "partition-offline"
    )
    assert "solo-0" in reason.message and "broker 3" in reason.message


# ---------------------------------------------------------------------------
# Rule 5: can_restart
# ---------------------------------------------------------------------------

RESTART_TABLE = [
    # id, snapshot, node, require_healthy, refusal rules, note rules
    ("healthy-any-broker", orders(), 2, True, (), ()),
    (
        "broker-hosting-nothing",
        cluster(1, 2, 3, 4).partition("orders", 0, replicas=[1, 2, 3], min_isr=2),
        4,
        True,
        (),
        (),
    ),
    (
        "rf1-topic-never-blocks-its-broker",
        orders().partition("solo", 0, replicas=[1]),
        1,
        True,
        (),
        ("cannot-stay-available",),
    ),
    ("rf1-topic-elsewhere-no-note", orders().partition("solo", 0, replicas=[1]), 2, True, (), ()),
    (
        "rf2-min-isr-2-never-blocks",
        orders().partition("pair", 0, replicas=[1, 2], min_isr=2),
        2,
        True,
        (),
        ("cannot-stay-available",),
    ),
    # ISR == min.insync.replicas: blocks the brokers in that ISR, not the others.
    (
        "isr-at-min-blocks-isr-member",
        cluster(1, 2, 3, 4).partition("t", 0, replicas=[1, 2, 3], isr=[1, 2], min_isr=2),
        1,
        False,
        ("would-break-min-isr",),
        ("under-replicated",),
    ),
    (
        "isr-at-min-blocks-other-isr-member",
        cluster(1, 2, 3, 4).partition("t", 0, replicas=[1, 2, 3], isr=[1, 2], min_isr=2),
        2,
        False,
        ("would-break-min-isr",),
        ("under-replicated",),
    ),
    (
        "isr-at-min-not-the-lagging-replica",
        cluster(1, 2, 3, 4).partition("t", 0, replicas=[1, 2, 3], isr=[1, 2], min_isr=2),
        3,
        False,
        (),
        ("under-replicated",),
    ),
    (
        "isr-at-min-not-a-broker-without-replica",
        cluster(1, 2, 3, 4).partition("t", 0, replicas=[1, 2, 3], isr=[1, 2], min_isr=2),
        4,
        False,
        (),
        ("under-replicated",),
    ),
    # By default (require_healthy) any under-replicated partition holds every restart.
    (
        "strict-urp-blocks-unrelated-broker",
        cluster(1, 2, 3, 4).partition("t", 0, replicas=[1, 2, 3], isr=[1, 2], min_isr=2),
        4,
        True,
        ("under-replicated",),
        (),
    ),
    (
        "strict-isr-member-gets-both-reasons",
        cluster(1, 2, 3, 4).partition("t", 0, replicas=[1, 2, 3], isr=[1, 2], min_isr=2),
        1,
        True,
        ("under-replicated", "would-break-min-isr"),
        (),
    ),
    (
        "min-isr-1-last-isr-member-would-go-offline",
        cluster(1, 2, 3).partition("t", 0, replicas=[1, 2, 3], isr=[1], min_isr=1),
        1,
        False,
        ("would-break-min-isr",),
        ("under-replicated",),
    ),
    (
        "min-isr-1-two-in-sync-is-fine",
        cluster(1, 2, 3).partition("t", 0, replicas=[1, 2, 3], isr=[1, 2], min_isr=1),
        1,
        False,
        (),
        ("under-replicated",),
    ),
    (
        "another-broker-down",
        orders().stopped(3),
        1,
        True,
        ("broker-missing", "under-replicated", "would-break-min-isr"),
        (),
    ),
    (
        "another-broker-down-min-isr-1",
        orders(min_isr=1).stopped(3),
        1,
        True,
        ("broker-missing", "under-replicated"),
        (),
    ),
    ("unknown-node", orders(), 9, True, ("unknown-broker",), ()),
]


@pytest.mark.parametrize(
    ("builder", "node", "require_healthy", "rules", "notes"),
    [row[1:] for row in RESTART_TABLE],
    ids=[row[0] for row in RESTART_TABLE],
)
def test_can_restart(builder, node, require_healthy, rules, notes) -> None:
    verdict = can_restart(builder.build(), node, builder.expected, require_healthy=require_healthy)
    assert verdict.rules == rules
    assert verdict.note_rules == notes


def test_would_break_min_isr_message_names_broker_partition_and_remedy() -> None:
    builder = cluster(1, 2, 3).partition("payments", 4, replicas=[1, 2, 3], isr=[1, 2], min_isr=2)
    verdict = can_restart(builder.build(), 2, {1, 2, 3}, require_healthy=False)
    (reason,) = verdict.reasons
    assert "broker 2 may not restart" in reason.message
    assert "payments-4" in reason.message
    assert "min.insync.replicas 2" in reason.message
    assert "Wait for broker 3 to rejoin the ISR" in reason.message
    assert str(verdict).startswith("refused: [would-break-min-isr] broker 2")


def test_verdict_is_falsy_when_refused() -> None:
    assert can_restart(orders().build(), 1, {1, 2, 3})
    assert not can_restart(orders().lagging(2).build(), 1, {1, 2, 3})


# ---------------------------------------------------------------------------
# Rule 6: node_recovered
# ---------------------------------------------------------------------------

RECOVERED_TABLE = [
    # id, snapshot, node, reported version, refusal rules
    ("back-and-healthy", orders(), 2, "3.8.1", ()),
    ("not-yet-in-isr", orders().lagging(2), 2, "3.8.1", ("not-in-isr",)),
    (
        "not-registered",
        orders().stopped(2),
        2,
        None,
        ("node-not-registered", "version-unknown", "not-in-isr"),
    ),
    ("wrong-version", orders(), 2, "3.7.2", ("wrong-version",)),
    ("version-unknown", orders(), 2, None, ("version-unknown",)),
    ("another-broker-lagging", orders().lagging(3), 2, "3.8.1", ("under-replicated",)),
    (
        "another-broker-down",
        orders().stopped(3),
        2,
        "3.8.1",
        ("broker-missing", "under-replicated"),
    ),
]


@pytest.mark.parametrize(
    ("builder", "node", "version", "rules"),
    [row[1:] for row in RECOVERED_TABLE],
    ids=[row[0] for row in RECOVERED_TABLE],
)
def test_node_recovered(builder, node, version, rules) -> None:
    verdict = node_recovered(builder.build(), node, version, "3.8.1", builder.expected)
    assert verdict.rules == rules


def test_node_recovered_messages() -> None:
    verdict = node_recovered(orders().lagging(2).build(), 2, "3.7.2", "3.8.1", {1, 2, 3})
    text = str(verdict)
    assert "broker 2 runs 3.7.2, target 3.8.1" in text
    assert (
        "broker 2 is not yet back in the ISR of 3 partitions: orders-0, orders-1, orders-2" in text
    )


# ---------------------------------------------------------------------------
# Rule 7: Stability
# ---------------------------------------------------------------------------

OK = Verdict.yes()
BAD = Verdict.no(Reason("under-replicated", "orders-0 is under-replicated"))


@pytest.mark.parametrize(
    ("history", "required", "expected"),
    [
        ([], 1, False),
        ([OK], 1, True),
        ([OK, OK], 3, False),
        ([OK, OK, OK], 3, True),
        ([OK, OK, BAD, OK, OK], 3, False),
        ([BAD, OK, OK, OK], 3, True),
        ([OK, OK, OK, BAD], 3, False),
    ],
)
def test_stable(history, required, expected) -> None:
    assert stable(history, required) is expected


def test_stability_accumulates_and_explains() -> None:
    s = Stability(required=2).observe(OK).observe(BAD)
    assert (s.streak, s.stable) == (0, False)
    assert "0/2 healthy polls" in str(s) and "under-replicated" in str(s)
    s = s.observe(OK).observe(OK)
    assert s.stable and str(s) == "2/2 healthy polls in a row"
    with pytest.raises(ValueError):
        Stability(required=0)


@pytest.mark.parametrize(
    ("polls", "expected"),
    [
        # (seconds, verdict) with required=3 polls over min_seconds=2
        ([(0, OK), (0.25, OK), (0.5, OK)], False),  # three fast polls: not long enough
        ([(0, OK), (1, OK), (2, OK)], True),
        ([(0, OK), (0.25, OK), (0.5, OK), (1.0, OK), (1.99, OK)], False),
        ([(0, OK), (0.5, OK), (1.0, OK), (1.5, OK), (2.0, OK)], True),
        ([(0, OK), (5, OK)], False),  # long enough, but one poll short
        ([(0, OK), (1, OK), (1.5, BAD), (2, OK), (3, OK), (3.5, OK)], False),  # reset at 1.5
        ([(0, OK), (1, OK), (1.5, BAD), (2, OK), (3, OK), (4, OK)], True),
        ([(0, BAD), (10, OK), (10.2, OK), (10.4, OK)], False),  # waiting bad is not healthy time
    ],
)
def test_stability_needs_time_as_well_as_count(polls, expected) -> None:
    s = Stability(required=3, min_seconds=2)
    for at, verdict in polls:
        s = s.observe(verdict, at=at)
    assert s.stable is expected


def test_stability_says_how_long() -> None:
    s = Stability(required=3, min_seconds=2).observe(OK, at=10).observe(OK, at=10.5)
    assert str(s) == "2/3 healthy polls in a row, 0.5/2 s"
    with pytest.raises(ValueError):
        Stability(required=1, min_seconds=-1)


def test_verdict_invariants() -> None:
    with pytest.raises(ValueError):
        Verdict(True, (BAD.reasons[0],))
    with pytest.raises(ValueError):
        Verdict(False)
    both = Verdict.all_of(OK, BAD, Verdict.yes(Reason("x", "note")))
    assert not both.ok and both.rules == ("under-replicated",) and both.note_rules == ("x",)
    assert str(OK) == "ok"


# ---------------------------------------------------------------------------
# Rule 8: KRaft controllers
# ---------------------------------------------------------------------------

MAX_LAG, MAX_AGE = 1000, 2000


def voter(node: int, lag: int = 0, ago: int | None = 50) -> VoterState:
    return VoterState(node, log_end_offset=10_000 - lag, lag=lag, last_caught_up_ms_ago=ago)


def quorum(leader: int | None, *voters: VoterState) -> QuorumStatus:
    return QuorumStatus(leader_id=leader, voters=voters, high_watermark=10_000)


QUORUM_TABLE = [
    # id, quorum, node to restart, refusal rules, note rules
    ("3-all-caught-up-follower", quorum(1, voter(1), voter(2), voter(3)), 2, (), ()),
    ("3-all-caught-up-leader", quorum(1, voter(1), voter(2), voter(3)), 1, (), ()),
    (
        "3-other-follower-lags",
        quorum(1, voter(1), voter(2), voter(3, lag=5000)),
        2,
        ("would-lose-quorum",),
        (),
    ),
    ("3-restart-the-lagging-one", quorum(1, voter(1), voter(2), voter(3, lag=5000)), 3, (), ()),
    (
        "3-other-follower-stale",
        quorum(1, voter(1), voter(2), voter(3, ago=10_000)),
        2,
        ("would-lose-quorum",),
        (),
    ),
    (
        "3-other-never-caught-up",
        quorum(1, voter(1), voter(2), voter(3, ago=None)),
        2,
        ("would-lose-quorum",),
        (),
    ),
    (
        "3-leader-with-lagging-follower",
        quorum(1, voter(1), voter(2), voter(3, lag=5000)),
        1,
        ("would-lose-quorum",),
        (),
    ),
    (
        "3-lag-at-limit-counts",
        quorum(1, voter(1), voter(2), voter(3, lag=1000, ago=2000)),
        2,
        (),
        (),
    ),
    (
        "5-one-lagging",
        quorum(1, voter(1), voter(2), voter(3), voter(4), voter(5, lag=9999)),
        2,
        (),
        (),
    ),
    (
        "5-two-lagging",
        quorum(1, voter(1), voter(2), voter(3), voter(4, lag=9999), voter(5, lag=9999)),
        2,
        ("would-lose-quorum",),
        (),
    ),
    (
        "5-two-lagging-restart-one-of-them",
        quorum(1, voter(1), voter(2), voter(3), voter(4, lag=9999), voter(5, lag=9999)),
        5,
        (),
        (),
    ),
    ("4-all-caught-up", quorum(1, voter(1), voter(2), voter(3), voter(4)), 2, (), ()),
    (
        "4-one-lagging",
        quorum(1, voter(1), voter(2), voter(3), voter(4, lag=9999)),
        2,
        ("would-lose-quorum",),
        (),
    ),
    ("1-voter-never-blocks", quorum(1, voter(1)), 1, (), ("quorum-cannot-stay-available",)),
    (
        "2-voters-never-block",
        quorum(1, voter(1), voter(2)),
        2,
        (),
        ("quorum-cannot-stay-available",),
    ),
    ("not-a-voter", quorum(1, voter(1), voter(2), voter(3)), 7, ("not-a-voter",), ()),
    ("no-leader", quorum(None, voter(1), voter(2), voter(3)), 2, ("no-quorum-leader",), ()),
]


@pytest.mark.parametrize(
    ("q", "node", "rules", "notes"),
    [row[1:] for row in QUORUM_TABLE],
    ids=[row[0] for row in QUORUM_TABLE],
)
def test_can_restart_controller(q, node, rules, notes) -> None:
    verdict = can_restart_controller(q, node, MAX_LAG, MAX_AGE)
    assert verdict.rules == rules
    assert verdict.note_rules == notes


def test_would_lose_quorum_explains_who_is_behind() -> None:
    q = quorum(3002, voter(3000), voter(3001, lag=5000, ago=12_000), voter(3002))
    (reason,) = can_restart_controller(q, 3000, MAX_LAG, MAX_AGE).reasons
    assert "controller 3000 may not restart" in reason.message
    assert "only 1 of 3 voters are caught up and the quorum needs 2" in reason.message
    assert "voter 3001 lags 5000 records (max 1000)" in reason.message
    assert "last caught up 12000 ms ago (max 2000)" in reason.message
    assert reason.subjects == ("controller 3001",)


# ---------------------------------------------------------------------------
# Rule 9: consumer lag (informational)
# ---------------------------------------------------------------------------


def test_lag_report_names_groups_that_grew_beyond_tolerance() -> None:
    report = lag_report(
        before={"billing": 10, "search": 500, "audit": 0, "old": 7},
        after={"billing": 12, "search": 9000, "audit": 20_000, "new": 3},
        tolerance=1000,
    )
    assert [c.group for c in report.grown] == ["audit", "search"]
    assert not report.ok
    (reason,) = report.reasons
    assert reason.rule == "consumer-lag-grew"
    assert "audit (+20000: 0 -> 20000), search (+8500: 500 -> 9000)" in reason.message
    assert [n.rule for n in report.notes] == ["consumer-group-new", "consumer-group-gone"]
    assert report.verdict().rules == ("consumer-lag-grew",)


@pytest.mark.parametrize(("growth", "tolerance", "grown"), [(100, 100, False), (101, 100, True)])
def test_lag_tolerance_is_a_parameter(growth: int, tolerance: int, grown: bool) -> None:
    report = lag_report({"g": 0}, {"g": growth}, tolerance)
    assert bool(report.grown) is grown
    assert str(report).startswith("consumer lag within" if not grown else "[consumer-lag-grew]")


def test_lag_inputs() -> None:
    from kafka_upgrade.core.health import LagSample

    assert lag_by_group([LagSample("a", 1), LagSample("b", 2)]) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="twice"):
        lag_by_group([LagSample("a", 1), LagSample("a", 2)])
    with pytest.raises(ValueError):
        lag_report({}, {}, -1)


# Carried stability: one healthy poll instead of a second watch, and when not.

SEEN = SeenStable(at=100.0, after="after broker-1's recovery")


@pytest.mark.parametrize(
    ("seen", "unhealthy_at", "now", "carried"),
    [
        (None, None, 101.0, False),  # nothing seen stable
        (SEEN, None, 101.5, True),
        (SEEN, 99.0, 101.5, True),  # unhealthy before it was seen stable: no matter
        (SEEN, 100.0, 101.5, False),  # unhealthy at the same moment: voided
        (SEEN, 100.7, 101.5, False),  # e.g. an election saw an offline partition
        (SEEN, None, 115.0, True),  # exactly at the reuse limit
        (SEEN, None, 115.1, False),  # too old
    ],
)
def test_carried_stability(
    seen: SeenStable | None, unhealthy_at: float | None, now: float, carried: bool
) -> None:
    said = carried_stability(seen, unhealthy_at, now, reuse_s=15.0)
    assert (said is not None) is carried
    if said is not None:
        assert said == (
            f"the cluster was seen stably healthy {now - 100.0:.1f} s ago "
            "(after broker-1's recovery), nothing unhealthy since"
        )


@pytest.mark.parametrize(
    ("since", "unhealthy_at", "clean"),
    [(10.0, None, True), (10.0, 9.9, True), (10.0, 10.0, False), (10.0, 12.0, False)],
)
def test_a_stability_window_counts_only_if_nothing_beside_it_saw_trouble(
    since: float, unhealthy_at: float | None, clean: bool
) -> None:
    assert window_clean(since, unhealthy_at) is clean


@pytest.mark.parametrize(
    ("interval", "took", "snapshot_s", "pause"),
    [
        (0.25, 0.05, 0.03, 0.20),  # a cheap poll: the rest of the interval
        (0.25, 0.22, 0.03, 0.03),  # mostly an SSH probe's wait: the snapshot's share only
        (0.25, 1.10, 1.00, 1.00),  # a big cluster's slow snapshot: never polled flat out
        (1.00, 0.40, 0.40, 0.60),  # within the interval, the interval rules
        (0.25, 0.30, 0.00, 0.00),  # a poll that took no snapshot (the probe alone)
    ],
)
def test_poll_pause(interval, took, snapshot_s, pause) -> None:
    assert poll_pause(interval, took, snapshot_s) == pytest.approx(pause)
