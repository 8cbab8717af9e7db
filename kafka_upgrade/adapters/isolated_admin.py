"""One-off AdminClient calls in a short-lived child process, for everything but the upgrade.

librdkafka can abort the whole process: ``rdkafka_admin.c:960:
rd_kafka_admin_response_parse: Assertion 'rko_result' failed`` once killed a
``sandbox up`` while its brokers were starting, and an abort skips every
cleanup (issue 7). So the sandbox, the demo's traffic setup and the tests ask
the cluster their few questions here: each call runs ``python -m
kafka_upgrade.adapters.isolated_admin`` that answers once and exits, and a crash costs
that child only. The upgrade's own long-lived admin child is
``kafka_upgrade.adapters.admin_worker``.

Errors, by what the caller does next:

- ``KafkaUnavailable``: the cluster did not answer or refused (the child's
  message names the request).
- ``AdminProcessDied`` (a ``KafkaUnavailable``): the child crashed, was killed
  or hung; the message names the signal and the child's last words
  (librdkafka prints its assertion there). ``wait_for_brokers`` starts a new
  child and goes on until its deadline.

The client configuration, secrets included, goes to the child over its stdin,
never on its command line or in its environment. The child dies with its
caller (``PR_SET_PDEATHSIG``), so a killed caller leaves no child behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from kafka_upgrade.adapters.admin_worker import describe_exit, snapshot_from_json, snapshot_to_json
from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable
from kafka_upgrade.core.health import ClusterSnapshot

CHILD_MODULE = "kafka_upgrade.adapters.isolated_admin"
# Time for the child's interpreter to start and import confluent-kafka on a busy machine.
STARTUP_GRACE_S = 30.0


class AdminProcessDied(KafkaUnavailable):
    """The child process running an admin call crashed, was killed or did not answer."""


def _last_words(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return f": {lines[-1][:300]}" if lines else ""


def call(op: str, config: dict[str, str], args: dict[str, Any], limit: float) -> Any:
    """Run one admin request ``op`` in a fresh child; its answer, or an exception."""
    request = json.dumps({"op": op, "config": config, "args": args, "parent": os.getpid()})
    what = f"the admin client process for {op.replace('_', ' ')}"
    try:
        done = subprocess.run(
            [sys.executable, "-m", CHILD_MODULE],
            input=request + "\n",
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:  # run() has killed and reaped the child
        raise AdminProcessDied(f"{what} did not answer within {limit:.0f} s") from None
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not line:
        status = describe_exit(done.returncode)
        raise AdminProcessDied(f"{what} {status}{_last_words(done.stderr)}")
    reply = json.loads(line)
    if not reply["ok"]:
        raise KafkaUnavailable(reply["error"])
    return reply["data"]


def wait_for_brokers(
    config: dict[str, str],
    expected: set[int],
    timeout: float,
    poll: float = 1.0,
    max_crashes: int = 3,
    log: Callable[[str], None] | None = None,
) -> set[int]:
    """Wait until every expected broker is registered; the set seen last.

    A crashed child is replaced (up to ``max_crashes`` times) until the deadline.
    """
    deadline = time.monotonic() + timeout
    crashes = 0
    while True:
        remaining = max(1.0, deadline - time.monotonic())
        try:
            seen = call(
                "wait_for_brokers",
                config,
                {"expected": sorted(expected), "timeout": remaining, "poll": poll},
                limit=remaining + STARTUP_GRACE_S,
            )
            return set(seen)
        except AdminProcessDied as exc:
            crashes += 1
            if crashes > max_crashes or time.monotonic() >= deadline:
                raise AdminProcessDied(
                    f"waiting for brokers {sorted(expected)}: {exc} ({crashes} times; giving up)"
                ) from None
            if log is not None:
                log(f"{exc}; starting a new one")


def create_topic(
    config: dict[str, str],
    topic: str,
    partitions: int = 6,
    replication: int = 3,
    min_insync: int = 2,
    timeout: float = 30.0,
) -> None:
    """Create ``topic`` with ``min.insync.replicas``; an existing topic is an error."""
    call(
        "create_topic",
        config,
        {
            "topic": topic,
            "partitions": partitions,
            "replication": replication,
            "min_insync": min_insync,
            "timeout": timeout,
        },
        limit=timeout + 5 + STARTUP_GRACE_S,
    )


def snapshot(config: dict[str, str], timeout: float = 10.0) -> ClusterSnapshot:
    """Brokers, controller, and every partition's replicas, ISR and min.insync.replicas."""
    data = call("snapshot", config, {"timeout": timeout}, limit=3 * timeout + STARTUP_GRACE_S)
    return snapshot_from_json(data)


# --- the child ---------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this child when its caller dies; exit now if it already has."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent:
        os._exit(1)


# librdkafka error codes after which trying longer changes nothing.
_DECISIVE = ("_AUTHENTICATION", "_SSL", "_ALL_BROKERS_DOWN", "_RESOLVE", "_UNSUPPORTED_FEATURE")


def probe(
    config: dict[str, str], timeout: float, startup_grace: float = STARTUP_GRACE_S
) -> dict[str, Any]:
    """Does a metadata request to the bootstrap servers succeed within ``timeout``?

    ``{"ok", "broker_ids", "errors", "exception", "timed_out", "seconds"}``;
    ``errors`` are librdkafka's error callbacks as ``"CODE: text"``, for
    ``kafka_upgrade.core.early_checks.bootstrap_problem`` to classify. It stops
    early on an answer that waiting would not change (refused, bad login).
    """
    return call("probe", config, {"timeout": timeout}, limit=timeout + startup_grace)


def _probe(config: dict[str, str], timeout: float) -> dict[str, Any]:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    started = time.monotonic()
    errors: list[str] = []

    def on_error(err: Any) -> None:
        # "(after 0ms in state CONNECT)" differs on every retry; keep each cause once.
        text = f"{err.name()}: {err.str()}".split(" (after ", 1)[0]
        if text not in errors and len(errors) < 20:
            errors.append(text)

    admin = AdminClient(
        {
            **config,
            "error_cb": on_error,
            "log_level": 0,
            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
        }
    )
    deadline = started + timeout
    exception: str | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            metadata = admin.list_topics(timeout=min(0.5, remaining))
            return {
                "ok": True,
                "broker_ids": sorted(metadata.brokers),
                "errors": errors,
                "seconds": time.monotonic() - started,
            }
        except KafkaException as exc:
            exception = str(exc)
        admin.poll(0)
        if any(e.startswith(_DECISIVE) for e in errors) or any(
            f"code={code}," in (exception or "") for code in _DECISIVE
        ):
            break
    return {
        "ok": False,
        "broker_ids": [],
        "errors": errors,
        "exception": exception,
        "timed_out": time.monotonic() >= deadline,
        "seconds": time.monotonic() - started,
    }


def _answer(op: str, config: dict[str, str], args: dict[str, Any]) -> Any:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    from kafka_upgrade.adapters import kafka_admin

    if op == "probe":
        return _probe(config, args["timeout"])
    admin = AdminClient({**config, "log_level": 0})
    if op == "wait_for_brokers":
        seen = kafka_admin.wait_for_brokers(
            admin, set(args["expected"]), timeout=args["timeout"], poll=args["poll"]
        )
        return sorted(seen)
    if op == "create_topic":
        topic, timeout = args["topic"], args["timeout"]
        new = NewTopic(
            topic,
            num_partitions=args["partitions"],
            replication_factor=args["replication"],
            config={"min.insync.replicas": str(args["min_insync"])},
        )
        try:
            admin.create_topics([new], request_timeout=timeout)[topic].result(timeout=timeout + 5)
        except (KafkaException, TimeoutError) as exc:
            raise KafkaUnavailable(f"creating topic {topic}: {exc}") from None
        return None
    if op == "snapshot":
        reader = kafka_admin.SnapshotReader(admin, timeout=args["timeout"])
        return snapshot_to_json(reader.snapshot())
    raise ValueError(f"unknown admin request {op!r}")


def _serve_one() -> None:
    request = json.loads(sys.stdin.readline())
    _die_with_parent(request["parent"])
    try:
        reply = {"ok": True, "data": _answer(request["op"], request["config"], request["args"])}
    except Exception as exc:  # noqa: BLE001 - every failure goes back as a value
        reply = {"ok": False, "error": str(exc)}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
    # Skip librdkafka's teardown on the way out: the answer is given.
    os._exit(0)


if __name__ == "__main__":
    _serve_one()
