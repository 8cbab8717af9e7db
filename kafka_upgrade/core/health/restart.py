"""Rule 5: may broker N (or a batch of brokers) restart now without hurting availability?

The rule Strimzi's KafkaAvailability uses: refuse when N is in the ISR of a
partition whose ISR size is at or below min.insync.replicas: restarting N would
drop it below min.insync.replicas (or leave it without a leader) and acks=all
producers would fail ("would-break-min-isr"). A partition whose replica count is
at or below min.insync.replicas (RF=1, or RF=2 with min ISR 2) cannot stay
available through *any* restart of its brokers, so it never blocks; it is
reported as a note ("cannot-stay-available"). Partitions N does not host are
not affected by N's restart. By default rules 1-4 (``cluster``) must hold too.

Brokers restarted together (``max_parallel``) must each pass alone, and with
all of them down every partition they replicate must keep min.insync.replicas
in-sync replicas ("batch-would-break-min-isr").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from kafka_upgrade.core.health.cluster import cluster_healthy
from kafka_upgrade.core.health.snapshot import ClusterSnapshot, PartitionState
from kafka_upgrade.core.health.verdict import Reason, Verdict
from kafka_upgrade.core.health.wording import broker_list, capped_as, id_list, isr_text, pick


def can_restart(
    snapshot: ClusterSnapshot,
    node_id: int,
    expected_brokers: Collection[int],
    *,
    require_healthy: bool = True,
) -> Verdict:
    """May broker ``node_id`` restart now without hurting availability?

    With ``require_healthy`` (the default, what cp-ansible and kafka-utils do) the
    whole cluster must pass rules 1-4 *and* rule 5. With ``require_healthy=False``
    only rule 5 decides (Strimzi's KafkaRoller): health problems elsewhere become
    notes, so a broker that shares no partition with a lagging one may still
    restart. A broker that is already down is "broker-missing" under the default;
    starting it again is the caller's decision, not this function's.
    """
    expected = frozenset(expected_brokers)
    unknown = [] if node_id in expected else [_unknown_broker(node_id, expected)]
    health = cluster_healthy(snapshot, expected)
    refused, noted = (health.reasons, ()) if require_healthy else ((), health.reasons)
    availability = _availability(snapshot, node_id)
    return Verdict.of(
        [*unknown, *refused, *availability.reasons],
        [*noted, *health.notes, *availability.notes],
    )


def _unknown_broker(node_id: int, expected: Collection[int]) -> Reason:
    return Reason(
        "unknown-broker",
        f"broker {node_id} is not among the expected brokers ({id_list(expected)}). "
        "Check the node id and the inventory.",
        (f"broker {node_id}",),
    )


def _availability(snapshot: ClusterSnapshot, node_id: int) -> Verdict:
    """Rule 5 alone: which partitions restarting ``node_id`` would take below min ISR."""
    blocking: list[PartitionState] = []
    unavoidable: list[PartitionState] = []
    for p in snapshot.out_of_line_of(node_id):  # the others can neither block nor be noted
        if len(p.replicas) <= p.min_isr:
            unavoidable.append(p)
        elif node_id in p.isr and len(p.isr) <= p.min_isr:
            blocking.append(p)
    reasons = [_would_break_min_isr(node_id, blocking)] if blocking else []
    notes = [_cannot_stay_available(node_id, unavoidable)] if unavoidable else []
    return Verdict.of(reasons, notes)


def _would_break_min_isr(node_id: int, blocking: Sequence[PartitionState]) -> Reason:
    others = {b for p in blocking for b in p.out_of_sync}
    return Reason(
        "would-break-min-isr",
        f"broker {node_id} may not restart: it is one of too few in-sync replicas of "
        + capped_as(blocking, _isr_and_min)
        + f". Restarting it would leave {pick(len(blocking), 'it', 'them')} below "
        "min.insync.replicas and acks=all producers would fail. "
        + (
            f"Wait for {broker_list(others)} to rejoin the ISR, then check again."
            if others
            else "Raise the replication factor of these topics to roll without an outage."
        ),
        tuple(p.name for p in blocking),
    )


def _cannot_stay_available(node_id: int, unavoidable: Sequence[PartitionState]) -> Reason:
    return Reason(
        "cannot-stay-available",
        f"restarting broker {node_id} makes "
        + capped_as(unavoidable, lambda p: f"{p.name} (RF {len(p.replicas)}, min {p.min_isr})")
        + " unavailable while it restarts (to acks=all producers; with RF 1 to every "
        "client). With replicas at or below min.insync.replicas no order avoids that, "
        "so it does not block. Raise the replication factor to avoid it.",
        tuple(p.name for p in unavoidable),
    )


def _isr_and_min(p: PartitionState) -> str:
    return f"{p.name} (ISR {isr_text(p.isr)}, min.insync.replicas {p.min_isr})"


def can_restart_together(
    snapshot: ClusterSnapshot, node_ids: Collection[int], expected_brokers: Collection[int]
) -> Verdict:
    """May these brokers restart *at the same time* (a batch, ``max_parallel``)?

    One broker: exactly ``can_restart``. Several: each must pass
    ``can_restart`` on its own, and with all of them down together every
    partition they replicate must keep min.insync.replicas in-sync replicas
    (so a leader too). That second rule reads every partition of the batch, not
    only those out of line: two healthy replicas of one partition may each go
    alone, but not together, so the snapshot must carry the partitions of every
    member (``ClusterSnapshot.partitions_of``).
    """
    batch = sorted(set(node_ids))
    if len(batch) == 1:
        return can_restart(snapshot, batch[0], expected_brokers)
    singles = [can_restart(snapshot, b, expected_brokers) for b in batch]
    reasons = list(dict.fromkeys(r for v in singles for r in v.reasons))
    notes = list(dict.fromkeys(n for v in singles for n in v.notes))
    together = _below_min_isr_together(snapshot, batch)
    if together:
        reasons.append(
            Reason(
                "batch-would-break-min-isr",
                f"{broker_list(batch)} may not restart together: with all of them down "
                + capped_as(together, _isr_and_min)
                + " would drop below min.insync.replicas. Restart them one at a time "
                "(max_parallel 1) or batch brokers that share no partition.",
                tuple(p.name for p in together),
            )
        )
    return Verdict.of(reasons, notes)


def _below_min_isr_together(
    snapshot: ClusterSnapshot, batch: Sequence[int]
) -> list[PartitionState]:
    """Partitions with more than one of ``batch`` in their ISR that would drop below
    min.insync.replicas with all of ``batch`` down (one at a time is ``can_restart``'s)."""
    down = frozenset(batch)
    seen: set[tuple[str, int]] = set()
    together: list[PartitionState] = []
    for b in batch:
        for p in snapshot.partitions_of(b):
            if (p.topic, p.partition) in seen:
                continue
            seen.add((p.topic, p.partition))
            gone = down & frozenset(p.isr)
            if len(gone) > 1 and p.can_meet_min_isr and len(p.isr) - len(gone) < p.min_isr:
                together.append(p)
    return together
