"""What each roll of the migration wants of a node: a change only of the nodes in its phase."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.migration import (
    broker_back_to_migration,
    broker_back_to_zookeeper,
    broker_kraft_config,
    broker_migration_config,
    controller_final_config,
    controller_properties,
    finalize_controllers_wants,
    migrate_brokers_wants,
    revert_migrate_brokers_wants,
    revert_to_migration_wants,
)
from kafka_upgrade.core.properties import read_properties
from tests.unit.test_migration_plan import ZK_BROKER, applied, inventory


def _configs() -> dict[str, dict[str, str]]:
    """A broker's server.properties in each phase (zk, a, b) and a new controller's."""
    inv = inventory()
    assert inv.migration is not None
    a = applied(ZK_BROKER, broker_migration_config(inv.migration, ZK_BROKER))
    b = applied(a, broker_kraft_config(inv.migration, a))
    controller = read_properties(controller_properties(inv, inv.migration.controllers[0], {}))
    return {"zk": ZK_BROKER, "a": a, "b": b, "controller": controller}


@pytest.mark.parametrize(
    ("step", "config", "acts"),
    [
        ("migrate-brokers", "zk", True),
        ("migrate-brokers", "a", False),
        ("migrate-brokers", "b", False),
        ("finalize-controllers", "controller", True),
        ("finalize-controllers", "zk", False),
        ("finalize-controllers", "b", False),
        ("revert-brokers-to-zookeeper-mode", "b", True),
        ("revert-brokers-to-zookeeper-mode", "a", False),
        ("revert-brokers-to-zookeeper-mode", "zk", False),
        ("revert-migrate-brokers", "a", True),
        ("revert-migrate-brokers", "zk", False),
        ("revert-migrate-brokers", "b", False),
    ],
)
def test_each_roll_wants_a_change_only_of_the_nodes_in_its_phase(
    step: str, config: str, acts: bool
) -> None:
    inv = inventory()
    migration = inv.migration
    assert migration is not None
    configs = _configs()
    before = {2: configs["a"]}  # broker 2's backup from brokers-to-kraft
    wants, change = {
        "migrate-brokers": (
            lambda p: migrate_brokers_wants(migration, p),
            lambda p: broker_migration_config(migration, p),
        ),
        "finalize-controllers": (finalize_controllers_wants, controller_final_config),
        "revert-brokers-to-zookeeper-mode": (
            lambda p: revert_to_migration_wants(inv, before, p),
            lambda p: broker_back_to_migration(inv, p, configs["a"]),
        ),
        "revert-migrate-brokers": (
            lambda p: revert_migrate_brokers_wants(inv, p),
            lambda p: broker_back_to_zookeeper(inv, p),
        ),
    }[step]
    props = configs[config]
    assert wants(props) == (change(props) if acts else {})
    if step == "revert-brokers-to-zookeeper-mode" and acts:
        assert applied(props, wants(props)) == configs["a"]
