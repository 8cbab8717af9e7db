"""Evidence: ZooKeeper -> KRaft migration on a real sandbox, with clients running throughout.

A ZooKeeper 3.9.1 sandbox (ZooKeeper + 3 brokers, 3 KRaft controllers laid out
to add), an idempotent acks=all producer and a consumer group running the whole
time, a real Prefect server, real sshd:

1. ``migrate-to-kraft``: every broker ends in KRaft mode (its own config, and
   registered with the new controllers), ZooKeeper is no longer used (stopped,
   the cluster still takes and serves messages), 0 lost, duplicated or failed;
2. ``revert-migration`` after the brokers moved into KRaft: every broker back in
   ZooKeeper mode, a broker is the controller again, the new controllers are
   stopped, 0 lost, duplicated or failed.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml

from deployments.approval import ApprovalError, decide, wait_until_paused
from kafka_upgrade.adapters import isolated_admin
from kafka_upgrade.adapters.kafka_admin import client_config
from kafka_upgrade.adapters.remote import FabricRemote
from kafka_upgrade.app.local_run import RunOutcome, run_migration
from kafka_upgrade.app.local_server import PrefectServer, temporary_server
from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.core.migration import BrokerPhase, broker_phase, kraft_inventory_path
from kafka_upgrade.core.modes import KRAFT
from kafka_upgrade.core.node_commands import parse_probe, probe_command
from kafka_upgrade.core.properties import read_properties
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.sandbox.traffic import ContinuousTraffic, TrafficReport
from tests.integration.conftest import cli, require_tools

pytestmark = pytest.mark.integration

# A migration inventory as `sandbox up --kraft-controllers 3` writes it (nothing runs there).
_INVENTORY = Path(__file__).parent / "migration_inventory.yaml"


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[PrefectServer]:
    with temporary_server() as server:
        yield server


def _sandbox(name: str) -> Iterator[Inventory]:
    require_tools()
    cluster.up(name, "zk", version="3.9.1", kraft_controllers=3, log=lambda m: None)
    try:
        yield load_inventory(cluster.sandbox_dir(name) / "inventory.yaml")
    finally:
        cluster.down(name, log=lambda m: None)


@pytest.fixture
def forward() -> Iterator[Inventory]:
    yield from _sandbox("mg-fwd")


@pytest.fixture
def backward() -> Iterator[Inventory]:
    yield from _sandbox("mg-rev")


def _approve_every_pause(seen: dict) -> Callable[[UUID], None]:
    """on_created hook: a thread that approves every pause through the API until the run ends."""

    def hook(flow_run_id: UUID) -> None:
        def answer() -> None:
            while True:
                try:
                    wait_until_paused(flow_run_id, timeout=1800)
                except ApprovalError:
                    return  # the run ended
                try:
                    decide(flow_run_id, approve=True, approver="pytest", comment="from the test")
                except ApprovalError as exc:
                    seen["error"] = repr(exc)
                    return
                seen["approved"] += 1
                time.sleep(2)

        # The thread must see the same Prefect settings (API URL) as the run.
        threading.Thread(target=contextvars.copy_context().run, args=(answer,), daemon=True).start()

    return hook


def _configs(inv: Inventory) -> dict[int, dict[str, str]]:
    with FabricRemote(inv) as remote:
        return {
            n.id: read_properties(remote.run(n, f"cat {n.config_path}").stdout) for n in inv.nodes
        }


def _assert_no_loss(report: TrafficReport, label: str) -> None:
    for line in report.lines():
        print(f"[{label}] {line}")
    assert report.failed == 0, report.errors
    assert report.delivered == report.sent > 0
    assert report.lost == 0, report.errors
    assert report.duplicated == 0, [*report.errors, *report.client_log]
    assert report.consumed_live > 0


def _print(label: str, outcome: RunOutcome, wall: float) -> None:
    print(f"\n[{label}] {outcome.state} in {wall:.0f} s: {outcome.message}")
    print(f"[{label}] phase seconds {outcome.phase_seconds}")
    for r in outcome.records:
        print(f"[{label}]   {r.phase} {r.label}: {r.action} in {r.seconds:.1f} s")


@pytest.mark.parametrize(
    ("change", "args", "words"),
    [
        (lambda d: d.pop("migration"), [], "'migration' section"),
        (lambda d: None, ["--stop-after", "nope"], "--stop-after 'nope'"),
        (
            lambda d: d["migration"]["controllers"][0].update(id=1),
            [],
            "id 1 is also a broker id",
        ),
    ],
)
def test_migrate_refuses_bad_input(
    tmp_path: Path, change: Any, args: list[str], words: str
) -> None:
    """Refused in one line, exit 2, before any server starts or any node is touched."""
    data = yaml.safe_load(_INVENTORY.read_text())
    change(data)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    result = cli("migrate", "--inventory", str(path), *args, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert out.count("error:") == 1 and out.count(words) == 1, out
    assert "Traceback" not in out and "Prefect UI" not in out, out


def test_migration_to_kraft_loses_nothing(
    prefect_server: PrefectServer, forward: Inventory
) -> None:
    path = cluster.sandbox_dir(forward.cluster) / "inventory.yaml"
    traffic = ContinuousTraffic(forward.bootstrap_servers, rate=200)
    traffic.start()
    started = time.monotonic()
    seen: dict = {"approved": 0}
    try:
        outcome = run_migration(
            prefect_server,
            str(path),
            auto_approve=False,
            say=print,
            interactive=False,
            on_created=_approve_every_pause(seen),
            approval_timeout_s=1800,
        )
    finally:
        time.sleep(3)
        traffic.stop()
    _print("migrate", outcome, time.monotonic() - started)
    assert outcome.state == "COMPLETED", outcome.message
    # One approval before each phase that cannot be undone cheaply, answered via the API.
    assert seen["approved"] == 3, seen
    _assert_no_loss(traffic.audit(), "migrate")

    # Every broker in KRaft mode, by its own config, registered with the new quorum.
    for node_id, props in _configs(forward).items():
        assert broker_phase(props) is BrokerPhase.KRAFT, (node_id, props)
        assert props["node.id"] == str(node_id)
        assert not [k for k in props if k.startswith("zookeeper.") or k == "broker.id"], props
    kraft = load_inventory(kraft_inventory_path(path))
    assert kraft.mode is KRAFT
    assert sorted(n.id for n in kraft.nodes if n.is_controller) == [3001, 3002, 3003]
    with FabricRemote(kraft) as remote:
        for c in (n for n in kraft.nodes if n.is_controller):
            props = read_properties(remote.run(c, f"cat {c.config_path}").stdout)
            assert "zookeeper.metadata.migration.enable" not in props
            assert "zookeeper.connect" not in props

    # ZooKeeper is no longer used: stop it; the cluster still takes and serves messages.
    cluster.stop_zookeeper(forward.cluster)
    seen = isolated_admin.wait_for_brokers(client_config(kraft), {1, 2, 3}, timeout=60)
    assert seen >= {1, 2, 3}
    after = ContinuousTraffic(forward.bootstrap_servers, topic="after-zookeeper", rate=200)
    after.start()
    time.sleep(15)
    after.stop()
    _assert_no_loss(after.audit(), "without zookeeper")


def test_revert_after_brokers_moved_to_kraft(
    prefect_server: PrefectServer, backward: Inventory
) -> None:
    path = cluster.sandbox_dir(backward.cluster) / "inventory.yaml"
    traffic = ContinuousTraffic(backward.bootstrap_servers, rate=200)
    traffic.start()
    started = time.monotonic()
    try:
        half = run_migration(
            prefect_server, str(path), auto_approve=True, say=print, stop_after="brokers-to-kraft"
        )
        _print("half", half, time.monotonic() - started)
        assert half.state == "COMPLETED", half.message
        assert {broker_phase(p) for p in _configs(backward).values()} == {BrokerPhase.KRAFT}
        began = time.monotonic()
        back = run_migration(prefect_server, str(path), auto_approve=True, say=print, revert=True)
        _print("revert", back, time.monotonic() - began)
    finally:
        time.sleep(3)
        traffic.stop()
    assert back.state == "COMPLETED", back.message
    _assert_no_loss(traffic.audit(), "migrate half and revert")

    # A healthy ZooKeeper cluster again: plain ZK-mode configs, a broker is the controller,
    # the added controllers are stopped.
    for node_id, props in _configs(backward).items():
        assert broker_phase(props) is BrokerPhase.ZK, (node_id, props)
        assert props["broker.id"] == str(node_id)
        assert props["zookeeper.connect"] == backward.zookeeper.connect  # type: ignore[union-attr]
        for gone in ("process.roles", "node.id", "controller.quorum.voters"):
            assert gone not in props, props
    assert isolated_admin.wait_for_brokers(client_config(backward), {1, 2, 3}, timeout=60)
    status = cluster.status(backward.cluster)
    assert all(n["running"] for n in status["nodes"])
    assert backward.migration is not None
    with FabricRemote(backward) as remote:
        for c in backward.migration.controllers:
            assert not parse_probe(remote.run(c, probe_command(c)).stdout).running, c.id
    from kafka_upgrade.adapters.admin_worker import AdminWorker

    reader = AdminWorker(client_config(backward))
    try:
        assert reader.snapshot().controller_id in {1, 2, 3}
    finally:
        reader.close()
