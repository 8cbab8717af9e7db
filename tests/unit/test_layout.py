"""The sandbox layout: addresses, ids and configs, decided without starting anything."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kafka_upgrade.sandbox.layout import (
    SandboxSpecError,
    plan_sandbox,
    server_properties,
    subnet_octet,
)


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_kraft_combined_nodes_have_own_addresses_and_quorum(tmp_path: Path) -> None:
    spec = plan_sandbox("a", "kraft", "3.9.1", root=tmp_path)
    octet = subnet_octet("a")
    assert [n.host for n in spec.nodes] == [f"127.0.{octet}.{10 + i}" for i in (1, 2, 3)]
    assert all(n.roles == ("broker", "controller") for n in spec.nodes)
    p = props(server_properties(spec, spec.nodes[0]))
    assert p["process.roles"] == "broker,controller"
    assert p["controller.quorum.voters"].count("@") == 3
    assert p["min.insync.replicas"] == "2"
    assert p["log.dirs"] == str(tmp_path / "a" / "node-1" / "data")


def test_separate_controllers_come_first_and_serve_no_clients(tmp_path: Path) -> None:
    spec = plan_sandbox("b", "kraft", "3.9.1", nodes=3, controllers=3, root=tmp_path)
    assert [(n.id, n.roles) for n in spec.nodes] == [
        (1, ("controller",)),
        (2, ("controller",)),
        (3, ("controller",)),
        (4, ("broker",)),
        (5, ("broker",)),
        (6, ("broker",)),
    ]
    controller = props(server_properties(spec, spec.nodes[0]))
    assert "advertised.listeners" not in controller
    assert controller["listeners"].startswith("CONTROLLER://")
    assert spec.bootstrap_servers.count(":9092") == 3


def test_zk_brokers_point_at_zookeeper(tmp_path: Path) -> None:
    spec = plan_sandbox("c", "zk", "3.7.2", root=tmp_path)
    p = props(server_properties(spec, spec.nodes[2]))
    assert p["broker.id"] == "3"
    assert p["zookeeper.connect"] == spec.zk_connect
    assert "inter.broker.protocol.version" not in p  # pinned by phase 1, not by the sandbox


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"name": "Bad_Name"}, "--name"),
        ({"mode": "zk", "version": "4.1.1"}, "no ZooKeeper"),
        ({"version": "3.9"}, "--version"),
        ({"nodes": 0}, "--nodes"),
        ({"controllers": 2}, "--controllers"),
        ({"mode": "zk", "controllers": 3}, "--mode kraft only"),
        ({"racks": 4}, "--racks"),
    ],
)
def test_bad_requests_name_the_option(kwargs: dict, names: str, tmp_path: Path) -> None:
    args = {"name": "ok", "mode": "kraft", "version": "3.9.1", **kwargs}
    with pytest.raises(SandboxSpecError, match=names):
        plan_sandbox(root=tmp_path, **args)


def test_sandboxes_with_different_names_usually_differ() -> None:
    octets = {subnet_octet(n) for n in ("a", "b", "demo-kraft", "demo-zk", "it-kraft", "it-zk")}
    assert len(octets) == 6
    assert all(20 <= o < 220 for o in octets)


def test_racks_go_round_robin_over_the_brokers_only(tmp_path: Path) -> None:
    spec = plan_sandbox("r", "kraft", "3.9.1", nodes=6, controllers=3, racks=3, root=tmp_path)
    racks = {n.id: props(server_properties(spec, n)).get("broker.rack") for n in spec.nodes}
    assert racks == {1: None, 2: None, 3: None, 4: "a", 5: "b", 6: "c", 7: "a", 8: "b", 9: "c"}
    plain = plan_sandbox("r", "kraft", "3.9.1", root=tmp_path)
    assert all("broker.rack" not in server_properties(plain, n) for n in plain.nodes)


def test_zk_sandbox_lays_out_the_controllers_a_migration_adds(tmp_path: Path) -> None:
    from kafka_upgrade.sandbox.layout import plan_sandbox

    spec = plan_sandbox("mg-layout", "zk", "3.9.1", kraft_controllers=3, root=tmp_path)
    added = spec.migration_controllers
    assert [c.id for c in added] == [3001, 3002, 3003]
    assert [c.host for c in added] == [f"127.0.{spec.octet}.{100 + i}" for i in (1, 2, 3)]
    assert set(spec.addresses) >= {c.host for c in added}  # sshd listens there too
    assert not set(spec.addresses[:3]) & {c.host for c in added}
    assert (added[0].host, 9093) in spec.listening_ports()


@pytest.mark.parametrize(
    ("mode", "version", "count", "message"),
    [
        ("kraft", "3.9.1", 3, "applies to --mode zk only"),
        ("zk", "3.8.1", 3, "needs 3.9.x as --version or among --stage"),
        ("zk", "3.9.1", 2, "choose 1, 3 or 5"),
    ],
)
def test_kraft_controllers_refusals(mode: str, version: str, count: int, message: str) -> None:
    from kafka_upgrade.sandbox.layout import SandboxSpecError, plan_sandbox

    with pytest.raises(SandboxSpecError, match=message):
        plan_sandbox("mg-layout", mode, version, kraft_controllers=count)  # type: ignore[arg-type]


def test_kraft_controllers_on_an_older_zk_sandbox_with_3_9_staged(tmp_path: Path) -> None:
    """The journey's sandbox: 3.7 now, upgraded to the staged 3.9 before the migration."""
    from kafka_upgrade.sandbox.layout import SandboxSpecError, plan_sandbox

    spec = plan_sandbox(
        "mg-journey", "zk", "3.7.2", kraft_controllers=3, stage=["3.9.1", "4.1.1"], root=tmp_path
    )
    assert [c.id for c in spec.migration_controllers] == [3001, 3002, 3003]
    with pytest.raises(SandboxSpecError, match=r"not 3\.7\.2 \(staged: 3\.8\.1\)"):
        plan_sandbox("mg-journey", "zk", "3.7.2", kraft_controllers=3, stage=["3.8.1"])


def test_down_stops_the_brokers_before_the_controllers() -> None:
    """A KRaft broker's controlled shutdown needs its quorum: controllers go last."""
    from kafka_upgrade.core.inventory import Inventory
    from kafka_upgrade.core.migration import kraft_inventory
    from kafka_upgrade.sandbox.cluster import stop_waves
    from tests.unit.test_migration_inventory import zk_inventory

    migrated = Inventory(**kraft_inventory(Inventory(**zk_inventory())))
    waves = stop_waves(migrated.nodes)
    assert [[n.id for n in wave] for wave in waves] == [[1, 2, 3], [3001, 3002, 3003]]
    combined = [
        n.model_copy(update={"roles": ["broker", "controller"]}) for n in migrated.nodes[:3]
    ]
    # Combined nodes one at a time: each shutdown commits through the others' quorum.
    assert [[n.id for n in wave] for wave in stop_waves(combined)] == [[1], [2], [3]]


def test_prod_layout_puts_nodes_where_production_hosts_keep_them(tmp_path: Path) -> None:
    spec = plan_sandbox("p", "kraft", "3.9.1", root=tmp_path, layout="prod")
    n = spec.nodes[0]
    assert spec.prod
    assert n.install_dir == tmp_path / "p/node-1/opt/kafka"
    assert n.config_path == tmp_path / "p/node-1/etc/kafka/server.properties"
    assert n.data_dir == tmp_path / "p/node-1/var/lib/kafka"
    assert n.log_dir == tmp_path / "p/node-1/var/log/kafka"
    assert spec.users.login != spec.users.kafka
    assert spec.sudoers_file == Path("/etc/sudoers.d/kafka-upgrade-p")
    plain = plan_sandbox("p", "kraft", "3.9.1", root=tmp_path)
    assert plain.nodes[0].install_dir == tmp_path / "p/node-1/install"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"layout": "cloud"}, "--layout 'cloud'"),
        ({"layout": "prod", "mode": "zk", "version": "3.9.1", "kraft_controllers": 3}, "prod"),
    ],
)
def test_prod_layout_refusals(tmp_path: Path, args: dict, words: str) -> None:
    base = {"name": "p", "mode": "kraft", "version": "3.9.1", **args}
    with pytest.raises(SandboxSpecError, match=re.escape(words)):
        plan_sandbox(root=tmp_path, **base)


def test_the_prod_service_is_a_valid_command_service(tmp_path: Path) -> None:
    from kafka_upgrade.core.inventory import ServiceControl
    from kafka_upgrade.sandbox.prod_hosts import service_entry

    spec = plan_sandbox("p", "kraft", "3.9.1", root=tmp_path, layout="prod")
    service = ServiceControl(**service_entry(spec))
    assert service.kind == "command"
    assert service.start == f"{spec.wrapper} start {{config}} {{link}} {{kafka_user}}"


def test_a_private_parent_folder_is_found() -> None:
    import shutil
    import tempfile

    from kafka_upgrade.sandbox.prod_hosts import closed_parent

    base = Path(tempfile.mkdtemp(prefix="ku-layout-"))  # in /tmp, which all may pass
    try:
        os.chmod(base, 0o755)
        private = base / "home"
        private.mkdir()
        os.chmod(private, 0o700)
        assert closed_parent(private / "sandboxes" / "p") == private
        os.chmod(private, 0o755)
        assert closed_parent(private / "sandboxes" / "p") is None
    finally:
        shutil.rmtree(base)
