"""After a restart: a controller-only node's version, and a controller catching up."""

from __future__ import annotations

from kafka_upgrade.core.health import (
    QuorumStatus,
    VoterState,
    controller_caught_up,
    node_running_version,
)


def quorum(leader: int, lags: dict[int, int]) -> QuorumStatus:
    return QuorumStatus(
        leader_id=leader,
        voters=tuple(VoterState(n, 100 - lag, lag, 0) for n, lag in lags.items()),
    )


def test_controller_version() -> None:
    assert node_running_version(1, "4.1.1", "4.1.1").ok
    assert node_running_version(1, "3.9.1", "4.1.1").rules == ("wrong-version",)
    assert "not running" in str(node_running_version(1, None, "4.1.1"))


def test_controller_caught_up() -> None:
    assert controller_caught_up(quorum(1, {1: 0, 2: 5, 3: 0}), 2, 1000).ok
    lagging = controller_caught_up(quorum(1, {1: 0, 2: 5000, 3: 0}), 2, 1000)
    assert lagging.rules == ("controller-lagging",)
    assert "5000 records" in str(lagging)
    assert controller_caught_up(quorum(1, {1: 0, 3: 0}), 2, 1000).rules == ("not-a-voter",)
    assert controller_caught_up(quorum(2, {1: 0, 2: 99999, 3: 0}), 2, 10).ok  # the leader
