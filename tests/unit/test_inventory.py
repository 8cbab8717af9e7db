"""The inventory: errors name the field; the environment overrides the file; secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kafka_upgrade.core.inventory import InventoryError, load_inventory


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def base() -> dict:
    return {
        "cluster": "prod-eu",
        "mode": "kraft",
        "bootstrap_servers": "k1:9092",
        "current_version": "3.9.1",
        "target_version": "4.1.1",
        "ssh": {"user": "kafka", "key_file": "/home/ops/.ssh/id_ed25519"},
        "nodes": [
            {
                "id": i,
                "host": f"k{i}",
                "roles": ["broker", "controller"],
                "install_dir": "/opt/kafka",
                "config_path": "/etc/kafka/server.properties",
            }
            for i in (1, 2, 3)
        ],
    }


def test_valid_inventory_loads_with_defaults(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, base()))
    assert inv.broker_ids == [1, 2, 3]
    assert inv.nodes[0].link == Path("/opt/kafka/current")
    assert inv.ssh_port(inv.nodes[0]) == 22
    assert inv.health.poll_interval_s <= 1.0


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_UPGRADE_TARGET_VERSION", "4.1.2")
    monkeypatch.setenv("KAFKA_UPGRADE_KAFKA__SASL_PASSWORD", "hunter2")
    inv = load_inventory(write(tmp_path, base()))
    assert inv.target_version == "4.1.2"
    assert inv.kafka.librdkafka_config()["sasl.password"] == "hunter2"
    assert "hunter2" not in repr(inv)
    assert "hunter2" not in inv.to_yaml()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(current_version="3.9"), "current_version"),
        (lambda d: d["nodes"][1].update(id=1), "id 1 appears more than once"),
        (lambda d: d.update(mode="zk"), "zookeeper"),
        (lambda d: d["nodes"][0].pop("host"), "nodes.0.host"),
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["nodes"][0].update(service={"kind": "systemd"}), "service.unit"),
    ],
)
def test_bad_input_names_the_field(tmp_path: Path, change, message: str) -> None:
    data = base()
    change(data)
    with pytest.raises(InventoryError, match=message):
        load_inventory(write(tmp_path, data))


def test_validation_errors_never_echo_values(tmp_path: Path) -> None:
    data = base()
    data["kafka"] = {"sasl_password": ["s3cret-value"]}
    with pytest.raises(InventoryError) as err:
        load_inventory(write(tmp_path, data))
    assert "s3cret-value" not in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="does not exist"):
        load_inventory(tmp_path / "nope.yaml")


def test_max_parallel_defaults_to_one_and_refuses_less(tmp_path: Path) -> None:
    assert load_inventory(write(tmp_path, base())).max_parallel == 1
    assert load_inventory(write(tmp_path, {**base(), "max_parallel": 3})).max_parallel == 3
    with pytest.raises(
        InventoryError, match="max_parallel: Input should be greater than or equal to 1"
    ):
        load_inventory(write(tmp_path, {**base(), "max_parallel": 0}))
