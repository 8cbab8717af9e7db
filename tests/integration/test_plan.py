"""`kafka-upgrade plan` on both sandbox modes: the whole plan printed, nothing changed.

Compared before and after: every node's pid, its `current` link, and every
file in its config directory (server.properties and any backups).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.core.modes import ZOOKEEPER
from kafka_upgrade.core.versions import pair_for
from kafka_upgrade.sandbox import cluster
from tests.integration.conftest import cli, require_tools

pytestmark = pytest.mark.integration


@pytest.fixture(params=["kraft", "zk"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Inventory]:
    require_tools()
    name = f"plan-{request.param}"
    cli("sandbox", "up", "--name", name, "--mode", request.param)
    try:
        yield load_inventory(cluster.sandbox_dir(name) / "inventory.yaml")
    finally:
        cli("sandbox", "down", "--name", name, check=False)


def _state(inventory: Inventory) -> dict:
    status = cluster.status(inventory.cluster)
    files = {}
    for node in inventory.nodes:
        for path in sorted(Path(node.config_path).parent.iterdir()):
            files[str(path)] = path.read_bytes()
    return {
        "pids": {n["id"]: n["pid"] for n in status["nodes"]},
        "links": {n.id: os.readlink(n.link) for n in inventory.nodes},
        "files": files,
    }


def test_plan_prints_everything_and_changes_nothing(sandbox: Inventory) -> None:
    pair = pair_for(sandbox.mode)
    path = str(cluster.sandbox_dir(sandbox.cluster) / "inventory.yaml")
    before = _state(sandbox)
    text = cli("plan", "--inventory", path, "--to", pair.new).stdout
    data = json.loads(cli("plan", "--inventory", path, "--to", pair.new, "--json").stdout)
    assert _state(sandbox) == before
    print("\n" + text)

    assert f"{pair.old} -> {pair.new}" in text and "verdict: ready to run" in text
    assert data["ok"] is True and data["path"]["ok"] is True
    phases = [p["phase"] for p in data["phases"]]
    labels = {f"broker-{n.id}" for n in sandbox.nodes}
    assert {n["node"] for n in data["phases"][0]["nodes"]} == labels
    if sandbox.mode is ZOOKEEPER:
        assert phases == ["phase-1-binaries", "phase-2-protocol"]
        first = data["phases"][0]["nodes"][0]["changes"]
        second = data["phases"][1]["nodes"][0]["changes"]
        assert first == [{"key": "inter.broker.protocol.version", "from": None, "to": "3.7"}]
        assert second == [{"key": "inter.broker.protocol.version", "from": "3.7", "to": "3.8"}]
    else:
        assert phases == ["phase-1-binaries", "finalize-metadata-version"]
        features = {f["feature"]: f for f in data["phases"][1]["features"]}
        assert features["metadata.version"]["raised"] is True
        assert features["kraft.version"]["raised"] is False
        assert features["kraft.version"]["reversible"] is False
        assert "kraft.version: 0 (off) -> 1 NOT raised" in text
