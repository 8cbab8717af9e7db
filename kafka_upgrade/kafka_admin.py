"""Reading the cluster through Kafka's AdminClient (confluent-kafka).

Errors from the client are translated here into ``KafkaUnavailable`` (the
cluster did not answer in time: transient) so nothing above this module sees
a library exception.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

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
    return AdminClient({**client_config(inventory), "log_level": 3})


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
