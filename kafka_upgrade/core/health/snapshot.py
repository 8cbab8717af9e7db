"""The cluster snapshot: registered brokers and partitions at one moment, and its indexes.

``PartitionState`` is one partition as the cluster reports it; ``ClusterSnapshot``
holds them, complete (every partition) or as a summary (only the partitions out
of line, plus those of the nodes the caller named).

Scale: the rules about one broker (``cluster``, ``restart``, ``recovery``) look
only at the partitions *out of line* (``is_out_of_line``: offline,
under-replicated, or no more replicas than min.insync.replicas), in one pass.
On a healthy 200k-partition cluster that is none of them, so the upgrade's
admin child ships only those (``ClusterSnapshot.summary``) and a poll stays well
under a second. A batch gate also reads its members' partitions: the sensor
names them when it takes the snapshot, and they come in the same reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kafka_upgrade.core.errors import Fatal


@dataclass(frozen=True)
class PartitionState:
    """One partition as the cluster reports it (AdminClient describe_topics)."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int | None  # None = offline (no leader)
    min_isr: int = 1  # the topic's effective min.insync.replicas

    def __post_init__(self) -> None:
        # Callers build these from client lists; keep the value hashable and immutable.
        object.__setattr__(self, "replicas", tuple(self.replicas))
        object.__setattr__(self, "isr", tuple(self.isr))

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def is_offline(self) -> bool:
        return self.leader is None

    @property
    def out_of_sync(self) -> frozenset[int]:
        """Replicas that are not in the ISR."""
        return frozenset(self.replicas) - frozenset(self.isr)

    @property
    def is_under_replicated(self) -> bool:
        return bool(self.out_of_sync)

    @property
    def can_meet_min_isr(self) -> bool:
        """False when the topic has fewer replicas than min.insync.replicas."""
        return len(self.replicas) >= self.min_isr

    @property
    def is_under_min_isr(self) -> bool:
        return self.can_meet_min_isr and len(self.isr) < self.min_isr


def is_out_of_line(
    replicas: Sequence[int], isr: Sequence[int], leader: int | None, min_isr: int
) -> bool:
    """Could any health rule have something to say about this partition?

    True when it is offline (``leader`` None, or -1 as the client reports it),
    under-replicated (which covers under min.insync.replicas, a restart that
    would break it, and a restarted broker not yet back in its ISR), or has no
    more replicas than min.insync.replicas (rules 3 and 5 note those). Every
    verdict in this module looks only at such partitions, so a snapshot that
    carries just them gets the same verdicts as one that carries them all.
    Cheap on purpose: the admin child runs it over every partition of every poll.
    """
    if leader is None or leader < 0 or len(replicas) <= min_isr:
        return True
    if len(isr) < len(replicas):
        return True
    return not (isr == replicas or set(replicas).issubset(isr))


class SnapshotIncomplete(Fatal, LookupError):
    """A summary snapshot was asked for partitions it does not carry (a caller bug: the
    snapshot should have been taken with them)."""


class ClusterSnapshot:
    """What the cluster looked like at one moment: registered brokers and partitions.

    Two forms, one API:

    - complete (``ClusterSnapshot(brokers, partitions, controller_id)``): every
      partition, as the tests' builder, ``isolated_admin`` and the admin
      worker's ``full_snapshot`` make it;
    - summary (``ClusterSnapshot.summary(...)``, what the upgrade's admin child
      ships on every poll): the partitions out of line (``is_out_of_line``),
      the count of all, and the partitions of the nodes the caller named when
      taking it. The rules of ``cluster``, ``restart`` and ``recovery`` read
      only ``out_of_line``, so both forms give the same verdicts at a fraction
      of the cost on a large cluster.

    A snapshot is a value: it arrives with everything it will ever hold and
    never asks the cluster for more. ``partitions`` needs a complete snapshot;
    ``partitions_of(n)`` and ``awaiting_preferred_leader(n)`` need a complete
    one or a summary taken with node n (what ``can_restart_together`` reads
    for every member of the batch). Anything else raises ``SnapshotIncomplete``.
    """

    __slots__ = (
        "brokers",
        "controller_id",
        "partition_count",
        "_partitions",
        "_out_of_line",
        "_by_node",
    )

    brokers: frozenset[int]
    controller_id: int | None
    partition_count: int
    _partitions: tuple[PartitionState, ...] | None
    _out_of_line: tuple[PartitionState, ...] | None
    _by_node: dict[int, tuple[PartitionState, ...]]

    def __init__(
        self,
        brokers: Iterable[int],
        partitions: Iterable[PartitionState],
        controller_id: int | None = None,
    ) -> None:
        parts = tuple(partitions)
        self._init(frozenset(brokers), controller_id, len(parts), parts, None, {})

    @classmethod
    def summary(
        cls,
        brokers: Iterable[int],
        out_of_line: Iterable[PartitionState],
        partition_count: int,
        controller_id: int | None = None,
        *,
        node_partitions: Mapping[int, Iterable[PartitionState]] | None = None,
    ) -> ClusterSnapshot:
        """A snapshot that carries only the partitions out of line (and those of some nodes)."""
        by_node = {n: tuple(ps) for n, ps in (node_partitions or {}).items()}
        snap = cls.__new__(cls)
        snap._init(
            frozenset(brokers), controller_id, partition_count, None, tuple(out_of_line), by_node
        )
        return snap

    def _init(
        self,
        brokers: frozenset[int],
        controller_id: int | None,
        partition_count: int,
        partitions: tuple[PartitionState, ...] | None,
        out_of_line: tuple[PartitionState, ...] | None,
        by_node: dict[int, tuple[PartitionState, ...]],
    ) -> None:
        set_ = object.__setattr__
        set_(self, "brokers", brokers)
        set_(self, "controller_id", controller_id)
        set_(self, "partition_count", partition_count)
        set_(self, "_partitions", partitions)
        set_(self, "_out_of_line", out_of_line)
        set_(self, "_by_node", by_node)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ClusterSnapshot is immutable (cannot set {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ClusterSnapshot is immutable (cannot delete {name})")

    # -- the partitions ------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True when it carries every partition (``partitions`` can be read)."""
        return self._partitions is not None

    @property
    def partitions(self) -> tuple[PartitionState, ...]:
        """Every partition (a complete snapshot only)."""
        if self._partitions is None:
            raise SnapshotIncomplete(
                f"{self._carries()}, not every partition; take a complete snapshot "
                "(the admin worker's full_snapshot) to read them all"
            )
        return self._partitions

    @property
    def out_of_line(self) -> tuple[PartitionState, ...]:
        """The partitions a health rule can have something to say about (``is_out_of_line``)."""
        if self._out_of_line is None:
            found = tuple(
                p for p in self.partitions if is_out_of_line(p.replicas, p.isr, p.leader, p.min_isr)
            )
            object.__setattr__(self, "_out_of_line", found)
        assert self._out_of_line is not None
        return self._out_of_line

    def out_of_line_of(self, node: int) -> tuple[PartitionState, ...]:
        """Out-of-line partitions with a replica on ``node``."""
        return tuple(p for p in self.out_of_line if node in p.replicas)

    def under_replicated(self) -> tuple[PartitionState, ...]:
        """Partitions whose ISR is smaller than their replica list (offline ones too)."""
        return tuple(p for p in self.out_of_line if p.is_under_replicated)

    def offline(self) -> tuple[PartitionState, ...]:
        return tuple(p for p in self.out_of_line if p.is_offline)

    def under_min_isr(self) -> tuple[PartitionState, ...]:
        """Partitions below min.insync.replicas that have enough replicas to meet it."""
        return tuple(p for p in self.out_of_line if p.is_under_min_isr)

    def partitions_of(self, node: int) -> tuple[PartitionState, ...]:
        """Partitions with a replica on ``node`` (a summary: taken with that node)."""
        found = self._by_node.get(node)
        if found is None:
            if self._partitions is None:
                raise SnapshotIncomplete(
                    f"{self._carries()}, not those of broker {node}; take the snapshot "
                    f"with broker {node} named (the admin worker's snapshot(nodes=...))"
                )
            found = tuple(p for p in self._partitions if node in p.replicas)
            self._by_node[node] = found  # a cache of one moment: never stale
        return found

    def awaiting_preferred_leader(self, node: int) -> tuple[PartitionState, ...]:
        """Partitions whose preferred (first) replica is ``node`` but that another broker leads."""
        return tuple(
            p for p in self.partitions_of(node) if p.replicas[0] == node and p.leader != node
        )

    def _carries(self) -> str:
        named = f" and those of brokers {sorted(self._by_node)}" if self._by_node else ""
        return (
            f"this snapshot carries only the {len(self.out_of_line)} partitions out of line "
            f"of {self.partition_count}{named}"
        )

    # -- value semantics -----------------------------------------------------

    def __eq__(self, other: object) -> bool:
        """Same cluster: brokers, controller and every partition. A summary is compared on
        what it carries: the partitions out of line."""
        if not isinstance(other, ClusterSnapshot):
            return NotImplemented
        if (self.brokers, self.controller_id, self.partition_count) != (
            other.brokers,
            other.controller_id,
            other.partition_count,
        ) or self.out_of_line != other.out_of_line:
            return False
        if self.complete and other.complete:
            return self.partitions == other.partitions
        return True

    def __hash__(self) -> int:
        return hash((self.brokers, self.controller_id, self.partition_count, self.out_of_line))

    def __repr__(self) -> str:
        form = "complete" if self.complete else "summary"
        return (
            f"ClusterSnapshot({form}: {len(self.brokers)} brokers, {self.partition_count} "
            f"partitions, {len(self.out_of_line)} out of line, controller {self.controller_id})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        if self._partitions is not None:
            return (ClusterSnapshot, (self.brokers, self._partitions, self.controller_id))
        return (
            _summary_again,
            (
                self.brokers,
                self.out_of_line,
                self.partition_count,
                self.controller_id,
                dict(self._by_node),
            ),
        )


def _summary_again(
    brokers: frozenset[int],
    out_of_line: tuple[PartitionState, ...],
    partition_count: int,
    controller_id: int | None,
    by_node: dict[int, tuple[PartitionState, ...]],
) -> ClusterSnapshot:
    return ClusterSnapshot.summary(
        brokers, out_of_line, partition_count, controller_id, node_partitions=by_node
    )
