"""Preflight catches real breakage before anything is touched, on a real KRaft 3.9 sandbox
aimed at 4.1.1 (every node serves JMX on its own address).

1. A config 4.0 removed in one node's server.properties: the run fails in
   preflight naming the key and the node, once; no process was restarted.
2. A topic with RF 3 and min.insync.replicas 3 is refused, and accepted when
   named in ``accept_unavailable`` (preflight then passes and says so).
3. A librdkafka producer speaking request versions 4.0 removed
   (``api.version.request=false``, ``broker.version.fallback=0.9.0``): the
   broker's DeprecatedRequestsPerSec metric counts it, and preflight names it.

The tests share one sandbox and run in this order: the old client's requests
stay counted until the broker restarts, so its test is last.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.preflight import preflight
from kafka_upgrade.adapters.remote import FabricRemote
from kafka_upgrade.app.local_run import flush_to_server, run_upgrade
from kafka_upgrade.app.local_server import PrefectServer, temporary_server
from kafka_upgrade.core.errors import BadInput
from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.core.preflight_checks import (
    deprecated_requests_command,
    jmx_port,
    node_subject,
    parse_deprecated_requests,
)
from kafka_upgrade.core.versions import KRAFT_PAIR
from kafka_upgrade.sandbox import cluster
from tasks.context import UpgradeContext
from tests.integration.conftest import require_tools

pytestmark = pytest.mark.integration

SANDBOX = "pf-kraft"
TARGET = KRAFT_PAIR.new


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[PrefectServer]:
    with temporary_server() as server:
        yield server


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Inventory]:
    require_tools()
    cluster.up(SANDBOX, "kraft", jmx=True, log=lambda m: None)
    try:
        yield load_inventory(_inventory_path())
    finally:
        cluster.down(SANDBOX, log=lambda m: None)


def _inventory_path() -> Path:
    return cluster.sandbox_dir(SANDBOX) / "inventory.yaml"


def _pids() -> dict[int, int]:
    return {n["id"]: n["pid"] for n in cluster.status(SANDBOX)["nodes"]}


@flow(name="preflight-under-test")
def preflight_flow(inventory_path: str, accept: list[str]) -> dict[str, Any]:
    inventory = load_inventory(inventory_path).model_copy(update={"target_version": TARGET})
    ctx = UpgradeContext.open(inventory)
    try:
        return preflight(ctx, accept).as_json()
    finally:
        ctx.close()


def run_preflight(server: PrefectServer, accept: list[str]) -> dict[str, Any] | BadInput:
    """The flow above against the module's server: its report, or its refusal."""
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        try:
            return preflight_flow(str(_inventory_path()), accept)
        except BadInput as exc:
            return exc
        finally:
            flush_to_server()  # else the last logs are retried against a stopped server


def _client(inventory: Inventory, script: str) -> dict[str, Any]:
    """Kafka clients in a child process: a librdkafka abort cannot take pytest down."""
    code = (
        "import json\n"
        "from confluent_kafka import Producer\n"
        "from confluent_kafka.admin import AdminClient, NewTopic\n"
        f"BOOTSTRAP = {inventory.bootstrap_servers!r}\n" + script
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CREATE_TOPIC = """
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
topic = NewTopic(NAME, 3, RF, config={"min.insync.replicas": str(MIN_ISR)})
admin.create_topics([topic])[NAME].result(30)
print(json.dumps({"created": NAME}))
"""

DELETE_TOPIC = """
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
admin.delete_topics([NAME])[NAME].result(30)
print(json.dumps({"deleted": NAME}))
"""

# librdkafka 2.16 speaks the 0.9 protocol (Produce v1, Metadata v0) only with
# fallback 0.9.x: any fallback from 0.10 on turns ApiVersions back on.
OLD_PRODUCER = """
p = Producer({"bootstrap.servers": BOOTSTRAP, "api.version.request": False,
              "broker.version.fallback": "0.9.0", "acks": "all", "client.id": "legacy-app",
              "log_level": 0})
results = []
for i in range(5):
    p.produce(NAME, b"old-%d" % i, on_delivery=lambda e, m: results.append(e is None))
p.flush(30)
print(json.dumps({"delivered": sum(results), "sent": 5}))
"""


def test_a_removed_config_is_refused_naming_the_key_and_the_node(
    prefect_server: PrefectServer, sandbox: Inventory
) -> None:
    node = sandbox.node(2)
    original = node.config_path.read_text()
    before = _pids()
    node.config_path.write_text(original + "controlled.shutdown.max.retries=3\n")
    try:
        outcome = run_upgrade(
            prefect_server, str(_inventory_path()), TARGET, auto_approve=True, say=lambda m: None
        )
    finally:
        node.config_path.write_text(original)
    print(outcome.message)  # the evidence, with -rA
    assert outcome.state == "FAILED", outcome.message
    assert "preflight refused" in outcome.message
    expected = f"{node_subject(node)}: server.properties sets controlled.shutdown.max.retries"
    assert expected in outcome.message, outcome.message
    assert "(rule removed-config)" in outcome.message
    assert outcome.message.count("controlled.shutdown.max.retries") == 1, outcome.message
    assert _pids() == before


def test_a_topic_at_min_insync_is_refused_and_accepted_when_named(
    prefect_server: PrefectServer, sandbox: Inventory
) -> None:
    _client(sandbox, "NAME, RF, MIN_ISR = 'pf-payments', 3, 3\n" + CREATE_TOPIC)
    try:
        refused = run_preflight(prefect_server, [])
        assert isinstance(refused, BadInput), refused
        message = str(refused)
        print(message)
        assert "topic pf-payments: 3 partitions have replication factor 3 and " in message
        assert "min.insync.replicas 3" in message and "NOT_ENOUGH_REPLICAS" in message
        assert "add pf-payments to accept_unavailable" in message
        assert "(rule restart-stops-acks-all)" in message

        report = run_preflight(prefect_server, ["pf-payments"])
        assert isinstance(report, dict) and report["ok"], report
        assert report["accepted_unavailable"] == ["pf-payments"]
        accepted = [f for f in report["findings"] if f["subject"] == "topic pf-payments"]
        assert [f["severity"] for f in accepted] == ["warning"]
        assert accepted[0]["message"].startswith("accepted in accept_unavailable")
    finally:
        _client(sandbox, "NAME = 'pf-payments'\n" + DELETE_TOPIC)


def test_an_old_client_is_named_for_a_4x_target(
    prefect_server: PrefectServer, sandbox: Inventory
) -> None:
    sent = _client(
        sandbox,
        "NAME, RF, MIN_ISR = 'pf-legacy', 3, 2\n" + CREATE_TOPIC + OLD_PRODUCER,
    )
    assert sent["delivered"] == 5, sent  # a 3.9 broker still takes them
    # The broker's own metric counts them as deprecated.
    counted = []
    with FabricRemote(sandbox) as remote:
        for node in sandbox.nodes:
            port = jmx_port(node)
            assert port is not None
            result = remote.run(node, deprecated_requests_command(node, port), timeout=90)
            probe = parse_deprecated_requests(
                node.id, node_subject(node), result.stdout + result.stderr, "jmx"
            )
            assert probe.ran, probe.unchecked
            counted += [r for r in probe.requests if r.request == "Produce"]
    assert counted and {r.version for r in counted} == {1}, counted
    assert {(r.client_name, r.client_version) for r in counted} == {("unknown", "unknown")}

    refused = run_preflight(prefect_server, [])
    assert isinstance(refused, BadInput), refused
    message = str(refused)
    print(message)
    broker = counted[0].broker
    assert "client (unnamed): sent request versions that Kafka 4.0 removed (KIP-896)" in message
    assert f"Produce v1 to broker {broker}" in message
    assert "(rule old-client)" in message
