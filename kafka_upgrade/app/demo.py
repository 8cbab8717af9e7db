"""`make demo`: the embedded default, a local real Kafka cluster upgraded end to end.

1. A sandbox on the old version of the mode's pair (MODE=kraft or MODE=zk).
2. An idempotent acks=all producer and a consumer group start and keep running.
3. ``rolling-upgrade`` runs on a temporary Prefect server; the approval comes
   from the terminal or the UI (or is given unattended with AUTO_APPROVE=1).
4. The traffic stops; the whole topic is read back and every acknowledged
   message is counted: lost, duplicated, failed deliveries, produce latency.
5. The per-node table, the message counts, teardown.

MODE=journey is ``kafka_upgrade/app/journey.py``: ZooKeeper 3.7 to KRaft 4.1 in one run.
"""

from __future__ import annotations

import os
import sys

from rich.markup import escape

from kafka_upgrade.app import showcase
from kafka_upgrade.app.cli import print_nodes, print_upgrade
from kafka_upgrade.core.modes import MODES
from kafka_upgrade.core.versions import pair_for
from kafka_upgrade.sandbox import cluster

JOURNEY = "journey"  # MODE=journey: ZooKeeper to KRaft in one run (journey.py)


def main() -> int:
    from kafka_upgrade.app.local_run import run_upgrade
    from kafka_upgrade.app.local_server import ServerError, server_for_run

    chosen = os.environ.get("MODE", "kraft")
    if chosen == JOURNEY:
        from kafka_upgrade.app.journey import main as journey

        return journey()
    if chosen not in MODES:
        showcase.console.print(
            f"[red]MODE={escape(repr(chosen))}: choose zk, kraft or {JOURNEY}[/]"
        )
        return 2
    mode = MODES[chosen]
    name = f"demo-{mode}"
    pair = pair_for(mode)
    inventory = showcase.sandbox_up(name, mode, version=pair.old)
    if inventory is None:
        return 1
    try:
        traffic = showcase.start_traffic(name, inventory)
        with server_for_run() as server:
            showcase.say(f"Prefect UI: {server.ui_url}")
            outcome = run_upgrade(
                server,
                str(cluster.sandbox_dir(name) / "inventory.yaml"),
                pair.new,
                auto_approve=showcase.auto_approve(),
                say=showcase.say,
            )
        report = showcase.finish_traffic(traffic)
        print_upgrade(outcome.records)
        print_nodes(cluster.status(name))
        showcase.print_traffic(report)
        ok = outcome.exit_code == 0 and report.lost == 0 and report.failed == 0
        style = "green" if ok else "red"
        showcase.console.print(f"[{style}]{escape(f'{outcome.state}: {outcome.message}')}[/]")
        if outcome.phase_seconds:
            showcase.say(
                "phase times: "
                + ", ".join(f"{k} {v:.0f} s" for k, v in outcome.phase_seconds.items())
            )
        return 0 if ok else 1
    except ServerError as exc:  # the temporary Prefect server did not start (a loaded machine)
        showcase.console.print(f"[red]{escape(str(exc))}[/]")
        return 1
    finally:
        cluster.down(name, log=showcase.say)


if __name__ == "__main__":
    sys.exit(main())
