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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Cancelled, Completed
from pydantic import Field

from flows.cluster_lock import hold_cluster
from flows.roll import plan_order, roll
from kafka_upgrade.errors import BadInput, StepFailed
from kafka_upgrade.health import Verdict
from kafka_upgrade.inventory import Inventory, InventoryError, load_inventory
from kafka_upgrade.kafka_cli import parse_features_describe
from kafka_upgrade.node_commands import staged_command
from kafka_upgrade.phase_plan import PhasePlan, finalize_plan, parse_version_mapping, roll_plan
from kafka_upgrade.plan import (
    all_on_binary,
    can_finalize,
    finalize_args,
    finalized_at,
    phase1_config,
    phase2_config,
    pin_conflicts,
    protocol_still_pinned,
)
from kafka_upgrade.requests import (
    ClusterNotFound,
    PhaseRequest,
    RollbackRequest,
    UpgradeRequest,
    resolve_cluster,
)
from kafka_upgrade.upgrade_path import check_upgrade_path, release_of
from tasks.context import StepRecord, UpgradeContext, node_label
from tasks.kafka_tools import run_tool
from tasks.node import probe_node, read_config
from tasks.progress import Progress, record_row, tracking
from tasks.sensors import wait_cluster_healthy


class Approval(RunInput):
    """The form shown in the Prefect UI when the upgrade waits between phases."""

    approve: bool = Field(description="Tick to start the next phase; leave unticked to reject.")
    approver: str = Field(description="Who decides (name or ticket id).")
    comment: str = Field("", description="Why; kept in the run's log and report.")


def _load(cluster: str, to_version: str | None) -> Inventory:
    """The inventory a request names, with the target filled in; BadInput when unusable."""
    try:
        inventory = load_inventory(resolve_cluster(cluster))
    except (InventoryError, ClusterNotFound) as exc:
        raise BadInput(str(exc)) from None
    target = to_version or inventory.target_version
    if not target:
        raise BadInput("no target version: pass to_version or set target_version in the inventory")
    return inventory.model_copy(update={"target_version": target})


def _run_tag() -> str:
    ctx = get_run_context()
    run_id = getattr(getattr(ctx, "flow_run", None), "id", None)
    return f"kafka-upgrade-{str(run_id or uuid.uuid4())[:8]}"


def _require(verdict: Verdict, what: str) -> None:
    if not verdict.ok:
        raise StepFailed(f"{what} refused: {verdict}")


def _records(records: list[StepRecord]) -> list[dict[str, Any]]:
    return [r.__dict__.copy() for r in records]


# --------------------------------------------------------------------------
# preflight
# --------------------------------------------------------------------------


def preflight(ctx: UpgradeContext) -> None:
    """Refuse before anything is touched: bad path, unreachable or unstaged host, sick cluster."""
    logger = get_run_logger()
    inv = ctx.inventory
    target = str(inv.target_version)
    metadata_version = None
    if inv.mode == "kraft":
        features = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
        mv = features.get("metadata.version")
        metadata_version = mv.finalized if mv is not None else None
        logger.info("preflight: metadata.version is finalized at %s", metadata_version)
    path = check_upgrade_path(
        inv.current_version, target, inv.mode, metadata_version=metadata_version
    )
    if not path.ok:
        raise BadInput(f"upgrade {inv.current_version} -> {target} refused: {path}")
    for note in path.notes:
        logger.info("preflight: %s", note)
    problems: list[str] = []
    for node in inv.nodes:
        staged = ctx.remote.run(node, staged_command(node, target), timeout=30)
        if staged.stdout.strip() != "staged":
            problems.append(
                f"node {node.id} ({node.host}): {node.version_dir(target)} is not installed; "
                f"stage Kafka {target} there first"
            )
        props = read_config(ctx, node.id)
        conflict = pin_conflicts(node.id, inv.current_version, target, props)
        problems.extend(r.message for r in conflict.reasons)
        state = probe_node(ctx, node.id)
        version = state.process.version if state.process else None
        if version is None:
            problems.append(
                f"node {node.id} ({node.host}) has no running Kafka process; start it (its "
                f"'current' link points to {state.link_version or 'nothing readable'}) and re-run"
            )
        elif version not in (inv.current_version, target):
            problems.append(
                f"node {node.id} runs {version}, neither the inventory's current "
                f"version {inv.current_version} nor the target {target}"
            )
    if problems:
        raise BadInput("preflight refused; nothing was touched:\n  - " + "\n  - ".join(problems))
    wait_cluster_healthy(ctx, "preflight")
    logger.info(
        "preflight: %s -> %s path valid, %d hosts reachable and staged, cluster healthy",
        inv.current_version,
        target,
        len(inv.nodes),
    )


# --------------------------------------------------------------------------
# phase flows
# --------------------------------------------------------------------------


def _steps(inventory: Inventory) -> int:
    """Node steps of the whole upgrade, for the progress bar."""
    n = len(inventory.nodes)
    return 2 * n if inventory.mode == "zk" else n + 1


@flow(name="phase-1-binaries", log_prints=True)
def phase_1_binaries(request: PhaseRequest) -> list[dict[str, Any]]:
    """Roll every node onto the new binary, the protocol pinned to the current release."""
    inventory = _load(request.cluster, request.to_version)
    with (
        hold_cluster(inventory.cluster, request.cluster_wait_s, request.ticket),
        tracking(inventory.cluster, _steps(inventory)) as progress,
    ):
        ctx = UpgradeContext.open(inventory)
        try:
            started = time.time()
            records = roll(
                ctx,
                "phase-1-binaries",
                str(inventory.target_version),
                lambda props: phase1_config(inventory.mode, inventory.current_version, props),
                _run_tag(),
                progress,
            )
            get_run_logger().info("phase-1-binaries: done in %.1f s", time.time() - started)
            return _records(records)
        finally:
            ctx.close()


def _running_versions(ctx: UpgradeContext) -> dict[int, str | None]:
    versions = {}
    for node in ctx.inventory.nodes:
        state = probe_node(ctx, node.id)
        versions[node.id] = state.process.version if state.process else None
    return versions


@flow(name="phase-2-protocol", log_prints=True)
def phase_2_protocol(request: PhaseRequest) -> list[dict[str, Any]]:
    """ZooKeeper mode: raise inter.broker.protocol.version to the new release, roll again."""
    inventory = _load(request.cluster, request.to_version)
    if inventory.mode != "zk":
        raise BadInput("phase-2-protocol is for ZooKeeper mode; KRaft finalizes metadata.version")
    target = str(inventory.target_version)
    with (
        hold_cluster(inventory.cluster, request.cluster_wait_s, request.ticket),
        tracking(inventory.cluster, _steps(inventory)) as progress,
    ):
        ctx = UpgradeContext.open(inventory)
        try:
            _require(
                all_on_binary(_running_versions(ctx), target, "raising the protocol"),
                "phase-2-protocol",
            )
            started = time.time()
            records = roll(
                ctx,
                "phase-2-protocol",
                target,
                lambda props: phase2_config(inventory.mode, target, props),
                _run_tag(),
                progress,
            )
            get_run_logger().info("phase-2-protocol: done in %.1f s", time.time() - started)
            return _records(records)
        finally:
            ctx.close()


def _features_on(ctx: UpgradeContext, node_id: int) -> str:
    node = ctx.node(node_id)
    # Ask each node about itself: a broker through its client listener, a
    # controller-only node through the controller listener.
    if node.is_broker:
        return run_tool(
            ctx, "kafka-features.sh", ["describe"], on=node, bootstrap=_endpoint(ctx, node)
        )
    controller = f"{node.host}:{node.controller_port}"
    return run_tool(
        ctx,
        "kafka-features.sh",
        ["describe"],
        on=node,
        bootstrap=controller,
        bootstrap_flag="--bootstrap-controller",
    )


def _endpoint(ctx: UpgradeContext, node: Any) -> str:
    for server in ctx.inventory.bootstrap_servers.split(","):
        if server.strip().startswith(f"{node.host}:"):
            return server.strip()
    return ctx.inventory.bootstrap_servers


@flow(name="finalize-metadata-version", log_prints=True)
def finalize_metadata_version(request: PhaseRequest) -> list[dict[str, Any]]:
    """KRaft: finalize metadata.version at the new release once every node supports it."""
    inventory = _load(request.cluster, request.to_version)
    if inventory.mode != "kraft":
        raise BadInput("finalize-metadata-version is for KRaft mode; ZooKeeper uses phase 2")
    with (
        hold_cluster(inventory.cluster, request.cluster_wait_s, request.ticket),
        tracking(inventory.cluster, _steps(inventory)) as progress,
    ):
        progress.at("finalize-metadata-version")
        ctx = UpgradeContext.open(inventory)
        try:
            record = _finalize(ctx)
            progress.finished(record)
            return _records([record])
        finally:
            ctx.close()


def _finalize(ctx: UpgradeContext) -> StepRecord:
    logger = get_run_logger()
    inventory = ctx.inventory
    target = str(inventory.target_version)
    started = time.time()
    _require(all_on_binary(_running_versions(ctx), target, "the finalize"), "finalize")
    supported = {}
    for node in inventory.nodes:
        features = parse_features_describe(_features_on(ctx, node.id))
        supported[node.id] = features.get("metadata.version")
    current = next((f for f in supported.values() if f is not None), None)
    if finalized_at(current, target).ok:
        logger.info("metadata.version is already %s; nothing to finalize", current.finalized)  # type: ignore[union-attr]
        return ctx.record(
            StepRecord("finalize-metadata-version", None, "skipped", "already finalized", started)
        )
    _require(can_finalize(supported, target), "finalize")
    wait_cluster_healthy(ctx, "before-finalize")
    out = run_tool(ctx, "kafka-features.sh", finalize_args(target))
    for line in out.splitlines():
        logger.info("  | %s", line)
    after = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
    _require(finalized_at(after.get("metadata.version"), target), "finalize check")
    level = after["metadata.version"].finalized
    logger.info("metadata.version finalized at %s", level)
    return ctx.record(
        StepRecord(
            "finalize-metadata-version",
            None,
            "finalized",
            f"metadata.version {current.finalized if current else '?'} -> {level}",
            started,
        )
    )


@flow(name="rollback-binaries", log_prints=True)
def rollback_binaries(request: RollbackRequest) -> list[dict[str, Any]]:
    """Undo phase 1: every node back onto the current (old) binary, while that is still safe."""
    inventory = _load(request.cluster, None)
    old = inventory.current_version
    with (
        hold_cluster(inventory.cluster, request.cluster_wait_s, request.ticket),
        tracking(inventory.cluster, len(inventory.nodes)) as progress,
    ):
        ctx = UpgradeContext.open(inventory)
        try:
            if inventory.mode == "zk":
                configs = {n.id: read_config(ctx, n.id) for n in inventory.nodes}
                _require(protocol_still_pinned(configs, old), "rollback")
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
                _run_tag(),
                progress,
            )
            return _records(records)
        finally:
            ctx.close()


# --------------------------------------------------------------------------
# the approval between phases
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalOutcome:
    approved: bool
    why: str  # "approved by alice (CHG-123)", "phase-2-protocol rejected by bob (...)"
    approver: str = ""
    comment: str = ""
    at: str = ""  # ISO time the answer came


def next_phase_plan(ctx: UpgradeContext) -> PhasePlan:
    """What approving will unleash: the next phase's plan, observed now."""
    inventory = ctx.inventory
    target = str(inventory.target_version)
    if inventory.mode == "zk":
        order = plan_order(ctx)
        labels = [node_label(ctx.node(i)) for i in order]
        current = {node_label(ctx.node(i)): read_config(ctx, i) for i in order}
        wanted = {label: phase2_config("zk", target, props) for label, props in current.items()}
        return roll_plan("phase-2-protocol", inventory.cluster, labels, target, wanted, current)
    release = release_of(target)
    describe = parse_features_describe(run_tool(ctx, "kafka-features.sh", ["describe"]))
    if tuple(int(x) for x in release.split(".")) >= (4, 0):
        mapping = parse_version_mapping(
            run_tool(ctx, "kafka-features.sh", ["version-mapping", "--release-version", release])
        )
    else:  # 3.x: `upgrade --metadata` raises metadata.version alone
        mapping = {"metadata.version": (-1, release)}
    return finalize_plan(inventory.cluster, release, describe, mapping)


def _plan_text(inventory: Inventory, phase: str) -> str:
    """The next phase's plan in markdown; a plan that cannot be read is said so, plainly."""
    logger = get_run_logger()
    ctx = UpgradeContext.open(inventory)
    try:
        plan = next_phase_plan(ctx)
    except Exception as exc:  # noqa: BLE001 - the approver must still be asked
        logger.warning("could not work out the plan of %s: %s", phase, exc)
        return (
            f"Approve to start **{phase}** on `{inventory.cluster}`.\n\n"
            f"The plan could not be read ({exc}); check the run's log before approving."
        )
    finally:
        ctx.close()
    for line in plan.lines():
        logger.info("plan: %s", line)
    create_markdown_artifact(key=f"plan-{inventory.cluster}", markdown=plan.markdown())
    return plan.markdown()


def _approval(
    phase: str, auto_approve: bool, timeout_s: int, description: str | None = None
) -> ApprovalOutcome:
    logger = get_run_logger()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if auto_approve:
        logger.info("approval for %s: given automatically (auto_approve)", phase)
        return ApprovalOutcome(True, "auto-approved", "auto_approve", "", now)
    logger.info("waiting for approval to start %s (Resume in the UI, or the API)", phase)
    try:
        answer = pause_flow_run(
            wait_for_input=Approval.with_initial_data(
                description=description or f"Approve to start **{phase}**.",
                approve=False,
                approver="",
            ),
            timeout=timeout_s,
            poll_interval=1,
            key=f"approve-{phase}",
        )
    except FlowPauseTimeout:
        return ApprovalOutcome(False, f"nobody approved {phase} within {timeout_s} s")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    who = answer.approver or "someone"
    note = f" ({answer.comment})" if answer.comment else ""
    if not answer.approve:
        return ApprovalOutcome(False, f"{phase} rejected by {who}{note}", who, answer.comment, at)
    logger.info("%s approved by %s%s", phase, who, note)
    return ApprovalOutcome(True, f"approved by {who}{note}", who, answer.comment, at)


# --------------------------------------------------------------------------
# the whole upgrade
# --------------------------------------------------------------------------


def _report(
    inventory: Inventory,
    records: list[dict[str, Any]],
    outcome: str,
    approval: ApprovalOutcome | None = None,
    ticket: str | None = None,
) -> None:
    rows = [record_row(StepRecord(**r)) for r in records]
    key = f"upgrade-{inventory.cluster}"
    create_table_artifact(table=rows, key=key, description=f"{inventory.cluster}: {outcome}")
    lines = [
        f"# Upgrade of `{inventory.cluster}` ({inventory.mode})\n",
        f"{inventory.current_version} -> {inventory.target_version}: **{outcome}**\n",
    ]
    if ticket:
        lines.append(f"Ticket: {ticket}\n")
    if approval is not None:
        lines.append(
            f"Approval: {approval.why}"
            + (f" at {approval.at}" if approval.at else "")
            + (f"; approver {approval.approver}" if approval.approver else "")
            + (f"; comment: {approval.comment}" if approval.comment else "")
            + "\n"
        )
    lines.append(
        f"{sum(1 for r in rows if r['action'] == 'restarted')} restarts, "
        f"{sum(1 for r in rows if r['action'] == 'skipped')} nodes skipped (already done).\n"
    )
    create_markdown_artifact(key=f"{key}-summary", markdown="\n".join(lines))


@flow(name="rolling-upgrade", log_prints=True)
def rolling_upgrade(request: UpgradeRequest) -> Any:
    """Upgrade the whole cluster: preflight, phase 1, approval, phase 2 or finalize, report."""
    inventory = _load(request.cluster, request.to_version)
    with (
        hold_cluster(inventory.cluster, request.cluster_wait_s, request.ticket),
        tracking(inventory.cluster, _steps(inventory)) as progress,
    ):
        return _upgrade(request, inventory, progress)


def _upgrade(request: UpgradeRequest, inventory: Inventory, progress: Progress) -> Any:
    logger = get_run_logger()
    target = str(inventory.target_version)
    timeout = int(request.approval_timeout_s or inventory.timeouts.approval_s)
    if request.ticket:
        logger.info("ticket %s: upgrade %s to %s", request.ticket, inventory.cluster, target)
    ctx = UpgradeContext.open(inventory)
    try:
        preflight(ctx)
    finally:
        ctx.close()
    phase_request = PhaseRequest(
        cluster=request.cluster,
        to_version=target,
        ticket=request.ticket,
        cluster_wait_s=request.cluster_wait_s,
    )
    records: list[dict[str, Any]] = []
    phase_seconds: dict[str, float] = {}
    approval: ApprovalOutcome | None = None

    def timed(name: str, fn: Any) -> None:
        started = time.time()
        try:
            records.extend(fn(phase_request))
        except Exception as exc:
            # The report still shows what earlier phases did; the log names the node.
            _report(inventory, records, f"{name} failed: {exc}", approval, request.ticket)
            raise StepFailed(f"{name} failed on {inventory.cluster}: {exc}") from exc
        phase_seconds[name] = round(time.time() - started, 1)

    timed("phase-1-binaries", phase_1_binaries)
    next_phase = "phase-2-protocol" if inventory.mode == "zk" else "finalize-metadata-version"
    progress.at(f"waiting for approval of {next_phase}")
    description = None if request.auto_approve else _plan_text(inventory, next_phase)
    approval = _approval(next_phase, request.auto_approve, timeout, description)
    if not approval.approved:
        logger.warning("stopping before %s: %s", next_phase, approval.why)
        _report(
            inventory,
            records,
            f"stopped before {next_phase}: {approval.why}",
            approval,
            request.ticket,
        )
        return Cancelled(
            message=f"stopped before {next_phase}: {approval.why}", data={"records": records}
        )
    if inventory.mode == "zk":
        timed(next_phase, phase_2_protocol)
    else:
        timed(next_phase, finalize_metadata_version)
    outcome = f"every node on {target}"
    progress.at(f"done: {outcome}")
    _report(inventory, records, outcome, approval, request.ticket)
    logger.info("upgrade complete: %s; phase times %s", outcome, phase_seconds)
    return Completed(
        message=outcome,
        data={"records": records, "phase_seconds": phase_seconds, "approval": approval.why},
    )
