"""The batch plan and the batch gate as tables: each row is one rule of ``core.batches``
and ``health.can_restart_together``."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.batches import Batch, plan_batches
from kafka_upgrade.core.health import (
    ClusterSnapshot,
    SnapshotIncomplete,
    can_restart,
    can_restart_together,
)
from kafka_upgrade.core.roll_plan import Seen, restart_gate
from tests.unit.snapshots import SnapshotBuilder

# Brokers 4..9 with every partition on a pair of brokers of different racks:
# (4, 5), (6, 7), (8, 9) share partitions; rack a = 4, 6, 8 and rack b = 5, 7, 9.
PAIRS = [(4, 5), (6, 7), (8, 9), (5, 4), (7, 6), (9, 8)]
RACKS = {4: "a", 5: "b", 6: "a", 7: "b", 8: "a", 9: "b"}
BROKERS = [4, 5, 6, 7, 8, 9]

PLANS = [
    # (rule, order, alone, replicas, racks, max_parallel, expected batches)
    ("N=1 is the roll order", [1, 2, 3] + BROKERS, {1, 2, 3}, PAIRS, RACKS, 1,
     [[1], [2], [3], [4], [5], [6], [7], [8], [9]]),
    ("controllers are never batched", [1, 2, 3, 4, 5], {1, 2, 3}, [], {}, 3,
     [[1], [2], [3], [4, 5]]),
    ("no two members share a partition", BROKERS, set(), PAIRS, {}, 2,
     [[4, 6], [5, 7], [8], [9]]),
    ("a batch never exceeds max_parallel", BROKERS, set(), [], {}, 4,
     [[4, 5, 6, 7], [8, 9]]),
    ("the first member's rack fills a batch first", BROKERS, set(), PAIRS, RACKS, 3,
     [[4, 6, 8], [5, 7, 9]]),
    ("other racks fill what one rack cannot", [4, 5, 6], set(), [], {4: "a", 5: "b", 6: "a"}, 3,
     [[4, 5, 6]]),
    ("ZK: the active controller stays last and alone", [1, 2, 3, 0], {0}, [], {}, 4,
     [[1, 2, 3], [0]]),
    ("a broker sharing with every other goes alone", [1, 2, 3], set(), [(1, 2, 3)], {}, 3,
     [[1], [2], [3]]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("order", "alone", "replicas", "racks", "n", "expected"),
    [p[1:] for p in PLANS],
    ids=[p[0] for p in PLANS],
)
def test_plan_batches(order, alone, replicas, racks, n, expected) -> None:  # noqa: ANN001
    batches = plan_batches(order, alone, replicas, racks, n)
    assert [list(b.members) for b in batches] == expected
    assert sorted(m for b in batches for m in b.members) == sorted(order)  # each node once


def test_a_batch_names_its_members_and_rack() -> None:
    batch = Batch((4, 6), ("a",))
    assert batch.describe(lambda n: f"broker-{n}") == "broker-4 + broker-6 (rack a)"
    assert Batch((5,)).describe(lambda n: f"broker-{n}") == "broker-5"
    assert Batch((4, 5), ("a", "b")).describe(str) == "4 + 5 (racks a, b)"


def test_max_parallel_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_parallel must be 1 or more"):
        plan_batches([1], set(), [], {}, 0)


def cluster(*brokers: int) -> SnapshotBuilder:
    return SnapshotBuilder(*brokers)


# Partitions on (1, 2, 3) and (4, 5, 6): 1 and 4 share none; 1 and 2 share "a".
def split() -> SnapshotBuilder:
    return (
        cluster(1, 2, 3, 4, 5, 6)
        .partition("a", 0, replicas=(1, 2, 3), min_isr=2)
        .partition("b", 0, replicas=(4, 5, 6), min_isr=2)
    )


def split_loose() -> SnapshotBuilder:
    return (
        cluster(1, 2, 3, 4, 5, 6)
        .partition("a", 0, replicas=(1, 2, 3), min_isr=1)
        .partition("b", 0, replicas=(4, 2, 3), min_isr=1)
    )


TOGETHER = [
    # (rule, snapshot, batch, ok, rules)
    ("brokers sharing no partition may go together", split().build(), [1, 4], True, ()),
    ("two replicas of a min-ISR-2 partition may not", split().build(), [1, 2], False,
     ("batch-would-break-min-isr",)),
    ("two of three replicas with min ISR 1 leave one: allowed", split_loose().build(), [1, 2],
     True, ()),
    ("all replicas together would take the leader: refused", split_loose().build(), [1, 2, 3],
     False, ("batch-would-break-min-isr",)),
    ("any member's own gate refuses the batch", split().build(), [1, 7], False,
     ("unknown-broker",)),
    ("an unhealthy cluster refuses the batch", cluster(1, 2, 3, 4, 5, 6)
     .partition("a", 0, replicas=(1, 2, 3), min_isr=2).stopped(3).build(), [1, 4], False,
     ("broker-missing",)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("snapshot", "batch", "ok", "rules"),
    [t[1:] for t in TOGETHER],
    ids=[t[0] for t in TOGETHER],
)
def test_can_restart_together(snapshot, batch, ok, rules) -> None:  # noqa: ANN001
    verdict = can_restart_together(snapshot, batch, [1, 2, 3, 4, 5, 6])
    assert verdict.ok is ok, str(verdict)
    assert set(rules) <= set(verdict.rules)


@pytest.mark.parametrize(
    ("snapshot", "batch"), [t[1:3] for t in TOGETHER], ids=[t[0] for t in TOGETHER]
)
def test_a_summary_taken_with_the_batch_judges_like_the_complete_snapshot(snapshot, batch) -> None:  # noqa: ANN001
    def summary(nodes: list[int]) -> ClusterSnapshot:
        return ClusterSnapshot.summary(
            snapshot.brokers,
            snapshot.out_of_line,
            snapshot.partition_count,
            snapshot.controller_id,
            node_partitions={n: snapshot.partitions_of(n) for n in nodes},
        )

    expected = [1, 2, 3, 4, 5, 6]
    assert can_restart_together(summary(batch), batch, expected) == can_restart_together(
        snapshot, batch, expected
    )
    if len(batch) > 1:  # without the members' partitions it cannot judge, and says so
        with pytest.raises(SnapshotIncomplete):
            can_restart_together(summary([]), batch, expected)


@pytest.mark.parametrize("node", [1, 2, 3, 4])
def test_a_batch_of_one_is_the_single_node_gate(node: int) -> None:
    for snap in (split().build(), split().stopped(6).build()):
        assert can_restart_together(snap, [node], [1, 2, 3, 4, 5, 6]) == can_restart(
            snap, node, [1, 2, 3, 4, 5, 6]
        )


def test_the_batch_gate_refuses_a_controller_and_a_refusing_listener() -> None:
    snap = split().build()
    expected = [1, 2, 3, 4, 5, 6]
    broker, combined = frozenset({"broker"}), frozenset({"broker", "controller"})
    assert restart_gate("kraft", {1: broker, 4: broker}, Seen(snap, expected)).ok
    refused = restart_gate("kraft", {1: combined, 4: broker}, Seen(snap, expected))
    assert refused.rules == ("controller-in-batch",)
    down = restart_gate("kraft", {1: broker, 4: broker}, Seen(snap, expected, unreachable={5}))
    assert "broker-unreachable" in down.rules
    # a member's own listener is not "another broker down"
    assert restart_gate("kraft", {1: broker, 4: broker}, Seen(snap, expected, unreachable={4})).ok
