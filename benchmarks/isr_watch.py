"""An independent tight poller: which brokers are registered and in every ISR, ~10 times a second.

Run as a child (``python -m benchmarks.isr_watch BOOTSTRAP``) with its own
AdminClient, apart from the upgrade's. Each poll prints one JSON line:
``{"t": wall time, "registered": [ids], "out_of_isr": [ids]}`` where
``out_of_isr`` are the brokers missing from the ISR of a partition they
replicate. Ends when its parent dies or its stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from confluent_kafka.admin import AdminClient

from kafka_upgrade.adapters.isolated_admin import _die_with_parent


def sample(admin: AdminClient) -> dict:
    metadata = admin.list_topics(timeout=2)
    out = set()
    for topic in metadata.topics.values():
        for partition in topic.partitions.values():
            out.update(set(partition.replicas) - set(partition.isrs))
    return {
        "t": round(time.time(), 3),
        "registered": sorted(metadata.brokers),
        "out_of_isr": sorted(out),
    }


def main(argv: list[str]) -> int:
    _die_with_parent(os.getppid())
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    admin = AdminClient({"bootstrap.servers": argv[0], "log_level": 0})
    interval = float(argv[1]) if len(argv) > 1 else 0.1
    while True:
        started = time.monotonic()
        try:
            line = sample(admin)
        except Exception as exc:  # noqa: BLE001 - an unseen poll; say so and go on
            line = {"t": round(time.time(), 3), "error": str(exc)[:200]}
        print(json.dumps(line), flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
