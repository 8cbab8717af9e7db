"""What both demos share: the sandbox, the clients that run through the upgrade, the
words printed (``demo.py``: one upgrade; ``journey.py``: ZooKeeper to KRaft)."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from kafka_upgrade.app.cli import print_nodes
from kafka_upgrade.core.modes import Mode
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.sandbox.layout import SandboxSpecError
from kafka_upgrade.sandbox.traffic import ContinuousTraffic, TrafficReport

if TYPE_CHECKING:
    from kafka_upgrade.core.inventory import Inventory

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
