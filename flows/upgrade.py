"""The upgrade as Prefect flows: one flow per phase, and ``rolling-upgrade`` around them.

::

    rolling-upgrade
      preflight            path valid, every host reachable and staged, cluster healthy
      phase-1-binaries     roll onto the new binary (ZK: protocol pinned to current)
      approval             a human approves (or rejects) before the next phase
      ZK:    phase-2-protocol            gate: every broker on the new binary; raise, roll
      KRaft: finalize-metadata-version   gate: every node supports it; kafka-features upgrade
      report               per-node table artifact

``rollback-binaries`` undoes phase 1 while the protocol is still pinned.
Each phase flow also runs on its own (from the UI, the API or the CLI).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Cancelled, Completed

from flows.approval import ApprovalOutcome, ask, plan_for_approval
from flows.common import load_for, require, running_versions, total_steps
from flows.finalize import finalize_metadata_version
from flows.preflight import enforce, inspect_cluster
from flows.roll import roll
from flows.scope import Scope, handing, own_scope, phase_scope, with_context
from flows.upgrade_plan import plan_for
from kafka_upgrade.core.errors import BadInput, StepFailed, in_phase
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.kafka_cli import parse_features_describe
from kafka_upgrade.core.plan import (
    all_on_binary,
    finalized_at,
    phase1_config,
    phase2_config,
    protocol_still_pinned,
)
from kafka_upgrade.core.records import StepAction, StepRecord, count
from kafka_upgrade.core.requests import PhaseRequest, RollbackRequest, UpgradeRequest
from tasks.context import UpgradeContext
from tasks.kafka_tools import run_tool
from tasks.node import read_config
from tasks.progress import record_row

__all__ = [
    "finalize_metadata_version",
    "phase_1_binaries",
    "phase_2_protocol",
    "rollback_binaries",
    "rolling_upgrade",
]


# --------------------------------------------------------------------------
# phase flows
# --------------------------------------------------------------------------


def _pins_protocol(inventory: Inventory) -> None:
    if not inventory.mode.pins_protocol:
        raise BadInput("phase-2-protocol is for ZooKeeper mode; KRaft finalizes metadata.version")


def _scope(
    request: PhaseRequest, check: Callable[[Inventory], None] = lambda inventory: None
) -> AbstractContextManager[Scope]:
    """What ``rolling-upgrade`` handed this phase, or the phase's own (started alone)."""
    return phase_scope(
        lambda: (load_for(request.cluster, request.to_version, request.max_parallel), None),
        request.cluster_wait_s,
        request.ticket,
        total_steps,
        check,
    )


@flow(name="phase-1-binaries", log_prints=True)
def phase_1_binaries(request: PhaseRequest) -> list[StepRecord]:
    """Roll every node onto the new binary, the protocol pinned to the current release."""
    with _scope(request) as scope:
        inventory, ctx, progress = scope.inventory, scope.context, scope.progress
        started = time.time()
        records = roll(
            ctx,
            "phase-1-binaries",
            str(inventory.target_version),
            lambda props: phase1_config(inventory.mode, inventory.current_version, props),
            progress,
            request.revert_on_failed_start,
        )
        get_run_logger().info("phase-1-binaries: done in %.1f s", time.time() - started)
        return records


@flow(name="phase-2-protocol", log_prints=True)
def phase_2_protocol(request: PhaseRequest) -> list[StepRecord]:
    """ZooKeeper mode: raise inter.broker.protocol.version to the new release, roll again."""
    with _scope(request, check=_pins_protocol) as scope:
        inventory, ctx, progress = scope.inventory, scope.context, scope.progress
        target = str(inventory.target_version)
        require(
            all_on_binary(running_versions(ctx), target, "raising the protocol"),
            "phase-2-protocol",
        )
        started = time.time()
        records = roll(
            ctx,
            "phase-2-protocol",
            target,
            lambda props: phase2_config(inventory.mode, target, props),
            progress,
            request.revert_on_failed_start,
        )
        get_run_logger().info("phase-2-protocol: done in %.1f s", time.time() - started)
        return records


@flow(name="rollback-binaries", log_prints=True)
def rollback_binaries(request: RollbackRequest) -> list[StepRecord]:
    """Undo phase 1: every node back onto the current (old) binary, while that is still safe."""
    with phase_scope(
        lambda: (load_for(request.cluster, None, request.max_parallel), None),
        request.cluster_wait_s,
        request.ticket,
        lambda inventory: len(inventory.nodes),
    ) as scope:
        inventory, ctx, progress = scope.inventory, scope.context, scope.progress
        old = inventory.current_version
        if inventory.mode.pins_protocol:
            configs = {n.id: read_config(ctx, n.id) for n in inventory.nodes}
            require(protocol_still_pinned(configs, old), "rollback")
        else:
            features = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
            mv = features.get("metadata.version")
            if (
                mv is not None
                and mv.finalized
                and finalized_at(mv, str(inventory.target_version)).ok
            ):
                raise StepFailed(
                    f"rollback refused: metadata.version is already {mv.finalized}; the old "
                    "binary cannot read it"
                )
        records = roll(
            ctx,
            "rollback-binaries",
            old,
            lambda props: phase1_config(inventory.mode, old, props),
            progress,
            request.revert_on_failed_start,
        )
        return records


# --------------------------------------------------------------------------
# the whole upgrade
# --------------------------------------------------------------------------


def _report(
    inventory: Inventory,
    records: list[StepRecord],
    outcome: str,
    approval: ApprovalOutcome | None = None,
    ticket: str | None = None,
    accepted: list[str] | None = None,
) -> None:
    rows = [record_row(r) for r in records]
    key = f"upgrade-{inventory.cluster}"
    create_table_artifact(table=rows, key=key, description=f"{inventory.cluster}: {outcome}")
    lines = [
        f"# Upgrade of `{inventory.cluster}` ({inventory.mode})\n",
        f"{inventory.current_version} -> {inventory.target_version}: **{outcome}**\n",
    ]
    if ticket:
        lines.append(f"Ticket: {ticket}\n")
    if accepted:
        lines.append(
            "Accepted to be unavailable while their brokers restarted: "
            + ", ".join(accepted)
            + "\n"
        )
    if approval is not None:
        lines.append(
            f"Approval: {approval.why}"
            + (f" at {approval.at}" if approval.at else "")
            + (f"; approver {approval.approver}" if approval.approver else "")
            + (f"; comment: {approval.comment}" if approval.comment else "")
            + "\n"
        )
    lines.append(
        f"{count(records, StepAction.RESTARTED)} restarts, "
        f"{count(records, StepAction.SKIPPED)} nodes skipped (already done).\n"
    )
    create_markdown_artifact(key=f"{key}-summary", markdown="\n".join(lines))


@flow(name="rolling-upgrade", log_prints=True)
def rolling_upgrade(request: UpgradeRequest) -> Any:
    """Upgrade the whole cluster: preflight, phase 1, approval, phase 2 or finalize, report."""
    inventory = load_for(request.cluster, request.to_version, request.max_parallel)
    with own_scope(
        inventory, request.cluster_wait_s, request.ticket, total_steps(inventory)
    ) as scope:
        return _upgrade(request, scope)


def _preflight(ctx: UpgradeContext, request: UpgradeRequest) -> list[str]:
    """The plan (the first artifact) and preflight, from one look at the cluster; returns
    the brokers accepted to be unavailable. Refuses (raises) when preflight does."""
    logger = get_run_logger()
    report = inspect_cluster(ctx, request.accept_unavailable or (), strict=False)
    try:
        plan = plan_for(ctx, report)
    except Exception as exc:  # noqa: BLE001 - the plan informs; preflight is the gate
        logger.warning("could not work out the whole plan (%s); preflight decides", exc)
    else:  # the findings themselves are said once, by preflight below
        create_markdown_artifact(key=f"plan-{ctx.inventory.cluster}", markdown=plan.markdown())
        for phase in plan.phases:
            logger.info("plan: %s", phase.lines()[0])
    return list(enforce(ctx, report).accepted_unavailable)


def _approval_form(
    ctx: UpgradeContext, phase: str, chosen: list[str] | None, accepted: list[str]
) -> tuple[str, list[str] | None]:
    """What the approver reads (the next phase's plan, observed now) and, for a finalize,
    the features it offers to raise."""
    description, plan = plan_for_approval(ctx, phase, chosen)
    if accepted:
        description += (
            "\n\n**Accepted to be unavailable while their brokers restart:** " + ", ".join(accepted)
        )
    features = None
    if plan is not None and not ctx.inventory.mode.pins_protocol:
        features = [f.name for f in plan.raised]
    return description, features


def _upgrade(request: UpgradeRequest, scope: Scope) -> Any:
    """The whole upgrade in the run's own scope: the inventory loaded once, handed to each
    phase; preflight's context serves phase 1 and the approval's plan too, and is closed
    before the approval, which may wait for hours (the next phase opens its own)."""
    logger = get_run_logger()
    inventory, progress = scope.inventory, scope.progress
    assert progress is not None  # rolling-upgrade tracks its progress
    target = str(inventory.target_version)
    timeout = int(request.approval_timeout_s or inventory.timeouts.approval_s)
    if request.ticket:
        logger.info("ticket %s: upgrade %s to %s", request.ticket, inventory.cluster, target)
    phase_request = PhaseRequest(
        cluster=request.cluster,
        to_version=target,
        ticket=request.ticket,
        cluster_wait_s=request.cluster_wait_s,
        revert_on_failed_start=request.revert_on_failed_start,
        max_parallel=request.max_parallel,
        finalize_features=request.finalize_features,
    )
    records: list[StepRecord] = []
    phase_seconds: dict[str, float] = {}
    approval: ApprovalOutcome | None = None
    accepted: list[str] = []

    def timed(name: str, fn: Any) -> None:
        started = time.time()
        try:
            records.extend(fn(phase_request))
        except Exception as exc:
            # The report still shows what earlier phases did; the log names the node.
            _report(inventory, records, f"{name} failed: {exc}", approval, request.ticket, accepted)
            raise in_phase(exc, name, inventory.cluster) from exc
        phase_seconds[name] = round(time.time() - started, 1)

    next_phase = inventory.mode.after_phase_1
    description, features = None, None
    with with_context(scope) as first, handing(first):
        first.context.lags().warm()  # phase 1 reads consumer lag from its first node on
        accepted += _preflight(first.context, request)
        timed("phase-1-binaries", phase_1_binaries)
        progress.at(f"waiting for approval of {next_phase}")
        if not request.auto_approve:
            description, features = _approval_form(
                first.context, next_phase, request.finalize_features, accepted
            )
    approval = ask(next_phase, request.auto_approve, timeout, description, features)
    if not approval.approved:
        logger.warning("stopping before %s: %s", next_phase, approval.why)
        _report(
            inventory,
            records,
            f"stopped before {next_phase}: {approval.why}",
            approval,
            request.ticket,
            accepted,
        )
        return Cancelled(
            message=f"stopped before {next_phase}: {approval.why}", data={"records": records}
        )
    if approval.features is not None:
        phase_request = phase_request.model_copy(update={"finalize_features": approval.features})
    with handing(scope):  # no context: the phase opens its own, after the wait
        pins = inventory.mode.pins_protocol
        timed(next_phase, phase_2_protocol if pins else finalize_metadata_version)
    outcome = f"every node on {target}"
    progress.at(f"done: {outcome}")
    _report(inventory, records, outcome, approval, request.ticket, accepted)
    logger.info("upgrade complete: %s; phase times %s", outcome, phase_seconds)
    return Completed(
        message=outcome,
        data={"records": records, "phase_seconds": phase_seconds, "approval": approval.why},
    )
