"""The health verdict: may broker N restart now, and is it back?

Every function here is pure: it looks at values (a ``ClusterSnapshot``, a
``QuorumStatus``) that a task fetched, and returns a value that a task acts on.
Each refusal is a ``Reason`` naming the broker, the rule and what the operator
can do. The rules, in the order they are checked, and where each lives:

- ``verdict``: ``Reason`` and ``Verdict``, the values every rule returns;
- ``snapshot``: ``ClusterSnapshot`` and ``PartitionState``, what a rule looks at;
- ``cluster``: rules 1-4, the cluster is healthy (``cluster_healthy``);
- ``restart``: rule 5, broker N (or a batch) may restart now (``can_restart``,
  ``can_restart_together``);
- ``recovery``: rule 6, a restarted node is back (``node_recovered``,
  ``node_running_version``);
- ``pacing``: rule 7, healthy polls in a row and for long enough (``Stability``),
  and the pause between polls (``poll_pause``);
- ``quorum``: rule 8, the KRaft metadata quorum (``can_restart_controller``,
  ``controller_caught_up``);
- ``lag``: rule 9, consumer lag, informational (``lag_report``);
- ``wording``: how messages name brokers and partitions, capped on large clusters.

Import from here (``from kafka_upgrade.core.health import can_restart``); the
modules are where to read and change a rule.
"""

from kafka_upgrade.core.health.cluster import cluster_healthy
from kafka_upgrade.core.health.lag import LagChange, LagReport, LagSample, lag_by_group, lag_report
from kafka_upgrade.core.health.pacing import (
    SeenStable,
    Stability,
    carried_stability,
    poll_pause,
    stable,
    window_clean,
)
from kafka_upgrade.core.health.quorum import (
    QuorumStatus,
    VoterState,
    can_restart_controller,
    controller_caught_up,
    voter_caught_up,
)
from kafka_upgrade.core.health.recovery import node_recovered, node_running_version
from kafka_upgrade.core.health.restart import can_restart, can_restart_together
from kafka_upgrade.core.health.snapshot import (
    ClusterSnapshot,
    PartitionState,
    SnapshotIncomplete,
    is_out_of_line,
)
from kafka_upgrade.core.health.verdict import Reason, Verdict
from kafka_upgrade.core.health.wording import ID_LIMIT, NAMED_LIMIT

__all__ = [
    "ID_LIMIT",
    "NAMED_LIMIT",
    "ClusterSnapshot",
    "LagChange",
    "LagReport",
    "LagSample",
    "PartitionState",
    "QuorumStatus",
    "Reason",
    "SeenStable",
    "SnapshotIncomplete",
    "Stability",
    "Verdict",
    "VoterState",
    "can_restart",
    "can_restart_controller",
    "can_restart_together",
    "carried_stability",
    "cluster_healthy",
    "controller_caught_up",
    "is_out_of_line",
    "lag_by_group",
    "lag_report",
    "node_recovered",
    "node_running_version",
    "poll_pause",
    "stable",
    "voter_caught_up",
    "window_clean",
]
