"""The approval pause on a real Prefect server: approve, reject, time out.

The same ``ask`` step ``rolling-upgrade`` uses, inside a tiny flow, so
these run in seconds without Kafka.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator

import pytest
from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.approval import ApprovalError, decide, wait_until_paused
from flows.approval import ask
from kafka_upgrade.app.local_run import flush_to_server
from kafka_upgrade.app.local_server import PrefectServer, temporary_server

pytestmark = pytest.mark.integration


@flow(name="approval-probe")
def approval_probe(timeout_s: int) -> dict:
    started = time.time()
    outcome = ask("phase-x", False, timeout_s)
    return {
        "approved": outcome.approved,
        "why": outcome.why,
        "approver": outcome.approver,
        "resumed_at": time.time(),
        "started": started,
    }


@pytest.fixture(scope="module")
def server() -> Iterator[PrefectServer]:
    with temporary_server() as s:
        yield s


def _run_with_answer(server: PrefectServer, answer: dict | None, timeout_s: int = 120) -> dict:
    """Run the probe; a second thread answers through the API once it pauses."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    seen: dict = {}
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        with get_client(sync_client=True) as client:
            run = client.create_flow_run(approval_probe, parameters={"timeout_s": timeout_s})

        def respond() -> None:
            try:
                wait_until_paused(run.id, timeout=60)
                if answer is not None:
                    seen["decided_at"] = time.time()
                    decide(run.id, **answer)
            except ApprovalError as exc:
                seen["error"] = str(exc)

        thread = threading.Thread(target=contextvars.copy_context().run, args=(respond,))
        thread.start()
        result = run_flow(
            approval_probe, flow_run=run, parameters={"timeout_s": timeout_s}, return_type="result"
        )
        thread.join(timeout=60)
        flush_to_server()
    assert "error" not in seen, seen
    return {**result, **seen}


def test_approve_is_picked_up_quickly(server: PrefectServer) -> None:
    result = _run_with_answer(server, {"approve": True, "approver": "alice", "comment": "CHG-1"})
    assert result["approved"] is True
    assert result["why"] == "approved by alice (CHG-1)"
    print(f"\napproval picked up {result['resumed_at'] - result['decided_at']:.2f} s after resume")


def test_reject_says_who_and_why(server: PrefectServer) -> None:
    result = _run_with_answer(server, {"approve": False, "approver": "bob", "comment": "freeze"})
    assert result["approved"] is False
    assert result["why"] == "phase-x rejected by bob (freeze)"


def test_timeout_ends_cleanly(server: PrefectServer) -> None:
    result = _run_with_answer(server, None, timeout_s=3)
    assert result["approved"] is False
    assert result["why"] == "nobody approved phase-x within 3 s"
