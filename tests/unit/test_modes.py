"""The modes as objects: what each carries, how an inventory holds one, and that no other
module compares a mode with a string."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.modes import KRAFT, MIGRATED, ZOOKEEPER, UnknownMode, mode_of
from kafka_upgrade.core.order import NodeRef, roll_order

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("mode", "uses_zookeeper", "pins", "after", "steps_for_3"),
    [
        (ZOOKEEPER, True, True, "phase-2-protocol", 6),
        (KRAFT, False, False, "finalize-metadata-version", 4),
    ],
)
def test_what_each_mode_carries(
    mode: object, uses_zookeeper: bool, pins: bool, after: str, steps_for_3: int
) -> None:
    assert mode.uses_zookeeper is uses_zookeeper  # type: ignore[attr-defined]
    assert mode.pins_protocol is pins  # type: ignore[attr-defined]
    assert mode.after_phase_1 == after  # type: ignore[attr-defined]
    assert mode.total_steps(3) == steps_for_3  # type: ignore[attr-defined]


def test_quorum_gates_apply_to_kraft_controllers_only() -> None:
    assert KRAFT.gates_quorum_of({"controller"})
    assert KRAFT.gates_quorum_of({"broker", "controller"})
    assert not KRAFT.gates_quorum_of({"broker"})
    assert not ZOOKEEPER.gates_quorum_of({"controller"})


def test_names_and_objects() -> None:
    assert mode_of("zk") is ZOOKEEPER
    assert mode_of(KRAFT) is KRAFT
    assert str(ZOOKEEPER) == "zk"
    assert MIGRATED is KRAFT
    with pytest.raises(UnknownMode, match="mode must be 'zk' or 'kraft', got 'kraftt'"):
        mode_of("kraftt")


def test_roll_order_follows_the_mode() -> None:
    brokers = [NodeRef(i, frozenset({"broker"})) for i in (3, 1, 2)]
    assert roll_order(brokers, ZOOKEEPER, 1) == [2, 3, 1]
    kraft = [NodeRef(9, frozenset({"controller"})), NodeRef(8, frozenset({"controller"}))]
    assert roll_order([*brokers, *kraft], KRAFT, 8) == [9, 8, 1, 2, 3]


def _inventory(mode: str) -> dict:
    return {
        "cluster": "c",
        "mode": mode,
        "bootstrap_servers": "h:9092",
        "current_version": "3.9.1",
        "ssh": {"user": "kafka"},
        "nodes": [
            {"id": 1, "host": "h", "roles": ["broker", "controller"], "install_dir": "/opt/k"}
            | {"config_path": "/opt/k/server.properties"}
        ],
    }


def test_the_inventory_holds_the_object_and_writes_the_name() -> None:
    inventory = Inventory(**_inventory("kraft"))
    assert inventory.mode is KRAFT
    assert inventory.model_dump(mode="json")["mode"] == "kraft"
    assert "mode: kraft" in inventory.to_yaml()
    assert Inventory(**inventory.model_dump(mode="json")).mode is KRAFT


def test_a_wrong_mode_is_refused_in_the_schemas_words() -> None:
    with pytest.raises(ValueError, match="Input should be 'zk' or 'kraft'"):
        Inventory(**_inventory("kraftt"))


def _string_comparisons(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        constants = [
            s.value for s in sides if isinstance(s, ast.Constant) and s.value in ("zk", "kraft")
        ]
        for s in sides:
            if isinstance(s, ast.Tuple | ast.List | ast.Set):
                constants += [
                    e.value
                    for e in s.elts
                    if isinstance(e, ast.Constant) and e.value in ("zk", "kraft")
                ]
        if constants:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_module_but_modes_compares_a_mode_with_a_string() -> None:
    product = [
        p
        for folder in ("kafka_upgrade", "flows", "tasks", "deployments", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
        if p.name not in ("modes.py", "baseline.py")  # baseline: the frozen old code
    ]
    assert [hit for p in product for hit in _string_comparisons(p)] == []
