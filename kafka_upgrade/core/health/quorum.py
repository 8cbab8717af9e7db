"""Rule 8: the KRaft metadata quorum, and when a controller may restart or is caught up.

Controller N may restart when, without N, the voters that are caught up (lag
<= max_lag records and caught up within max_caught_up_age_ms; the leader always
counts) still form a majority of all voters ("would-lose-quorum"). A quorum of
one or two voters can never lose a member and keep a majority: it never blocks,
and a note says so ("quorum-cannot-stay-available"). After its restart a
controller must be a voter again within ``max_lag`` of the leader
(``controller_caught_up``).
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka_upgrade.core.health.verdict import Reason, Verdict
from kafka_upgrade.core.health.wording import capped, counted, id_list


@dataclass(frozen=True)
class VoterState:
    """One replica of the metadata log, as ``kafka-metadata-quorum.sh describe --replication``
    shows it.

    Ages are measured on one clock (see ``kafka_cli.quorum_from``); None = never
    / unknown (the tool prints -1).
    """

    node_id: int
    log_end_offset: int
    lag: int
    last_caught_up_ms_ago: int | None
    last_fetch_ms_ago: int | None = None
    directory_id: str | None = None


@dataclass(frozen=True)
class QuorumStatus:
    """The KRaft metadata quorum: its leader, its voters and (optionally) its observers."""

    leader_id: int | None
    voters: tuple[VoterState, ...]
    high_watermark: int | None = None
    leader_epoch: int | None = None
    observers: tuple[VoterState, ...] = ()
    cluster_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "voters", tuple(self.voters))
        object.__setattr__(self, "observers", tuple(self.observers))
        ids = [v.node_id for v in self.voters]
        if len(ids) != len(set(ids)):
            raise ValueError(f"voter ids must be unique, got {ids}")

    @property
    def voter_ids(self) -> tuple[int, ...]:
        return tuple(sorted(v.node_id for v in self.voters))

    def voter(self, node_id: int) -> VoterState | None:
        return next((v for v in self.voters if v.node_id == node_id), None)

    @property
    def majority(self) -> int:
        return len(self.voters) // 2 + 1


def voter_caught_up(
    quorum: QuorumStatus, voter: VoterState, max_lag: int, max_caught_up_age_ms: int
) -> bool:
    """The leader always is; a follower is when its lag and its last catch-up are recent enough."""
    if voter.node_id == quorum.leader_id:
        return True
    return (
        voter.lag <= max_lag
        and voter.last_caught_up_ms_ago is not None
        and voter.last_caught_up_ms_ago <= max_caught_up_age_ms
    )


def can_restart_controller(
    quorum: QuorumStatus, node_id: int, max_lag: int, max_caught_up_age_ms: int
) -> Verdict:
    """May controller ``node_id`` restart and leave a caught-up majority of the voters?"""
    voters = id_list(quorum.voter_ids)
    if quorum.voter(node_id) is None:
        return Verdict.no(
            Reason(
                "not-a-voter",
                f"controller {node_id} is not a voter of the metadata quorum (voters: {voters}). "
                "Check the node id and the inventory's roles, and controller.quorum.voters.",
                (f"controller {node_id}",),
            )
        )
    if quorum.leader_id is None or quorum.voter(quorum.leader_id) is None:
        return Verdict.no(
            Reason(
                "no-quorum-leader",
                f"the metadata quorum has no leader among its voters ({voters}; leader "
                f"{quorum.leader_id}), so no controller may restart. Check the controllers' "
                "server.log; the quorum elects a leader once a majority of voters are up.",
                ("quorum",),
            )
        )

    needed = quorum.majority
    others = [v for v in quorum.voters if v.node_id != node_id]
    if len(others) < needed:
        return Verdict.yes(
            Reason(
                "quorum-cannot-stay-available",
                f"the metadata quorum has {counted(len(quorum.voters), 'voter')} ({voters}): "
                f"without controller {node_id} it cannot keep a majority whatever the order, "
                "so metadata changes wait while it restarts. Run 3 or 5 controllers to avoid it.",
                (f"controller {node_id}",),
            )
        )

    caught_up = [v for v in others if voter_caught_up(quorum, v, max_lag, max_caught_up_age_ms)]
    if len(caught_up) >= needed:
        return Verdict.yes()
    behind = [v for v in others if v not in caught_up]
    return Verdict.no(
        Reason(
            "would-lose-quorum",
            f"controller {node_id} may not restart: without it only "
            f"{len(caught_up)} of {len(quorum.voters)} voters are caught up and the quorum "
            f"needs {needed}. Behind: "
            + capped([_behind(v, max_lag, max_caught_up_age_ms) for v in behind], sep="; ")
            + ". Wait for "
            + ("it" if len(behind) == 1 else "them")
            + " to catch up (kafka-metadata-quorum.sh describe --replication), or check "
            + ("its" if len(behind) == 1 else "their")
            + " server.log.",
            tuple(f"controller {v.node_id}" for v in behind),
        )
    )


def _behind(v: VoterState, max_lag: int, max_age_ms: int) -> str:
    age = (
        "never caught up"
        if v.last_caught_up_ms_ago is None
        else (f"last caught up {v.last_caught_up_ms_ago} ms ago (max {max_age_ms})")
    )
    return f"voter {v.node_id} lags {v.lag} records (max {max_lag}), {age}"


def controller_caught_up(quorum: QuorumStatus, node_id: int, max_lag: int) -> Verdict:
    """A restarted controller is a voter again and within ``max_lag`` of the leader."""
    for voter in quorum.voters:
        if voter.node_id == node_id:
            if voter.node_id == quorum.leader_id or (
                voter.lag is not None and voter.lag <= max_lag
            ):
                return Verdict(ok=True)
            return Verdict(
                ok=False,
                reasons=(
                    Reason(
                        "controller-lagging",
                        f"controller {node_id} lags the quorum leader by {voter.lag} records "
                        f"(at most {max_lag} allowed); waiting for it to catch up",
                    ),
                ),
            )
    return Verdict(
        ok=False,
        reasons=(Reason("not-a-voter", f"node {node_id} is not among the quorum's voters yet"),),
    )
