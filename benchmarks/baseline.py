"""The health poll as it was before issue 9 (commit a37339f), kept callable for the benchmarks.

Frozen copies, not to be maintained: the complete ``ClusterSnapshot`` of that
commit (every partition, rules scanning all of them, one scan per rule), its
verdicts ``cluster_healthy`` / ``can_restart`` / ``node_recovered`` with the
uncapped broker lists, and the transport: ``OldAdminWorker`` (the parent's
``_call`` of that commit) and ``python -m benchmarks.baseline`` (its child
loop, serving the synthetic cluster): the "snapshot" op, every partition in
one JSON line, decoded into that snapshot (``old_snapshot``). ``Reason``,
``Verdict`` and ``PartitionState`` are the live ones: they did not change.
"""

from __future__ import annotations

import json
import select
import sys
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka_upgrade.adapters.admin_worker import AdminWorker, snapshot_to_json
from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable
from kafka_upgrade.core.health import NAMED_LIMIT, PartitionState, Reason, Verdict

OLD_CHILD_COMMAND = (sys.executable, "-m", "benchmarks.baseline")


@dataclass(frozen=True)
class ClusterSnapshot:
    """What the cluster looked like at one moment: registered brokers and partitions."""

    brokers: frozenset[int]  # broker ids registered/alive right now
    partitions: tuple[PartitionState, ...]
    controller_id: int | None = None  # ZK mode: active controller broker

    def __post_init__(self) -> None:
        object.__setattr__(self, "brokers", frozenset(self.brokers))
        object.__setattr__(self, "partitions", tuple(self.partitions))

    def under_replicated(self) -> tuple[PartitionState, ...]:
        """Partitions whose ISR is smaller than their replica list (offline ones too)."""
        return tuple(p for p in self.partitions if p.is_under_replicated)

    def offline(self) -> tuple[PartitionState, ...]:
        return tuple(p for p in self.partitions if p.is_offline)

    def under_min_isr(self) -> tuple[PartitionState, ...]:
        """Partitions below min.insync.replicas that have enough replicas to meet it."""
        return tuple(p for p in self.partitions if p.is_under_min_isr)

    def partitions_of(self, node: int) -> tuple[PartitionState, ...]:
        """Partitions with a replica on ``node``."""
        return tuple(p for p in self.partitions if node in p.replicas)

    def awaiting_preferred_leader(self, node: int) -> tuple[PartitionState, ...]:
        """Partitions whose preferred (first) replica is ``node`` but that another broker leads."""
        return tuple(
            p for p in self.partitions if p.replicas and p.replicas[0] == node and p.leader != node
        )


def _capped(names: Sequence[str], limit: int = NAMED_LIMIT) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def _ids(ids: Iterable[int]) -> str:
    ordered = sorted(set(ids))
    if not ordered:
        return "none"
    if len(ordered) == 1:
        return str(ordered[0])
    return ", ".join(str(i) for i in ordered[:-1]) + f" and {ordered[-1]}"


def _brokers(ids: Iterable[int]) -> str:
    ordered = sorted(set(ids))
    return ("broker " if len(ordered) == 1 else "brokers ") + _ids(ordered)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def _isr(p: PartitionState) -> str:
    return "[" + ",".join(str(b) for b in p.isr) + "]"


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
                f"{_brokers(missing)} {'is' if len(missing) == 1 else 'are'} not registered with "
                f"the cluster (expected {_ids(expected)}; registered {_ids(snapshot.brokers)}). "
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
                f"{_brokers(unexpected)} {'is' if len(unexpected) == 1 else 'are'} registered "
                "but not in the inventory: the upgrade will not touch "
                f"{'it' if len(unexpected) == 1 else 'them'}. Add "
                f"{'it' if len(unexpected) == 1 else 'them'} to the inventory if "
                f"{'it belongs' if len(unexpected) == 1 else 'they belong'} to this cluster.",
                tuple(f"broker {b}" for b in unexpected),
            )
        )

    offline = snapshot.offline()
    if offline:
        hosts = {b for p in offline for b in p.replicas}
        reasons.append(
            Reason(
                "partition-offline",
                f"{_count(len(offline), 'partition')} {'has' if len(offline) == 1 else 'have'} "
                f"no leader: {_capped([p.name for p in offline])}. Clients of "
                f"{'it' if len(offline) == 1 else 'them'} fail now. Bring back their replicas "
                f"({_brokers(hosts)}); kafka-topics.sh --describe --unavailable-partitions "
                "lists them.",
                tuple(p.name for p in offline),
            )
        )

    below = [p for p in snapshot.under_min_isr() if not p.is_offline]
    below = [p for p in below if not _only_missing(p, except_node)]
    if below:
        reasons.append(
            Reason(
                "under-min-isr",
                f"{_count(len(below), 'partition')} {'has' if len(below) == 1 else 'have'} fewer "
                "in-sync replicas than min.insync.replicas: "
                + _capped([f"{p.name} (ISR {_isr(p)}, min {p.min_isr})" for p in below])
                + ". acks=all producers to "
                f"{'it' if len(below) == 1 else 'them'} fail now. Wait for "
                f"{_brokers(b for p in below for b in p.out_of_sync)} to catch up.",
                tuple(p.name for p in below),
            )
        )

    reported = {p.name for p in offline} | {p.name for p in below}
    urp = [
        p
        for p in snapshot.under_replicated()
        if p.name not in reported and not _only_missing(p, except_node)
    ]
    if urp:
        lagging = {b for p in urp for b in p.out_of_sync}
        reasons.append(
            Reason(
                "under-replicated",
                f"{_count(len(urp), 'partition')} {'is' if len(urp) == 1 else 'are'} "
                "under-replicated (ISR smaller than the replica list): "
                + _capped([f"{p.name} (ISR {_isr(p)})" for p in urp])
                + f". Wait for {_brokers(lagging)} to rejoin the ISR; "
                "kafka-topics.sh --describe --under-replicated-partitions lists them.",
                tuple(p.name for p in urp),
            )
        )

    short = sorted(
        {
            (p.topic, len(p.replicas), p.min_isr)
            for p in snapshot.partitions
            if not p.can_meet_min_isr
        }
    )
    if short:
        notes.append(
            Reason(
                "rf-below-min-isr",
                "replication factor below min.insync.replicas, so acks=all producers can never "
                "write to: "
                + _capped([f"{t} (RF {rf}, min {m})" for t, rf, m in short])
                + ". This predates the upgrade and does not block it; raise the replication "
                "factor or lower min.insync.replicas.",
                tuple(t for t, _, _ in short),
            )
        )
    return reasons, notes


def _only_missing(p: PartitionState, node: int | None) -> bool:
    return node is not None and p.out_of_sync == {node}


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
    reasons: list[Reason] = []
    notes: list[Reason] = []
    expected = frozenset(expected_brokers)
    if node_id not in expected:
        reasons.append(
            Reason(
                "unknown-broker",
                f"broker {node_id} is not among the expected brokers ({_ids(expected)}). "
                "Check the node id and the inventory.",
                (f"broker {node_id}",),
            )
        )

    health_reasons, health_notes = _health(snapshot, expected, except_node=None)
    if require_healthy:
        reasons.extend(health_reasons)
    else:
        notes.extend(health_reasons)
    notes.extend(health_notes)

    blocking: list[PartitionState] = []
    unavoidable: list[PartitionState] = []
    for p in snapshot.partitions_of(node_id):
        if len(p.replicas) <= p.min_isr:
            unavoidable.append(p)
        elif node_id in p.isr and len(p.isr) <= p.min_isr:
            blocking.append(p)

    if blocking:
        others = {b for p in blocking for b in p.out_of_sync}
        reasons.append(
            Reason(
                "would-break-min-isr",
                f"broker {node_id} may not restart: it is one of too few in-sync replicas of "
                + _capped(
                    [f"{p.name} (ISR {_isr(p)}, min.insync.replicas {p.min_isr})" for p in blocking]
                )
                + f". Restarting it would leave {'it' if len(blocking) == 1 else 'them'} below "
                "min.insync.replicas and acks=all producers would fail. "
                + (
                    f"Wait for {_brokers(others)} to rejoin the ISR, then check again."
                    if others
                    else "Raise the replication factor of these topics to roll without an outage."
                ),
                tuple(p.name for p in blocking),
            )
        )
    if unavoidable:
        notes.append(
            Reason(
                "cannot-stay-available",
                f"restarting broker {node_id} makes "
                + _capped(
                    [f"{p.name} (RF {len(p.replicas)}, min {p.min_isr})" for p in unavoidable]
                )
                + " unavailable while it restarts (to acks=all producers; with RF 1 to every "
                "client). With replicas at or below min.insync.replicas no order avoids that, "
                "so it does not block. Raise the replication factor to avoid it.",
                tuple(p.name for p in unavoidable),
            )
        )
    return Verdict.of(reasons, notes)


def node_recovered(
    snapshot: ClusterSnapshot,
    node_id: int,
    reported_version: str | None,
    target_version: str,
    expected_brokers: Collection[int],
) -> Verdict:
    """Is broker ``node_id`` back: registered, on the target version, in every ISR, cluster healthy?

    Problems that are only about this node (it is missing; it is the one replica
    out of sync) are reported once, under this node's rules, not again as
    cluster-wide "broker-missing" / "under-replicated".
    """
    reasons: list[Reason] = []
    if node_id not in snapshot.brokers:
        reasons.append(
            Reason(
                "node-not-registered",
                f"broker {node_id} has not registered with the cluster yet. If it does not "
                "within the start timeout, read its server.log.",
                (f"broker {node_id}",),
            )
        )
    if reported_version is None:
        reasons.append(
            Reason(
                "version-unknown",
                f"broker {node_id} did not report which version it runs (target "
                f"{target_version}). Check that its process is up and the probe can read it.",
                (f"broker {node_id}",),
            )
        )
    elif reported_version.strip() != target_version.strip():
        reasons.append(
            Reason(
                "wrong-version",
                f"broker {node_id} runs {reported_version}, target {target_version}. Check "
                "that its 'current' link points to the new installation and that the service "
                "starts from that link.",
                (f"broker {node_id}",),
            )
        )
    behind = [p for p in snapshot.partitions_of(node_id) if node_id not in p.isr]
    if behind:
        reasons.append(
            Reason(
                "not-in-isr",
                f"broker {node_id} is not yet back in the ISR of "
                f"{_count(len(behind), 'partition')}: {_capped([p.name for p in behind])}. It is "
                "catching up on what it missed; wait (large or busy partitions take longer).",
                tuple(p.name for p in behind),
            )
        )
    health_reasons, health_notes = _health(snapshot, expected_brokers, except_node=node_id)
    return Verdict.of([*reasons, *health_reasons], health_notes)


class OldAdminWorker(AdminWorker):
    """The parent as it was: ``_call`` of commit a37339f (no pause of the collector)."""

    def _call(self, op: str, **args: Any) -> Any:
        with self._lock:
            proc = self._child()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
                proc.stdin.flush()
            except BrokenPipeError:
                self._kill()
                raise KafkaUnavailable(
                    "the admin client process ended; starting a new one"
                ) from None
            ready, _, _ = select.select([proc.stdout], [], [], self._timeout)
            line = proc.stdout.readline() if ready else ""
            if not line:
                self._kill()
                why = "did not answer in time" if not ready else "ended unexpectedly"
                raise KafkaUnavailable(f"the admin client process {why}; starting a new one")
        reply = json.loads(line)
        if not reply["ok"]:
            raise KafkaUnavailable(reply["error"])
        return reply["data"]


def old_snapshot(worker: AdminWorker) -> ClusterSnapshot:
    """The old ``AdminWorker.snapshot()``: the whole snapshot in one reply."""
    data: dict[str, Any] = worker._call("snapshot")  # the op the old parent used
    return ClusterSnapshot(
        brokers=frozenset(data["brokers"]),
        partitions=tuple(
            PartitionState(t, p, tuple(r), tuple(i), leader, min_isr)
            for t, p, r, i, leader, min_isr in data["partitions"]
        ),
        controller_id=data["controller_id"],
    )


def restart_gate(node_id: int, snapshot: ClusterSnapshot, expected: Collection[int]) -> Verdict:
    """The old ``roll_plan.restart_gate`` for a broker-only node."""
    return Verdict.all_of(can_restart(snapshot, node_id, expected))


def recovered_gate(
    node_id: int,
    reported: str | None,
    version: str,
    snapshot: ClusterSnapshot,
    expected: Collection[int],
) -> Verdict:
    """The old ``roll_plan.recovered_gate`` for a broker-only node."""
    return Verdict.all_of(node_recovered(snapshot, node_id, reported, version, expected))


def _serve_old() -> None:
    """The child loop of commit a37339f, its AdminClient replaced by the synthetic cluster."""
    from benchmarks.synthetic import ClusterSpec, FakeAdmin
    from kafka_upgrade.adapters.kafka_admin import SnapshotReader

    spec = ClusterSpec(**json.loads(sys.stdin.readline())["synthetic"])
    reader = SnapshotReader(FakeAdmin(spec))  # type: ignore[arg-type]
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] != "snapshot":
                raise ValueError(f"unknown op {request['op']!r}")
            reply = {"ok": True, "data": snapshot_to_json(reader.snapshot())}
        except Exception as exc:  # noqa: BLE001 - as the old child did
            reply = {"ok": False, "error": str(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve_old()
