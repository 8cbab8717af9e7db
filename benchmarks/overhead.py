"""Roll overhead on a real KRaft sandbox: the flow's time against each node's inherent time.

1. A KRaft sandbox (3 combined nodes) on the pair's old version, an idempotent
   acks=all producer and a consumer running the whole time.
2. An independent tight poller (``benchmarks.isr_watch``, its own AdminClient in
   a child, every 0.1 s) records which brokers are registered and in every ISR.
3. ``rolling-upgrade`` runs on a temporary Prefect server, approvals given.
4. Per node, the *inherent* restart time is Kafka's own: from the moment the
   broker began its controlled shutdown (its ``Transition from STARTED to
   SHUTTING_DOWN`` log line, written within milliseconds of the stop command)
   to the first poll that sees it registered again and back in every ISR.
   The flow's time for the node is its report row. The headline is the roll
   phase's wall time over the sum of the inherent times (goal: <= 1.3).

    python -m benchmarks.overhead [--stable-s SECONDS]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchmarks.measure import figure
from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.core.versions import pair_for

NAME = "bench-ovh"
ROLL_PHASE = "phase-1-binaries"
_SHUTDOWN = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] INFO \[BrokerServer id=\d+\] "
    r"Transition from STARTED to SHUTTING_DOWN"
)


@dataclass(frozen=True)
class Sample:
    t: float
    registered: frozenset[int]
    out_of_isr: frozenset[int]

    def back(self, node_id: int) -> bool:
        return node_id in self.registered and node_id not in self.out_of_isr


def shutdown_times(log_dir: Path, since: float) -> list[float]:
    """Wall times at which the broker began a controlled shutdown, after ``since``, from
    server.log and the files Kafka rolled it into (hourly: server.log.2026-11-25-22)."""
    times = []
    for log in log_dir.glob("server.log*"):
        for line in log.read_text(errors="replace").splitlines():
            m = _SHUTDOWN.match(line)
            if m:
                at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if at >= since:
                    times.append(at)
    return sorted(times)


def inherent_seconds(node_id: int, stopped_at: float, samples: Sequence[Sample]) -> float | None:
    """From the shutdown to the first poll that sees the node registered and in every ISR,
    after a poll that saw it gone (so a poll taken before the controller noticed the stop
    does not count as "back")."""
    gone = False
    for s in samples:
        if s.t < stopped_at:
            continue
        if not s.back(node_id):
            gone = True
        elif gone:
            return s.t - stopped_at
    return None


class Watcher:
    def __init__(self, bootstrap: str) -> None:
        self.samples: list[Sample] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.isr_watch", bootstrap, "0.1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            data = json.loads(line)
            if "error" not in data:
                self.samples.append(
                    Sample(data["t"], frozenset(data["registered"]), frozenset(data["out_of_isr"]))
                )

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    from kafka_upgrade.app.local_run import run_upgrade
    from kafka_upgrade.app.local_server import server_for_run
    from kafka_upgrade.sandbox import cluster
    from kafka_upgrade.sandbox.traffic import ContinuousTraffic

    args = list(argv or [])
    stable_s = float(args[args.index("--stable-s") + 1]) if "--stable-s" in args else None
    pair = pair_for("kraft")
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    inventory = cluster.up(NAME, "kraft", version=pair.old, log=say)
    try:
        if stable_s is not None:  # e.g. the window of an earlier default, side by side
            inventory = _with_stable_s(cluster.sandbox_dir(NAME) / "inventory.yaml", stable_s)
        traffic = ContinuousTraffic(inventory.bootstrap_servers, partitions=12)
        traffic.start()
        watcher = Watcher(inventory.bootstrap_servers)
        time.sleep(3)
        began = time.time()
        with server_for_run() as server:
            outcome = run_upgrade(
                server,
                str(cluster.sandbox_dir(NAME) / "inventory.yaml"),
                pair.new,
                auto_approve=True,
                say=say,
            )
        watcher.stop()
        traffic.stop()
        report = traffic.audit()
        if outcome.exit_code != 0:
            print(f"the upgrade failed: {outcome.state}: {outcome.message}")
            return 1
        rows = [r for r in outcome.records if r.phase == ROLL_PHASE and r.action == "restarted"]
        print(f"{'node':<10} {'flow s':>7} {'inherent s':>11} {'ratio':>6}")
        inherent_total = 0.0
        for row in rows:
            node = inventory.node(row.node_id)
            stops = shutdown_times(Path(node.log_dir), began)
            inherent = inherent_seconds(node.id, stops[0], watcher.samples) if stops else None
            if inherent is None:
                print(f"{row.label}: the poller never saw it stop and come back")
                return 1
            inherent_total += inherent
            print(
                f"{row.label:<10} {row.seconds:>7.1f} {inherent:>11.1f} "
                f"{row.seconds / inherent:>6.2f}"
            )
        wall = outcome.phase_seconds[ROLL_PHASE]
        window = inventory.health
        print(f"stability window: {window.stable_checks} polls over {window.stable_s:g} s")
        ratio = wall / inherent_total
        print(
            f"{ROLL_PHASE}: wall {wall:.1f} s, sum of inherent {inherent_total:.1f} s, "
            f"ratio {ratio:.2f} (goal <= 1.3); polls seen {len(watcher.samples)}; "
            f"messages acked {report.delivered}, lost {report.lost}, failed {report.failed}"
        )
        print(figure("overhead_phase_s", wall, 1))
        print(figure("overhead_inherent_s", inherent_total, 1))
        print(figure("overhead_ratio", ratio, 2))
        return 0 if report.lost == 0 else 1
    finally:
        cluster.down(NAME, log=say)


def _with_stable_s(path: Path, seconds: float) -> Inventory:
    inventory = load_inventory(path)
    health = inventory.health.model_copy(update={"stable_s": seconds})
    inventory = inventory.model_copy(update={"health": health})
    path.write_text(inventory.to_yaml())
    return inventory


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
