"""Client traffic that proves an upgrade went unnoticed: count every message.

Messages carry their sequence number as the key, so the consumer side can
tell lost from duplicated messages exactly.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


class TrafficError(Exception):
    """The test traffic could not be set up or read back."""


def create_topic(
    admin: AdminClient,
    topic: str,
    partitions: int = 6,
    replication: int = 3,
    min_insync: int = 2,
    timeout: float = 30.0,
) -> None:
    new = NewTopic(
        topic,
        num_partitions=partitions,
        replication_factor=replication,
        config={"min.insync.replicas": str(min_insync)},
    )
    futures = admin.create_topics([new], request_timeout=timeout)
    try:
        futures[topic].result(timeout=timeout + 5)
    except Exception as exc:  # noqa: BLE001 - translated for callers
        raise TrafficError(f"creating topic {topic}: {exc}") from None


def producer_config(bootstrap: str, extra: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "delivery.timeout.ms": 120000,
        "log_level": 0,
        **(extra or {}),
    }


@dataclass
class DeliveryStats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def produce(
    bootstrap: str,
    topic: str,
    keys: Iterable[int],
    extra: dict[str, str] | None = None,
    flush_timeout: float = 120.0,
) -> DeliveryStats:
    """Produce one message per key with acks=all; wait until all are acknowledged."""
    stats = DeliveryStats()
    producer = Producer(producer_config(bootstrap, extra))

    def on_delivery(err: KafkaError | None, msg: object, started: float) -> None:
        if err is not None:
            stats.failed += 1
            if len(stats.errors) < 20:
                stats.errors.append(str(err))
        else:
            stats.delivered += 1
            stats.latencies_ms.append((time.monotonic() - started) * 1000)

    for key in keys:
        started = time.monotonic()
        while True:
            try:
                producer.produce(
                    topic,
                    key=str(key).encode(),
                    value=f"message-{key}".encode(),
                    on_delivery=lambda err, msg, s=started: on_delivery(err, msg, s),
                )
                break
            except BufferError:
                producer.poll(0.05)
        stats.sent += 1
        producer.poll(0)
    remaining = producer.flush(flush_timeout)
    if remaining:
        stats.errors.append(f"{remaining} messages still in flight after {flush_timeout:.0f} s")
    return stats


def consumer_config(bootstrap: str, group: str | None = None) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group or f"kafka-upgrade-check-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "log_level": 0,
    }


@dataclass
class ConsumeResult:
    counts: dict[int, int]

    @property
    def unique(self) -> int:
        return len(self.counts)

    @property
    def duplicates(self) -> int:
        return sum(c - 1 for c in self.counts.values() if c > 1)

    def missing(self, expected: Iterable[int]) -> list[int]:
        return [k for k in expected if k not in self.counts]


def consume(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout: float = 60.0,
    group: str | None = None,
    stop: threading.Event | None = None,
) -> ConsumeResult:
    """Read until ``expected`` distinct keys were seen (or timeout / stop)."""
    consumer = Consumer(consumer_config(bootstrap, group))
    consumer.subscribe([topic])
    counts: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(counts) < expected:
            if stop is not None and stop.is_set():
                break
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        raise TrafficError(f"consumer error: {msg.error()}")
                    continue
                key = int(msg.key())
                counts[key] = counts.get(key, 0) + 1
    finally:
        consumer.close()
    return ConsumeResult(counts)


def end_offsets(bootstrap: str, topic: str, partitions: int) -> int:
    """Total messages in the topic (sum of high watermarks)."""
    consumer = Consumer(consumer_config(bootstrap))
    try:
        total = 0
        for p in range(partitions):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high
        return total
    finally:
        consumer.close()
