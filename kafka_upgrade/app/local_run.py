"""Run ``rolling-upgrade`` here and now against a Prefect server, taking the
approval from the terminal or the UI (whichever answers first)."""

from __future__ import annotations

import contextvars
import getpass
import select
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.flow_engine import run_flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.approval import ApprovalError, decide, run_state
from kafka_upgrade.app.local_server import PrefectServer
from kafka_upgrade.core.records import StepRecord

Say = Callable[[str], None]


@dataclass
class RunOutcome:
    flow_run_id: UUID
    state: str  # COMPLETED, CANCELLED, FAILED, CRASHED
    message: str
    records: list[StepRecord] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return {"COMPLETED": 0, "CANCELLED": 3}.get(self.state, 1)


def _terminal_approval(
    flow_run_id: UUID, server: PrefectServer, stop: threading.Event, say: Say, interactive: bool
) -> None:
    """Watch for pauses; offer a yes/no prompt on a terminal, else wait for the UI/API."""
    announced = False
    while not stop.is_set():
        try:
            state, _ = run_state(flow_run_id)
        except Exception:  # noqa: BLE001 - the server may be busy; look again
            state = None
        if state != StateType.PAUSED:
            announced = False
            time.sleep(0.5)
            continue
        if not announced:
            say(
                f"\nThe upgrade waits for approval: {server.run_url(flow_run_id)}"
                + ("\nApprove here? Type yes or no (or Resume in the UI): " if interactive else "")
            )
            announced = True
        if not interactive:
            time.sleep(0.5)
            continue
        ready, _, _ = select.select([sys.stdin], [], [], 0.5)
        if not ready:
            continue
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("yes", "y", "no", "n"):
            say("answer yes or no: ")
            continue
        try:
            decide(
                flow_run_id,
                approve=answer.startswith("y"),
                approver=getpass.getuser(),
                comment="answered in the terminal",
            )
        except ApprovalError as exc:
            say(f"{exc}")
        announced = False


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin (CI)
        return False


def flush_to_server() -> None:
    """Send the run's last logs and events while the (temporary) server is still up.

    Otherwise Prefect's exit hook keeps retrying them against a stopped server
    and the process never exits.
    """
    from prefect._internal.concurrency.services import _QueueServiceBase

    try:
        _QueueServiceBase.drain_all(timeout=15, at_exit=False)
    except Exception:  # noqa: BLE001 - losing the last log lines must not fail the run
        pass


def run_upgrade(
    server: PrefectServer,
    inventory_path: str,
    to_version: str | None,
    auto_approve: bool,
    say: Say = print,
    interactive: bool | None = None,
    on_created: Callable[[UUID], None] | None = None,
    approval_timeout_s: int | None = None,
    max_parallel: int | None = None,
) -> RunOutcome:
    """Run ``rolling-upgrade`` here and now, with the approval from the terminal or the UI."""
    from flows.upgrade import rolling_upgrade
    from kafka_upgrade.core.requests import UpgradeRequest

    request = UpgradeRequest(
        cluster=inventory_path,
        to_version=to_version,
        auto_approve=auto_approve,
        approval_timeout_s=approval_timeout_s,
        max_parallel=max_parallel,
    )
    return run_locally(
        server, rolling_upgrade, request, say, interactive, on_created, approvals=not auto_approve
    )


def run_rollback(server: PrefectServer, inventory_path: str, say: Say = print) -> RunOutcome:
    """Run ``rollback-binaries`` here and now (no approval: asking for it was the command)."""
    from flows.upgrade import rollback_binaries
    from kafka_upgrade.core.requests import RollbackRequest

    return run_locally(
        server, rollback_binaries, RollbackRequest(cluster=inventory_path), say, approvals=False
    )


def run_migration(
    server: PrefectServer,
    inventory_path: str,
    auto_approve: bool,
    say: Say = print,
    stop_after: str | None = None,
    revert: bool = False,
    interactive: bool | None = None,
    on_created: Callable[[UUID], None] | None = None,
    approval_timeout_s: int | None = None,
) -> RunOutcome:
    """Run ``migrate-to-kraft`` (or ``revert-migration``) here and now, with the approvals
    from the terminal or the UI."""
    from flows.migrate import migrate_to_kraft, revert_migration
    from kafka_upgrade.core.requests import MigrationRequest

    request = MigrationRequest(
        cluster=inventory_path,
        auto_approve=auto_approve,
        stop_after=stop_after,
        approval_timeout_s=approval_timeout_s,
    )
    if revert:
        return run_locally(server, revert_migration, request, say, approvals=False)
    return run_locally(
        server, migrate_to_kraft, request, say, interactive, on_created, approvals=not auto_approve
    )


def run_locally(
    server: PrefectServer,
    flow: Any,
    request: Any,
    say: Say = print,
    interactive: bool | None = None,
    on_created: Callable[[UUID], None] | None = None,
    approvals: bool = True,
) -> RunOutcome:
    """Create a run of ``flow`` with ``request``, run it in this process, watch for approvals."""
    parameters = {"request": request.model_dump(mode="json")}
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        with get_client(sync_client=True) as client:
            flow_run = client.create_flow_run(flow, parameters=parameters)
        say(f"flow run: {server.run_url(flow_run.id)}")
        if on_created is not None:
            on_created(flow_run.id)
        stop = threading.Event()
        watcher = threading.Thread(
            target=contextvars.copy_context().run,
            args=(
                _terminal_approval,
                flow_run.id,
                server,
                stop,
                say,
                _stdin_is_terminal() if interactive is None else interactive,
            ),
            daemon=True,
        )
        if approvals:
            watcher.start()
        try:
            state = run_flow(
                flow, flow_run=flow_run, parameters={"request": request}, return_type="state"
            )
        finally:
            stop.set()
            flush_to_server()
        data = state.result(raise_on_failure=False) if state.type != StateType.FAILED else None
        if isinstance(data, list):  # a phase flow returns its records
            data = {"records": data}
        if not isinstance(data, dict):
            data = {}
        return RunOutcome(
            flow_run_id=flow_run.id,
            state=state.type.value,
            message=state.message or "",
            records=list(data.get("records", [])),
            phase_seconds=dict(data.get("phase_seconds", {})),
        )
