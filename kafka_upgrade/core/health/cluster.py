"""Rules 1-4: is the cluster healthy?

Checked in this order; each refusal is a ``Reason`` naming the broker or
partition, the rule and what the operator can do:

1. Every expected broker is registered ("broker-missing").
2. No partition is offline, i.e. without a leader ("partition-offline").
3. No partition has fewer in-sync replicas than its min.insync.replicas
   ("under-min-isr"). Only partitions that *could* meet it count: a topic whose
   replication factor is below min.insync.replicas can never accept acks=all
   writes. That is a configuration problem older than the upgrade, no roll
   order can fix it, and counting it would block every upgrade forever; it is
   reported as a note ("rf-below-min-isr") instead.
4. No partition is under-replicated, i.e. its ISR is smaller than its replica
   list ("under-replicated"). Partitions already reported by rules 2 and 3 are
   not repeated here.

Only the partitions out of line are read (``ClusterSnapshot.out_of_line``), in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from kafka_upgrade.core.health.snapshot import ClusterSnapshot, PartitionState
from kafka_upgrade.core.health.verdict import Reason, Verdict
from kafka_upgrade.core.health.wording import (
    broker_list,
    capped,
    capped_as,
    counted,
    id_list,
    isr_text,
    pick,
)


def cluster_healthy(
    snapshot: ClusterSnapshot,
    expected_brokers: Collection[int],
    *,
    except_node: int | None = None,
) -> Verdict:
    """Rules 1-4: every expected broker registered, no offline, under-min-ISR or URP.

    ``except_node`` leaves out what is only about that node (it is missing, or it
    is the only replica out of sync): ``node_recovered`` reports those itself.
    """
    expected = frozenset(expected_brokers)
    missing = sorted(expected - snapshot.brokers - {except_node})
    unexpected = sorted(snapshot.brokers - expected)
    found = _sort_out_of_line(snapshot, except_node)
    reasons = [
        *([_missing(missing, expected, snapshot.brokers)] if missing else []),
        *_partition_reasons(found),
    ]
    notes = [
        *([_unexpected(unexpected)] if unexpected else []),
        *([_rf_below_min_isr(sorted(found.short))] if found.short else []),
    ]
    return Verdict.of(reasons, notes)


def _missing(
    missing: Sequence[int], expected: Collection[int], registered: Collection[int]
) -> Reason:
    n = len(missing)
    return Reason(
        "broker-missing",
        f"{broker_list(missing)} {pick(n, 'is', 'are')} not registered with the cluster "
        f"(expected {id_list(expected)}; registered {id_list(registered)}). "
        f"Start {pick(n, 'it', 'them')} or read {pick(n, 'its', 'their')} server.log; "
        "nothing else restarts until every broker is back.",
        tuple(f"broker {b}" for b in missing),
    )


def _unexpected(unexpected: Sequence[int]) -> Reason:
    n = len(unexpected)
    return Reason(
        "unexpected-broker",
        f"{broker_list(unexpected)} {pick(n, 'is', 'are')} registered but not in the "
        f"inventory: the upgrade will not touch {pick(n, 'it', 'them')}. Add "
        f"{pick(n, 'it', 'them')} to the inventory if {pick(n, 'it belongs', 'they belong')} "
        "to this cluster.",
        tuple(f"broker {b}" for b in unexpected),
    )


@dataclass
class _OutOfLine:
    """The partitions out of line, each under the first of rules 2-4 it breaks."""

    offline: list[PartitionState] = field(default_factory=list)
    below: list[PartitionState] = field(default_factory=list)  # under min.insync.replicas
    urp: list[PartitionState] = field(default_factory=list)  # under-replicated
    short: set[tuple[str, int, int]] = field(default_factory=set)  # (topic, RF, min ISR)
    catching_up: set[int] = field(default_factory=set)  # out of sync in ``below``
    lagging: set[int] = field(default_factory=set)  # out of sync in ``urp``


def _sort_out_of_line(snapshot: ClusterSnapshot, except_node: int | None) -> _OutOfLine:
    # One pass over the partitions out of line (a handful, even on a large cluster);
    # each lands under one rule at most, in the order the rules are checked.
    found = _OutOfLine()
    for p in snapshot.out_of_line:
        if not p.can_meet_min_isr:
            found.short.add((p.topic, len(p.replicas), p.min_isr))
        if p.is_offline:
            found.offline.append(p)
            continue
        out_of_sync = p.out_of_sync  # computed once: the three rules below read it
        if except_node is not None and out_of_sync == {except_node}:
            continue  # only that node is behind: ``node_recovered`` says so itself
        if p.is_under_min_isr:
            found.below.append(p)
            found.catching_up |= out_of_sync
        elif out_of_sync:  # under-replicated
            found.urp.append(p)
            found.lagging |= out_of_sync
    return found


def _partition_reasons(found: _OutOfLine) -> list[Reason]:
    """Rules 2-4, in order: one reason each that names its partitions."""
    rules = (
        (found.offline, _offline),
        (found.below, lambda below: _under_min_isr(below, found.catching_up)),
        (found.urp, lambda urp: _under_replicated(urp, found.lagging)),
    )
    return [reason(parts) for parts, reason in rules if parts]


def _offline(offline: Sequence[PartitionState]) -> Reason:
    hosts = {b for p in offline for b in p.replicas}
    n = len(offline)
    return _partitions_reason(
        "partition-offline",
        offline,
        f"{pick(n, 'has', 'have')} no leader",
        f"Clients of {pick(n, 'it', 'them')} fail now. Bring back their replicas "
        f"({broker_list(hosts)}); kafka-topics.sh --describe --unavailable-partitions "
        "lists them.",
    )


def _under_min_isr(below: Sequence[PartitionState], catching_up: Collection[int]) -> Reason:
    n = len(below)
    return _partitions_reason(
        "under-min-isr",
        below,
        f"{pick(n, 'has', 'have')} fewer in-sync replicas than min.insync.replicas",
        f"acks=all producers to {pick(n, 'it', 'them')} fail now. Wait for "
        f"{broker_list(catching_up)} to catch up.",
        lambda p: f"{p.name} (ISR {isr_text(p.isr)}, min {p.min_isr})",
    )


def _under_replicated(urp: Sequence[PartitionState], lagging: Collection[int]) -> Reason:
    return _partitions_reason(
        "under-replicated",
        urp,
        f"{pick(len(urp), 'is', 'are')} under-replicated (ISR smaller than the replica list)",
        f"Wait for {broker_list(lagging)} to rejoin the ISR; "
        "kafka-topics.sh --describe --under-replicated-partitions lists them.",
        lambda p: f"{p.name} (ISR {isr_text(p.isr)})",
    )


def _partitions_reason(
    rule: str,
    parts: Sequence[PartitionState],
    state: str,
    advice: str,
    say: Callable[[PartitionState], str] = lambda p: p.name,
) -> Reason:
    """'<N partitions> <state>: <the first few, as ``say`` words them>. <advice>'"""
    named = capped_as(parts, say)
    return Reason(
        rule,
        f"{counted(len(parts), 'partition')} {state}: {named}. {advice}",
        tuple(p.name for p in parts),
    )


def _rf_below_min_isr(short: Sequence[tuple[str, int, int]]) -> Reason:
    return Reason(
        "rf-below-min-isr",
        "replication factor below min.insync.replicas, so acks=all producers can never "
        "write to: "
        + capped([f"{t} (RF {rf}, min {m})" for t, rf, m in short])
        + ". This predates the upgrade and does not block it; raise the replication "
        "factor or lower min.insync.replicas.",
        tuple(t for t, _, _ in short),
    )
