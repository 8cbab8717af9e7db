"""The migration section of a ZooKeeper inventory: what it accepts and what it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kafka_upgrade.core.inventory import InventoryError, load_inventory


def zk_inventory(**migration: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "controllers": [
            {
                "id": 3000 + i,
                "host": f"c{i}",
                "install_dir": "/opt/kafka",
                "config_path": "/etc/kafka/controller.properties",
                "metadata_dir": "/var/lib/kafka/metadata",
            }
            for i in (1, 2, 3)
        ]
    }
    section.update(migration)
    return {
        "cluster": "prod-eu",
        "mode": "zk",
        "bootstrap_servers": "k1:9092",
        "current_version": "3.9.1",
        "ssh": {"user": "kafka"},
        "zookeeper": {"connect": "zk1:2181"},
        "nodes": [
            {
                "id": i,
                "host": f"k{i}",
                "roles": ["broker"],
                "install_dir": "/opt/kafka",
                "config_path": "/etc/kafka/server.properties",
            }
            for i in (1, 2, 3)
        ],
        "migration": section,
    }


def load(tmp_path: Path, data: dict[str, Any]):  # noqa: ANN201 - the Inventory
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path)


def test_migration_section_loads_with_defaults(tmp_path: Path) -> None:
    inv = load(tmp_path, zk_inventory())
    assert inv.migration is not None
    assert inv.migration.voters == "3001@c1:9093,3002@c2:9093,3003@c3:9093"
    assert inv.migration.controller_listener_name == "CONTROLLER"
    assert inv.node(3002).host == "c2"
    assert inv.node(3002).is_controller and not inv.node(3002).is_broker
    assert inv.broker_ids == [1, 2, 3]  # the controllers to add are not brokers


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is _DROP:
            del target[last if not last.isdigit() else int(last)]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


_DROP = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("migration.controllers.0.id", 2), "id 2 is also a broker id"),
        (_set("migration.controllers.1.id", 3001), "id 3001 appears more than once"),
        (_set("migration.controllers", []), "migration.controllers"),
        (_set("migration.controllers.2", _DROP), "2 controllers; a quorum needs 1, 3 or 5"),
        (_set("migration.controllers.1.host", "c1"), "c1:9093 is used by two controllers"),
        (_set("migration.controllers.0.roles", ["broker", "controller"]), "roles must be"),
        (_set("migration.controllers.0.metadata_dir", _DROP), "metadata_dir"),
        (_set("migration.controller_listener_name", "PLAINTEXT"), "needs its own name"),
        (_set("migration.controller_listener_name", "ctl"), "controller_listener_name"),
        (_set("mode", "kraft"), "already in KRaft mode"),
    ],
)
def test_bad_migration_sections_name_the_field(tmp_path: Path, change: Any, message: str) -> None:
    data = zk_inventory()
    change(data)
    if data["mode"] == "kraft":
        data["nodes"][0]["roles"] = ["broker", "controller"]
    with pytest.raises(InventoryError, match=message.replace("[", r"\[")):
        load(tmp_path, data)
