"""Approving or rejecting a paused upgrade from outside the UI: a terminal, a
ticketing system, a test. The same call the UI's Resume form makes."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from kafka_upgrade.core.errors import ToolFailed


class ApprovalError(ToolFailed):
    """The run could not be approved or rejected (not paused, or not found)."""


def run_state(flow_run_id: UUID) -> tuple[StateType | None, str | None]:
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    if run.state is None:
        return None, None
    return run.state.type, run.state.name


def wait_until_paused(flow_run_id: UUID, timeout: float, poll: float = 0.5) -> None:
    """Block until the run pauses for approval; fail if it ends or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state, name = run_state(flow_run_id)
        if state == StateType.PAUSED:
            return
        if state in (StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED):
            raise ApprovalError(f"flow run {flow_run_id} ended ({name}) before asking for approval")
        time.sleep(poll)
    raise ApprovalError(f"flow run {flow_run_id} did not pause for approval within {timeout:.0f} s")


def decide(flow_run_id: UUID, approve: bool, approver: str, comment: str = "") -> None:
    """Resume the paused run with the approval form's values."""
    run_input: dict[str, Any] = {"approve": approve, "approver": approver, "comment": comment}
    try:
        resume_flow_run(flow_run_id, run_input=run_input)
    except Exception as exc:  # noqa: BLE001 - Prefect raises several kinds; all mean "not now"
        raise ApprovalError(f"could not resume flow run {flow_run_id}: {exc}") from None
