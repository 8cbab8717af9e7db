"""Preflight: refuse before anything is touched, or (report only) say what would be refused.

In order (the rules are pure, in ``kafka_upgrade.core.preflight_checks``; the facts
come from ``tasks.facts`` and ``tasks.node``):

1. The upgrade path, with the finalized metadata.version (KRaft).
2. Every node: the target staged, the protocol pins sane, running (or left
   stopped by this very upgrade, which the roll then starts first) on the
   current or the target version, no config in server.properties that the
   target removed, every action the roll takes allowed (sudo, write access:
   ``core/access_checks.py``), the Java the target needs.
3. Crossing into 4.x: no client on any 3.7+ broker still sending request
   versions 4.0 removed (KIP-896), read over JMX.
4. No topic that a single restart makes unavailable, unless the operator
   accepted it by name (``accept_unavailable``).
5. The cluster healthy (waited for; in report-only mode looked at once).

A refusal is one ``BadInput`` listing every blocking finding; warnings are
logged. Report-only mode (the plan) returns the same findings without raising
or waiting, and runs outside a flow too (the task functions are then called
directly, as ``flows.upgrade_plan`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from prefect import get_run_logger
from prefect.context import FlowRunContext

from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable
from kafka_upgrade.core.errors import BadInput, StepFailed
from kafka_upgrade.core.health import cluster_healthy
from kafka_upgrade.core.kafka_cli import parse_features_describe
from kafka_upgrade.core.preflight_checks import (
    Finding,
    JavaFact,
    PreflightReport,
    Severity,
    blocking,
    inspect_node,
    java_findings,
    node_subject,
    old_client_findings,
    old_client_plan,
    old_clients_apply,
    path_findings,
    reason_findings,
    unavailable_topic_findings,
)
from kafka_upgrade.core.roll_plan import NodeObservation
from kafka_upgrade.core.upgrade_path import check_upgrade_path
from tasks.context import UpgradeContext, each_node, node_label
from tasks.facts import cluster_snapshot, deprecated_requests, java_version, node_access
from tasks.kafka_tools import run_tool
from tasks.node import observe_node
from tasks.sensors import wait_cluster_healthy

_LOG = logging.getLogger("kafka_upgrade.preflight")


def preflight(
    ctx: UpgradeContext,
    accept_unavailable: Collection[str] = (),
    *,
    report_only: bool = False,
) -> PreflightReport:
    """Check everything before the first node is touched; returns the report.

    ``accept_unavailable`` adds to the inventory's list of topics the operator
    accepts to be unavailable during restarts. Unless ``report_only``, a
    blocking finding raises ``BadInput`` (one message, every finding) and the
    cluster is waited for until healthy (``enforce``).
    """
    result = inspect_cluster(ctx, accept_unavailable, strict=not report_only)
    return result if report_only else enforce(ctx, result)


def inspect_cluster(
    ctx: UpgradeContext,
    accept_unavailable: Collection[str] = (),
    *,
    strict: bool = True,
) -> PreflightReport:
    """Every check, reported and never acted on. ``strict`` stops at the first thing that
    makes the rest pointless (the path refused, the features unreadable); otherwise those
    are findings too, and the report is whole (what the plan shows)."""
    in_flow = FlowRunContext.get() is not None
    logger: Any = get_run_logger() if in_flow else _LOG
    inv = ctx.inventory
    target = str(inv.target_version)
    accepted = sorted({*inv.accept_unavailable, *accept_unavailable})
    findings: list[Finding] = []

    left_down: list[str] = []

    # 1. The path (metadata.version among its rules).
    metadata_version = None
    if inv.mode.controller_role:
        try:
            features = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
        except StepFailed as exc:
            if strict:
                raise
            findings.append(
                blocking(
                    "metadata-version-unread", "cluster", f"{exc}; the path check ran without it."
                )
            )
        else:
            mv = features.get("metadata.version")
            metadata_version = mv.finalized if mv is not None else None
            logger.info("preflight: metadata.version is finalized at %s", metadata_version)
    path = check_upgrade_path(
        inv.current_version, target, inv.mode, metadata_version=metadata_version
    )
    findings += path_findings(path)
    if not path.ok and strict:
        # Nothing else is worth an SSH round trip: the upgrade cannot run as asked.
        raise BadInput(f"upgrade {inv.current_version} -> {target} refused: {path}")
    if any(r.rule == "invalid-version" for r in path.reasons):
        return _report(ctx, target, findings)

    # 2. Every node.
    running: dict[int, NodeObservation] = {}
    for node in inv.nodes:
        label = node_label(node)
        obs = _call(in_flow, observe_node, ctx, node.id, label, target)  # one SSH round trip
        seen = inspect_node(node, obs, inv.current_version, target)
        findings += seen.findings
        if seen.left_down:
            left_down.append(label)
        elif seen.running:
            running[node.id] = obs
    findings += _access_findings(ctx, in_flow)
    findings += _java_findings(ctx, target, in_flow)

    # 3. Old clients, on every 3.x broker from 3.7 that runs now.
    if old_clients_apply(inv.current_version, target):
        findings += _old_client_findings(ctx, target, running, in_flow)

    # 4. Topics a restart makes unavailable.
    topic_findings, accepted_at_risk = _topic_findings(ctx, accepted, strict, in_flow)
    findings += topic_findings
    return _report(ctx, target, findings, accepted_at_risk, left_down)


def _report(
    ctx: UpgradeContext,
    target: str,
    findings: Sequence[Finding],
    accepted_at_risk: Sequence[str] = (),
    left_down: Sequence[str] = (),
) -> PreflightReport:
    inv = ctx.inventory
    return PreflightReport(
        inv.cluster,
        inv.current_version,
        target,
        tuple(findings),
        tuple(accepted_at_risk),
        tuple(left_down),
    )


def _access_findings(ctx: UpgradeContext, in_flow: bool) -> list[Finding]:
    """Every action the roll takes is allowed on every node (sudo, write access)."""
    nodes = ctx.inventory.nodes
    said: list[list[str]] = each_node(
        in_flow, node_access, ctx, [(n.id, node_label(n)) for n in nodes]
    )
    return [
        blocking("access", node_subject(node), sentence)
        for node, sentences in zip(nodes, said, strict=True)
        for sentence in sentences
    ]


def _java_findings(ctx: UpgradeContext, target: str, in_flow: bool) -> list[Finding]:
    """The Java every node would start the target with."""
    nodes = ctx.inventory.nodes
    java: list[JavaFact] = each_node(
        in_flow, java_version, ctx, [(n.id, node_label(n)) for n in nodes]
    )
    findings: list[Finding] = []
    for node, fact in zip(nodes, java, strict=True):
        findings += java_findings(node_subject(node), fact, target)
    return findings


def _old_client_findings(
    ctx: UpgradeContext, target: str, running: Mapping[int, NodeObservation], in_flow: bool
) -> list[Finding]:
    """Clients the target's brokers would reject, read on the brokers that count them."""
    binaries = {node_id: obs.binary for node_id, obs in running.items()}
    probes, to_read = old_client_plan(ctx.inventory.nodes, binaries)
    probes += each_node(in_flow, deprecated_requests, ctx, [(n.id, node_label(n)) for n in to_read])
    return old_client_findings(probes, target)


def _topic_findings(
    ctx: UpgradeContext, accepted: Collection[str], strict: bool, in_flow: bool
) -> tuple[list[Finding], tuple[str, ...]]:
    """Topics a single restart makes unavailable, and the accepted ones really at risk; when
    not ``strict``, also what the run would wait for before the first restart."""
    try:
        snapshot = _call(in_flow, cluster_snapshot, ctx)
    except KafkaUnavailable as exc:
        unreadable = blocking(
            "cluster-unreadable",
            "cluster",
            f"the topics could not be read ({exc}); check bootstrap_servers and the kafka "
            "section of the inventory",
        )
        return [unreadable], ()
    findings, accepted_at_risk = unavailable_topic_findings(
        snapshot, ctx.inventory.current_version, accepted
    )
    if not strict:
        # The run would wait for these before the first restart.
        findings += reason_findings(
            cluster_healthy(snapshot, ctx.expected_brokers()).reasons,
            "cluster",
            Severity.WARNING,
        )
    return findings, accepted_at_risk


def enforce(ctx: UpgradeContext, result: PreflightReport) -> PreflightReport:
    """Act on a report: refuse with every blocking finding in one message, say the
    warnings, and wait until the cluster is healthy (unless a node left down by an
    earlier run must be started first: the roll does that, then waits)."""
    logger: Any = get_run_logger() if FlowRunContext.get() is not None else _LOG
    if not result.ok:
        raise BadInput(result.refusal())
    # Accepted topics are among the warnings ("accepted in accept_unavailable, ...").
    for finding in result.warnings:
        logger.warning("preflight: %s", finding)
    if result.left_down:
        return result
    wait_cluster_healthy(ctx, "preflight")
    logger.info(
        "preflight: %s -> %s path valid, %d hosts reachable and staged, cluster healthy",
        result.current,
        result.target,
        len(ctx.inventory.nodes),
    )
    return result


def _call(in_flow: bool, task: Any, *args: Any) -> Any:
    """A task as a task run inside a flow; its plain function outside one (no server)."""
    return task(*args) if in_flow else task.fn(*args)


__all__ = ["enforce", "inspect_cluster", "preflight"]
