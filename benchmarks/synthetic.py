"""Synthetic clusters for the benchmarks, served through the admin child's own pipe protocol.

``ClusterSpec`` describes a cluster (brokers, partitions, replication, what is
wrong with it right now); ``metadata(spec)`` builds the answer a real
``AdminClient.list_topics`` would give, in confluent-kafka's own classes;
``FakeAdmin`` answers the two requests a health poll makes (Metadata and topic
configs). ``python -m benchmarks.synthetic`` is a drop-in admin child: it reads
a spec where the real child reads its client config, then runs
``kafka_upgrade.adapters.admin_worker.serve``, so what a benchmark measures is the real
reader, encoding, decoding and verdict code, with no Kafka.

The Metadata answer is built once when the child starts and served on every
poll: a real client builds one per poll, in C; building it in Python costs
more than that, so it is kept out of the per-poll time (the benchmarks report
it with the first poll, as warm-up). The real client's own cost and the
network are what this leaves out.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka.admin import (
    BrokerMetadata,
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
)

SCENARIOS = ("healthy", "broker-down", "tenth-down")


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster: ``brokers`` ids 1..N, ``partitions`` spread over topics of
    ``per_topic``, replicas placed round-robin (Kafka's default assignment shape).

    Scenarios: "healthy"; "broker-down" (the middle broker stopped: out of every
    ISR, leadership moved, as during a roll); "tenth-down" (every tenth broker
    stopped: a stress case, a rack lost).
    """

    brokers: int
    partitions: int
    rf: int = 3
    min_isr: int = 2
    per_topic: int = 100
    scenario: str = "healthy"

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if self.rf > self.brokers:
            raise ValueError(f"rf {self.rf} needs at least {self.rf} brokers")

    @property
    def broker_ids(self) -> list[int]:
        return list(range(1, self.brokers + 1))

    @property
    def stopped(self) -> frozenset[int]:
        if self.scenario == "broker-down":
            return frozenset({self.focus})
        if self.scenario == "tenth-down":
            return frozenset(range(10, self.brokers + 1, 10))
        return frozenset()

    @property
    def focus(self) -> int:
        """The broker the poll's recovered gate asks about (the one being rolled)."""
        return self.brokers // 2

    @property
    def next_node(self) -> int:
        """The broker the poll's restart gate asks about (the next one in the roll)."""
        return self.focus + 1

    @property
    def topics(self) -> int:
        return -(-self.partitions // self.per_topic)


def placement(spec: ClusterSpec) -> list[tuple[str, int, list[int]]]:
    """(topic, partition, replicas) for every partition, healthy."""
    ids = spec.broker_ids
    out = []
    n = 0
    for t in range(spec.topics):
        topic = f"topic-{t:05d}"
        for p in range(min(spec.per_topic, spec.partitions - n)):
            start = (t * 7 + p) % len(ids)
            out.append((topic, p, [ids[(start + i) % len(ids)] for i in range(spec.rf)]))
            n += 1
    return out


def metadata(spec: ClusterSpec) -> ClusterMetadata:
    """What ``AdminClient.list_topics()`` answers for this cluster right now."""
    stopped = spec.stopped
    md = ClusterMetadata()
    md.cluster_id = "synthetic"
    for b in spec.broker_ids:
        if b in stopped:
            continue
        bm = BrokerMetadata()
        bm.id, bm.host, bm.port = b, f"broker-{b}.synthetic", 9092
        md.brokers[b] = bm
    md.controller_id = next(b for b in spec.broker_ids if b not in stopped)
    for topic, p, replicas in placement(spec):
        tm = md.topics.get(topic)
        if tm is None:
            tm = md.topics[topic] = TopicMetadata()
            tm.topic = topic
        pm = PartitionMetadata()
        pm.id = p
        pm.replicas = replicas
        isr = [b for b in replicas if b not in stopped] or replicas[-1:]
        pm.isrs = isr
        pm.leader = isr[0] if isr[0] not in stopped else -1
        tm.partitions[p] = pm
    return md


class _Entry:
    def __init__(self, value: str) -> None:
        self.value = value


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


class FakeAdmin:
    """The two requests a health poll makes, answered from one synthetic cluster."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.metadata = metadata(spec)
        self.calls: dict[str, int] = {"list_topics": 0, "describe_configs": 0}

    def list_topics(self, timeout: float = -1) -> ClusterMetadata:
        self.calls["list_topics"] += 1
        return self.metadata

    def describe_configs(self, resources: list[Any], **_: Any) -> dict[Any, Future[Any]]:
        self.calls["describe_configs"] += 1
        config = {"min.insync.replicas": _Entry(str(self.spec.min_isr))}
        return {r: _done(config) for r in resources}


def spec_to_config(spec: ClusterSpec) -> dict[str, Any]:
    """The first line the child reads (where the real child gets its client config)."""
    return {"synthetic": asdict(spec)}


def _serve() -> None:
    from kafka_upgrade.adapters.admin_worker import serve

    spec = ClusterSpec(**json.loads(sys.stdin.readline())["synthetic"])
    serve(FakeAdmin(spec), sys.stdin, sys.stdout)


CHILD_COMMAND = (sys.executable, "-m", "benchmarks.synthetic")

if __name__ == "__main__":
    _serve()
