"""``flows/scope.py``: the parent hands a phase its inventory, hold, tracker and context;
the phase loads nothing again, and nothing is handed beyond the parent's block."""

from __future__ import annotations

from typing import Any

import pytest

from flows.scope import Scope, handed, handing, phase_scope
from kafka_upgrade.core.errors import BadInput
from tasks.context import UpgradeContext
from tests.unit.test_early_checks import inventory


class Opened:
    """Stands for an UpgradeContext: counts how often it is closed."""

    def __init__(self, inv: Any) -> None:
        self.inventory = inv
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Opened]:
    made: list[Opened] = []

    def open_(cls: type, inv: Any) -> Opened:
        made.append(Opened(inv))
        return made[-1]

    monkeypatch.setattr(UpgradeContext, "open", classmethod(open_))
    return made


def _never_loaded() -> Any:
    raise AssertionError("a handed phase must not load the inventory again")


def _phase(check: Any = lambda inventory: None) -> Any:
    return phase_scope(_never_loaded, 60.0, None, None, check)


def test_a_phase_uses_the_context_it_was_handed_and_leaves_it_open(opened) -> None:
    inv = inventory()
    parent_ctx = Opened(inv)
    with handing(Scope(inv, ctx=parent_ctx)), _phase() as scope:  # type: ignore[arg-type]
        assert scope.context is parent_ctx
        assert scope.inventory is inv
    assert parent_ctx.closed == 0 and opened == []


def test_a_phase_handed_no_context_opens_its_own_and_closes_it(opened) -> None:
    inv = inventory()
    with handing(Scope(inv)), _phase() as scope:
        assert scope.context is opened[0]
        assert opened[0].inventory is inv
    assert [o.closed for o in opened] == [1]


def test_nothing_is_handed_beyond_the_parents_block(opened) -> None:
    inv = inventory()
    with pytest.raises(RuntimeError), handing(Scope(inv)):
        assert handed() is not None
        raise RuntimeError("the phase failed")
    assert handed() is None


def test_a_phase_checks_the_handed_inventory_before_anything_opens(opened) -> None:
    def zk_only(inv: Any) -> None:
        if not inv.mode.pins_protocol:
            raise BadInput("phase-2-protocol is for ZooKeeper mode")

    with pytest.raises(BadInput), handing(Scope(inventory())), _phase(zk_only):
        pass
    assert opened == []
