"""The summary snapshot (only the partitions out of line) gets the verdicts of the complete one.

Two oracles: the health tables' own rows, and the verdict code of commit
a37339f (``benchmarks.baseline``, one full scan per rule) on random clusters
built with the test builder. Verdicts are compared whole: rules, messages,
subjects and notes.
"""

from __future__ import annotations

import pickle
import random

import pytest

from benchmarks import baseline
from kafka_upgrade.core.health import (
    ClusterSnapshot,
    SnapshotIncomplete,
    can_restart,
    cluster_healthy,
    is_out_of_line,
    node_recovered,
)
from tests.unit.snapshots import SnapshotBuilder, cluster
from tests.unit.test_health import HEALTH_TABLE, RECOVERED_TABLE, RESTART_TABLE


def summary_of(snap: ClusterSnapshot) -> ClusterSnapshot:
    """What the admin child would ship for ``snap`` when no node is named."""
    return ClusterSnapshot.summary(
        snap.brokers, snap.out_of_line, len(snap.partitions), snap.controller_id
    )


def old_of(snap: ClusterSnapshot) -> baseline.ClusterSnapshot:
    return baseline.ClusterSnapshot(snap.brokers, snap.partitions, snap.controller_id)


# ---------------------------------------------------------------------------
# Which partitions are out of line
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "isr", "leader", "min_isr", "out"),
    [
        ((1, 2, 3), (1, 2, 3), 1, 2, False),  # healthy
        ((1, 2, 3), (3, 1, 2), 3, 2, False),  # ISR in another order, not preferred leader
        ((1, 2, 3), (1, 2), 1, 2, True),  # under-replicated
        ((1, 2, 3), (1,), 1, 2, True),  # under min ISR
        ((1, 2, 3), (3,), None, 2, True),  # offline
        ((1, 2, 3), (3,), -1, 2, True),  # offline, as the client says it
        ((1, 2), (1, 2), 1, 2, True),  # RF = min ISR: a restart makes it unavailable
        ((1,), (1,), 1, 2, True),  # RF below min ISR
        ((1, 2, 3), (1, 2, 4), 1, 2, True),  # an ISR member outside the replicas
        ([1, 2, 3], [1, 2, 3], 1, 2, False),  # lists, as the client gives them
    ],
)
def test_out_of_line(replicas, isr, leader, min_isr, out) -> None:  # noqa: ANN001
    assert is_out_of_line(replicas, isr, leader, min_isr) is out


# ---------------------------------------------------------------------------
# The table rows, on the summary
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("row", HEALTH_TABLE, ids=[r[0] for r in HEALTH_TABLE])
def test_cluster_healthy_same_on_summary(row) -> None:  # noqa: ANN001
    _, builder, expected, _, _ = row
    snap = builder.build()
    expected = expected or builder.expected
    assert cluster_healthy(summary_of(snap), expected) == cluster_healthy(snap, expected)


@pytest.mark.parametrize("row", RESTART_TABLE, ids=[r[0] for r in RESTART_TABLE])
def test_can_restart_same_on_summary(row) -> None:  # noqa: ANN001
    _, builder, node, require_healthy, _, _ = row
    snap, expected = builder.build(), builder.expected
    assert can_restart(summary_of(snap), node, expected, require_healthy=require_healthy) == (
        can_restart(snap, node, expected, require_healthy=require_healthy)
    )


@pytest.mark.parametrize("row", RECOVERED_TABLE, ids=[r[0] for r in RECOVERED_TABLE])
def test_node_recovered_same_on_summary(row) -> None:  # noqa: ANN001
    _, builder, node, version, _ = row
    snap, expected = builder.build(), builder.expected
    assert node_recovered(summary_of(snap), node, version, "3.8.1", expected) == (
        node_recovered(snap, node, version, "3.8.1", expected)
    )


# ---------------------------------------------------------------------------
# Random clusters: new verdicts == the old full-scan verdicts
# ---------------------------------------------------------------------------


def random_cluster(rng: random.Random) -> SnapshotBuilder:
    brokers = list(range(1, rng.randint(3, 7)))
    b = cluster(*brokers)
    for t in range(rng.randint(1, 4)):
        rf = rng.randint(1, min(3, len(brokers)))
        b.topic(f"t{t}", partitions=rng.randint(1, 6), rf=rf, min_isr=rng.randint(1, 3))
    down = rng.sample(brokers, rng.randint(0, 2))
    lagging = [x for x in rng.sample(brokers, rng.randint(0, 2)) if x not in down]
    b.stopped(*down)
    for x in lagging:
        try:
            b.lagging(x)
        except ValueError:  # it is the last in-sync replica somewhere: leave it
            pass
    return b


@pytest.mark.parametrize("seed", range(60))
def test_verdicts_match_the_old_full_scans(seed: int) -> None:
    rng = random.Random(seed)
    builder = random_cluster(rng)
    snap = builder.build()
    expected = set(builder.expected)
    if rng.random() < 0.2:
        expected.add(99)  # never registered
    old, summary = old_of(snap), summary_of(snap)
    for new_snap in (snap, summary):
        assert cluster_healthy(new_snap, expected) == baseline.cluster_healthy(old, expected)
        for node in sorted(builder.expected):
            for healthy in (True, False):
                assert can_restart(
                    new_snap, node, expected, require_healthy=healthy
                ) == baseline.can_restart(old, node, expected, require_healthy=healthy)
            for version in ("4.1.1", "3.9.1", None):
                assert node_recovered(
                    new_snap, node, version, "4.1.1", expected
                ) == baseline.node_recovered(old, node, version, "4.1.1", expected)


# ---------------------------------------------------------------------------
# The summary's API
# ---------------------------------------------------------------------------


def _lagging_builder() -> SnapshotBuilder:
    return (
        cluster(1, 2, 3, 4)
        .topic("orders", partitions=8, rf=3, min_isr=2)
        .partition("solo", 0, replicas=[4])
        .lagging(2)
    )


def test_summary_carries_the_partitions_of_the_nodes_named() -> None:
    snap = _lagging_builder().build()
    summary = ClusterSnapshot.summary(
        snap.brokers,
        snap.out_of_line,
        len(snap.partitions),
        snap.controller_id,
        node_partitions={1: snap.partitions_of(1), 3: snap.partitions_of(3)},
    )
    assert not summary.complete
    assert summary.partitions_of(1) == snap.partitions_of(1)
    assert summary.awaiting_preferred_leader(3) == snap.awaiting_preferred_leader(3)
    with pytest.raises(
        SnapshotIncomplete, match=r"and those of brokers \[1, 3\], not those of broker 2"
    ):
        summary.partitions_of(2)
    assert summary == snap and hash(summary) == hash(snap)
    assert summary.offline() == snap.offline()
    assert summary.under_replicated() == snap.under_replicated()
    assert summary.under_min_isr() == snap.under_min_isr()


def test_summary_says_what_it_lacks() -> None:
    summary = summary_of(_lagging_builder().build())
    with pytest.raises(SnapshotIncomplete, match="out of line of 9"):
        summary.partitions_of(1)
    with pytest.raises(SnapshotIncomplete):
        _ = summary.partitions
    # compared on what it carries, never by raising
    snap = _lagging_builder().build()
    assert summary == snap
    assert summary != _lagging_builder().lagging(3).build()


def test_snapshot_is_immutable_hashable_and_pickles() -> None:
    snap = _lagging_builder().build()
    with pytest.raises(AttributeError):
        snap.brokers = frozenset()  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(snap)) == snap
    summary = summary_of(snap)
    again = pickle.loads(pickle.dumps(summary))
    assert again.out_of_line == snap.out_of_line and again.partition_count == 9
    assert len({snap, snap}) == 1
    assert "summary: 4 brokers, 9 partitions" in repr(summary)


# ---------------------------------------------------------------------------
# Long lists are capped in every message
# ---------------------------------------------------------------------------


def big_cluster(brokers: int, *, stopped: tuple[int, ...] = ()) -> SnapshotBuilder:
    return (
        cluster(*range(1, brokers + 1))
        .topic("big", partitions=300, rf=3, min_isr=2)
        .stopped(*stopped)
    )


def test_broker_lists_are_capped_with_runs() -> None:
    builder = big_cluster(1000, stopped=tuple(range(2, 1000, 2)))
    verdict = can_restart(builder.build(), 1, builder.expected)
    missing = next(r for r in verdict.reasons if r.rule == "broker-missing")
    assert "brokers 2, 4, 6, 8, 10, 12, 14, 16, 18, 20 and 489 more are not" in missing.message
    assert "(expected 1-1000; registered 1, 3, 5," in missing.message
    assert len(missing.subjects) == 499  # the full list stays in the subjects
    assert len(str(verdict)) < 2500
    for reason in verdict.reasons:
        assert len(reason.message) < 1000, reason.rule


def test_one_missing_broker_of_a_thousand() -> None:
    builder = big_cluster(1000, stopped=(500,))
    verdict = cluster_healthy(builder.build(), builder.expected)
    missing = next(r for r in verdict.reasons if r.rule == "broker-missing")
    assert "broker 500 is not registered" in missing.message
    assert "(expected 1-1000; registered 1-499, 501-1000)" in missing.message
    assert len(str(verdict)) < 1500


def test_small_clusters_keep_their_words() -> None:
    verdict = cluster_healthy(cluster(1, 2, 3).topic("o", rf=3).stopped(3).build(), {1, 2, 3})
    assert "(expected 1, 2 and 3; registered 1 and 2)" in str(verdict)
