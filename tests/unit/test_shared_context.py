"""``shared_context``: a phase run inside ``rolling-upgrade`` borrows the parent's context
(its connections, admin children and what its sensors saw) instead of opening its own."""

from __future__ import annotations

from typing import Any

import pytest

from tasks import context
from tasks.context import UpgradeContext, shared_context
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


def test_a_nested_flow_borrows_the_open_context_and_leaves_it_open(opened) -> None:
    inv = inventory()
    with shared_context(inv) as parent:
        with shared_context(inv.model_copy()) as phase:  # loaded again: equal, not the same
            assert phase is parent
        assert parent.closed == 0  # the phase does not close what it borrowed
    assert len(opened) == 1 and parent.closed == 1
    assert context._shared == {}


def test_another_inventory_of_the_cluster_gets_its_own(opened) -> None:
    inv = inventory()
    with shared_context(inv) as parent:
        with shared_context(inv.model_copy(update={"max_parallel": 2})) as phase:
            assert phase is not parent
        assert phase.closed == 1 and parent.closed == 0
    assert parent.closed == 1
    assert context._shared == {}


def test_one_after_another_each_opens_and_closes_its_own(opened) -> None:
    inv = inventory()
    with shared_context(inv) as first:
        pass
    with shared_context(inv) as second:
        pass
    assert first is not second and (first.closed, second.closed) == (1, 1)


def test_a_failure_in_the_body_still_closes_and_forgets_it(opened) -> None:
    inv = inventory()
    with pytest.raises(RuntimeError), shared_context(inv):
        raise RuntimeError("a phase failed")
    assert opened[0].closed == 1 and context._shared == {}
