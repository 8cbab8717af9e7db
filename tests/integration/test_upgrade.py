"""Evidence: the full upgrade on a real sandbox, with clients running the whole time.

Per mode, on a real Kafka sandbox reached over real SSH, with a real Prefect
server:

1. a guard refuses to run out of order and touches nothing;
2. ``rolling-upgrade`` OLD -> NEW with an idempotent acks=all producer and a
   consumer group running throughout; the approval arrives through the API
   while the run is paused;
3. afterwards: 0 lost, 0 duplicated, 0 failed deliveries; every node on NEW;
   ZooKeeper: the protocol at NEW; KRaft: metadata.version at NEW's level;
   every partition of the traffic topic led by its preferred replica again;
4. a second run skips every node (resume) and a reject ends it cleanly.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.approval import decide, wait_until_paused
from kafka_upgrade.adapters import isolated_admin
from kafka_upgrade.adapters.remote import FabricRemote
from kafka_upgrade.app.local_run import RunOutcome, flush_to_server, run_upgrade
from kafka_upgrade.app.local_server import PrefectServer, temporary_server
from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.core.kafka_cli import parse_features_describe
from kafka_upgrade.core.properties import read_properties
from kafka_upgrade.core.requests import PhaseRequest
from kafka_upgrade.core.upgrade_path import release_of
from kafka_upgrade.core.versions import pair_for
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.sandbox.traffic import ContinuousTraffic
from tasks.kafka_tools import tool_command
from tests.integration.conftest import require_tools

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[PrefectServer]:
    with temporary_server() as server:
        yield server


@pytest.fixture(params=["kraft", "zk"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Inventory]:
    require_tools()
    mode = request.param
    name = f"ev-{mode}"
    cluster.up(name, mode, log=lambda m: None)
    try:
        yield load_inventory(cluster.sandbox_dir(name) / "inventory.yaml")
    finally:
        cluster.down(name, log=lambda m: None)


def _approve_when_paused(approve: bool, approver: str, seen: dict) -> callable:
    """on_created hook: a thread that answers the approval through the API."""

    def hook(flow_run_id: UUID) -> None:
        def answer() -> None:
            try:
                wait_until_paused(flow_run_id, timeout=1200)
                seen["paused"] = True
                decide(flow_run_id, approve=approve, approver=approver, comment="from the test")
            except Exception as exc:  # noqa: BLE001 - surfaced by the test's asserts
                seen["error"] = repr(exc)

        # The thread must see the same Prefect settings (API URL) as the run.
        threading.Thread(target=contextvars.copy_context().run, args=(answer,), daemon=True).start()

    return hook


def _upgrade(
    server: PrefectServer, inventory_path: Path, to: str, approve: bool, seen: dict
) -> RunOutcome:
    return run_upgrade(
        server,
        str(inventory_path),
        to,
        auto_approve=False,
        say=lambda m: print(m),
        interactive=False,
        on_created=_approve_when_paused(approve, "pytest", seen),
        approval_timeout_s=900,
    )


def test_full_upgrade_loses_nothing(prefect_server: PrefectServer, sandbox: Inventory) -> None:
    mode = sandbox.mode
    pair = pair_for(mode)
    inventory_path = cluster.sandbox_dir(sandbox.cluster) / "inventory.yaml"
    status_before = cluster.status(sandbox.cluster)
    pids_before = {n["id"]: n["pid"] for n in status_before["nodes"]}

    # 1. A guard: the protocol / metadata step refuses while nodes run the old binary.
    from flows.upgrade import finalize_metadata_version, phase_2_protocol

    guarded = phase_2_protocol if mode.pins_protocol else finalize_metadata_version
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        state = guarded(
            PhaseRequest(cluster=str(inventory_path), to_version=pair.new), return_state=True
        )
        flush_to_server()
    assert state.is_failed()
    assert "not-on-new-binary" in str(state.message) or "not-on-new-binary" in repr(
        state.result(raise_on_failure=False)
    )
    assert {n["id"]: n["pid"] for n in cluster.status(sandbox.cluster)["nodes"]} == pids_before

    # 2. The full upgrade under continuous traffic; approval through the API.
    traffic = ContinuousTraffic(sandbox.bootstrap_servers, rate=200)
    traffic.start()
    seen: dict = {}
    started = time.monotonic()
    try:
        outcome = _upgrade(prefect_server, inventory_path, pair.new, approve=True, seen=seen)
    finally:
        time.sleep(3)
        traffic.stop()
    wall = time.monotonic() - started
    report = traffic.audit()

    print(f"\n[{mode}] {pair.old} -> {pair.new} in {wall:.0f} s; phases {outcome.phase_seconds}")
    for r in outcome.records:
        print(f"[{mode}]   {r.phase} node {r.node_id}: {r.action} in {r.seconds} s")
    for line in report.lines():
        print(f"[{mode}] {line}")

    assert "error" not in seen, seen
    assert seen.get("paused"), "the run never paused for approval"
    assert outcome.state == "COMPLETED", outcome.message
    assert report.failed == 0, report.errors
    assert report.delivered == report.sent > 0
    assert report.lost == 0, report.errors
    assert report.duplicated == 0, [*report.errors, *report.client_log]
    assert report.consumed_live > 0

    # 3. Every node on NEW, as the running processes report it.
    status = cluster.status(sandbox.cluster)
    assert [(n["id"], n["version"], n["running"]) for n in status["nodes"]] == [
        (n.id, pair.new, True) for n in sandbox.nodes
    ]
    with FabricRemote(sandbox) as remote:
        if mode.pins_protocol:
            for node in sandbox.nodes:
                text = remote.run(node, f"cat {node.config_path}").stdout
                assert read_properties(text)["inter.broker.protocol.version"] == release_of(
                    pair.new
                )
        else:
            node = sandbox.nodes[0]
            out = remote.run(
                node,
                tool_command(node, "kafka-features.sh", sandbox.bootstrap_servers, ["describe"]),
            )
            assert out.ok, out.describe()
            features = parse_features_describe(out.stdout)
            mv = features["metadata.version"]
            assert mv.finalized is not None and release_of(mv.finalized) == release_of(pair.new)
            # The deliberate finalize: the release's features one by one, kraft.version held.
            assert features["kraft.version"].finalized is None
            assert features["group.version"].finalized == "1"
            assert features["transaction.version"].finalized == "2"
            report = {r.label: r for r in outcome.records if r.label.startswith("feature ")}
            assert report["feature kraft.version"].action == "not raised"
            assert report["feature group.version"].action == "raised"
            assert report["feature group.version"].version_after == "1"

    # The cluster ends balanced: after each restart the broker was elected leader of its
    # preferred partitions again (health.preferred_leaders, on by default).
    snapshot = isolated_admin.snapshot({"bootstrap.servers": sandbox.bootstrap_servers})
    led_elsewhere = [
        f"{p.topic}-{p.partition} led by {p.leader}, preferred {p.replicas[0]}"
        for p in snapshot.partitions
        if p.topic == traffic.topic and p.leader != p.replicas[0]
    ]
    assert led_elsewhere == [], led_elsewhere

    # 4. A second run resumes: every node is already done and skipped; a reject stops it.
    seen = {}
    again = _upgrade(prefect_server, inventory_path, pair.new, approve=False, seen=seen)
    assert again.state == "CANCELLED", again.message
    assert "rejected by pytest" in again.message
    assert {r.action for r in again.records} == {"skipped"}
    after = {n["id"]: n["pid"] for n in cluster.status(sandbox.cluster)["nodes"]}
    assert after == {n["id"]: n["pid"] for n in status["nodes"]}, "a done node was restarted"
