"""`make demo`: the embedded default, a local real Kafka cluster upgraded end to end.

1. A sandbox on the old version of the mode's pair (MODE=kraft or MODE=zk).
2. An idempotent acks=all producer and a consumer group start and keep running.
3. ``rolling-upgrade`` runs on a temporary Prefect server; the approval comes
   from the terminal or the UI (or is given unattended with AUTO_APPROVE=1).
4. The traffic stops; the whole topic is read back and every acknowledged
   message is counted: lost, duplicated, failed deliveries, produce latency.
5. The per-node table, the message counts, teardown.
"""

from __future__ import annotations

import os
import sys
import time

from rich.console import Console

from kafka_upgrade.cli import print_nodes, print_upgrade
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.traffic import ContinuousTraffic
from kafka_upgrade.versions import pair_for

console = Console(stderr=True)


def main() -> int:
    from deployments.local_run import run_upgrade
    from deployments.local_server import server_for_run

    mode = os.environ.get("MODE", "kraft")
    if mode not in ("zk", "kraft"):
        console.print(f"[red]MODE={mode!r}: choose zk or kraft[/]")
        return 2
    auto = os.environ.get("AUTO_APPROVE", "") not in ("", "0", "false", "no")
    name = f"demo-{mode}"
    pair = pair_for(mode)  # type: ignore[arg-type]
    # A demo sandbox left by a demo that died is taken down by `up` itself;
    # one that belongs to a demo still running is refused, with its pid.
    started = time.monotonic()
    try:
        inventory = cluster.up(name, mode, version=pair.old, log=console.print)  # type: ignore[arg-type]
    except cluster.SandboxError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    console.print(f"sandbox up in {time.monotonic() - started:.1f} s")
    try:
        print_nodes(cluster.status(name))
        traffic = ContinuousTraffic(inventory.bootstrap_servers)
        traffic.start()
        console.print("producer (acks=all, idempotent) and consumer running; upgrading ...")
        with server_for_run() as server:
            console.print(f"Prefect UI: {server.ui_url}")
            outcome = run_upgrade(
                server,
                str(cluster.sandbox_dir(name) / "inventory.yaml"),
                pair.new,
                auto_approve=auto,
                say=console.print,
            )
        time.sleep(3)  # let the consumer see the last messages
        traffic.stop()
        report = traffic.audit()
        print_upgrade(outcome.records)
        print_nodes(cluster.status(name))
        for line in report.lines():
            console.print(line)
        for error in report.errors[:5]:
            console.print(f"[red]client error:[/] {error}")
        if report.client_log:
            console.print(f"producer warnings during the roll (retried): {len(report.client_log)}")
        ok = outcome.exit_code == 0 and report.lost == 0 and report.failed == 0
        style = "green" if ok else "red"
        console.print(f"[{style}]{outcome.state}: {outcome.message}[/]")
        if outcome.phase_seconds:
            console.print(
                "phase times: "
                + ", ".join(f"{k} {v:.0f} s" for k, v in outcome.phase_seconds.items())
            )
        return 0 if ok else 1
    finally:
        cluster.down(name, log=console.print)


if __name__ == "__main__":
    sys.exit(main())
