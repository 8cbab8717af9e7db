"""Bad input is refused before anything is touched; phase 1 can be undone while pinned.

On a real ZooKeeper-mode sandbox:

1. an upgrade to a version that is not staged on the hosts fails in preflight,
   naming every host, and no process was restarted;
2. ``phase-1-binaries`` alone puts every broker on the new binary with the
   protocol pinned to the old release;
3. ``rollback-binaries`` puts every broker back on the old binary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.upgrade import phase_1_binaries, rollback_binaries
from kafka_upgrade.adapters.remote import FabricRemote
from kafka_upgrade.app.local_run import flush_to_server, run_upgrade
from kafka_upgrade.app.local_server import PrefectServer, temporary_server
from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.core.properties import read_properties
from kafka_upgrade.core.requests import PhaseRequest, RollbackRequest
from kafka_upgrade.core.versions import ZK_PAIR
from kafka_upgrade.sandbox import cluster
from tests.integration.conftest import require_tools

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[PrefectServer]:
    with temporary_server() as server:
        yield server


@pytest.fixture(scope="module")
def zk_sandbox() -> Iterator[Inventory]:
    require_tools()
    cluster.up("rb-zk", "zk", log=lambda m: None)
    try:
        yield load_inventory(cluster.sandbox_dir("rb-zk") / "inventory.yaml")
    finally:
        cluster.down("rb-zk", log=lambda m: None)


def _pids(name: str) -> dict[int, int]:
    return {n["id"]: n["pid"] for n in cluster.status(name)["nodes"]}


def _versions(name: str) -> set[str]:
    return {n["version"] for n in cluster.status(name)["nodes"]}


def test_unstaged_target_is_refused_before_anything_is_touched(
    prefect_server: PrefectServer, zk_sandbox: Inventory
) -> None:
    before = _pids(zk_sandbox.cluster)
    path = cluster.sandbox_dir(zk_sandbox.cluster) / "inventory.yaml"
    outcome = run_upgrade(prefect_server, str(path), "3.9.1", auto_approve=True, say=lambda m: None)
    assert outcome.state == "FAILED"
    assert "preflight refused" in outcome.message
    for node in zk_sandbox.nodes:
        assert f"node {node.id} ({node.host}): " in outcome.message
    assert _pids(zk_sandbox.cluster) == before


def test_phase_one_then_rollback(prefect_server: PrefectServer, zk_sandbox: Inventory) -> None:
    path = str(cluster.sandbox_dir(zk_sandbox.cluster) / "inventory.yaml")
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        records = phase_1_binaries(PhaseRequest(cluster=str(path), to_version=ZK_PAIR.new))
        assert {r.action for r in records} == {"restarted"}
        assert _versions(zk_sandbox.cluster) == {ZK_PAIR.new}
        with FabricRemote(zk_sandbox) as remote:
            for node in zk_sandbox.nodes:
                props = read_properties(remote.run(node, f"cat {node.config_path}").stdout)
                assert props["inter.broker.protocol.version"] == "3.7"

        back = rollback_binaries(RollbackRequest(cluster=str(path)))
        flush_to_server()
    assert [r.action for r in back] == ["restarted"] * len(zk_sandbox.nodes)
    assert _versions(zk_sandbox.cluster) == {ZK_PAIR.old}
