"""The approval between phases: a form that says what approving unleashes.

The run pauses (``pause_flow_run``, the flow process and its cluster hold stay
alive) with a form whose description is the next phase's plan, worked out from
the live cluster: ZooKeeper, the nodes in roll order and the protocol change on
each; KRaft, every feature the finalize raises or holds back, from -> to, and
which cannot be undone. For KRaft the form also lists the features to raise,
so the approver can hold one back. Answered in the UI, through the REST API,
or in the terminal of ``kafka-upgrade run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pydantic
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from flows.finalize import plan_now
from flows.roll import batch_view, plan_roll
from kafka_upgrade.core.phase_plan import PhasePlan, roll_plan
from kafka_upgrade.core.plan import phase2_config
from tasks.context import UpgradeContext, node_label
from tasks.node import read_config


class Approval(RunInput):
    """The form shown in the Prefect UI when the upgrade waits between phases."""

    approve: bool = Field(
        False, description="Switch on to start the next phase; leave off to reject (stop here)."
    )
    approver: str = Field(min_length=1, description="Who decides (your name).")
    comment: str = Field("", description="Why; kept in the run's log and report.")


@dataclass(frozen=True)
class ApprovalOutcome:
    approved: bool
    why: str  # "approved by alice (CHG-123)", "phase-2-protocol rejected by bob (...)"
    approver: str = ""
    comment: str = ""
    at: str = ""  # ISO time the answer came
    features: list[str] | None = None  # KRaft: the features the approver let through


def approval_form(description: str, features: list[str] | None = None) -> type[Approval]:
    """The form class for one pause: the plan as its description, plus (KRaft) the features.

    Built with ``create_model`` rather than Prefect's ``with_initial_data``, which would
    rebuild the fields without their descriptions.
    """
    model: type[Approval] = Approval
    if features is not None:
        model = pydantic.create_model(  # type: ignore[call-overload]
            "Approval",
            __base__=Approval,
            features=(
                list[str],
                Field(
                    default=list(features),
                    description="Features the finalize raises (names from the table above); "
                    "remove one to hold it back, add a held one to raise it too.",
                ),
            ),
        )
    return model.with_initial_data(description=description)


def next_phase_plan(ctx: UpgradeContext, chosen: list[str] | None = None) -> PhasePlan:
    """What approving will unleash: the next phase's plan, observed now."""
    inventory = ctx.inventory
    target = str(inventory.target_version)
    if inventory.mode.pins_protocol:
        configs = {n.id: read_config(ctx, n.id) for n in inventory.nodes}
        racks = {i: props.get("broker.rack") for i, props in configs.items()}
        labels, batches = batch_view(ctx, plan_roll(ctx, racks))
        current = {node_label(ctx.node(i)): props for i, props in configs.items()}
        wanted = {
            label: phase2_config(inventory.mode, target, props) for label, props in current.items()
        }
        return roll_plan(
            "phase-2-protocol", inventory.cluster, labels, target, wanted, current, batches
        )
    return plan_now(ctx, chosen)


def plan_for_approval(
    ctx: UpgradeContext, phase: str, chosen: list[str] | None
) -> tuple[str, PhasePlan | None]:
    """The next phase's plan in markdown (and as a value), observed through the run's open
    context; a plan that cannot be read is said so, plainly."""
    logger = get_run_logger()
    inventory = ctx.inventory
    try:
        plan = next_phase_plan(ctx, chosen)
    except Exception as exc:  # noqa: BLE001 - the approver must still be asked
        logger.warning("could not work out the plan of %s: %s", phase, exc)
        return (
            f"Approve to start **{phase}** on `{inventory.cluster}`.\n\n"
            f"The plan could not be read ({exc}); check the run's log before approving."
        ), None
    for line in plan.lines():
        logger.info("plan: %s", line)
    create_markdown_artifact(key=f"next-phase-{inventory.cluster}", markdown=plan.markdown())
    return plan.markdown(), plan


def ask(
    phase: str,
    auto_approve: bool,
    timeout_s: int,
    description: str | None = None,
    features: list[str] | None = None,
) -> ApprovalOutcome:
    """Pause for the approval of ``phase`` (or give it at once with ``auto_approve``)."""
    logger = get_run_logger()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if auto_approve:
        logger.info("approval for %s: given automatically (auto_approve)", phase)
        return ApprovalOutcome(True, "auto-approved", "auto_approve", "", now, features)
    logger.info("waiting for approval to start %s (Resume in the UI, or the API)", phase)
    try:
        answer = pause_flow_run(
            wait_for_input=approval_form(description or f"Approve to start **{phase}**.", features),
            timeout=timeout_s,
            poll_interval=1,
            key=f"approve-{phase}",
        )
    except FlowPauseTimeout:
        return ApprovalOutcome(False, f"nobody approved {phase} within {timeout_s} s")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    who = answer.approver or "someone"
    note = f" ({answer.comment})" if answer.comment else ""
    chosen = list(getattr(answer, "features", features) or []) if features is not None else None
    if not answer.approve:
        return ApprovalOutcome(False, f"{phase} rejected by {who}{note}", who, answer.comment, at)
    logger.info("%s approved by %s%s", phase, who, note)
    if chosen is not None and chosen != features:
        logger.warning("%s: the approver changed the features to raise: %s", phase, chosen)
    return ApprovalOutcome(True, f"approved by {who}{note}", who, answer.comment, at, chosen)
