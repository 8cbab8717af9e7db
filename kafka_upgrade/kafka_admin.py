"""Reading the cluster through Kafka's AdminClient (confluent-kafka).

Errors from the client are translated here into ``KafkaUnavailable`` (the
cluster did not answer in time: transient) so nothing above this module sees
a library exception.
"""

from __future__ import annotations

import time

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, OffsetSpec, ResourceType

from kafka_upgrade.health import ClusterSnapshot, PartitionState
from kafka_upgrade.inventory import Inventory


class KafkaUnavailable(Exception):
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

    def snapshot(self) -> ClusterSnapshot:
        # One Metadata request: any live broker answers it, also while a broker or the
        # active controller is down (DescribeCluster can time out waiting for the
        # controller, which blinded the roll exactly when a broker had died).
        try:
            metadata = self._admin.list_topics(timeout=self._timeout)
        except (KafkaException, TimeoutError) as exc:
            raise KafkaUnavailable(f"cluster metadata could not be read: {exc}") from None
        topics = sorted(metadata.topics)
        min_isr = self._min_isr_for(topics)
        partitions = []
        for topic in topics:
            tm = metadata.topics[topic]
            if tm.error is not None:
                raise KafkaUnavailable(f"metadata of topic {topic} has an error: {tm.error}")
            for pid, pm in sorted(tm.partitions.items()):
                partitions.append(
                    PartitionState(
                        topic=topic,
                        partition=pid,
                        replicas=tuple(pm.replicas),
                        isr=tuple(pm.isrs),
                        leader=pm.leader if pm.leader >= 0 else None,
                        min_isr=min_isr[topic],
                    )
                )
        controller = metadata.controller_id if metadata.controller_id >= 0 else None
        return ClusterSnapshot(
            brokers=frozenset(metadata.brokers),
            partitions=tuple(partitions),
            controller_id=controller,
        )


def consumer_lag(admin: AdminClient, timeout: float = 10.0) -> dict[str, int]:
    """Total lag per consumer group (committed offset vs. log end), for the report."""
    try:
        listed = admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout + 5)
        groups = [g.group_id for g in listed.valid]
        lags: dict[str, int] = {}
        for group in groups:
            request = [ConsumerGroupTopicPartitions(group)]
            committed = admin.list_consumer_group_offsets(request, request_timeout=timeout)
            offsets = committed[group].result(timeout=timeout + 5).topic_partitions or []
            offsets = [tp for tp in offsets if tp.offset >= 0]
            if not offsets:
                lags[group] = 0
                continue
            latest = admin.list_offsets(
                {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in offsets},
                request_timeout=timeout,
            )
            ends = {
                (tp.topic, tp.partition): f.result(timeout=timeout + 5).offset
                for tp, f in latest.items()
            }
            lags[group] = sum(max(0, ends[(tp.topic, tp.partition)] - tp.offset) for tp in offsets)
        return lags
    except (KafkaException, TimeoutError) as exc:
        raise KafkaUnavailable(f"consumer lag could not be read: {exc}") from None


def elect_preferred(
    admin: AdminClient, partitions: list[tuple[str, int]], timeout: float = 10.0
) -> dict[str, str]:
    """Preferred leader election for ``partitions``; {"topic-partition": error} where it
    failed. "Already the preferred leader" is not an error."""
    from confluent_kafka import ElectionType, KafkaError

    if not partitions:
        return {}
    try:
        future = admin.elect_leaders(
            ElectionType.PREFERRED,
            [TopicPartition(t, p) for t, p in partitions],
            request_timeout=timeout,
        )
        results = future.result(timeout=timeout + 5)
    except (KafkaException, TimeoutError) as exc:
        raise KafkaUnavailable(f"preferred leader election failed: {exc}") from None
    failed = {}
    for tp, error in results.items():
        if error is None:
            continue
        kafka_error = error.args[0] if error.args else None
        code = kafka_error.code() if hasattr(kafka_error, "code") else None
        if code != KafkaError.ELECTION_NOT_NEEDED:
            failed[f"{tp.topic}-{tp.partition}"] = str(error)
    return failed
