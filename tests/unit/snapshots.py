"""A test builder for ``ClusterSnapshot`` that refuses states a real cluster cannot be in.

    cluster(1, 2, 3).topic("orders", partitions=3, rf=3, min_isr=2).stopped(3).build()

Refused (``ImpossibleState``, with the partition and the rule in the message):

- a replica on a broker the cluster does not have; duplicate replicas; no replicas;
- an ISR that is not a subset of the replicas, or lists a broker twice;
- a leader outside the ISR (a partition without leader is written ``leader=None``);
- a leader on a broker that is not registered (a stopped broker leads nothing);
- an unregistered broker in an ISR while the partition has a leader (a stopped
  broker leaves every ISR, except as the last member of a partition that then
  has no leader);
- the same partition number twice in a topic; a negative partition number;
- min.insync.replicas below 1, or differing between partitions of one topic
  (it is a topic config);
- an ISR emptied by ``lagging`` (Kafka never shrinks an ISR to nothing);
- a ZK controller that is not a registered broker.

``stopped`` and ``lagging`` edit the partitions the way Kafka would, so a
table row reads like what an operator sees: "broker 3 stopped", "broker 2 is
back but still catching up".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from kafka_upgrade.core.health import ClusterSnapshot, PartitionState

_LEADER_DEFAULT = object()


class ImpossibleState(ValueError):
    """The snapshot described cannot happen in a real cluster."""


class SnapshotBuilder:
    def __init__(self, *brokers: int) -> None:
        if not brokers:
            raise ImpossibleState("a cluster needs at least one broker")
        if len(set(brokers)) != len(brokers):
            raise ImpossibleState(f"broker ids must be unique, got {list(brokers)}")
        self._known: tuple[int, ...] = tuple(sorted(brokers))
        self._registered: set[int] = set(brokers)
        self._partitions: dict[tuple[str, int], PartitionState] = {}
        self._min_isr: dict[str, int] = {}
        self._controller: int | None = None

    # -- what the operator expects ------------------------------------------

    @property
    def expected(self) -> frozenset[int]:
        """Every broker the cluster was built with (the inventory's view)."""
        return frozenset(self._known)

    # -- partitions ------------------------------------------------------------

    def partition(
        self,
        topic: str,
        number: int,
        *,
        replicas: Iterable[int],
        isr: Iterable[int] | None = None,
        leader: int | None | object = _LEADER_DEFAULT,
        min_isr: int | None = None,
    ) -> SnapshotBuilder:
        """Add one partition; ISR defaults to all replicas, leader to the first ISR member."""
        replicas = tuple(replicas)
        isr_t = replicas if isr is None else tuple(isr)
        if leader is _LEADER_DEFAULT:
            leader_v: int | None = isr_t[0] if isr_t else None
        else:
            leader_v = leader  # type: ignore[assignment]
        name = f"{topic}-{number}"
        if number < 0:
            raise ImpossibleState(f"{name}: partition numbers start at 0")
        if (topic, number) in self._partitions:
            raise ImpossibleState(f"{name}: partition {number} of {topic} is defined twice")
        if topic in self._min_isr and min_isr is not None and min_isr != self._min_isr[topic]:
            raise ImpossibleState(
                f"{name}: min.insync.replicas is a topic config; {topic} already has "
                f"{self._min_isr[topic]}, not {min_isr}"
            )
        effective_min = min_isr if min_isr is not None else self._min_isr.get(topic, 1)
        p = PartitionState(topic, number, replicas, isr_t, leader_v, effective_min)
        self._check(p)
        self._min_isr[topic] = effective_min
        self._partitions[(topic, number)] = p
        return self

    def topic(
        self, name: str, *, partitions: int = 1, rf: int = 3, min_isr: int = 1
    ) -> SnapshotBuilder:
        """A healthy topic: replicas spread round-robin over the brokers, full ISR."""
        if rf > len(self._known):
            raise ImpossibleState(
                f"{name}: replication factor {rf} needs {rf} brokers, the cluster has "
                f"{len(self._known)}"
            )
        offset = len({t for t, _ in self._partitions})  # spread topics' leaders too
        for number in range(partitions):
            start = (number + offset) % len(self._known)
            replicas = [self._known[(start + i) % len(self._known)] for i in range(rf)]
            self.partition(name, number, replicas=replicas, min_isr=min_isr)
        return self

    # -- what happens to brokers ---------------------------------------------

    def stopped(self, *brokers: int) -> SnapshotBuilder:
        """The broker is down: unregistered, out of every ISR it was not the last of.

        Where it was the last ISR member the partition goes offline and keeps it
        in its ISR (unclean leader election disabled, Kafka's default).
        """
        for b in brokers:
            self._require_known(b)
            self._registered.discard(b)
            for key, p in list(self._partitions.items()):
                if b not in p.isr:
                    continue
                if p.isr == (b,):
                    self._partitions[key] = replace(p, leader=None)
                else:
                    self._partitions[key] = _shrink(p, b)
            if self._controller == b:
                self._controller = None
        return self

    def lagging(self, *brokers: int) -> SnapshotBuilder:
        """The broker is registered but out of every ISR (e.g. catching up after a restart)."""
        for b in brokers:
            self._require_known(b)
            for key, p in list(self._partitions.items()):
                if b not in p.isr:
                    continue
                if p.isr == (b,):
                    raise ImpossibleState(
                        f"{p.name}: broker {b} is its only in-sync replica; Kafka never "
                        "shrinks an ISR to nothing"
                    )
                self._partitions[key] = _shrink(p, b)
        return self

    def unregistered(self, *brokers: int) -> SnapshotBuilder:
        """Unregister brokers, partitions untouched (valid only where they lead nothing)."""
        for b in brokers:
            self._require_known(b)
            self._registered.discard(b)
        return self

    def controller(self, broker: int) -> SnapshotBuilder:
        self._require_known(broker)
        self._controller = broker
        return self

    # -- result --------------------------------------------------------------

    def build(self) -> ClusterSnapshot:
        for p in self._partitions.values():
            self._check(p)
        if self._controller is not None and self._controller not in self._registered:
            raise ImpossibleState(
                f"controller {self._controller} is not a registered broker: a stopped broker "
                "cannot be the active controller"
            )
        return ClusterSnapshot(
            brokers=frozenset(self._registered),
            partitions=tuple(self._partitions[k] for k in sorted(self._partitions)),
            controller_id=self._controller,
        )

    # -- checks --------------------------------------------------------------

    def _require_known(self, broker: int) -> None:
        if broker not in self._known:
            raise ImpossibleState(
                f"broker {broker} is not part of this cluster {list(self._known)}"
            )

    def _check(self, p: PartitionState) -> None:
        name = p.name
        if not p.replicas:
            raise ImpossibleState(f"{name}: a partition needs at least one replica")
        if len(set(p.replicas)) != len(p.replicas):
            raise ImpossibleState(f"{name}: replicas {list(p.replicas)} list a broker twice")
        unknown = sorted(set(p.replicas) - set(self._known))
        if unknown:
            raise ImpossibleState(
                f"{name}: replica on broker {unknown[0]}, which is not part of this cluster "
                f"{list(self._known)}"
            )
        if len(set(p.isr)) != len(p.isr):
            raise ImpossibleState(f"{name}: ISR {list(p.isr)} lists a broker twice")
        outside = sorted(set(p.isr) - set(p.replicas))
        if outside:
            raise ImpossibleState(
                f"{name}: ISR must be a subset of the replicas; broker {outside[0]} is in ISR "
                f"{list(p.isr)} but not in replicas {list(p.replicas)}"
            )
        if p.min_isr < 1:
            raise ImpossibleState(f"{name}: min.insync.replicas must be at least 1")
        if p.leader is None:
            return
        if p.leader not in p.isr:
            raise ImpossibleState(
                f"{name}: ISR must include the leader; leader {p.leader}, ISR {list(p.isr)} "
                "(write leader=None for an offline partition)"
            )
        if p.leader not in self._registered:
            raise ImpossibleState(f"{name}: leader {p.leader} is not a registered broker")
        gone = sorted(set(p.isr) - self._registered)
        if gone:
            raise ImpossibleState(
                f"{name}: broker {gone[0]} is not registered but in ISR {list(p.isr)} of a "
                "partition that has a leader; a stopped broker leaves the ISR"
            )


def cluster(*brokers: int) -> SnapshotBuilder:
    return SnapshotBuilder(*brokers)


def _shrink(p: PartitionState, broker: int) -> PartitionState:
    """``broker`` leaves the ISR; leadership moves to the next ISR member in replica order."""
    isr = tuple(b for b in p.isr if b != broker)
    leader = p.leader
    if leader == broker:
        leader = next(b for b in p.replicas if b in isr)
    return replace(p, isr=isr, leader=leader)
