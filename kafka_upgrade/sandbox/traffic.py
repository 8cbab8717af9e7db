"""Client traffic that proves an upgrade went unnoticed: count every message.

Messages carry their sequence number as the key, so the consumer side can
tell lost from duplicated messages exactly.

The topic is created through ``isolated_admin`` (a child process), because
librdkafka's admin requests are what aborts processes (issue 7). The producer
and consumers stay in this process: they are the clients whose view of the
upgrade is being measured, and their librdkafka asserts are far rarer. Should
one abort the demo or a test session anyway, the next ``sandbox up`` of the
same name takes the orphaned sandbox down and the next temporary Prefect
server removes the orphaned home.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from kafka_upgrade.adapters import isolated_admin
from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable
from kafka_upgrade.core.errors import ToolFailed


class TrafficError(ToolFailed):
    """The test traffic could not be set up or read back."""


def create_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 6,
    replication: int = 3,
    min_insync: int = 2,
    timeout: float = 30.0,
    extra: dict[str, str] | None = None,
) -> None:
    """Create ``topic`` (in a child process: an admin crash cannot take the caller down)."""
    config = {"bootstrap.servers": bootstrap, **(extra or {})}
    try:
        isolated_admin.create_topic(
            config, topic, partitions, replication, min_insync, timeout=timeout
        )
    except KafkaUnavailable as exc:
        raise TrafficError(f"creating topic {topic}: {exc}") from None


def producer_config(bootstrap: str, extra: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        # With more than one request in flight, librdkafka answers the
        # OUT_OF_ORDER_SEQUENCE errors that follow a failed request during a
        # leader change by bumping the producer epoch, which can write a message
        # twice (confluentinc/librdkafka#4953, open). One in flight keeps the
        # idempotence guarantee across leader changes.
        "max.in.flight.requests.per.connection": 1,
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
    # key -> [(partition, offset), ...] where the key was read more than once
    repeats: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

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


def read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 120.0) -> ConsumeResult:
    """Every message in the topic, from offset 0 to each partition's end, with no group."""
    consumer = Consumer({**consumer_config(bootstrap), "enable.auto.commit": False})
    try:
        ends = {}
        for p in range(partitions):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        counts: dict[int, int] = {}
        first_seen: dict[int, tuple[int, int]] = {}
        repeats: dict[int, list[tuple[int, int]]] = {}
        done = {p for p, high in ends.items() if high == 0}
        deadline = time.monotonic() + timeout
        while len(done) < partitions:
            if time.monotonic() > deadline:
                raise TrafficError(f"reading {topic} back did not finish within {timeout:.0f} s")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    continue
                key = int(msg.key())
                counts[key] = counts.get(key, 0) + 1
                where = (msg.partition(), msg.offset())
                if key in first_seen:
                    repeats.setdefault(key, [first_seen[key]]).append(where)
                else:
                    first_seen[key] = where
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return ConsumeResult(counts, repeats)
    finally:
        consumer.close()


@dataclass
class TrafficReport:
    """What the clients saw during the upgrade, and what the log holds afterwards."""

    sent: int
    delivered: int
    failed: int
    consumed_live: int
    in_log: int
    lost: int
    duplicated: int
    p99_ms: float
    max_ms: float
    errors: list[str]
    client_log: list[str] = field(default_factory=list)  # librdkafka warnings (retries, ...)

    def lines(self) -> list[str]:
        return [
            f"messages sent {self.sent}, acknowledged {self.delivered}, failed {self.failed}",
            f"in the log afterwards {self.in_log}: lost {self.lost}, duplicated {self.duplicated}",
            f"read by the live consumer during the roll: {self.consumed_live}",
            f"produce latency p99 {self.p99_ms:.0f} ms, max {self.max_ms:.0f} ms",
        ]


class _ListLogger:
    """A logging.Logger stand-in for librdkafka: keeps its warnings to explain an audit."""

    def __init__(self, sink: list[str]) -> None:
        self._sink = sink

    def log(self, level: int, fmt: str, *args: object) -> None:
        if len(self._sink) < 200:
            self._sink.append(f"{time.strftime('%H:%M:%S')} " + (fmt % args if args else fmt))


class ContinuousTraffic:
    """An idempotent acks=all producer and a consumer group, running until stopped.

    Keys are sequence numbers; ``audit`` reads the whole topic afterwards and
    compares it with what the producer had acknowledged.
    """

    def __init__(
        self, bootstrap: str, topic: str = "upgrade-traffic", rate: int = 200, partitions: int = 6
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.rate = rate
        self.partitions = partitions
        self.stats = DeliveryStats()
        self.acked: set[int] = set()
        self.live_counts: dict[int, int] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._consumer_error: str | None = None
        self.client_log: list[str] = []  # the producer's librdkafka warnings and errors

    def start(self) -> None:
        create_topic(
            self.bootstrap, self.topic, partitions=self.partitions, replication=3, min_insync=2
        )
        self._threads = [
            threading.Thread(target=self._produce, name="traffic-producer", daemon=True),
            threading.Thread(target=self._consume, name="traffic-consumer", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _produce(self) -> None:
        producer = Producer(
            {
                **producer_config(self.bootstrap),
                "log_level": 4,
                "logger": _ListLogger(self.client_log),
            }
        )
        lock = threading.Lock()

        def on_delivery(err: KafkaError | None, key: int, started: float) -> None:
            with lock:
                if err is not None:
                    self.stats.failed += 1
                    if len(self.stats.errors) < 20:
                        self.stats.errors.append(str(err))
                else:
                    self.stats.delivered += 1
                    self.acked.add(key)
                    self.stats.latencies_ms.append((time.monotonic() - started) * 1000)

        key = 0
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                producer.produce(
                    self.topic,
                    key=str(key).encode(),
                    value=f"message-{key}".encode(),
                    on_delivery=lambda err, msg, k=key, s=started: on_delivery(err, k, s),
                )
            except BufferError:
                producer.poll(0.05)
                continue
            self.stats.sent += 1
            key += 1
            producer.poll(0)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        remaining = producer.flush(120)
        if remaining:
            self.stats.errors.append(f"{remaining} messages still in flight at the end")

    def _consume(self) -> None:
        consumer = Consumer(consumer_config(self.bootstrap, group="upgrade-traffic-check"))
        consumer.subscribe([self.topic])
        try:
            while not self._stop.is_set():
                for msg in consumer.consume(num_messages=500, timeout=0.5):
                    if msg.error():
                        continue
                    key = int(msg.key())
                    self.live_counts[key] = self.live_counts.get(key, 0) + 1
        except Exception as exc:  # noqa: BLE001 - reported in the audit
            self._consumer_error = str(exc)
        finally:
            consumer.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=180)

    def audit(self, timeout: float = 120.0) -> TrafficReport:
        """Read the whole topic from the start and count every acknowledged key."""
        result = read_all(self.bootstrap, self.topic, self.partitions, timeout=timeout)
        lost = sum(1 for k in self.acked if k not in result.counts)
        errors = list(self.stats.errors)
        for key, places in list(result.repeats.items())[:5]:
            errors.append(f"key {key} is in the log more than once: (partition, offset) {places}")
        if self._consumer_error:
            errors.append(f"live consumer: {self._consumer_error}")
        return TrafficReport(
            sent=self.stats.sent,
            delivered=self.stats.delivered,
            failed=self.stats.failed,
            consumed_live=len(self.live_counts),
            in_log=sum(result.counts.values()),
            lost=lost,
            duplicated=result.duplicates,
            p99_ms=self.stats.percentile(99),
            max_ms=max(self.stats.latencies_ms, default=0.0),
            errors=errors,
            client_log=list(self.client_log),
        )
