"""Evidence: a batched upgrade (``--max-parallel 2``) on a multi-broker KRaft sandbox.

3 controllers + 6 brokers on racks a, b, c (round-robin: 4a 5b 6c 7a 8b 9c),
3.9.1 -> 4.1.1 through ``kafka-upgrade run --auto-approve --max-parallel 2``,
with an idempotent acks=all producer and a consumer group running the whole time
and an independent monitor (its own AdminClient, in its own process, polling
every 0.2 s). One topic is placed explicitly, one replica per rack, so brokers of
one rack share no partition; the traffic topic and ``__consumer_offsets`` are
placed by Kafka, rack-aware. Asserted: every node on 4.1.1; 0 lost; no partition
ever below min.insync.replicas (2) or without a leader; at least one sample
with two or more brokers down together.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.sandbox.traffic import ContinuousTraffic
from tests.integration.conftest import cli, require_tools

pytestmark = pytest.mark.integration

NAME = "bt-multi"
OLD, NEW = "3.9.1", "4.1.1"
MIN_ISR = 2
# One replica per rack (a: 4, 7; b: 5, 8; c: 6, 9), preferred leaders spread.
PLACED = [[4, 5, 6], [7, 8, 9], [5, 9, 7], [8, 6, 4], [6, 7, 5], [9, 4, 8]]


@pytest.fixture
def sandbox() -> Iterator[Inventory]:
    require_tools()
    cluster.up(NAME, "kraft", version=OLD, nodes=6, controllers=3, racks=3, log=lambda m: None)
    try:
        yield load_inventory(cluster.sandbox_dir(NAME) / "inventory.yaml")
    finally:
        cluster.down(NAME, log=lambda m: None)


def _start_monitor(bootstrap: str, out: Path) -> subprocess.Popen:
    placed = json.dumps({"topic": "batch-placed", "min_isr": MIN_ISR, "assignment": PLACED})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.batch_monitor", bootstrap, str(out), placed],
        cwd=Path(__file__).resolve().parents[2],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and '"ready"' in out.read_text():
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"the monitor exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the monitor did not create its topic within 60 s")


def _samples(out: Path) -> list[dict]:
    return [s for s in map(json.loads, out.read_text().splitlines()) if "brokers" in s]


def test_batched_upgrade_keeps_min_isr(sandbox: Inventory, tmp_path: Path) -> None:
    brokers = set(sandbox.broker_ids)
    assert brokers == {4, 5, 6, 7, 8, 9}
    inventory_path = cluster.sandbox_dir(NAME) / "inventory.yaml"
    out = tmp_path / "monitor.jsonl"
    monitor = _start_monitor(sandbox.bootstrap_servers, out)

    # The plan shows the batches (max_parallel from the environment, as an operator may set it).
    plan = cli(
        "plan",
        "--inventory",
        str(inventory_path),
        "--to",
        NEW,
        env={"KAFKA_UPGRADE_MAX_PARALLEL": "2", "COLUMNS": "200"},
    ).stdout
    print("\n".join(f"[batched] plan: {line}" for line in plan.splitlines() if "batch" in line))
    assert "9 nodes restarted in 6 batches on 4.1.1" in plan, plan
    for batch in ("broker-4 + broker-7 (rack a)", "broker-5 + broker-8 (rack b)"):
        assert batch in plan, plan

    traffic = ContinuousTraffic(sandbox.bootstrap_servers, rate=200)
    try:
        traffic.start()
        started = time.monotonic()
        try:
            result = cli(
                "run",
                "--inventory",
                str(inventory_path),
                "--to",
                NEW,
                "--auto-approve",
                "--max-parallel",
                "2",
                check=False,
                env={"NO_COLOR": "1", "COLUMNS": "200"},
            )
        finally:
            time.sleep(3)
            traffic.stop()
        wall = time.monotonic() - started
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)
    report = traffic.audit()
    samples = _samples(out)

    # What the monitor saw: brokers down together, and the smallest ISR of any partition.
    down = [sorted(brokers - set(s["brokers"])) for s in samples]
    together = sorted({tuple(d) for d in down if len(d) >= 2})
    min_isr_seen = min(v[0] for s in samples for v in s["partitions"].values())
    leaderless = sorted(
        {p for s in samples for p, v in s["partitions"].items() if v[1] is None or v[1] < 0}
    )
    gaps = [b["t"] - a["t"] for a, b in zip(samples, samples[1:], strict=False)]
    print(f"\n[batched] {OLD} -> {NEW} --max-parallel 2: {wall:.0f} s, exit {result.returncode}")
    print(f"[batched] monitor: {len(samples)} samples, largest gap {max(gaps):.2f} s")
    print(f"[batched] brokers down together: {together}")
    print(f"[batched] smallest ISR seen: {min_isr_seen}; leaderless partitions: {leaderless}")
    for line in report.lines():
        print(f"[batched] {line}")
    for line in result.stdout.splitlines()[-40:]:
        print(f"[batched] | {line}")

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    status = cluster.status(NAME)
    assert [(n["id"], n["version"], n["running"]) for n in status["nodes"]] == [
        (n.id, NEW, True) for n in sandbox.nodes
    ]
    assert report.delivered == report.sent > 0
    assert report.lost == 0, report.errors
    assert report.failed == 0, report.errors
    assert len(samples) > 100 and max(gaps) < 5, "the monitor was not watching the whole time"
    assert min_isr_seen >= MIN_ISR, "a partition dropped below min.insync.replicas"
    assert not leaderless
    assert together, "the monitor never saw two brokers down at once"
    assert all(set(t) <= brokers for t in together)
