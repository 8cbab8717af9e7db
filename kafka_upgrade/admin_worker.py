"""The AdminClient in a child process, so a client crash cannot take the run down.

librdkafka 2.16 can abort the whole process (``rd_kafka_enq_once_del_source_return:
Assertion `eonce->refcnt > 0' failed``) when an admin request times out while
brokers restart, which is exactly what an upgrade does all day. So the flows
talk to a small long-lived child over pipes (one JSON line per request and
reply). If the child dies or hangs, the call raises ``KafkaUnavailable`` (a
transient error: the sensor polls again) and the next call starts a new child.

The client configuration, secrets included, goes to the child over its stdin,
never on its command line or in its environment.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from typing import Any

from kafka_upgrade.health import ClusterSnapshot, PartitionState
from kafka_upgrade.kafka_admin import KafkaUnavailable


def snapshot_to_json(snapshot: ClusterSnapshot) -> dict[str, Any]:
    return {
        "brokers": sorted(snapshot.brokers),
        "controller_id": snapshot.controller_id,
        "partitions": [
            [p.topic, p.partition, list(p.replicas), list(p.isr), p.leader, p.min_isr]
            for p in snapshot.partitions
        ],
    }


def snapshot_from_json(data: dict[str, Any]) -> ClusterSnapshot:
    return ClusterSnapshot(
        brokers=frozenset(data["brokers"]),
        partitions=tuple(
            PartitionState(t, p, tuple(r), tuple(i), leader, min_isr)
            for t, p, r, i, leader, min_isr in data["partitions"]
        ),
        controller_id=data["controller_id"],
    )


class AdminWorker:
    """Parent side: ``snapshot()`` and ``consumer_lag()`` answered by the child."""

    def __init__(self, client_config: dict[str, str], timeout: float = 20.0) -> None:
        self._config = client_config
        self._timeout = timeout
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def _child(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "kafka_upgrade.admin_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(self._config) + "\n")
            self._proc.stdin.flush()
        return self._proc

    def _call(self, op: str, **args: Any) -> Any:
        with self._lock:
            proc = self._child()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
                proc.stdin.flush()
            except BrokenPipeError:
                self._kill()
                raise KafkaUnavailable(
                    "the admin client process ended; starting a new one"
                ) from None
            ready, _, _ = select.select([proc.stdout], [], [], self._timeout)
            line = proc.stdout.readline() if ready else ""
            if not line:
                self._kill()
                why = "did not answer in time" if not ready else "ended unexpectedly"
                raise KafkaUnavailable(f"the admin client process {why}; starting a new one")
        reply = json.loads(line)
        if not reply["ok"]:
            raise KafkaUnavailable(reply["error"])
        return reply["data"]

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    def snapshot(self) -> ClusterSnapshot:
        return snapshot_from_json(self._call("snapshot"))

    def consumer_lag(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._call("lag").items()}

    def elect_preferred(self, partitions: list[tuple[str, int]]) -> dict[str, str]:
        """Ask for a preferred leader election; returns {"topic-partition": error} for the
        partitions where it did not happen (already preferred counts as done)."""
        return dict(self._call("elect", partitions=[list(p) for p in partitions]))

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None and self._proc.stdin:
                try:
                    self._proc.stdin.close()
                    self._proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._kill()


def _serve() -> None:
    """Child side: read the config, then answer one request per line."""
    from confluent_kafka.admin import AdminClient

    from kafka_upgrade.kafka_admin import SnapshotReader, consumer_lag, elect_preferred

    config = json.loads(sys.stdin.readline())
    admin = AdminClient({**config, "log_level": 0})
    reader = SnapshotReader(admin)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "snapshot":
                data: Any = snapshot_to_json(reader.snapshot())
            elif request["op"] == "lag":
                data = consumer_lag(admin, timeout=5.0)
            elif request["op"] == "elect":
                data = elect_preferred(admin, [tuple(p) for p in request["partitions"]])
            else:
                raise ValueError(f"unknown op {request['op']!r}")
            reply = {"ok": True, "data": data}
        except Exception as exc:  # noqa: BLE001 - every failure goes back as a value
            reply = {"ok": False, "error": str(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    _serve()
