"""Beyond one machine: `serve --database postgresql+asyncpg://...` and a second worker.

A real PostgreSQL (Debian's, started and stopped here) holds the Prefect
server's database; `kafka-upgrade serve` starts a worker and a second one joins
the pool the way a worker on another host would (`prefect worker start --pool
kafka-upgrade` with PREFECT_API_URL). Runs of the project's deployments on a
real KRaft sandbox complete, and their state is in PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.service import online_workers, stop_tree
from kafka_upgrade.app.local_server import prefect_command
from kafka_upgrade.sandbox import cluster
from tests.integration.conftest import cli, require_tools, sandbox_status
from tests.integration.postgres import throwaway_postgres
from tests.integration.service import serve

pytestmark = pytest.mark.integration
NAME = "pg-svc"


@pytest.fixture(scope="module")
def inventory() -> Iterator[Path]:
    require_tools()
    cli("sandbox", "up", "--name", NAME, "--mode", "kraft")
    try:
        yield cluster.sandbox_dir(NAME) / "inventory.yaml"
    finally:
        cli("sandbox", "down", "--name", NAME, check=False)


def test_service_on_postgresql_with_two_workers(
    tmp_path_factory: pytest.TempPathFactory, inventory: Path
) -> None:
    pids = {n["id"]: n["pid"] for n in sandbox_status(NAME)["nodes"]}
    with throwaway_postgres(tmp_path_factory.mktemp("pg")) as pg:
        home = tmp_path_factory.mktemp("serve-pg")
        with serve(home, {}, ["--database", pg.url, "--worker-name", "worker-1"]) as svc:
            assert any("database: PostgreSQL" in line for line in svc.output), svc.output
            log = (home / "worker-2.log").open("wb")
            second = subprocess.Popen(
                [
                    *prefect_command(),
                    "worker",
                    "start",
                    "--pool",
                    "kafka-upgrade",
                    "--name",
                    "worker-2",
                ],
                env={**os.environ, "PREFECT_API_URL": svc.api_url},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 120
                while set(online_workers(svc.api_url, "kafka-upgrade")) != {"worker-1", "worker-2"}:
                    assert time.monotonic() < deadline, online_workers(svc.api_url, "kafka-upgrade")
                    time.sleep(1)
                rollback = svc.deployment_id("rollback-binaries/rollback-binaries")
                runs = [
                    svc.api(
                        "POST",
                        f"/deployments/{rollback}/create_flow_run",
                        {
                            "parameters": {
                                "request": {"cluster": str(inventory), "ticket": f"PG-{i}"}
                            }
                        },
                    ).json()["id"]
                    for i in range(2)
                ]
                for run_id in runs:
                    state, message = svc.wait_end(run_id)
                    assert state == "COMPLETED", f"{message}\n" + "\n".join(svc.logs(run_id)[-30:])
                    # Every node already runs the current version: nothing restarted.
                    svc.wait_logged(run_id, "already runs 3.9.1")
                ran_by = {run_id: _worker_of(svc, run_id) for run_id in runs}
                print(f"\nruns and the worker that ran them: {ran_by}")
            finally:
                stop_tree(second)
                log.close()
            in_pg = pg.psql(
                "select count(*) from flow_run where state_type = 'COMPLETED' and id in ("
                + ",".join(f"'{r}'" for r in runs)
                + ")"
            )
            assert in_pg.strip() == "2", in_pg
    assert {n["id"]: n["pid"] for n in sandbox_status(NAME)["nodes"]} == pids


def _worker_of(svc, run_id: str) -> str:
    for line in svc.logs(run_id):
        for name in ("worker-1", "worker-2"):
            if name in line:
                return name
    return "?"
