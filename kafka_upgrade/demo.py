"""`make demo`: the embedded default, a local real Kafka cluster upgraded end to end.

1. A sandbox on the old version of the mode's pair (MODE=kraft or MODE=zk).
2. An idempotent acks=all producer and a consumer group start and keep running.
3. ``rolling-upgrade`` runs on a temporary Prefect server; the approval comes
   from the terminal or the UI (or is given unattended with AUTO_APPROVE=1).
4. The traffic stops; the whole topic is read back and every acknowledged
   message is counted: lost, duplicated, failed deliveries, produce latency.
5. The per-node table, the message counts, teardown.

MODE=journey is ``kafka_upgrade/journey.py``: ZooKeeper 3.7 to KRaft 4.1 in one run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from kafka_upgrade.cli import print_nodes, print_upgrade
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.sandbox.layout import SandboxSpecError
from kafka_upgrade.traffic import ContinuousTraffic, TrafficReport
from kafka_upgrade.versions import Mode, pair_for

if TYPE_CHECKING:
    from kafka_upgrade.inventory import Inventory

# Rich assumes 80 columns when output is not a terminal (`make demo | tee`): wider lines.
console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


def say(text: str) -> None:
    """Print a line as text: run messages and log lines carry "[rule-id]" and the like."""
    console.print(escape(text))


def auto_approve() -> bool:
    return os.environ.get("AUTO_APPROVE", "") not in ("", "0", "false", "no")


def sandbox_up(name: str, mode: Mode, **options: Any) -> Inventory | None:
    """Bring the demo's sandbox up; None, said why, when it could not be."""
    # A demo sandbox left by a demo that died is taken down by `up` itself;
    # one that belongs to a demo still running is refused, with its pid.
    started = time.monotonic()
    try:
        inventory = cluster.up(name, mode, log=say, **options)
    except (cluster.SandboxError, SandboxSpecError) as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        return None
    say(f"sandbox up in {time.monotonic() - started:.1f} s")
    return inventory


def start_traffic(name: str, inventory: Inventory) -> ContinuousTraffic:
    """Show the sandbox, then start the clients that run through the upgrade."""
    print_nodes(cluster.status(name))
    traffic = ContinuousTraffic(inventory.bootstrap_servers)
    traffic.start()
    say("producer (acks=all, idempotent) and consumer running")
    return traffic


def finish_traffic(traffic: ContinuousTraffic) -> TrafficReport:
    """Stop the clients and read the whole topic back."""
    time.sleep(3)  # let the consumer see the last messages
    traffic.stop()
    return traffic.audit()


def print_traffic(report: TrafficReport) -> None:
    for line in report.lines():
        say(line)
    for error in report.errors[:5]:
        console.print(f"[red]client error:[/] {escape(error)}")
    if report.client_log:
        say(f"producer warnings during the roll (retried): {len(report.client_log)}")


def main() -> int:
    from deployments.local_run import run_upgrade
    from deployments.local_server import ServerError, server_for_run

    mode = os.environ.get("MODE", "kraft")
    if mode == "journey":
        from kafka_upgrade.journey import main as journey

        return journey()
    if mode not in ("zk", "kraft"):
        console.print(f"[red]MODE={escape(repr(mode))}: choose zk, kraft or journey[/]")
        return 2
    name = f"demo-{mode}"
    pair = pair_for(mode)  # type: ignore[arg-type]
    inventory = sandbox_up(name, mode, version=pair.old)  # type: ignore[arg-type]
    if inventory is None:
        return 1
    try:
        traffic = start_traffic(name, inventory)
        with server_for_run() as server:
            say(f"Prefect UI: {server.ui_url}")
            outcome = run_upgrade(
                server,
                str(cluster.sandbox_dir(name) / "inventory.yaml"),
                pair.new,
                auto_approve=auto_approve(),
                say=say,
            )
        report = finish_traffic(traffic)
        print_upgrade(outcome.records)
        print_nodes(cluster.status(name))
        print_traffic(report)
        ok = outcome.exit_code == 0 and report.lost == 0 and report.failed == 0
        style = "green" if ok else "red"
        console.print(f"[{style}]{escape(f'{outcome.state}: {outcome.message}')}[/]")
        if outcome.phase_seconds:
            say(
                "phase times: "
                + ", ".join(f"{k} {v:.0f} s" for k, v in outcome.phase_seconds.items())
            )
        return 0 if ok else 1
    except ServerError as exc:  # the temporary Prefect server did not start (a loaded machine)
        console.print(f"[red]{escape(str(exc))}[/]")
        return 1
    finally:
        cluster.down(name, log=say)


if __name__ == "__main__":
    sys.exit(main())
