"""The roll engine driven through every row of the roll plan's tables, with fake nodes and
fake sensors: what each observation leads it to do, and what it leaves untouched."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from flows.roll import Roll, roll
from kafka_upgrade.adapters.kafka_admin import LagReading
from kafka_upgrade.core.errors import StepFailed
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.roll_plan import NodeObservation, StartOutcome, Want
from tasks.context import UpgradeContext

OLD, NEW = "3.7.2", "3.8.1"
LOG = logging.getLogger("test-roll-engine")


class Now:
    """A value worked out at once (the fakes' stand-in for a Prefect future)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.value, self.error = None, None
        try:
            self.value = make()
        except Exception as exc:  # noqa: BLE001 - kept for result(), as a future does
            self.error = exc

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


@dataclass
class FakeNode:
    running: bool = True
    binary: str | None = OLD
    link: str = OLD
    config: dict[str, str] = field(default_factory=dict)
    backup: dict[str, str] | None = None
    staged: bool = True
    registered: bool = True
    looks_fail: bool = False
    broken: frozenset[str] = frozenset()  # versions that cannot start here


class FakeNodes:
    """Brokers in memory; every action is written to ``events``."""

    def __init__(self, nodes: dict[int, FakeNode]) -> None:
        self.nodes, self.events = nodes, []

    def look(self, node_id: int) -> Now:
        def seen() -> NodeObservation:
            n = self.nodes[node_id]
            if n.looks_fail:
                raise StepFailed(f"broker-{node_id}: looking at the node failed: no route")
            return NodeObservation(
                node_id,
                frozenset({"broker"}),
                running=n.running,
                binary=n.binary if n.running else None,
                link=n.link,
                config=dict(n.config),
                backup_exists=n.backup is not None,
                registered=n.registered if n.running else None,
                in_every_isr=True if n.running else None,
                staged=n.staged,
            )

        return Now(seen)

    def backup(self, node_id: int) -> Now:
        n = self.nodes[node_id]
        n.backup = n.backup if n.backup is not None else dict(n.config)
        self.events.append(("backup", node_id))
        return Now(lambda: f"/backup/{node_id}")

    def set_config(self, node_id: int, changes: dict[str, str | None]) -> None:
        self.events.append(("set-config", node_id))
        for k, v in changes.items():
            if v is None:
                self.nodes[node_id].config.pop(k, None)
            else:
                self.nodes[node_id].config[k] = v

    def restore(self, node_id: int, backup: str) -> None:
        self.events.append(("restore", node_id))
        self.nodes[node_id].config = dict(self.nodes[node_id].backup or {})

    def stop(self, node_ids: Sequence[int]) -> None:
        for n in node_ids:
            self.events.append(("stop", n))
            self.nodes[n].running = False

    def switch(self, node_id: int, version: str) -> None:
        self.events.append(("switch", node_id, version))
        self.nodes[node_id].link = version

    def start(self, node_ids: Sequence[int]) -> list[StartOutcome]:
        outcomes = []
        for i in node_ids:
            n = self.nodes[i]
            self.events.append(("start", i, n.link))
            if n.link in n.broken:
                outcomes.append(StartOutcome(False, 1.0, "its JVM exited at once"))
                continue
            n.running, n.binary = True, n.link
            outcomes.append(StartOutcome(True, 1.0, "registered"))
        return outcomes

    def logs(self, node_id: int) -> str:
        return f"(broker-{node_id}'s log)"

    def touched(self) -> set[int]:
        return {e[1] for e in self.events if e[0] in ("stop", "start", "switch", "set-config")}


class FakeSensors:
    def __init__(self, nodes: FakeNodes, replicas: list[tuple[int, ...]] | None = None) -> None:
        self.nodes, self._replicas, self.events = nodes, replicas or [], []

    def active_controller(self) -> int | None:
        return None

    def replicas(self) -> list[tuple[int, ...]]:
        return self._replicas

    def safe_to_restart(self, node_ids: list[int], label: str) -> None:
        self.events.append(("gate", tuple(node_ids)))

    def recovered(self, versions: dict[int, str], label: str, stable: bool = True) -> None:
        self.events.append(("recovered", tuple(versions)))
        for n in versions:  # the cluster sees a running node come back
            self.nodes.nodes[n].registered = True

    def hold(self, versions: dict[int, str], label: str, back_at: float) -> Now:
        return Now(lambda: 1)

    def leadership(self, node_id: int) -> Now:
        return Now(lambda: 0)

    def lag(self, label: str, after: Sequence[Any] = ()) -> Now:
        return Now(lambda: LagReading({"g": 0}))

    def warm(self) -> None:
        pass


def _inventory(count: int, max_parallel: int = 1) -> Inventory:
    return Inventory(
        cluster="c",
        mode="zk",
        bootstrap_servers="k1:9092",
        current_version=OLD,
        target_version=NEW,
        ssh={"user": "kafka"},
        zookeeper={"connect": "zk:2181"},
        max_parallel=max_parallel,
        nodes=[
            {
                "id": i,
                "host": f"k{i}",
                "roles": ["broker"],
                "install_dir": "/opt/kafka",
                "config_path": "/etc/kafka/server.properties",
            }
            for i in range(1, count + 1)
        ],
    )


def _strict(props: Any) -> dict[str, str | None]:
    """Like the migration's: asks the node's own config, which is never empty."""
    return {"broker.id": props["broker.id"]}


def _roll(
    nodes: dict[int, FakeNode],
    max_parallel: int = 1,
    revert: bool = True,
    replicas: list[tuple[int, ...]] | None = None,
    pin: bool = False,
) -> tuple[list[Any], FakeNodes, FakeSensors]:
    fake = FakeNodes(nodes)
    sensors = FakeSensors(fake, replicas)
    ctx = UpgradeContext(inventory=_inventory(len(nodes), max_parallel), remote=None, reader=None)  # type: ignore[arg-type]

    def wanted(props: Any) -> dict[str, str | None]:
        return {"inter.broker.protocol.version": "3.7"} if pin else {}

    records = roll(ctx, "phase-1", NEW, wanted, None, revert, fake, sensors, LOG)
    return records, fake, sensors


def three(**node_2: Any) -> dict[int, FakeNode]:
    return {1: FakeNode(), 2: FakeNode(**node_2), 3: FakeNode()}


# -- every row of the tables, reached from what the fakes show ---------------------------


def test_needs_restart_restarts_each_node_behind_its_gate_in_order() -> None:
    records, fake, sensors = _roll(three(), pin=True)
    assert [(r.node_id, r.action) for r in records] == [(i, "restarted") for i in (1, 2, 3)]
    assert [e for e in fake.events if e[1] == 2] == [
        ("backup", 2),
        ("set-config", 2),
        ("stop", 2),
        ("switch", 2, NEW),
        ("start", 2, NEW),
    ]
    assert [e for e in sensors.events if e[0] == "gate"] == [("gate", (i,)) for i in (1, 2, 3)]
    assert all(n.binary == NEW and n.config for n in fake.nodes.values())


def test_done_nodes_are_skipped_and_nothing_is_touched() -> None:
    done = {i: FakeNode(binary=NEW, link=NEW) for i in (1, 2, 3)}
    records, fake, sensors = _roll(done)
    assert {r.action for r in records} == {"skipped"}
    assert fake.touched() == set()
    assert not [e for e in sensors.events if e[0] == "gate"]


def test_recovering_waits_until_back_then_skips() -> None:
    nodes = {i: FakeNode(binary=NEW, link=NEW) for i in (1, 2, 3)}
    nodes[2].registered = False
    records, fake, sensors = _roll(nodes)
    assert ("recovered", (2,)) in sensors.events
    assert [r.action for r in records] == ["skipped"] * 3
    assert fake.touched() == set()


def test_stopped_mid_upgrade_is_started_first_on_its_link() -> None:
    records, fake, _ = _roll(three(running=False, binary=None, link=NEW))
    assert (records[0].node_id, records[0].action, records[0].version_after) == (2, "started", NEW)
    assert fake.events[0] == ("start", 2, NEW)
    assert [(r.node_id, r.action) for r in records[1:]] == [
        (1, "restarted"),
        (2, "skipped"),
        (3, "restarted"),
    ]


def test_stopped_for_no_known_reason_refuses_before_anything_is_touched() -> None:
    with pytest.raises(StepFailed, match="refused; nothing was touched: broker-2 has no running"):
        _roll(three(running=False, binary=None, link=OLD))


def test_a_node_that_cannot_be_looked_at_is_unknown_and_refused() -> None:
    with pytest.raises(StepFailed) as failed:
        _roll(three(looks_fail=True))
    assert "refused; nothing was touched: broker-2 could not be looked at" in str(failed.value)
    assert "no route" in str(failed.value)


def test_a_failed_start_is_decided_again_and_reverted() -> None:
    nodes = three(broken=frozenset({NEW}))
    with pytest.raises(StepFailed) as failed:
        _roll(nodes, pin=True)
    said = str(failed.value)
    assert "broker-2 did not start on 3.8.1: its JVM exited at once" in said
    assert "(broker-2's log)" in said
    assert "Reverted in" in said and "broker-2 runs 3.7.2 again" in said
    assert (nodes[2].running, nodes[2].link, nodes[2].config) == (True, OLD, {})
    assert nodes[3].binary == OLD  # never touched


def test_a_failed_start_is_left_down_when_the_request_opted_out() -> None:
    nodes = three(broken=frozenset({NEW}))
    with pytest.raises(StepFailed, match=r"left down \(revert_on_failed_start is off\)"):
        _roll(nodes, revert=False)
    assert (nodes[2].running, nodes[2].link) == (False, NEW)


def test_a_missing_install_stops_the_run_before_the_node_stops() -> None:
    nodes = three(staged=False)
    with pytest.raises(StepFailed, match="is not installed on k2"):
        _roll(nodes)
    assert (nodes[1].binary, nodes[2].running, nodes[2].link, nodes[3].binary) == (
        NEW,
        True,
        OLD,
        OLD,
    )


# -- batches: the same loop, more members ----------------------------------------------


def test_a_batch_restarts_its_members_together_behind_one_gate() -> None:
    nodes = {i: FakeNode() for i in (1, 2, 3, 4)}
    records, fake, sensors = _roll(nodes, max_parallel=2, replicas=[(1, 3), (2, 4)])
    gates = [e[1] for e in sensors.events if e[0] == "gate"]
    assert gates == [(1, 2), (3, 4)]
    assert "(in batch broker-1 + broker-2)" in records[0].reason
    stops = [e for e in fake.events if e[0] == "stop"]
    assert stops == [("stop", 1), ("stop", 2), ("stop", 3), ("stop", 4)]


def test_a_failed_start_in_a_batch_reverts_that_member_only() -> None:
    nodes = {i: FakeNode() for i in (1, 2, 3, 4)}
    nodes[2].broken = frozenset({NEW})
    with pytest.raises(StepFailed, match="broker-2 runs 3.7.2 again") as failed:
        _roll(nodes, max_parallel=2, replicas=[(1, 3), (2, 4)])
    assert "Nodes after this batch were not touched" in str(failed.value)
    assert (nodes[1].binary, nodes[2].binary, nodes[3].binary) == (NEW, OLD, OLD)


def test_the_engine_decides_with_the_phase_want() -> None:
    roll_ = Roll(
        UpgradeContext(inventory=_inventory(1), remote=None, reader=None),  # type: ignore[arg-type]
        "p",
        NEW,
        lambda config: Want(NEW, {}),
        FakeNodes({1: FakeNode()}),
        FakeSensors(FakeNodes({})),
        LOG,
    )
    obs = roll_.observe(1)
    assert roll_.decide(obs)[1].action.value == "restart"


def test_the_phase_want_is_only_asked_of_a_node_s_own_config() -> None:
    nodes = {i: FakeNode(config={"broker.id": str(i)}) for i in (1, 2)}
    fake = FakeNodes(nodes)
    ctx = UpgradeContext(inventory=_inventory(2), remote=None, reader=None)  # type: ignore[arg-type]
    records = roll(ctx, "p", NEW, _strict, None, True, fake, FakeSensors(fake), LOG)
    assert [r.action for r in records] == ["restarted", "restarted"]
