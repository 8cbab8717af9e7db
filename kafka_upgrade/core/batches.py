"""Which brokers may restart together: the roll order cut into batches (``max_parallel``).

Rules (``plan_batches``), in the order they apply:

1. The roll order stays the order of ``order.roll_order``: a batch takes the
   place of its first member, and later members move up to join it.
2. Controllers (controller-only and combined nodes) and the active controller
   (the ZooKeeper controller broker, the KRaft quorum leader) are never batched:
   each is a batch of one, where the roll order puts it (KRaft: controllers
   first, the leader last of them; ZooKeeper: the active controller last).
3. A batch holds at most ``max_parallel`` brokers, and no two of them replicate
   the same partition: with the whole batch down, no partition loses more than
   one replica (so a partition that stays available with one broker down stays
   available with the batch down; the restart gate checks that again, live).
4. When racks are set (``broker.rack``), a batch is filled from its first
   member's rack first, then from the other racks; rack-aware placement puts
   one replica per rack, so brokers of one rack rarely share a partition, and
   a batch of one rack looks to the cluster like that rack's brief outage, which
   rack-aware placement is made to survive.
5. ``max_parallel`` 1 gives one batch per node: exactly the roll order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Batch:
    """Nodes restarted together (one node: the plain one-at-a-time step)."""

    members: tuple[int, ...]
    racks: tuple[str, ...] = ()  # the members' racks, sorted, without duplicates

    def label(self, name: Callable[[int], str]) -> str:
        """'broker-4 + broker-5'."""
        return " + ".join(name(m) for m in self.members)

    def describe(self, name: Callable[[int], str]) -> str:
        """'broker-4 + broker-5 (rack a)' for logs, the plan and the approval form."""
        if not self.racks:
            return self.label(name)
        word = "rack" if len(self.racks) == 1 else "racks"
        return f"{self.label(name)} ({word} {', '.join(self.racks)})"


def plan_batches(
    order: Sequence[int],
    alone: Collection[int],
    replicas: Iterable[Sequence[int]],
    racks: Mapping[int, str | None],
    max_parallel: int,
) -> list[Batch]:
    """Cut ``order`` into batches (rules above).

    ``alone``: nodes never batched (every controller and the active controller).
    ``replicas``: the replica list of every partition. ``racks``: node -> rack
    (missing or None: no rack).
    """
    if max_parallel < 1:
        raise ValueError(f"max_parallel must be 1 or more, got {max_parallel}")
    shares: dict[int, set[int]] = {n: set() for n in order}
    for replica_list in replicas:
        for b in replica_list:
            if b in shares:
                shares[b].update(replica_list)
    position = {n: i for i, n in enumerate(order)}
    solo = set(alone)
    taken: set[int] = set()
    batches: list[Batch] = []
    for i, seed in enumerate(order):
        if seed in taken:
            continue
        taken.add(seed)
        members = [seed]
        if seed not in solo and max_parallel > 1:
            later = [n for n in order[i + 1 :] if n not in taken and n not in solo]
            rack = racks.get(seed)
            # Rule 4: the seed's rack first, then the others, each in roll order.
            for n in [n for n in later if racks.get(n) == rack] + [
                n for n in later if racks.get(n) != rack
            ]:
                if len(members) == max_parallel:
                    break
                if any(n in shares[m] for m in members):
                    continue
                members.append(n)
                taken.add(n)
        members.sort(key=position.__getitem__)
        found = sorted({r for m in members if (r := racks.get(m))})
        batches.append(Batch(tuple(members), tuple(found)))
    return batches


__all__ = ["Batch", "plan_batches"]
