"""The migration plan as tables: each phase's config, the phase each node is in, the gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kafka_upgrade.core.health import QuorumStatus, VoterState
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.migration import (
    ACL_AUTHORIZER,
    STANDARD_AUTHORIZER,
    BrokerPhase,
    ClusterPhase,
    ControllerPhase,
    broker_back_to_migration,
    broker_back_to_zookeeper,
    broker_kraft_config,
    broker_migration_config,
    broker_phase,
    cluster_phase,
    controller_final_config,
    controller_phase,
    controller_properties,
    finalize_allowed,
    kraft_inventory,
    kraft_inventory_path,
    parse_zk_cluster_id,
    phases_to_run,
    quorum_formed,
    ready_to_migrate,
    revert_allowed,
)
from kafka_upgrade.core.properties import apply_properties, read_properties
from tests.unit.test_migration_inventory import zk_inventory

VOTERS = "3001@c1:9093,3002@c2:9093,3003@c3:9093"
ZK_BROKER = {
    "broker.id": "2",
    "zookeeper.connect": "zk1:2181",
    "zookeeper.connection.timeout.ms": "18000",
    "listeners": "PLAINTEXT://k2:9092",
    "inter.broker.protocol.version": "3.9",
}


def inventory() -> Inventory:
    return Inventory(**zk_inventory())


def applied(props: dict[str, str], wanted: dict[str, str | None]) -> dict[str, str]:
    """What server.properties holds after the roll applies ``wanted``."""
    text = "".join(f"{k}={v}\n" for k, v in props.items())
    return read_properties(apply_properties(text, wanted))


def test_phase_a_adds_the_flag_and_the_controller_settings() -> None:
    inv = inventory()
    assert inv.migration is not None
    assert broker_migration_config(inv.migration, ZK_BROKER) == {
        "zookeeper.metadata.migration.enable": "true",
        "controller.quorum.voters": VOTERS,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
    }


def test_phase_a_keeps_an_explicit_protocol_map() -> None:
    inv = inventory()
    assert inv.migration is not None
    props = {**ZK_BROKER, "listener.security.protocol.map": "INTERNAL:SSL,EXTERNAL:SASL_SSL"}
    wanted = broker_migration_config(inv.migration, props)
    assert wanted["listener.security.protocol.map"] == (
        "INTERNAL:SSL,EXTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT"
    )


def test_phase_b_makes_a_kraft_broker_with_its_old_id() -> None:
    inv = inventory()
    assert inv.migration is not None
    a = applied(ZK_BROKER, broker_migration_config(inv.migration, ZK_BROKER))
    b = applied(a, broker_kraft_config(inv.migration, a))
    assert b["process.roles"] == "broker"
    assert b["node.id"] == "2"
    for gone in (
        "broker.id",
        "zookeeper.connect",
        "zookeeper.connection.timeout.ms",
        "inter.broker.protocol.version",
        "zookeeper.metadata.migration.enable",
    ):
        assert gone not in b
    assert b["controller.quorum.voters"] == VOTERS
    assert b["listeners"] == "PLAINTEXT://k2:9092"
    # a re-run wants nothing new: the roll skips the node
    assert applied(b, broker_kraft_config(inv.migration, b)) == b


@pytest.mark.parametrize(
    ("authorizer", "after_b"),
    [(ACL_AUTHORIZER, STANDARD_AUTHORIZER), (None, None), ("com.example.Custom", None)],
)
def test_phase_b_switches_only_the_zookeeper_acl_authorizer(
    authorizer: str | None, after_b: str | None
) -> None:
    inv = inventory()
    assert inv.migration is not None
    props = {**ZK_BROKER, **({"authorizer.class.name": authorizer} if authorizer else {})}
    assert broker_kraft_config(inv.migration, props).get("authorizer.class.name") == after_b


def test_controller_properties_for_migration_mode() -> None:
    inv = inventory()
    assert inv.migration is not None
    props = read_properties(
        controller_properties(
            inv, inv.migration.controllers[0], {"authorizer.class.name": ACL_AUTHORIZER}
        )
    )
    assert props == {
        "process.roles": "controller",
        "node.id": "3001",
        "controller.quorum.voters": VOTERS,
        "controller.listener.names": "CONTROLLER",
        "listeners": "CONTROLLER://c1:9093",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": "/var/lib/kafka/metadata",
        "zookeeper.metadata.migration.enable": "true",
        "zookeeper.connect": "zk1:2181",
        "authorizer.class.name": STANDARD_AUTHORIZER,
    }
    final = applied(props, controller_final_config(props))
    assert controller_phase(props) is ControllerPhase.MIGRATION
    assert controller_phase(final) is ControllerPhase.FINAL
    assert "zookeeper.connect" not in final


def test_reverts_walk_back_to_the_original_broker_config() -> None:
    inv = inventory()
    assert inv.migration is not None
    a = applied(ZK_BROKER, broker_migration_config(inv.migration, ZK_BROKER))
    b = applied(a, broker_kraft_config(inv.migration, a))
    back_a = applied(b, broker_back_to_migration(inv, b))
    assert broker_phase(back_a) is BrokerPhase.MIGRATING
    assert back_a["broker.id"] == "2" and "node.id" not in back_a
    assert back_a["zookeeper.connect"] == "zk1:2181"
    back_zk = applied(back_a, broker_back_to_zookeeper(inv, back_a))
    assert broker_phase(back_zk) is BrokerPhase.ZK
    for gone in ("controller.quorum.voters", "controller.listener.names"):
        assert gone not in back_zk
    assert "CONTROLLER" not in back_zk["listener.security.protocol.map"]
    # with the config brokers-to-kraft found (its backup), B is undone to the letter
    assert applied(b, broker_back_to_migration(inv, b, before=a)) == a
    acl = {**a, "authorizer.class.name": ACL_AUTHORIZER, "zookeeper.set.acl": "true"}
    acl_b = applied(acl, broker_kraft_config(inv.migration, acl))
    assert acl_b["authorizer.class.name"] == STANDARD_AUTHORIZER
    assert applied(acl_b, broker_back_to_migration(inv, acl_b, before=acl)) == acl
    # a KRaft broker asked to go straight to ZooKeeper goes back to A first
    assert broker_back_to_zookeeper(inv, b) == broker_back_to_migration(inv, b)


@pytest.mark.parametrize(
    ("props", "phase"),
    [
        (ZK_BROKER, BrokerPhase.ZK),
        ({**ZK_BROKER, "zookeeper.metadata.migration.enable": "TRUE"}, BrokerPhase.MIGRATING),
        ({**ZK_BROKER, "zookeeper.metadata.migration.enable": "false"}, BrokerPhase.ZK),
        ({"process.roles": "broker", "node.id": "2"}, BrokerPhase.KRAFT),
    ],
)
def test_broker_phase_from_its_config(props: dict[str, str], phase: BrokerPhase) -> None:
    assert broker_phase(props) is phase


Z, M, K = BrokerPhase.ZK, BrokerPhase.MIGRATING, BrokerPhase.KRAFT
ABSENT, MIG, FIN = ControllerPhase.ABSENT, ControllerPhase.MIGRATION, ControllerPhase.FINAL


@pytest.mark.parametrize(
    ("brokers", "controllers", "phase"),
    [
        ([Z, Z, Z], [ABSENT] * 3, ClusterPhase.NOT_STARTED),
        ([Z, Z, Z], [MIG] * 3, ClusterPhase.CONTROLLERS_UP),
        ([M, Z, Z], [MIG] * 3, ClusterPhase.BROKERS_MIGRATING),
        ([M, M, M], [MIG] * 3, ClusterPhase.BROKERS_MIGRATED),
        ([K, M, M], [MIG] * 3, ClusterPhase.BROKERS_TO_KRAFT),
        ([K, K, K], [MIG] * 3, ClusterPhase.BROKERS_KRAFT),
        ([K, K, K], [FIN, MIG, MIG], ClusterPhase.BROKERS_KRAFT),
        ([K, K, K], [FIN] * 3, ClusterPhase.FINALIZED),
    ],
)
def test_cluster_phase_table(
    brokers: list[BrokerPhase], controllers: list[ControllerPhase], phase: ClusterPhase
) -> None:
    seen = cluster_phase(dict(enumerate(brokers)), dict(enumerate(controllers, 3001)))
    assert seen is phase


@pytest.mark.parametrize(
    ("phase", "finalize", "revert"),
    [
        (ClusterPhase.BROKERS_MIGRATED, False, True),
        (ClusterPhase.BROKERS_TO_KRAFT, False, True),
        (ClusterPhase.BROKERS_KRAFT, True, True),
        (ClusterPhase.FINALIZED, True, False),
    ],
)
def test_finalize_and_revert_gates(phase: ClusterPhase, finalize: bool, revert: bool) -> None:
    assert finalize_allowed(phase).ok is finalize
    assert revert_allowed(phase).ok is revert


@pytest.mark.parametrize(
    ("running", "ibp", "rules"),
    [
        ({1: "3.9.1", 2: "3.9.1"}, "3.9", []),
        ({1: "3.9.1", 2: "3.8.1"}, "3.9", ["not-on-3.9"]),
        ({1: "3.9.1", 2: None}, "3.9", ["not-on-3.9"]),
        ({1: "3.9.1", 2: "3.9.1"}, "3.8", ["ibp-not-3.9", "ibp-not-3.9"]),
        ({1: "3.9.1", 2: "3.9.1"}, "3.9-IV0", []),
        ({1: "3.9.1", 2: "3.9.1"}, None, []),
    ],
)
def test_ready_to_migrate(running: dict[int, Any], ibp: str | None, rules: list[str]) -> None:
    base = {k: v for k, v in ZK_BROKER.items() if k != "inter.broker.protocol.version"}
    configs = {
        i: {**base, **({"inter.broker.protocol.version": ibp} if ibp else {})} for i in running
    }
    verdict = ready_to_migrate(inventory(), running, configs)
    assert [r.rule for r in verdict.reasons] == rules


def test_cluster_id_from_zookeeper_shell() -> None:
    out = 'Connecting to zk1:2181\n\nWATCHER::\n\n{"version":"1","id":"q2ZFYx-7SFa"}\n'
    assert parse_zk_cluster_id(out) == "q2ZFYx-7SFa"
    with pytest.raises(ValueError, match="no cluster id"):
        parse_zk_cluster_id("Node does not exist: /cluster/id")


def _quorum(leader: int | None, voters: list[int]) -> QuorumStatus:
    return QuorumStatus(leader, tuple(VoterState(i, 10, 0, 0, 0) for i in voters))


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (_quorum(3001, [3001, 3002, 3003]), True),
        (_quorum(None, [3001, 3002, 3003]), False),
        (_quorum(3001, [3001, 3002]), False),
    ],
)
def test_quorum_formed(status: QuorumStatus, ok: bool) -> None:
    assert quorum_formed(status, {3001, 3002, 3003}).ok is ok


def test_kraft_inventory_has_the_controllers_as_nodes() -> None:
    data = kraft_inventory(inventory())
    after = Inventory(**data)
    assert after.mode == "kraft"
    assert after.zookeeper is None and after.migration is None
    assert [n.id for n in after.nodes if n.is_controller] == [3001, 3002, 3003]
    assert after.broker_ids == [1, 2, 3]


def test_kraft_inventory_is_written_beside_the_zookeeper_one() -> None:
    assert kraft_inventory_path(Path("/s/inventory.yaml")) == Path("/s/inventory.kraft.yaml")
    assert kraft_inventory_path(Path("/s/prod.yml")) == Path("/s/prod.kraft.yml")
    assert kraft_inventory_path(Path("/s/prod")) == Path("/s/prod.kraft.yaml")


@pytest.mark.parametrize(
    ("phase", "phases"),
    [
        (
            ClusterPhase.NOT_STARTED,
            [
                "provision-controllers",
                "migrate-brokers",
                "brokers-to-kraft",
                "finalize-controllers",
            ],
        ),
        (
            ClusterPhase.BROKERS_MIGRATING,
            [
                "provision-controllers",
                "migrate-brokers",
                "brokers-to-kraft",
                "finalize-controllers",
            ],
        ),
        (
            ClusterPhase.BROKERS_MIGRATED,
            ["migrate-brokers", "brokers-to-kraft", "finalize-controllers"],
        ),
        (ClusterPhase.BROKERS_TO_KRAFT, ["brokers-to-kraft", "finalize-controllers"]),
        (ClusterPhase.FINALIZED, ["finalize-controllers"]),
    ],
)
def test_a_rerun_resumes_from_the_observed_phase(phase: ClusterPhase, phases: list[str]) -> None:
    assert phases_to_run(phase) == phases
