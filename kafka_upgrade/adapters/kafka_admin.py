"""Reading the cluster through Kafka's AdminClient (confluent-kafka).

Errors from the client are translated here into ``KafkaUnavailable`` (the
cluster did not answer in time: transient) so nothing above this module sees
a library exception.

Cost on a large cluster (1,000 brokers, 200k partitions) is what shapes this
module: ``SnapshotReader.observe`` keeps the client's Metadata answer as it is
(an ``Observation``) and builds ``PartitionState`` values only for the
partitions a caller asks for, the ones out of line first; ``consumer_lag``
reads at most ``max_groups`` groups, a bounded number of requests at a time,
within one deadline, and returns what it read plus what it did not.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, OffsetSpec, ResourceType

from kafka_upgrade.core.errors import Transient
from kafka_upgrade.core.health import ClusterSnapshot, PartitionState, is_out_of_line
from kafka_upgrade.core.inventory import Inventory


class KafkaUnavailable(Transient):
    """The cluster did not answer an admin request in time."""


def client_config(inventory: Inventory) -> dict[str, str]:
    return {
        "bootstrap.servers": inventory.bootstrap_servers,
        **inventory.kafka.librdkafka_config(),
    }


def admin_client(inventory: Inventory) -> AdminClient:
    # librdkafka's own logs would print connection noise for every restarted broker.
    return AdminClient({**client_config(inventory), "log_level": 0})


def registered_brokers(admin: AdminClient, timeout: float = 10.0) -> set[int]:
    """Ids of the brokers the cluster reports as alive right now."""
    try:
        cluster = admin.describe_cluster(request_timeout=timeout).result(timeout=timeout + 5)
    except (KafkaException, TimeoutError) as exc:
        raise KafkaUnavailable(f"cluster did not describe itself: {exc}") from None
    return {node.id for node in cluster.nodes}


def wait_for_brokers(
    admin: AdminClient, expected: set[int], timeout: float, poll: float = 1.0
) -> set[int]:
    """Wait until every expected broker is registered; returns the set seen last."""
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < deadline:
        try:
            seen = registered_brokers(admin, timeout=min(10.0, timeout))
        except KafkaUnavailable:
            seen = set()
        if expected <= seen:
            return seen
        time.sleep(poll)
    missing = sorted(expected - seen)
    raise KafkaUnavailable(
        f"brokers {missing} did not register within {timeout:.0f} s (seen: {sorted(seen)})"
    )


# One partition as plain values: topic, partition, replicas, isr, leader (None:
# offline), min.insync.replicas.
Row = tuple[str, int, Sequence[int], Sequence[int], int | None, int]


@dataclass(frozen=True, eq=False)
class Observation:
    """One Metadata answer as the client returned it, plus each topic's min.insync.replicas.

    Nothing is copied: ``topics`` holds the client's own partition maps. Walking
    them once costs a fraction of building a ``PartitionState`` per partition,
    so the methods build values only for what they return.
    """

    brokers: frozenset[int]
    controller_id: int | None
    # (topic, min.insync.replicas, the client's {partition id: PartitionMetadata}), by name
    topics: tuple[tuple[str, int, Mapping[int, Any]], ...]
    partition_count: int

    def rows(self) -> Iterator[Row]:
        """Every partition, topics by name, partitions by number."""
        for topic, min_isr, parts in self.topics:
            for pid in sorted(parts):
                pm = parts[pid]
                leader = pm.leader if pm.leader >= 0 else None
                yield topic, pid, pm.replicas, pm.isrs, leader, min_isr

    def out_of_line_rows(self) -> list[Row]:
        """The partitions a health rule can have something to say about, in one pass."""
        found: list[Row] = []
        for topic, min_isr, parts in self.topics:
            for pid in sorted(parts):
                pm = parts[pid]
                if is_out_of_line(pm.replicas, pm.isrs, pm.leader, min_isr):
                    leader = pm.leader if pm.leader >= 0 else None
                    found.append((topic, pid, pm.replicas, pm.isrs, leader, min_isr))
        return found

    def rows_of(self, node: int) -> list[Row]:
        """Partitions with a replica on ``node``."""
        return [row for row in self.rows() if node in row[2]]

    def out_of_line(self) -> list[PartitionState]:
        return [PartitionState(*row) for row in self.out_of_line_rows()]

    def partitions_of(self, node: int) -> list[PartitionState]:
        return [PartitionState(*row) for row in self.rows_of(node)]

    def snapshot(self) -> ClusterSnapshot:
        """The complete snapshot: a ``PartitionState`` for every partition (the costly form)."""
        return ClusterSnapshot(
            brokers=self.brokers,
            partitions=tuple(PartitionState(*row) for row in self.rows()),
            controller_id=self.controller_id,
        )


class SnapshotReader:
    """Builds health snapshots from Metadata plus topic configs (min.insync.replicas).

    Topic configs change rarely, so they are cached for ``config_ttl`` seconds;
    partitions, ISRs and brokers are read fresh on every call.
    """

    def __init__(self, admin: AdminClient, timeout: float = 10.0, config_ttl: float = 30.0) -> None:
        self._admin = admin
        self._timeout = timeout
        self._ttl = config_ttl
        self._min_isr: dict[str, int] = {}
        self._fetched_at = 0.0

    def _min_isr_for(self, topics: list[str]) -> dict[str, int]:
        stale = time.monotonic() - self._fetched_at > self._ttl
        unknown = [t for t in topics if t not in self._min_isr]
        if topics and (stale or unknown):
            wanted = topics if stale else unknown
            resources = [ConfigResource(ResourceType.TOPIC, t) for t in wanted]
            try:
                futures = self._admin.describe_configs(resources, request_timeout=self._timeout)
                for resource, future in futures.items():
                    config = future.result(timeout=self._timeout + 5)
                    entry = config.get("min.insync.replicas")
                    self._min_isr[resource.name] = int(entry.value) if entry else 1
            except (KafkaException, TimeoutError) as exc:
                raise KafkaUnavailable(f"topic configs could not be read: {exc}") from None
            if stale:
                self._fetched_at = time.monotonic()
        return {t: self._min_isr.get(t, 1) for t in topics}

    def observe(self) -> Observation:
        """One Metadata request, kept as the client answered it (see ``Observation``)."""
        # Any live broker answers Metadata, also while a broker or the active
        # controller is down (DescribeCluster can time out waiting for the
        # controller, which blinded the roll exactly when a broker had died).
        try:
            metadata = self._admin.list_topics(timeout=self._timeout)
        except (KafkaException, TimeoutError) as exc:
            raise KafkaUnavailable(f"cluster metadata could not be read: {exc}") from None
        names = sorted(metadata.topics)
        min_isr = self._min_isr_for(names)
        topics = []
        count = 0
        for name in names:
            tm = metadata.topics[name]
            if tm.error is not None:
                raise KafkaUnavailable(f"metadata of topic {name} has an error: {tm.error}")
            topics.append((name, min_isr[name], tm.partitions))
            count += len(tm.partitions)
        controller = metadata.controller_id if metadata.controller_id >= 0 else None
        return Observation(frozenset(metadata.brokers), controller, tuple(topics), count)

    def snapshot(self) -> ClusterSnapshot:
        """The complete snapshot (every partition); ``observe`` is the cheap way."""
        return self.observe().snapshot()


# The share of the lag deadline spent on committed offsets; the rest is for end offsets.
COMMITTED_SHARE = 0.6


@dataclass(frozen=True)
class LagReading:
    """Consumer lag as one bounded read saw it: total lag per group read, and the rest."""

    lags: Mapping[str, int]
    unread: tuple[str, ...] = ()  # groups not read: deadline, group cap or an error
    note: str | None = None  # why, in words (None when every group was read)
    requests: int = 0  # admin requests issued (list groups + offset fetches + list offsets)
    seconds: float = 0.0


@dataclass
class _LagProgress:
    committed: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0


def consumer_lag(
    admin: AdminClient,
    timeout: float = 10.0,
    *,
    deadline_s: float = 8.0,
    max_groups: int = 1000,
    in_flight: int = 32,
    offsets_chunk: int = 5000,
    clock: Callable[[], float] = time.monotonic,
) -> LagReading:
    """Total lag per consumer group (committed offset vs. log end), for the report.

    Bounded whatever the number of groups: one ListGroups request, then the
    committed offsets of at most ``max_groups`` groups (the client takes one
    group per request; ``in_flight`` of them at a time), then the log end
    offsets of every partition they commit to in ``offsets_chunk``-sized
    batches, all within ``deadline_s`` (``COMMITTED_SHARE`` of it for the
    committed offsets). Groups not read by then (or over the
    cap, or whose read failed) are returned in ``unread`` with a note; only a
    cluster that does not even list its groups raises ``KafkaUnavailable``.
    """
    started = clock()
    end = started + deadline_s
    # Committed offsets get the first part of the deadline, so groups that never
    # answer cannot leave no time for the end offsets of those that did.
    committed_end = started + deadline_s * COMMITTED_SHARE

    def left(until: float = end) -> float:
        return max(0.0, until - clock())

    def request_timeout() -> float:
        return max(0.5, min(timeout, left()))

    try:
        listed = admin.list_consumer_groups(request_timeout=request_timeout()).result(
            timeout=left() + 1.0
        )
    except (KafkaException, TimeoutError) as exc:
        raise KafkaUnavailable(f"consumer groups could not be listed: {exc}") from None
    every = sorted(g.group_id for g in listed.valid)
    groups, over_cap = every[:max_groups], every[max_groups:]
    progress = _LagProgress(requests=1)

    _read_committed(
        admin, groups, progress, in_flight, lambda: left(committed_end), request_timeout
    )
    ends = _read_ends(admin, progress, offsets_chunk, left, request_timeout)

    lags: dict[str, int] = {}
    no_end: list[str] = []
    for group, offsets in progress.committed.items():
        if all((t, p) in ends for t, p, _ in offsets):
            lags[group] = sum(max(0, ends[(t, p)] - off) for t, p, off in offsets)
        else:
            no_end.append(group)
    late = [g for g in groups if g not in lags and g not in progress.failed and g not in no_end]
    unread = tuple(sorted({*over_cap, *progress.failed, *no_end, *late}))
    seconds = clock() - started
    note = _lag_note(len(every), len(lags), over_cap, late, no_end, progress.failed, deadline_s)
    return LagReading(dict(sorted(lags.items())), unread, note, progress.requests, seconds)


def _read_committed(
    admin: AdminClient,
    groups: Sequence[str],
    progress: _LagProgress,
    in_flight: int,
    left: Callable[[], float],
    request_timeout: Callable[[], float],
) -> None:
    """Committed offsets per group, ``in_flight`` requests at a time, until the deadline."""
    pending = deque(groups)
    running: dict[Future[Any], str] = {}
    while (pending or running) and left() > 0:
        while pending and len(running) < in_flight:
            group = pending.popleft()
            try:
                futures = admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group)], request_timeout=request_timeout()
                )
            except (KafkaException, ValueError, TypeError) as exc:
                progress.failed[group] = str(exc)
                continue
            progress.requests += 1
            running[futures[group]] = group
        if not running:
            break
        done, _ = wait(list(running), timeout=left(), return_when=FIRST_COMPLETED)
        for future in done:
            group = running.pop(future)
            try:
                result = future.result(timeout=0)
            except (KafkaException, TimeoutError) as exc:
                progress.failed[group] = str(exc)
                continue
            progress.committed[group] = [
                (tp.topic, tp.partition, tp.offset)
                for tp in (result.topic_partitions or [])
                if tp.offset >= 0
            ]


def _read_ends(
    admin: AdminClient,
    progress: _LagProgress,
    chunk: int,
    left: Callable[[], float],
    request_timeout: Callable[[], float],
) -> dict[tuple[str, int], int]:
    """Log end offsets of every partition a read group commits to, ``chunk`` at a time."""
    wanted = sorted({(t, p) for offsets in progress.committed.values() for t, p, _ in offsets})
    futures: dict[Future[Any], tuple[str, int]] = {}
    for i in range(0, len(wanted), chunk):
        if left() <= 0:
            break
        batch = {TopicPartition(t, p): OffsetSpec.latest() for t, p in wanted[i : i + chunk]}
        try:
            answer = admin.list_offsets(batch, request_timeout=request_timeout())
        except (KafkaException, ValueError, TypeError):
            continue  # those partitions' groups count as unread
        progress.requests += 1
        futures.update({f: (tp.topic, tp.partition) for tp, f in answer.items()})
    ends: dict[tuple[str, int], int] = {}
    if futures:
        done, _ = wait(list(futures), timeout=left())
        for future in done:
            try:
                ends[futures[future]] = future.result(timeout=0).offset
            except (KafkaException, TimeoutError):
                pass
    return ends


def _lag_note(
    listed: int,
    read: int,
    over_cap: Sequence[str],
    late: Sequence[str],
    no_end: Sequence[str],
    failed: Mapping[str, str],
    deadline_s: float,
) -> str | None:
    if read == listed:
        return None
    parts = []
    if late:
        parts.append(f"{len(late)} not answered within the {deadline_s:g} s deadline")
    if over_cap:
        parts.append(f"{len(over_cap)} over the cap of {listed - len(over_cap)} groups per read")
    if no_end:
        parts.append(f"{len(no_end)} whose partitions' end offsets were not read")
    if failed:
        first = next(iter(sorted(failed)))
        parts.append(f"{len(failed)} failed (e.g. {first}: {failed[first]})")
    return f"consumer lag read for {read} of {listed} groups; " + "; ".join(parts) + "."


def elect_preferred(
    admin: AdminClient, partitions: list[tuple[str, int]], timeout: float = 10.0
) -> dict[str, str]:
    """Preferred leader election for ``partitions``; {"topic-partition": error} where it
    failed. "Election not needed" (already the preferred leader) is not an error.

    No request/operation timeout is passed: confluent-kafka 2.16's ``elect_leaders``
    rejects them ("more argument specifiers than keyword list entries"); the future's
    own timeout bounds the wait.
    """
    from confluent_kafka import ElectionType, KafkaError

    if not partitions:
        return {}
    try:
        future = admin.elect_leaders(
            ElectionType.PREFERRED, [TopicPartition(t, p) for t, p in partitions]
        )
        results = future.result(timeout=timeout)
    except (KafkaException, TimeoutError) as exc:
        raise KafkaUnavailable(f"preferred leader election failed: {exc}") from None
    failed = {}
    for tp, error in results.items():
        if error is None:
            continue
        kafka_error = error.args[0] if isinstance(error, KafkaException) and error.args else error
        code = kafka_error.code() if hasattr(kafka_error, "code") else None
        if code != KafkaError.ELECTION_NOT_NEEDED:
            failed[f"{tp.topic}-{tp.partition}"] = str(error)
    return failed
