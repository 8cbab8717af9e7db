"""Rule 6: is a restarted node back?

A broker is back when it is registered ("node-not-registered"), reports the
target version ("wrong-version" / "version-unknown"), is back in the ISR of every
partition it replicates ("not-in-isr"), and rules 1-4 (``cluster``) hold for the
rest of the cluster. A controller-only node is back when it runs the target
version (``node_running_version``; its quorum catch-up is in ``quorum``).
"""

from __future__ import annotations

from collections.abc import Collection

from kafka_upgrade.core.health.cluster import cluster_healthy
from kafka_upgrade.core.health.snapshot import ClusterSnapshot
from kafka_upgrade.core.health.verdict import Reason, Verdict
from kafka_upgrade.core.health.wording import capped, counted


def node_recovered(
    snapshot: ClusterSnapshot,
    node_id: int,
    reported_version: str | None,
    target_version: str,
    expected_brokers: Collection[int],
) -> Verdict:
    """Is broker ``node_id`` back: registered, on the target version, in every ISR, cluster healthy?

    Problems that are only about this node (it is missing; it is the one replica
    out of sync) are reported once, under this node's rules, not again as
    cluster-wide "broker-missing" / "under-replicated".
    """
    reasons: list[Reason] = []
    if node_id not in snapshot.brokers:
        reasons.append(
            Reason(
                "node-not-registered",
                f"broker {node_id} has not registered with the cluster yet. If it does not "
                "within the start timeout, read its server.log.",
                (f"broker {node_id}",),
            )
        )
    if reported_version is None:
        reasons.append(
            Reason(
                "version-unknown",
                f"broker {node_id} did not report which version it runs (target "
                f"{target_version}). Check that its process is up and the probe can read it.",
                (f"broker {node_id}",),
            )
        )
    elif reported_version.strip() != target_version.strip():
        reasons.append(
            Reason(
                "wrong-version",
                f"broker {node_id} runs {reported_version}, target {target_version}. Check "
                "that its 'current' link points to the new installation and that the service "
                "starts from that link.",
                (f"broker {node_id}",),
            )
        )
    behind = [p.name for p in snapshot.out_of_line_of(node_id) if node_id not in p.isr]
    if behind:
        reasons.append(
            Reason(
                "not-in-isr",
                f"broker {node_id} is not yet back in the ISR of "
                f"{counted(len(behind), 'partition')}: {capped(behind)}. It is "
                "catching up on what it missed; wait (large or busy partitions take longer).",
                tuple(behind),
            )
        )
    health = cluster_healthy(snapshot, expected_brokers, except_node=node_id)
    return Verdict.of([*reasons, *health.reasons], health.notes)


def node_running_version(node_id: int, reported: str | None, version: str) -> Verdict:
    """A controller-only node runs ``version`` (brokers are judged by ``node_recovered``)."""
    if reported == version:
        return Verdict(ok=True)
    what = "is not running" if reported is None else f"runs {reported}"
    return Verdict(
        ok=False,
        reasons=(Reason("wrong-version", f"node {node_id} {what}; expected {version}"),),
    )
