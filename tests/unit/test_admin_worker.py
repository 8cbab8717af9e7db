"""The admin child process's wire format, and its failure handling, without Kafka."""

from __future__ import annotations

import pytest

from kafka_upgrade.admin_worker import AdminWorker, snapshot_from_json, snapshot_to_json
from kafka_upgrade.health import ClusterSnapshot, PartitionState
from kafka_upgrade.kafka_admin import KafkaUnavailable


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
