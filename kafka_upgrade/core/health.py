"""The health verdict: may broker N restart now, and is it back?

Rules, in the order they are checked (each refusal is a ``Reason`` naming the
broker, the rule and what the operator can do):

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
5. Availability, before restarting broker N (the rule Strimzi's
   KafkaAvailability uses): refuse when N is in the ISR of a partition whose
   ISR size is at or below min.insync.replicas: restarting N would drop it
   below min.insync.replicas (or leave it without a leader) and acks=all
   producers would fail ("would-break-min-isr"). A partition whose replica
   count is at or below min.insync.replicas (RF=1, or RF=2 with min ISR 2)
   cannot stay available through *any* restart of its brokers, so it never
   blocks; it is reported as a note ("cannot-stay-available"). Partitions N
   does not host are not affected by N's restart.
6. After restarting broker N: N is registered ("node-not-registered"),
   reports the target version ("wrong-version" / "version-unknown"), is back
   in the ISR of every partition it replicates ("not-in-isr"), and rules 1-4
   hold for the rest of the cluster.
7. Pacing: a node counts as stable after ``required`` healthy polls in a row
   that span at least ``min_seconds`` (``Stability``); one bad poll resets both.
8. KRaft controllers: controller N may restart when, without N, the voters
   that are caught up (lag <= max_lag records and caught up within
   max_caught_up_age_ms; the leader always counts) still form a majority of
   all voters ("would-lose-quorum"). A quorum of one or two voters can never
   lose a member and keep a majority: it never blocks, and a note says so
   ("quorum-cannot-stay-available").
9. Consumer lag is informational: ``lag_report`` names the groups whose lag
   grew by more than a tolerance during the roll; it never stops a roll.

Every function here is pure: it looks at values (a ``ClusterSnapshot``, a
``QuorumStatus``) that a task fetched, and returns a value that a task acts on.

Scale: rules 2-6 look only at the partitions *out of line* (``is_out_of_line``:
offline, under-replicated, or no more replicas than min.insync.replicas), in
one pass. On a healthy 200k-partition cluster that is none of them, so the
upgrade's admin child ships only those (``ClusterSnapshot.summary``) and a poll
stays well under a second. Messages name at most ``NAMED_LIMIT`` partitions or
groups and ``ID_LIMIT`` broker ids ("and 997 more"); ``Reason.subjects`` keeps
the full list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from kafka_upgrade.core.errors import Fatal

_T = TypeVar("_T")

# How many partitions or groups a message names before it says "and N more".
NAMED_LIMIT = 5
# How many broker ids (or runs of consecutive ids, "4-1000") a message names.
ID_LIMIT = 10


# --------------------------------------------------------------------------
# Reasons and verdicts
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why something is refused, or worth knowing, in words an operator can act on.

    ``rule`` is a short kebab-case id (stable: tests, alerts and artifacts key on
    it); ``message`` names the broker/partition, what is wrong and what to do;
    ``subjects`` is the full list of things concerned (the message caps it).
    """

    rule: str
    message: str
    subjects: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass(frozen=True)
class Verdict:
    """A yes or a no, with the reasons for a no and notes worth logging either way.

    ``ok`` is true exactly when ``reasons`` is empty: a refusal always says why.
    ``notes`` never change the answer. ``bool(verdict)`` is ``verdict.ok``.
    """

    ok: bool
    reasons: tuple[Reason, ...] = ()
    notes: tuple[Reason, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.ok and self.reasons:
            raise ValueError("a verdict cannot be ok and carry refusal reasons; use notes")
        if not self.ok and not self.reasons:
            raise ValueError("a refusal must carry at least one reason")

    @classmethod
    def yes(cls, *notes: Reason) -> Verdict:
        return cls(True, (), notes)

    @classmethod
    def no(cls, *reasons: Reason, notes: Iterable[Reason] = ()) -> Verdict:
        return cls(False, reasons, tuple(notes))

    @classmethod
    def of(cls, reasons: Iterable[Reason], notes: Iterable[Reason] = ()) -> Verdict:
        """Ok when there are no reasons."""
        reasons = tuple(reasons)
        return cls(not reasons, reasons, tuple(notes))

    @classmethod
    def all_of(cls, *verdicts: Verdict) -> Verdict:
        """Ok when every verdict is ok; reasons and notes are concatenated."""
        return cls.of(
            (r for v in verdicts for r in v.reasons),
            (n for v in verdicts for n in v.notes),
        )

    @property
    def rules(self) -> tuple[str, ...]:
        """Rule ids of the refusal reasons, in order."""
        return tuple(r.rule for r in self.reasons)

    @property
    def note_rules(self) -> tuple[str, ...]:
        return tuple(n.rule for n in self.notes)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        # Messages end with a full stop, so a space is separator enough.
        head = "ok" if self.ok else "refused: " + " ".join(str(r) for r in self.reasons)
        if self.notes:
            head += " (notes: " + " ".join(str(n) for n in self.notes) + ")"
        return head


# --------------------------------------------------------------------------
# The cluster snapshot
# --------------------------------------------------------------------------


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


# Reads the partitions of one moment that a summary snapshot does not carry:
# ``load(None)`` every partition, ``load(n)`` those with a replica on node n.
PartitionLoader = Callable[[int | None], Sequence[PartitionState]]


class SnapshotIncomplete(Fatal, LookupError):
    """A summary snapshot was asked for partitions it does not carry and cannot load."""


class ClusterSnapshot:
    """What the cluster looked like at one moment: registered brokers and partitions.

    Two forms, one API:

    - complete (``ClusterSnapshot(brokers, partitions, controller_id)``): every
      partition, as the tests' builder and ``isolated_admin`` make it;
    - summary (``ClusterSnapshot.summary(...)``, what the upgrade's admin child
      ships on every poll): the partitions out of line (``is_out_of_line``),
      the count of all, and the partitions of the nodes the caller named. Every
      verdict reads only ``out_of_line``, so both forms give the same verdicts
      at a fraction of the cost on a large cluster.

    ``partitions``, ``partitions_of(n)`` and ``awaiting_preferred_leader(n)``
    work on both. On a summary they come from what was shipped, else from its
    ``load`` function, which reads them *from the same moment* (the child
    keeps it); that is a request to the child and raises what it raises
    (``KafkaUnavailable`` for the admin worker), or ``SnapshotIncomplete``
    when there is nothing to load from.
    """

    __slots__ = (
        "brokers",
        "controller_id",
        "partition_count",
        "_partitions",
        "_out_of_line",
        "_by_node",
        "_load",
    )

    brokers: frozenset[int]
    controller_id: int | None
    partition_count: int
    _partitions: tuple[PartitionState, ...] | None
    _out_of_line: tuple[PartitionState, ...] | None
    _by_node: dict[int, tuple[PartitionState, ...]]
    _load: PartitionLoader | None

    def __init__(
        self,
        brokers: Iterable[int],
        partitions: Iterable[PartitionState],
        controller_id: int | None = None,
    ) -> None:
        parts = tuple(partitions)
        self._init(frozenset(brokers), controller_id, len(parts), parts, None, {}, None)

    @classmethod
    def summary(
        cls,
        brokers: Iterable[int],
        out_of_line: Iterable[PartitionState],
        partition_count: int,
        controller_id: int | None = None,
        *,
        node_partitions: Mapping[int, Iterable[PartitionState]] | None = None,
        load: PartitionLoader | None = None,
    ) -> ClusterSnapshot:
        """A snapshot that carries only the partitions out of line (and those of some nodes)."""
        by_node = {n: tuple(ps) for n, ps in (node_partitions or {}).items()}
        snap = cls.__new__(cls)
        snap._init(
            frozenset(brokers),
            controller_id,
            partition_count,
            None,
            tuple(out_of_line),
            by_node,
            load,
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
        load: PartitionLoader | None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "brokers", brokers)
        set_(self, "controller_id", controller_id)
        set_(self, "partition_count", partition_count)
        set_(self, "_partitions", partitions)
        set_(self, "_out_of_line", out_of_line)
        set_(self, "_by_node", by_node)
        set_(self, "_load", load)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ClusterSnapshot is immutable (cannot set {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ClusterSnapshot is immutable (cannot delete {name})")

    # -- the partitions ------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True when every partition is at hand (no request needed for ``partitions``)."""
        return self._partitions is not None

    @property
    def partitions(self) -> tuple[PartitionState, ...]:
        """Every partition (on a summary: loaded once from the same moment)."""
        if self._partitions is None:
            object.__setattr__(self, "_partitions", tuple(self._loaded(None)))
        assert self._partitions is not None
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
        """Partitions with a replica on ``node``."""
        found = self._by_node.get(node)
        if found is None:
            if self._partitions is not None:
                found = tuple(p for p in self._partitions if node in p.replicas)
            else:
                found = tuple(self._loaded(node))
            self._by_node[node] = found  # a cache of one moment: never stale
        return found

    def awaiting_preferred_leader(self, node: int) -> tuple[PartitionState, ...]:
        """Partitions whose preferred (first) replica is ``node`` but that another broker leads."""
        return tuple(
            p for p in self.partitions_of(node) if p.replicas[0] == node and p.leader != node
        )

    def _loaded(self, node: int | None) -> Sequence[PartitionState]:
        if self._load is None:
            what = "every partition" if node is None else f"the partitions of broker {node}"
            raise SnapshotIncomplete(
                f"this snapshot carries only the {len(self.out_of_line)} partitions out of line "
                f"of {self.partition_count}, and nothing to load {what} from"
            )
        return self._load(node)

    # -- value semantics -----------------------------------------------------

    def __eq__(self, other: object) -> bool:
        """Same cluster: brokers, controller and every partition. A summary that cannot
        load its other partitions is compared on what it carries."""
        if not isinstance(other, ClusterSnapshot):
            return NotImplemented
        if (self.brokers, self.controller_id, self.partition_count) != (
            other.brokers,
            other.controller_id,
            other.partition_count,
        ) or self.out_of_line != other.out_of_line:
            return False
        if self._listable and other._listable:
            return self.partitions == other.partitions
        return True

    @property
    def _listable(self) -> bool:
        return self._partitions is not None or self._load is not None

    def __hash__(self) -> int:
        return hash((self.brokers, self.controller_id, self.partition_count, self.out_of_line))

    def __repr__(self) -> str:
        form = "complete" if self.complete else "summary"
        return (
            f"ClusterSnapshot({form}: {len(self.brokers)} brokers, {self.partition_count} "
            f"partitions, {len(self.out_of_line)} out of line, controller {self.controller_id})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # A pickled summary cannot load any more: it travels with what it has.
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


# --------------------------------------------------------------------------
# Wording helpers
# --------------------------------------------------------------------------


def _capped(names: Sequence[str], limit: int = NAMED_LIMIT, sep: str = ", ") -> str:
    if len(names) <= limit:
        return sep.join(names)
    return sep.join(names[:limit]) + f" and {len(names) - limit} more"


def _capped_as(items: Sequence[_T], say: Callable[[_T], str], limit: int = NAMED_LIMIT) -> str:
    """``_capped`` that words only the items it names (there may be 100k of them)."""
    named = ", ".join(say(i) for i in items[:limit])
    return named if len(items) <= limit else f"{named} and {len(items) - limit} more"


def _ids(ids: Iterable[int], limit: int = ID_LIMIT) -> str:
    """'3', '1, 2 and 3'; past ``limit`` ids, runs ('1-2, 4-1000') capped at ``limit`` runs."""
    ordered = sorted(set(ids))
    if not ordered:
        return "none"
    if len(ordered) == 1:
        return str(ordered[0])
    if len(ordered) <= limit:
        return ", ".join(str(i) for i in ordered[:-1]) + f" and {ordered[-1]}"
    runs: list[list[int]] = []
    for i in ordered:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:limit])
    rest = sum(b - a + 1 for a, b in runs[limit:])
    return text + (f" and {rest} more" if rest else "")


def _brokers(ids: Iterable[int]) -> str:
    ordered = sorted(set(ids))
    return ("broker " if len(ordered) == 1 else "brokers ") + _ids(ordered)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def _name(p: PartitionState) -> str:
    return p.name


def _isr(p: PartitionState) -> str:
    return "[" + ",".join(str(b) for b in p.isr) + "]"


# --------------------------------------------------------------------------
# Cluster health (rules 1-4)
# --------------------------------------------------------------------------


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
                f"{_count(len(offline), 'partition')} {'has' if len(offline) == 1 else 'have'} "
                f"no leader: {_capped_as(offline, _name)}. Clients of "
                f"{'it' if len(offline) == 1 else 'them'} fail now. Bring back their replicas "
                f"({_brokers(hosts)}); kafka-topics.sh --describe --unavailable-partitions "
                "lists them.",
                tuple(p.name for p in offline),
            )
        )

    if below:
        reasons.append(
            Reason(
                "under-min-isr",
                f"{_count(len(below), 'partition')} {'has' if len(below) == 1 else 'have'} fewer "
                "in-sync replicas than min.insync.replicas: "
                + _capped_as(below, lambda p: f"{p.name} (ISR {_isr(p)}, min {p.min_isr})")
                + ". acks=all producers to "
                f"{'it' if len(below) == 1 else 'them'} fail now. Wait for "
                f"{_brokers(catching_up)} to catch up.",
                tuple(p.name for p in below),
            )
        )

    if urp:
        reasons.append(
            Reason(
                "under-replicated",
                f"{_count(len(urp), 'partition')} {'is' if len(urp) == 1 else 'are'} "
                "under-replicated (ISR smaller than the replica list): "
                + _capped_as(urp, lambda p: f"{p.name} (ISR {_isr(p)})")
                + f". Wait for {_brokers(lagging)} to rejoin the ISR; "
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
                + _capped([f"{t} (RF {rf}, min {m})" for t, rf, m in short])
                + ". This predates the upgrade and does not block it; raise the replication "
                "factor or lower min.insync.replicas.",
                tuple(t for t, _, _ in short),
            )
        )
    return reasons, notes


# --------------------------------------------------------------------------
# Before a restart (rule 5)
# --------------------------------------------------------------------------


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
    for p in snapshot.out_of_line_of(node_id):  # the others can neither block nor be noted
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
                + _capped_as(
                    blocking, lambda p: f"{p.name} (ISR {_isr(p)}, min.insync.replicas {p.min_isr})"
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
                + _capped_as(
                    unavoidable, lambda p: f"{p.name} (RF {len(p.replicas)}, min {p.min_isr})"
                )
                + " unavailable while it restarts (to acks=all producers; with RF 1 to every "
                "client). With replicas at or below min.insync.replicas no order avoids that, "
                "so it does not block. Raise the replication factor to avoid it.",
                tuple(p.name for p in unavoidable),
            )
        )
    return Verdict.of(reasons, notes)


def can_restart_together(
    snapshot: ClusterSnapshot, node_ids: Collection[int], expected_brokers: Collection[int]
) -> Verdict:
    """May these brokers restart *at the same time* (a batch, ``max_parallel``)?

    One broker: exactly ``can_restart``. Several: each must pass
    ``can_restart`` on its own, and with all of them down together every
    partition they replicate must keep min.insync.replicas in-sync replicas
    (so a leader too). That second rule reads every partition of the batch, not
    only those out of line: two healthy replicas of one partition may each go
    alone, but not together.
    """
    batch = sorted(set(node_ids))
    if len(batch) == 1:
        return can_restart(snapshot, batch[0], expected_brokers)
    singles = [can_restart(snapshot, b, expected_brokers) for b in batch]
    reasons = list(dict.fromkeys(r for v in singles for r in v.reasons))
    notes = list(dict.fromkeys(n for v in singles for n in v.notes))
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
    if together:
        reasons.append(
            Reason(
                "batch-would-break-min-isr",
                f"{_brokers(batch)} may not restart together: with all of them down "
                + _capped_as(
                    together, lambda p: f"{p.name} (ISR {_isr(p)}, min.insync.replicas {p.min_isr})"
                )
                + " would drop below min.insync.replicas. Restart them one at a time "
                "(max_parallel 1) or batch brokers that share no partition.",
                tuple(p.name for p in together),
            )
        )
    return Verdict.of(reasons, notes)


# --------------------------------------------------------------------------
# After a restart (rule 6)
# --------------------------------------------------------------------------


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
    behind = [p for p in snapshot.out_of_line_of(node_id) if node_id not in p.isr]
    if behind:
        reasons.append(
            Reason(
                "not-in-isr",
                f"broker {node_id} is not yet back in the ISR of "
                f"{_count(len(behind), 'partition')}: {_capped_as(behind, _name)}. It is "
                "catching up on what it missed; wait (large or busy partitions take longer).",
                tuple(p.name for p in behind),
            )
        )
    health_reasons, health_notes = _health(snapshot, expected_brokers, except_node=node_id)
    return Verdict.of([*reasons, *health_reasons], health_notes)


# --------------------------------------------------------------------------
# Pacing (rule 7)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Stability:
    """Healthy polls in a row, and for how long; one bad poll resets both.

    ``Stability(required=3, min_seconds=2).observe(v1, at=t1).observe(v2, at=t2)...``;
    ``.stable`` once the last ``required`` verdicts were all ok *and* the streak has
    lasted ``min_seconds`` (from its first healthy poll to its latest). Count alone
    would let faster polls shorten the watch; time alone would let one lucky poll
    after a long wait count. ``at`` is a monotonic clock reading in seconds.
    """

    required: int
    min_seconds: float = 0.0
    streak: int = 0
    since: float | None = None  # when the streak's first healthy poll was taken
    latest: float | None = None
    last: Verdict | None = None

    def __post_init__(self) -> None:
        if self.required < 1:
            raise ValueError(
                f"required consecutive healthy polls must be >= 1, got {self.required}"
            )
        if self.min_seconds < 0:
            raise ValueError(f"min_seconds must be >= 0, got {self.min_seconds}")

    def observe(self, verdict: Verdict, at: float = 0.0) -> Stability:
        if not verdict.ok:
            return Stability(self.required, self.min_seconds, 0, None, at, verdict)
        since = self.since if self.streak else at
        return Stability(self.required, self.min_seconds, self.streak + 1, since, at, verdict)

    @property
    def lasted(self) -> float:
        """Seconds from the streak's first healthy poll to its latest (0 without a streak)."""
        if not self.streak or self.since is None or self.latest is None:
            return 0.0
        return self.latest - self.since

    @property
    def stable(self) -> bool:
        return self.streak >= self.required and self.lasted >= self.min_seconds

    def __str__(self) -> str:
        text = f"{min(self.streak, self.required)}/{self.required} healthy polls in a row"
        if self.min_seconds:
            text += f", {min(self.lasted, self.min_seconds):.1f}/{self.min_seconds:g} s"
        if self.last is not None and not self.last.ok:
            text += f"; last poll: {self.last}"
        return text


@dataclass(frozen=True)
class SeenStable:
    """When (``time.monotonic()``) a sensor last saw the cluster stably healthy, and after
    what ("after broker-3's recovery")."""

    at: float
    after: str


def carried_stability(
    seen: SeenStable | None, unhealthy_at: float | None, now: float, reuse_s: float
) -> str | None:
    """Why the next restart gate may take one healthy poll instead of a stability watch
    (the words the log gives), or None: nothing was seen stable, it is older than
    ``reuse_s``, or anything was seen unhealthy since."""
    if seen is None:
        return None
    if unhealthy_at is not None and unhealthy_at >= seen.at:
        return None
    age = now - seen.at
    if age > reuse_s:
        return None
    return (
        f"the cluster was seen stably healthy {age:.1f} s ago ({seen.after}), "
        "nothing unhealthy since"
    )


def window_clean(since: float, unhealthy_at: float | None) -> bool:
    """A stability watch that began at ``since`` counts only if no sensor running beside it
    saw anything unhealthy from then on."""
    return unhealthy_at is None or unhealthy_at < since


def poll_pause(interval: float, took: float, snapshot_s: float) -> float:
    """Seconds to wait before the next health poll: the rest of ``interval`` after a poll
    that took ``took``, but at least as long as that poll's snapshot took (``snapshot_s``),
    so a big cluster and the admin child are never polled flat out. Time spent waiting on
    an SSH probe loads neither, so it does not slow the polls."""
    return max(interval - took, snapshot_s, 0.0)


def stable(history: Sequence[Verdict], required: int) -> bool:
    """True when the last ``required`` verdicts of ``history`` are all ok."""
    state = Stability(required)
    for verdict in history:
        state = state.observe(verdict)
    return state.stable


# --------------------------------------------------------------------------
# KRaft controllers (rule 8)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class VoterState:
    """One replica of the metadata log, as ``kafka-metadata-quorum.sh describe --replication``
    shows it.

    Ages are measured on one clock (see ``kafka_cli.quorum_from``); None = never
    / unknown (the tool prints -1).
    """

    node_id: int
    log_end_offset: int
    lag: int
    last_caught_up_ms_ago: int | None
    last_fetch_ms_ago: int | None = None
    directory_id: str | None = None


@dataclass(frozen=True)
class QuorumStatus:
    """The KRaft metadata quorum: its leader, its voters and (optionally) its observers."""

    leader_id: int | None
    voters: tuple[VoterState, ...]
    high_watermark: int | None = None
    leader_epoch: int | None = None
    observers: tuple[VoterState, ...] = ()
    cluster_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "voters", tuple(self.voters))
        object.__setattr__(self, "observers", tuple(self.observers))
        ids = [v.node_id for v in self.voters]
        if len(ids) != len(set(ids)):
            raise ValueError(f"voter ids must be unique, got {ids}")

    @property
    def voter_ids(self) -> tuple[int, ...]:
        return tuple(sorted(v.node_id for v in self.voters))

    def voter(self, node_id: int) -> VoterState | None:
        return next((v for v in self.voters if v.node_id == node_id), None)

    @property
    def majority(self) -> int:
        return len(self.voters) // 2 + 1


def voter_caught_up(
    quorum: QuorumStatus, voter: VoterState, max_lag: int, max_caught_up_age_ms: int
) -> bool:
    """The leader always is; a follower is when its lag and its last catch-up are recent enough."""
    if voter.node_id == quorum.leader_id:
        return True
    return (
        voter.lag <= max_lag
        and voter.last_caught_up_ms_ago is not None
        and voter.last_caught_up_ms_ago <= max_caught_up_age_ms
    )


def can_restart_controller(
    quorum: QuorumStatus, node_id: int, max_lag: int, max_caught_up_age_ms: int
) -> Verdict:
    """May controller ``node_id`` restart and leave a caught-up majority of the voters?"""
    voters = _ids(quorum.voter_ids)
    if quorum.voter(node_id) is None:
        return Verdict.no(
            Reason(
                "not-a-voter",
                f"controller {node_id} is not a voter of the metadata quorum (voters: {voters}). "
                "Check the node id and the inventory's roles, and controller.quorum.voters.",
                (f"controller {node_id}",),
            )
        )
    if quorum.leader_id is None or quorum.voter(quorum.leader_id) is None:
        return Verdict.no(
            Reason(
                "no-quorum-leader",
                f"the metadata quorum has no leader among its voters ({voters}; leader "
                f"{quorum.leader_id}), so no controller may restart. Check the controllers' "
                "server.log; the quorum elects a leader once a majority of voters are up.",
                ("quorum",),
            )
        )

    needed = quorum.majority
    others = [v for v in quorum.voters if v.node_id != node_id]
    if len(others) < needed:
        return Verdict.yes(
            Reason(
                "quorum-cannot-stay-available",
                f"the metadata quorum has {_count(len(quorum.voters), 'voter')} ({voters}): "
                f"without controller {node_id} it cannot keep a majority whatever the order, "
                "so metadata changes wait while it restarts. Run 3 or 5 controllers to avoid it.",
                (f"controller {node_id}",),
            )
        )

    caught_up = [v for v in others if voter_caught_up(quorum, v, max_lag, max_caught_up_age_ms)]
    if len(caught_up) >= needed:
        return Verdict.yes()
    behind = [v for v in others if v not in caught_up]
    return Verdict.no(
        Reason(
            "would-lose-quorum",
            f"controller {node_id} may not restart: without it only "
            f"{len(caught_up)} of {len(quorum.voters)} voters are caught up and the quorum "
            f"needs {needed}. Behind: "
            + _capped([_behind(v, max_lag, max_caught_up_age_ms) for v in behind], sep="; ")
            + ". Wait for "
            + ("it" if len(behind) == 1 else "them")
            + " to catch up (kafka-metadata-quorum.sh describe --replication), or check "
            + ("its" if len(behind) == 1 else "their")
            + " server.log.",
            tuple(f"controller {v.node_id}" for v in behind),
        )
    )


def _behind(v: VoterState, max_lag: int, max_age_ms: int) -> str:
    age = (
        "never caught up"
        if v.last_caught_up_ms_ago is None
        else (f"last caught up {v.last_caught_up_ms_ago} ms ago (max {max_age_ms})")
    )
    return f"voter {v.node_id} lags {v.lag} records (max {max_lag}), {age}"


# --------------------------------------------------------------------------
# Consumer lag (rule 9, informational)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class LagSample:
    """Total lag of one consumer group, summed over its partitions."""

    group: str
    total_lag: int


def lag_by_group(samples: Iterable[LagSample]) -> dict[str, int]:
    """Samples to a mapping; a group sampled twice is a caller bug."""
    totals: dict[str, int] = {}
    for s in samples:
        if s.group in totals:
            raise ValueError(f"consumer group {s.group!r} sampled twice in one poll")
        totals[s.group] = s.total_lag
    return totals


@dataclass(frozen=True)
class LagChange:
    group: str
    before: int | None  # None: the group had no lag sample before
    after: int | None  # None: the group has no lag sample now

    @property
    def growth(self) -> int | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class LagReport:
    """How consumer lag moved between two samples; for the run log, never a gate."""

    changes: tuple[LagChange, ...]
    tolerance: int
    unread: tuple[str, ...] = ()  # groups the last sample could not read in time

    @property
    def grown(self) -> tuple[LagChange, ...]:
        """Groups whose lag grew by more than ``tolerance`` messages, largest growth first."""
        hits = [c for c in self.changes if c.growth is not None and c.growth > self.tolerance]
        return tuple(sorted(hits, key=lambda c: (-(c.growth or 0), c.group)))

    @property
    def ok(self) -> bool:
        return not self.grown

    @property
    def reasons(self) -> tuple[Reason, ...]:
        grown = self.grown
        if not grown:
            return ()
        return (
            Reason(
                "consumer-lag-grew",
                f"consumer lag grew by more than {self.tolerance} messages for "
                f"{_count(len(grown), 'group')}: "
                + _capped([f"{c.group} (+{c.growth}: {c.before} -> {c.after})" for c in grown])
                + ". The roll goes on; check that these consumers keep up "
                "(kafka-consumer-groups.sh --describe --group ...).",
                tuple(c.group for c in grown),
            ),
        )

    @property
    def notes(self) -> tuple[Reason, ...]:
        unread = set(self.unread)
        new = [c.group for c in self.changes if c.before is None and c.group not in unread]
        gone = [c.group for c in self.changes if c.after is None and c.group not in unread]
        out: list[Reason] = []
        if self.unread:
            out.append(
                Reason(
                    "consumer-lag-unread",
                    f"lag not read in time for {_count(len(self.unread), 'group')}: "
                    f"{_capped(list(self.unread))}; no growth computed for "
                    f"{'it' if len(self.unread) == 1 else 'them'} this time.",
                    self.unread,
                )
            )
        if new:
            out.append(
                Reason(
                    "consumer-group-new",
                    f"no earlier lag sample for {_capped(new)}: no growth computed.",
                    tuple(new),
                )
            )
        if gone:
            out.append(
                Reason(
                    "consumer-group-gone",
                    f"no lag sample any more for {_capped(gone)}: the group stopped or lost "
                    "its committed offsets.",
                    tuple(gone),
                )
            )
        return tuple(out)

    def verdict(self) -> Verdict:
        return Verdict.of(self.reasons, self.notes)

    def __str__(self) -> str:
        if self.ok:
            return f"consumer lag within +{self.tolerance} for {_count(len(self.changes), 'group')}"
        return "; ".join(str(r) for r in self.reasons)


def lag_report(
    before: Mapping[str, int],
    after: Mapping[str, int],
    tolerance: int,
    unread: Collection[str] = (),
) -> LagReport:
    """Compare total lag per group; growth above ``tolerance`` messages is reported.

    ``unread``: groups either sample could not read within its deadline
    (``kafka_admin.LagReading.unread``); they are noted as such, not as new or gone.
    """
    if tolerance < 0:
        raise ValueError(f"lag tolerance must be >= 0 messages, got {tolerance}")
    groups = sorted(set(before) | set(after))
    changes = tuple(LagChange(g, before.get(g), after.get(g)) for g in groups)
    return LagReport(changes, tolerance, tuple(sorted(set(unread))))


def node_running_version(node_id: int, reported: str | None, version: str) -> Verdict:
    """A controller-only node runs ``version`` (brokers are judged by ``node_recovered``)."""
    if reported == version:
        return Verdict(ok=True)
    what = "is not running" if reported is None else f"runs {reported}"
    return Verdict(
        ok=False,
        reasons=(Reason("wrong-version", f"node {node_id} {what}; expected {version}"),),
    )


def controller_caught_up(quorum: QuorumStatus, node_id: int, max_lag: int) -> Verdict:
    """A restarted controller is a voter again and within ``max_lag`` of the leader."""
    for voter in quorum.voters:
        if voter.node_id == node_id:
            if voter.node_id == quorum.leader_id or (
                voter.lag is not None and voter.lag <= max_lag
            ):
                return Verdict(ok=True)
            return Verdict(
                ok=False,
                reasons=(
                    Reason(
                        "controller-lagging",
                        f"controller {node_id} lags the quorum leader by {voter.lag} records "
                        f"(at most {max_lag} allowed); waiting for it to catch up",
                    ),
                ),
            )
    return Verdict(
        ok=False,
        reasons=(Reason("not-a-voter", f"node {node_id} is not among the quorum's voters yet"),),
    )


__all__ = [
    "NAMED_LIMIT",
    "ID_LIMIT",
    "ClusterSnapshot",
    "LagChange",
    "LagReport",
    "LagSample",
    "PartitionLoader",
    "PartitionState",
    "QuorumStatus",
    "Reason",
    "SnapshotIncomplete",
    "Stability",
    "Verdict",
    "VoterState",
    "can_restart",
    "can_restart_controller",
    "cluster_healthy",
    "is_out_of_line",
    "controller_caught_up",
    "node_running_version",
    "lag_by_group",
    "lag_report",
    "node_recovered",
    "stable",
    "voter_caught_up",
]
