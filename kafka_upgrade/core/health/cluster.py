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

from collections.abc import Collection

from kafka_upgrade.core.health.snapshot import ClusterSnapshot, PartitionState
from kafka_upgrade.core.health.verdict import Reason, Verdict
from kafka_upgrade.core.health.wording import (
    broker_list,
    capped,
    capped_as,
    counted,
    id_list,
    isr_text,
)


def _name(p: PartitionState) -> str:
    return p.name


def cluster_healthy(snapshot: ClusterSnapshot, expected_brokers: Collection[int]) -> Verdict:
    """Rules 1-4: every expected broker registered, no offline, under-min-ISR or URP."""
    reasons, notes = _health(snapshot, expected_brokers, except_node=None)
    return Verdict.of(reasons, notes)


def _health(
    snapshot: ClusterSnapshot, expected_brokers: Collection[int], except_node: int | None
) -> tuple[list[Reason], list[Reason]]:
    """Reasons and notes for rules 1-4.

    ``except_node`` leaves out what is only about that node (it is missing, or it
    is the only replica out of sync): ``node_recovered`` reports those itself.
    """
    reasons: list[Reason] = []
    notes: list[Reason] = []
    expected = frozenset(expected_brokers)

    missing = sorted(expected - snapshot.brokers - {except_node})
    if missing:
        reasons.append(
            Reason(
                "broker-missing",
                f"{broker_list(missing)} {'is' if len(missing) == 1 else 'are'} not registered "
                f"with the cluster (expected {id_list(expected)}; registered "
                f"{id_list(snapshot.brokers)}). "
                f"Start {'it' if len(missing) == 1 else 'them'} or read "
                f"{'its' if len(missing) == 1 else 'their'} server.log; nothing else restarts "
                "until every broker is back.",
                tuple(f"broker {b}" for b in missing),
            )
        )
    unexpected = sorted(snapshot.brokers - expected)
    if unexpected:
        notes.append(
            Reason(
                "unexpected-broker",
                f"{broker_list(unexpected)} {'is' if len(unexpected) == 1 else 'are'} registered "
                "but not in the inventory: the upgrade will not touch "
                f"{'it' if len(unexpected) == 1 else 'them'}. Add "
                f"{'it' if len(unexpected) == 1 else 'them'} to the inventory if "
                f"{'it belongs' if len(unexpected) == 1 else 'they belong'} to this cluster.",
                tuple(f"broker {b}" for b in unexpected),
            )
        )

    # One pass over the partitions out of line (a handful, even on a large cluster);
    # each lands under one rule at most, in the order the rules are checked.
    offline: list[PartitionState] = []
    below: list[PartitionState] = []
    urp: list[PartitionState] = []
    short_set: set[tuple[str, int, int]] = set()
    catching_up: set[int] = set()  # out of sync in ``below``
    lagging: set[int] = set()  # out of sync in ``urp``
    for p in snapshot.out_of_line:
        if not p.can_meet_min_isr:
            short_set.add((p.topic, len(p.replicas), p.min_isr))
        if p.is_offline:
            offline.append(p)
            continue
        out_of_sync = p.out_of_sync  # computed once: the three rules below read it
        if except_node is not None and out_of_sync == {except_node}:
            continue  # only that node is behind: ``node_recovered`` says so itself
        if p.is_under_min_isr:
            below.append(p)
            catching_up |= out_of_sync
        elif out_of_sync:  # under-replicated
            urp.append(p)
            lagging |= out_of_sync

    if offline:
        hosts = {b for p in offline for b in p.replicas}
        reasons.append(
            Reason(
                "partition-offline",
                f"{counted(len(offline), 'partition')} {'has' if len(offline) == 1 else 'have'} "
                f"no leader: {capped_as(offline, _name)}. Clients of "
                f"{'it' if len(offline) == 1 else 'them'} fail now. Bring back their replicas "
                f"({broker_list(hosts)}); kafka-topics.sh --describe --unavailable-partitions "
                "lists them.",
                tuple(p.name for p in offline),
            )
        )

    if below:
        reasons.append(
            Reason(
                "under-min-isr",
                f"{counted(len(below), 'partition')} {'has' if len(below) == 1 else 'have'} fewer "
                "in-sync replicas than min.insync.replicas: "
                + capped_as(below, lambda p: f"{p.name} (ISR {isr_text(p.isr)}, min {p.min_isr})")
                + ". acks=all producers to "
                f"{'it' if len(below) == 1 else 'them'} fail now. Wait for "
                f"{broker_list(catching_up)} to catch up.",
                tuple(p.name for p in below),
            )
        )

    if urp:
        reasons.append(
            Reason(
                "under-replicated",
                f"{counted(len(urp), 'partition')} {'is' if len(urp) == 1 else 'are'} "
                "under-replicated (ISR smaller than the replica list): "
                + capped_as(urp, lambda p: f"{p.name} (ISR {isr_text(p.isr)})")
                + f". Wait for {broker_list(lagging)} to rejoin the ISR; "
                "kafka-topics.sh --describe --under-replicated-partitions lists them.",
                tuple(p.name for p in urp),
            )
        )

    short = sorted(short_set)
    if short:
        notes.append(
            Reason(
                "rf-below-min-isr",
                "replication factor below min.insync.replicas, so acks=all producers can never "
                "write to: "
                + capped([f"{t} (RF {rf}, min {m})" for t, rf, m in short])
                + ". This predates the upgrade and does not block it; raise the replication "
                "factor or lower min.insync.replicas.",
                tuple(t for t, _, _ in short),
            )
        )
    return reasons, notes
