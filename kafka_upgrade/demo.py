"""`make demo`: the embedded default, a local real Kafka cluster, end to end.

For now: bring a sandbox up on the old version of the mode's pair, show its
nodes as the running processes report them, and take it down again.
"""

from __future__ import annotations

import os
import sys
import time

from rich.console import Console

from kafka_upgrade.cli import print_nodes
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.versions import pair_for

console = Console(stderr=True)


def main() -> int:
    mode = os.environ.get("MODE", "kraft")
    if mode not in ("zk", "kraft"):
        console.print(f"[red]MODE={mode!r}: choose zk or kraft[/]")
        return 2
    name = f"demo-{mode}"
    pair = pair_for(mode)  # type: ignore[arg-type]
    if cluster.sandbox_dir(name).exists():
        console.print(f"a previous demo sandbox {name!r} exists; taking it down first")
        cluster.down(name, log=console.print)
    started = time.monotonic()
    cluster.up(name, mode, version=pair.old, log=console.print)  # type: ignore[arg-type]
    console.print(f"sandbox up in {time.monotonic() - started:.1f} s")
    try:
        print_nodes(cluster.status(name))
    finally:
        cluster.down(name, log=console.print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
