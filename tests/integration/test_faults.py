"""Evidence: what the roll does when things go wrong, on real KRaft sandboxes.

(a) The orchestrator's process group is killed right after a node's
    controlled shutdown. The same command again finishes the upgrade with no
    manual step: the node left down is started first, the nodes done before
    keep their processes (pids), exit 0, every node on NEW.
(b) The staged new binary cannot start (its libs are missing: the JVM dies at
    once with "Could not find or load main class kafka.Kafka"). The run fails
    within seconds of that start quoting the JVM's own words, the node is back
    on the old binary and running, the nodes after it were never touched, and a
    producer running through it all loses nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_upgrade.app.local_run import run_upgrade
from kafka_upgrade.app.local_server import PrefectServer, temporary_server
from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.core.versions import KRAFT_PAIR
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.sandbox.traffic import ContinuousTraffic
from tests.integration.conftest import cli, require_tools
from tests.integration.faults import node_pids

pytestmark = pytest.mark.integration
OLD, NEW = KRAFT_PAIR.old, KRAFT_PAIR.new


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[PrefectServer]:
    with temporary_server() as server:
        yield server


def _sandbox(name: str) -> Inventory:
    require_tools()
    cli("sandbox", "up", "--name", name, "--mode", "kraft")
    return load_inventory(cluster.sandbox_dir(name) / "inventory.yaml")


def _versions(name: str) -> dict[int, str]:
    return {n["id"]: n["version"] for n in cluster.status(name)["nodes"]}


def test_a_killed_orchestrator_resumes_with_the_same_command() -> None:
    inventory = _sandbox("ft-resume")
    path = str(cluster.sandbox_dir("ft-resume") / "inventory.yaml")
    command = [
        sys.executable,
        "-m",
        "kafka_upgrade.app.cli",
        "run",
        "--inventory",
        path,
        "--auto-approve",
    ]
    try:
        before = node_pids(inventory)
        first = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        done: dict[int, int] = {}  # nodes restarted before the kill -> their new pid
        down_node = None
        deadline = time.monotonic() + 900
        while down_node is None:
            assert first.poll() is None, f"the first run ended ({first.returncode}) before the kill"
            assert time.monotonic() < deadline, "no second node was stopped within 900 s"
            pids = node_pids(inventory)
            for node, pid in pids.items():
                if pid is not None and pid != before[node]:
                    done[node] = pid
                elif pid is None and done:
                    down_node = node
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(timeout=30)
        assert down_node not in done and done, (down_node, done)
        print(f"\nkilled the orchestrator with {sorted(done)} done and node {down_node} stopped")

        second = subprocess.run(command, capture_output=True, text=True, timeout=1200)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        after = node_pids(inventory)
        for node, pid in done.items():
            assert after[node] == pid, f"node {node} was restarted again"
        assert after[down_node] is not None
        assert set(_versions("ft-resume").values()) == {NEW}
        assert "left stopped by an earlier run" in second.stdout + second.stderr
        print(f"second run took {time.monotonic() - killed_at:.0f} s after the kill")
    finally:
        cli("sandbox", "down", "--name", "ft-resume", check=False)


def test_a_binary_that_cannot_start_is_reverted(prefect_server: PrefectServer) -> None:
    inventory = _sandbox("ft-nostart")
    staged: dict[Path, Path] = {}
    try:
        # A broken package on every host: the scripts and the tools' jars are there
        # (preflight and the plan pass), the broker's own jar is not, so its JVM dies at
        # once. (The staged dirs link to the shared dist cache: each becomes a real dir
        # with the scripts and config linked and libs/ holding links to all other jars.)
        for node in inventory.nodes:
            version_dir = node.version_dir(NEW)
            staged[version_dir] = version_dir.resolve()
            version_dir.unlink()
            version_dir.mkdir()
            for part in ("bin", "config"):
                (version_dir / part).symlink_to(staged[version_dir] / part)
            (version_dir / "libs").mkdir()
            for jar in (staged[version_dir] / "libs").iterdir():
                if not jar.name.startswith("kafka_2.13-"):  # the broker's own jar is missing
                    (version_dir / "libs" / jar.name).symlink_to(jar)
        before = node_pids(inventory)
        traffic = ContinuousTraffic(inventory.bootstrap_servers, rate=200)
        traffic.start()
        started = time.monotonic()
        try:
            outcome = run_upgrade(
                prefect_server,
                str(cluster.sandbox_dir("ft-nostart") / "inventory.yaml"),
                NEW,
                auto_approve=True,
                say=print,
                interactive=False,
            )
        finally:
            time.sleep(3)
            traffic.stop()
        report = traffic.audit()
        print(f"\nrun ended {outcome.state} after {time.monotonic() - started:.0f} s")
        print(outcome.message)
        for line in report.lines():
            print(line)

        assert outcome.state == "FAILED"
        assert "Could not find or load main class kafka.Kafka" in outcome.message
        exited = re.search(r"no Kafka process ([\d.]+) s after the start", outcome.message)
        assert exited and float(exited.group(1)) <= 15, outcome.message
        assert "Reverted in" in outcome.message
        after = node_pids(inventory)
        versions = _versions("ft-nostart")
        changed = [n for n in before if after[n] != before[n]]
        assert len(changed) == 1, f"exactly one node was touched: {changed}"
        assert after[changed[0]] is not None and versions[changed[0]] == OLD
        assert set(versions.values()) == {OLD}
        assert report.failed == 0 and report.lost == 0, report.errors
        assert report.delivered == report.sent > 0
    finally:
        for version_dir, cache in staged.items():
            if version_dir.is_dir() and not version_dir.is_symlink():
                for part in ("bin", "config"):
                    (version_dir / part).unlink(missing_ok=True)
                shutil.rmtree(version_dir / "libs")
                version_dir.rmdir()
                version_dir.symlink_to(cache)
        cli("sandbox", "down", "--name", "ft-nostart", check=False)
