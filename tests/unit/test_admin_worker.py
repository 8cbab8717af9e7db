"""The admin child process's wire format, and its failure handling, without Kafka."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import BrokerMetadata, ClusterMetadata, PartitionMetadata, TopicMetadata

from benchmarks.synthetic import CHILD_COMMAND as SYNTHETIC_CHILD
from benchmarks.synthetic import ClusterSpec, spec_to_config
from kafka_upgrade.adapters.admin_worker import (
    AdminChildDied,
    AdminWorker,
    complete_from_wire,
    lag_from_wire,
    lag_to_wire,
    partitions_to_wire,
    rows_from_wire,
    rows_to_wire,
    serve,
    snapshot_from_json,
    snapshot_to_json,
    summary_from_wire,
)
from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable, consumer_lag
from kafka_upgrade.core.health import (
    ClusterSnapshot,
    PartitionState,
    SnapshotIncomplete,
    can_restart,
    cluster_healthy,
    lag_report,
    node_recovered,
)
from tests.unit.snapshots import cluster


def test_snapshot_round_trips_through_json() -> None:
    snapshot = ClusterSnapshot(
        brokers=frozenset({1, 2, 3}),
        partitions=(
            PartitionState("orders", 0, (1, 2, 3), (1, 2), 1, 2),
            PartitionState("orders", 1, (2, 3, 1), (2, 3, 1), None, 2),
        ),
        controller_id=3,
    )
    assert snapshot_from_json(snapshot_to_json(snapshot)) == snapshot


def test_unreachable_cluster_is_a_transient_error_not_a_crash() -> None:
    # Nothing listens on this port: the child answers with an error value,
    # which the parent turns into KafkaUnavailable (the sensors poll again).
    worker = AdminWorker({"bootstrap.servers": "127.0.0.1:1"}, timeout=30)
    try:
        with pytest.raises(KafkaUnavailable):
            worker.snapshot()
    finally:
        worker.close()


def test_a_hung_child_is_killed_and_replaced() -> None:
    worker = AdminWorker({"bootstrap.servers": "127.0.0.1:1"}, timeout=0.01)
    try:
        with pytest.raises(KafkaUnavailable, match="did not answer in time"):
            worker.snapshot()
        assert worker._proc is None  # the next call starts a fresh child
    finally:
        worker.close()


def test_a_child_that_crashes_mid_request_is_named_with_its_signal_and_replaced() -> None:
    # What librdkafka does on a group coordinator that moved (a SIGSEGV): the crash stays
    # in the child, the caller gets an error value that says so, the next call a new child.
    crashing = (
        sys.executable,
        "-c",
        "import os, signal, sys; sys.stdin.readline(); sys.stdin.readline(); "
        "os.kill(os.getpid(), signal.SIGSEGV)",
    )
    worker = AdminWorker({"bootstrap.servers": "127.0.0.1:1"}, timeout=10, command=crashing)
    try:
        with pytest.raises(
            AdminChildDied, match=r"ended unexpectedly \(it was killed by SIGSEGV\)"
        ):
            worker.lag_reading()
        assert worker._proc is None
        with pytest.raises(AdminChildDied):  # a new child (which crashes again)
            worker.lag_reading()
    finally:
        worker.close()


# ---------------------------------------------------------------------------
# The summary protocol, in process: a fake AdminClient behind ``serve``
# ---------------------------------------------------------------------------


class MetadataAdmin:
    """Answers Metadata and topic configs from a ``ClusterSnapshot`` (no Kafka)."""

    def __init__(self, snapshot: ClusterSnapshot) -> None:
        self.snapshot = snapshot

    def list_topics(self, timeout: float = -1) -> ClusterMetadata:
        md = ClusterMetadata()
        md.controller_id = self.snapshot.controller_id or -1
        for b in self.snapshot.brokers:
            md.brokers[b] = BrokerMetadata()
        for p in self.snapshot.partitions:
            tm = md.topics.setdefault(p.topic, TopicMetadata())
            pm = PartitionMetadata()
            pm.id, pm.replicas, pm.isrs = p.partition, list(p.replicas), list(p.isr)
            pm.leader = -1 if p.leader is None else p.leader
            tm.partitions[p.partition] = pm
        return md

    def describe_configs(self, resources: list, **_: object) -> dict:
        min_isr = {p.topic: p.min_isr for p in self.snapshot.partitions}
        out = {}
        for r in resources:
            future: Future = Future()
            future.set_result({"min.insync.replicas": SimpleNamespace(value=str(min_isr[r.name]))})
            out[r] = future
        return out


def lagging_snapshot() -> ClusterSnapshot:
    return (
        cluster(1, 2, 3, 4)
        .topic("orders", partitions=6, rf=3, min_isr=2)
        .topic("audit", partitions=2, rf=2, min_isr=2)
        .lagging(2)
        .controller(1)
        .build()
    )


def converse(admin: object, *requests: dict) -> list[dict]:
    replies = io.StringIO()
    serve(admin, io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), replies)
    return [json.loads(line) for line in replies.getvalue().splitlines()]


def test_rows_round_trip_with_one_topic_table() -> None:
    snap = lagging_snapshot()
    wire = partitions_to_wire(snap.partitions)
    assert sorted(t for t, _ in wire["topics"]) == ["audit", "orders"]
    assert rows_from_wire(json.loads(json.dumps(wire))) == snap.partitions
    # raw rows as the client gives them (lists, -1 already mapped to None by the reader)
    raw = [("t", 0, [1, 2], [1], 1, 2), ("t", 1, [2, 1], [2, 1], None, 2)]
    wire = json.loads(json.dumps(rows_to_wire(raw)))
    assert wire["topics"] == [["t", 2]]
    assert rows_from_wire(wire) == (
        PartitionState("t", 0, (1, 2), (1,), 1, 2),
        PartitionState("t", 1, (2, 1), (2, 1), None, 2),
    )


def test_observe_ships_the_partitions_out_of_line_and_those_of_the_named_nodes() -> None:
    snap = lagging_snapshot()
    (reply,) = converse(MetadataAdmin(snap), {"op": "observe", "nodes": [3]})
    assert reply["ok"]
    data = reply["data"]
    assert data["partition_count"] == 8 and data["brokers"] == [1, 2, 3, 4]
    summary = summary_from_wire(data)
    assert summary.out_of_line == snap.out_of_line
    assert summary.partitions_of(3) == snap.partitions_of(3)
    assert summary.controller_id == 1
    for node in (1, 2, 3, 4):
        assert can_restart(summary, node, {1, 2, 3, 4}) == can_restart(snap, node, {1, 2, 3, 4})
        assert node_recovered(summary, node, "v", "v", {1, 2, 3, 4}) == node_recovered(
            snap, node, "v", "v", {1, 2, 3, 4}
        )


def test_every_partition_travels_as_rows_and_unknown_ops_are_refused() -> None:
    snap = lagging_snapshot()
    replies = converse(MetadataAdmin(snap), {"op": "snapshot"}, {"op": "nonsense"})
    assert [r["ok"] for r in replies] == [True, False]
    full = complete_from_wire(json.loads(json.dumps(replies[0]["data"])))
    assert full.complete and full == snap
    assert "unknown op" in replies[1]["error"]


# ---------------------------------------------------------------------------
# Over a real pipe: the benchmarks' synthetic child speaks the same protocol
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_worker() -> Iterator[tuple[AdminWorker, ClusterSpec]]:
    spec = ClusterSpec(brokers=6, partitions=240, per_topic=40, scenario="broker-down")
    worker = AdminWorker(spec_to_config(spec), timeout=120, command=SYNTHETIC_CHILD)
    try:
        yield worker, spec
    finally:
        worker.close()


def test_summary_over_the_pipe_judges_like_the_complete_snapshot(synthetic_worker) -> None:  # noqa: ANN001
    worker, spec = synthetic_worker
    full = worker.full_snapshot()
    summary = worker.snapshot(nodes=[spec.focus])
    assert not summary.complete and summary.partition_count == 240
    assert 0 < len(summary.out_of_line) < 240
    expected = spec.broker_ids
    assert cluster_healthy(summary, expected) == cluster_healthy(full, expected)
    for node in expected:
        assert can_restart(summary, node, expected) == can_restart(full, node, expected)
        assert node_recovered(summary, node, "v", "v", expected) == node_recovered(
            full, node, "v", "v", expected
        )
    assert summary.awaiting_preferred_leader(spec.focus) == full.awaiting_preferred_leader(
        spec.focus
    )  # shipped with it
    assert full.complete and len(full.partitions) == 240


def test_named_nodes_travel_with_the_snapshot_and_nothing_else(synthetic_worker) -> None:  # noqa: ANN001
    worker, spec = synthetic_worker
    with_node = worker.snapshot(nodes=[spec.next_node])
    both = worker.snapshot(nodes=[1, spec.next_node])
    full = worker.full_snapshot()
    assert with_node.partitions_of(spec.next_node) == full.partitions_of(spec.next_node)
    with pytest.raises(SnapshotIncomplete, match="not those of broker 1"):
        with_node.partitions_of(1)  # a snapshot never asks the child for more
    with pytest.raises(SnapshotIncomplete):
        _ = with_node.partitions
    assert both.partitions_of(1) == full.partitions_of(1)
    assert both.partitions_of(spec.next_node) == full.partitions_of(spec.next_node)
    assert worker.pid is not None


# ---------------------------------------------------------------------------
# Consumer lag: bounded in time and requests whatever the number of groups
# ---------------------------------------------------------------------------


class LagAdmin:
    """Groups with committed offsets; ``silent`` groups never answer, ``broken`` fail."""

    def __init__(
        self, groups: int, *, silent: set[str] = frozenset(), broken: set[str] = frozenset()
    ) -> None:
        self.groups = [f"g{i:04d}" for i in range(groups)]
        self.silent, self.broken = silent, broken
        self.requests: dict[str, int] = {"list_groups": 0, "offsets": 0, "list_offsets": 0}
        self.max_tps_per_call = 0

    @staticmethod
    def _done(value: object) -> Future:
        future: Future = Future()
        future.set_result(value)
        return future

    def list_consumer_groups(self, **_: object) -> Future:
        self.requests["list_groups"] += 1
        return self._done(SimpleNamespace(valid=[SimpleNamespace(group_id=g) for g in self.groups]))

    def list_consumer_group_offsets(self, request: list, **_: object) -> dict:
        (req,) = request  # the client takes one group per call
        self.requests["offsets"] += 1
        group = req.group_id
        future: Future = Future()
        if group in self.broken:
            future.set_exception(KafkaException("coordinator not available"))
        elif group not in self.silent:
            n = int(group[1:])
            tps = [TopicPartition(f"t{n % 7}", p, 100) for p in range(3)]
            future.set_result(SimpleNamespace(topic_partitions=tps))
        return {group: future}

    def list_offsets(self, request: dict, **_: object) -> dict:
        self.requests["list_offsets"] += 1
        self.max_tps_per_call = max(self.max_tps_per_call, len(request))
        return {tp: self._done(SimpleNamespace(offset=150)) for tp in request}


def test_lag_of_a_thousand_groups_in_bounded_requests() -> None:
    admin = LagAdmin(1000)
    reading = consumer_lag(admin, deadline_s=30, max_groups=1000, offsets_chunk=10)
    assert len(reading.lags) == 1000 and set(reading.lags.values()) == {150}
    assert reading.unread == () and reading.note is None
    # 1 listing + 1 offset fetch per group + the 21 distinct partitions in chunks of 10
    assert admin.requests == {"list_groups": 1, "offsets": 1000, "list_offsets": 3}
    assert reading.requests == 1004 and admin.max_tps_per_call <= 10


def test_lag_stops_at_its_deadline_and_names_what_it_did_not_read() -> None:
    admin = LagAdmin(200, silent={"g0003", "g0150"}, broken={"g0007"})
    started = time.monotonic()
    reading = consumer_lag(admin, deadline_s=0.5, in_flight=8)
    assert time.monotonic() - started < 2.0
    assert reading.unread == ("g0003", "g0007", "g0150")
    assert len(reading.lags) == 197
    assert reading.note is not None
    assert "read for 197 of 200 groups" in reading.note
    assert "2 not answered within the 0.5 s deadline" in reading.note
    assert "1 failed (e.g. g0007: " in reading.note


def test_lag_caps_the_number_of_groups() -> None:
    admin = LagAdmin(50)
    reading = consumer_lag(admin, max_groups=20)
    assert len(reading.lags) == 20 and len(reading.unread) == 30
    assert admin.requests["offsets"] == 20
    assert "30 over the cap of 20 groups per read" in (reading.note or "")
    assert lag_from_wire(json.loads(json.dumps(lag_to_wire(reading)))) == reading.__class__(
        reading.lags, reading.unread, reading.note, reading.requests, round(reading.seconds, 3)
    )


def test_a_cluster_that_lists_no_groups_is_unavailable() -> None:
    class Down(LagAdmin):
        def list_consumer_groups(self, **_: object) -> Future:
            future: Future = Future()
            future.set_exception(KafkaException("timed out"))
            return future

    with pytest.raises(KafkaUnavailable, match="could not be listed"):
        consumer_lag(Down(3), deadline_s=1)


def test_unread_groups_are_noted_not_reported_gone() -> None:
    report = lag_report({"a": 1, "b": 2}, {"a": 1}, tolerance=10, unread=["b"])
    rules = [n.rule for n in report.notes]
    assert rules == ["consumer-lag-unread"]
    assert "lag not read in time for 1 group: b" in report.notes[0].message
