"""The AdminClient in a child process, so a client crash cannot take the run down.

librdkafka 2.16 can abort the whole process (``rd_kafka_enq_once_del_source_return:
Assertion `eonce->refcnt > 0' failed``) when an admin request times out while
brokers restart, which is exactly what an upgrade does all day. So the flows
talk to a small long-lived child over pipes (one JSON line per request and
reply). If the child dies or hangs, the call raises ``KafkaUnavailable`` (a
transient error: the sensor polls again) and the next call starts a new child.

The client configuration, secrets included, goes to the child over its stdin,
never on its command line or in its environment.

What crosses the pipe on a poll is small whatever the cluster's size. The
child reads one Metadata answer (``kafka_admin.Observation``) and ships a
summary: the brokers, the controller, the partition count, the partitions out
of line (``health.is_out_of_line``) and, for the nodes the caller names, their
partitions. The parent gets a ``ClusterSnapshot.summary`` whose verdicts are
those of the complete snapshot. A snapshot is loaded once, whole: whoever
needs the partitions of a node (a batch gate, leadership, a broker's
registration) names it when taking the snapshot, and whoever needs every
partition takes ``full_snapshot``; the verdicts never ask the child for more.

Requests (``{"op": ...}``) and their answers (``{"ok": true, "data": ...}`` or
``{"ok": false, "error": "..."}``):

- ``observe`` (``nodes``: ids): the summary; see ``summary_to_wire``;
- ``snapshot``: every partition, as rows; see ``complete_to_wire``;
- ``lag`` (``deadline``: seconds): ``kafka_admin.LagReading`` as a mapping;
- ``elect`` (``partitions``: [topic, partition] pairs): preferred leader election.

Rows are ``[topic index, partition, replicas, isr, leader or null]`` next to
a ``topics`` table of ``[name, min.insync.replicas]``, so topic names and
configs travel once per reply.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from kafka_upgrade.adapters.kafka_admin import (
    KafkaUnavailable,
    LagReading,
    Observation,
    Row,
    SnapshotReader,
    consumer_lag,
    elect_preferred,
)
from kafka_upgrade.core.health import ClusterSnapshot, PartitionState

CHILD_COMMAND = (sys.executable, "-m", "kafka_upgrade.adapters.admin_worker")
# The lag read's own deadline, well inside the parent's wait for an answer.
LAG_DEADLINE_S = 8.0


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a large reply is built or decoded.

    Decoding a reply (or the client building its Metadata answer) allocates
    container objects by the hundred thousand, none of them in a cycle; every
    few hundred allocations the collector walks the whole heap, which cost
    two thirds of the decoding time on a 200k-partition cluster.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------
# Wire format
# --------------------------------------------------------------------------


def snapshot_to_json(snapshot: ClusterSnapshot) -> dict[str, Any]:
    """The complete snapshot, every partition, for ``isolated_admin``."""
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


def rows_to_wire(rows: Iterable[Row]) -> dict[str, Any]:
    """``{"topics": [[name, min_isr], ...], "rows": [[topic index, p, r, isr, leader], ...]}``."""
    index: dict[tuple[str, int], int] = {}
    out = []
    for topic, partition, replicas, isr, leader, min_isr in rows:
        at = index.get((topic, min_isr))
        if at is None:
            at = index[(topic, min_isr)] = len(index)
        out.append((at, partition, replicas, isr, leader))  # json writes sequences as lists
    return {"topics": [list(k) for k in index], "rows": out}


def partitions_to_wire(partitions: Iterable[PartitionState]) -> dict[str, Any]:
    return rows_to_wire(
        (p.topic, p.partition, p.replicas, p.isr, p.leader, p.min_isr) for p in partitions
    )


def rows_from_wire(data: dict[str, Any]) -> tuple[PartitionState, ...]:
    topics = data["topics"]
    out = []
    for at, partition, replicas, isr, leader in data["rows"]:
        topic, min_isr = topics[at]
        out.append(PartitionState(topic, partition, replicas, isr, leader, min_isr))
    return tuple(out)


def summary_to_wire(observation: Observation, nodes: Collection[int] = ()) -> dict[str, Any]:
    """What one poll ships: brokers, controller, counts, the partitions out of line and
    the partitions of ``nodes``."""
    wanted = set(nodes)
    by_node: dict[int, list[Row]] = {n: [] for n in wanted}
    if len(wanted) == 1:
        (node,) = wanted
        by_node[node] = observation.rows_of(node)
    elif wanted:
        for row in observation.rows():
            for n in wanted.intersection(row[2]):
                by_node[n].append(row)
    return {
        "brokers": sorted(observation.brokers),
        "controller_id": observation.controller_id,
        "partition_count": observation.partition_count,
        "out_of_line": rows_to_wire(observation.out_of_line_rows()),
        "nodes": {str(n): rows_to_wire(ps) for n, ps in by_node.items()},
    }


def summary_from_wire(data: dict[str, Any]) -> ClusterSnapshot:
    """The parent's ``ClusterSnapshot.summary``: all it will ever carry."""
    return ClusterSnapshot.summary(
        brokers=data["brokers"],
        out_of_line=rows_from_wire(data["out_of_line"]),
        partition_count=data["partition_count"],
        controller_id=data["controller_id"],
        node_partitions={int(n): rows_from_wire(rows) for n, rows in data["nodes"].items()},
    )


def complete_to_wire(observation: Observation) -> dict[str, Any]:
    """Every partition, as compact rows (no ``PartitionState`` is built in the child)."""
    return {
        "brokers": sorted(observation.brokers),
        "controller_id": observation.controller_id,
        "partitions": rows_to_wire(observation.rows()),
    }


def complete_from_wire(data: dict[str, Any]) -> ClusterSnapshot:
    return ClusterSnapshot(
        brokers=data["brokers"],
        partitions=rows_from_wire(data["partitions"]),
        controller_id=data["controller_id"],
    )


def lag_to_wire(reading: LagReading) -> dict[str, Any]:
    return {
        "lags": dict(reading.lags),
        "unread": list(reading.unread),
        "note": reading.note,
        "requests": reading.requests,
        "seconds": round(reading.seconds, 3),
    }


def lag_from_wire(data: dict[str, Any]) -> LagReading:
    return LagReading(
        lags={str(k): int(v) for k, v in data["lags"].items()},
        unread=tuple(data["unread"]),
        note=data["note"],
        requests=int(data["requests"]),
        seconds=float(data["seconds"]),
    )


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


def describe_exit(returncode: int) -> str:
    """Human words for a child's exit status (negative: killed by that signal)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = " (a librdkafka abort)" if -returncode == signal.SIGABRT else ""
        return f"was killed by {name}{why}"
    return f"exited with status {returncode} without answering"


class AdminChildDied(KafkaUnavailable):
    """The child died mid-request (a crash in librdkafka is contained to it)."""


class AdminWorker:
    """Parent side: ``snapshot()``, ``lag_reading()`` and ``elect_preferred()`` answered
    by the child. ``command`` runs another child that speaks the same protocol (the
    benchmarks serve a synthetic cluster that way)."""

    def __init__(
        self,
        client_config: dict[str, Any],
        timeout: float = 20.0,
        command: Sequence[str] = CHILD_COMMAND,
    ) -> None:
        self._config = client_config
        self._timeout = timeout
        self._command = list(command)
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        # How long the last snapshot took: the cluster's (and this child's) share of a
        # health poll, which paces the polls (see ``tasks.sensors``).
        self.last_snapshot_s = 0.0

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def warm(self) -> None:
        """Start the child now (it imports and connects while the caller does other things)."""
        with self._lock:
            self._child()

    def _child(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                self._command,
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
            if not ready:
                self._kill()
                raise KafkaUnavailable(
                    "the admin client process did not answer in time; starting a new one"
                )
            if not line:  # it died: librdkafka can crash, e.g. on a moving group coordinator
                try:
                    status = describe_exit(proc.wait(timeout=1.0))
                except subprocess.TimeoutExpired:
                    status = "closed its output"
                self._kill()
                raise AdminChildDied(
                    f"the admin client process ended unexpectedly (it {status}); "
                    "the next call starts a new one"
                )
        with paused_gc():
            reply = json.loads(line)
        if not reply["ok"]:
            raise KafkaUnavailable(reply["error"])
        return reply["data"]

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    def snapshot(self, nodes: Collection[int] = ()) -> ClusterSnapshot:
        """The cluster now, as a summary: every verdict of ``health`` works on it as on the
        complete snapshot. It carries the partitions of ``nodes`` too (``partitions_of``,
        ``awaiting_preferred_leader``), and nothing more: name the nodes a caller needs."""
        began = time.monotonic()
        data = self._call("observe", nodes=sorted(set(nodes)))
        self.last_snapshot_s = time.monotonic() - began
        with paused_gc():
            return summary_from_wire(data)

    def full_snapshot(self) -> ClusterSnapshot:
        """Every partition in one reply (megabytes on a large cluster); ``snapshot()`` is
        what polls use."""
        data = self._call("snapshot")
        with paused_gc():
            return complete_from_wire(data)

    def lag_reading(self, deadline_s: float = LAG_DEADLINE_S) -> LagReading:
        """Consumer lag, bounded in time and requests; what was not read is named."""
        deadline = max(0.5, min(deadline_s, self._timeout - 2.0))
        return lag_from_wire(self._call("lag", deadline=deadline))

    def consumer_lag(self) -> dict[str, int]:
        """Total lag per group read (``lag_reading`` also says which groups were not)."""
        return dict(self.lag_reading().lags)

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


# --------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------


class _Server:
    """Answers requests with one admin client (it keeps no Metadata answer between them)."""

    def __init__(self, admin: Any) -> None:
        self._admin = admin
        self._reader = SnapshotReader(admin)

    def answer(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "observe":
            return summary_to_wire(self._reader.observe(), request.get("nodes", ()))
        if op == "snapshot":
            return complete_to_wire(self._reader.observe())
        if op == "lag":
            reading = consumer_lag(
                self._admin, timeout=5.0, deadline_s=float(request.get("deadline", 8.0))
            )
            return lag_to_wire(reading)
        if op == "elect":
            return elect_preferred(self._admin, [tuple(p) for p in request["partitions"]])
        raise ValueError(f"unknown op {op!r}")


def serve(admin: Any, requests: IO[str], replies: IO[str]) -> None:
    """Child side: answer one request per line until ``requests`` ends."""
    server = _Server(admin)
    for line in requests:
        with paused_gc():
            try:
                reply = {"ok": True, "data": server.answer(json.loads(line))}
            except Exception as exc:  # noqa: BLE001 - every failure goes back as a value
                reply = {"ok": False, "error": str(exc)}
            text = json.dumps(reply)
        replies.write(text + "\n")
        replies.flush()


def _serve() -> None:
    """Read the client config, then serve a real AdminClient."""
    from confluent_kafka.admin import AdminClient

    config = json.loads(sys.stdin.readline())
    serve(AdminClient({**config, "log_level": 0}), sys.stdin, sys.stdout)
    os._exit(0)


if __name__ == "__main__":
    _serve()
