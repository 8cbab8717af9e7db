"""Evidence: kafka-upgrade as a Prefect service, the way a platform team runs it.

`kafka-upgrade serve` (a real Prefect server, the project's own registration,
a real process worker, alert automations pointing at a local HTTP receiver),
two real KRaft sandboxes, and runs created the way a ticketing system creates
them: plain HTTP against Prefect's REST API.

- the same ticket twice gives one run; `trigger --at` leaves it Scheduled for
  that time;
- cluster A (named, resolved in the worker's inventories directory) and
  cluster B (by path) upgrade in parallel on the one worker;
- A waits for approval: the webhook hears it; the approval form in the real
  UI (Chromium) shows the plan and is submitted there; B is approved through
  the API;
- a second ticket for A while A's first run holds it: it logs who holds the
  cluster, touches nothing (no task run, node pids unchanged) and fails after
  its wait; the webhook hears the failure;
- `serve` stops on SIGTERM leaving no process behind.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kafka_upgrade.sandbox import cluster
from tests.integration.conftest import cli, require_tools, sandbox_status
from tests.integration.prefect_ui import approve_in_ui
from tests.integration.service import Service, WebhookReceiver, serve, webhook_receiver

pytestmark = pytest.mark.integration

OUTPUT = Path(
    os.environ.get("KAFKA_UPGRADE_TEST_OUTPUT", Path(__file__).parents[2] / "test-output")
)
A, B = "svc-a", "svc-b"
TARGET = "4.1.1"


@pytest.fixture(scope="module")
def clusters() -> Iterator[dict[str, Path]]:
    require_tools()
    paths = {}
    try:
        for name in (A, B):
            cli("sandbox", "up", "--name", name, "--mode", "kraft")
            paths[name] = cluster.sandbox_dir(name) / "inventory.yaml"
        yield paths
    finally:
        for name in (A, B):
            cli("sandbox", "down", "--name", name, check=False)


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, clusters: dict[str, Path], hooks: WebhookReceiver
) -> Iterator[Service]:
    inventories = tmp_path_factory.mktemp("inventories")
    (inventories / f"{A}.yaml").symlink_to(clusters[A])
    home = tmp_path_factory.mktemp("serve-home")
    env = {"KAFKA_UPGRADE_INVENTORIES": str(inventories)}
    with serve(home, env, ["--notify-webhook", hooks.url, "--worker-name", "test-worker"]) as svc:
        print(f"\nserve ready in {svc.ready_s:.1f} s")
        yield svc


def _body(cluster_value: str, name: str, ticket: str, **request: object) -> dict:
    """What a ticketing system posts (written out here, not built by the project's client)."""
    return {
        "parameters": {
            "request": {"cluster": cluster_value, "to_version": TARGET, "ticket": ticket, **request}
        },
        "idempotency_key": f"kafka-upgrade:{name}:{ticket}",
        "tags": ["kafka-upgrade", f"ticket:{ticket}", f"cluster:{name}"],
    }


def _pids(name: str) -> dict[int, int]:
    return {n["id"]: n["pid"] for n in sandbox_status(name)["nodes"]}


def _versions(name: str) -> set[str]:
    return {n["version"] for n in sandbox_status(name)["nodes"]}


def test_a_ticket_makes_one_run_and_at_schedules_it(
    service: Service, clusters: dict[str, Path]
) -> None:
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    env = {"PREFECT_API_URL": service.api_url}
    out = cli(
        "trigger",
        "--inventory",
        str(clusters[B]),
        "--to",
        TARGET,
        "--ticket",
        "CHG-900",
        "--at",
        at.isoformat().replace("+00:00", "Z"),
        "--json",
        env=env,
    ).stdout
    first = json.loads(out)
    assert first["created"] is True and first["state"] == "Scheduled"
    assert first["url"] == f"{service.ui_url}/runs/flow-run/{first['flow_run_id']}"
    run = service.run(first["flow_run_id"])
    assert run["state"]["type"] == "SCHEDULED"
    assert datetime.fromisoformat(run["next_scheduled_start_time"]) == at
    assert {"ticket:CHG-900", f"cluster:{B}"} <= set(run["tags"])

    again = json.loads(
        cli(
            "trigger",
            "--inventory",
            str(clusters[B]),
            "--to",
            TARGET,
            "--ticket",
            "CHG-900",
            "--json",
            env=env,
        ).stdout
    )
    assert again["flow_run_id"] == first["flow_run_id"] and again["created"] is False
    # The same ticket through plain HTTP, as a ticketing system sends it: the same run.
    body = _body(str(clusters[B].resolve()), B, "CHG-900")
    response = service.create_run(body)
    assert response.status_code == 200 and response.json()["id"] == first["flow_run_id"]
    service.api("DELETE", f"/flow_runs/{first['flow_run_id']}")


def test_tickets_locks_alerts_and_parallel_clusters(
    service: Service, clusters: dict[str, Path], hooks: WebhookReceiver
) -> None:
    # Cluster A by name (the worker resolves it), B by path; both roll at once.
    created = time.time()
    a1 = service.create_run(_body(A, A, "CHG-101")).json()["id"]
    b1 = service.create_run(_body(str(clusters[B]), B, "CHG-201")).json()["id"]
    assert service.create_run(_body(A, A, "CHG-101")).json()["id"] == a1

    service.wait_state(a1, {"PAUSED"}, 900, "A1 (phase 1 of cluster A)")
    paused_hook = hooks.wait_for(
        lambda b: b.get("flow_run_id") == a1 and "Paused" in str(b.get("state")), 60, "A1 paused"
    )
    assert paused_hook["cluster"] == A and "finalize-metadata-version" in str(paused_hook["phase"])
    assert paused_hook["url"].endswith(f"/runs/flow-run/{a1}")
    first_stop = min(
        datetime.fromisoformat(t["start_time"]).timestamp()
        for t in service.task_runs(a1) + _subflow_task_runs(service, a1)
        if t["name"].startswith("stop-") and t.get("start_time")
    )
    print(f"\ntrigger -> first node stop: {first_stop - created:.1f} s")
    assert _versions(A) == {TARGET}

    # A second ticket for A while A1 holds it (paused, holding): it waits, names A1, fails.
    pids = _pids(A)
    a2 = service.create_run(_body(A, A, "CHG-102", cluster_wait_s=15)).json()["id"]
    state, message = service.wait_end(a2)
    assert state == "FAILED", message
    assert f"cluster {A} is busy" in message and a1 in message, message
    assert any(a1 in line and "waiting" in line for line in service.logs(a2)), service.logs(a2)
    assert service.task_runs(a2) == [], "the second run must not touch anything"
    assert _pids(A) == pids
    failed_hook = hooks.wait_for(
        lambda b: b.get("flow_run_id") == a2 and "Fail" in str(b.get("state")), 60, "A2 failed"
    )
    assert failed_hook["cluster"] == A and "busy" in failed_hook["message"]
    approve_cli = cli(
        "approve", a2, "--approver", "x", env={"PREFECT_API_URL": service.api_url}, check=False
    )
    assert approve_cli.returncode == 1 and "is it paused for approval" in approve_cli.stderr

    # A is approved in the real UI; the form shows what the finalize will raise.
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "approval-form.png"
    form_text = approve_in_ui(service.ui_url, a1, "alice", "CHG-101 window", shot)
    for words in (
        "finalize-metadata-version",
        "kraft.version",
        "metadata.version",
        "Cannot be undone",
    ):
        assert words in form_text, form_text
    assert shot.stat().st_size > 10_000

    # B is approved through the REST API, the call a ticketing system makes.
    service.wait_state(b1, {"PAUSED"}, 900, "B1 (phase 1 of cluster B)")
    resumed_at = time.time()
    answer = service.api(
        "POST",
        f"/flow_runs/{b1}/resume",
        {"run_input": {"approve": True, "approver": "bob", "comment": "CHG-201"}},
    ).json()
    assert answer["status"] == "ACCEPT", answer
    service.wait_state(b1, {"RUNNING", "COMPLETED"}, 60, "B1 after approval")
    print(f"resume -> flow continuing: {time.time() - resumed_at:.1f} s")

    for run_id, name in ((a1, A), (b1, B)):
        state, message = service.wait_end(run_id, timeout=600)
        assert state == "COMPLETED", f"{name}: {message}"
        assert _versions(name) == {TARGET}
    status = json.loads(
        cli("status", a1, "--json", env={"PREFECT_API_URL": service.api_url}).stdout
    )
    assert status["state"] == "Completed"
    rows = {row["node"]: row for row in status["nodes"]}
    assert {f"broker-{i}" for i in (1, 2, 3)} <= set(rows), rows
    assert rows["feature metadata.version"]["action"] == "raised"
    assert rows["feature kraft.version"]["action"] == "not raised"
    assert status["progress"] == 100.0
    logs = "\n".join(service.logs(a1))
    assert "approved by alice (CHG-101 window)" in logs


def _subflow_task_runs(service: Service, parent_id: str) -> list[dict]:
    children = service.api(
        "POST",
        "/flow_runs/filter",
        {"flow_runs": {"parent_flow_run_id": {"operator": "and_", "any_": [parent_id]}}},
    ).json()
    out: list[dict] = []
    for child in children:
        out.extend(service.task_runs(child["id"]))
    return out
