"""An independent watcher for the batched-roll test: its own AdminClient, in its own process.

    python -m tests.integration.batch_monitor BOOTSTRAP OUT.jsonl PLACED_JSON

Creates the topic PLACED_JSON describes (``{"topic": ..., "min_isr": ..., "assignment":
[[4, 5, 6], ...]}``: an explicit replica assignment), writes ``{"ready": true}``,
then every ~0.2 s one JSON line: the time, the brokers the cluster metadata lists,
and every partition's ISR size and leader. A poll the cluster does not answer is
written as an error line. Runs until terminated. It shares nothing with the
upgrade: what it records is evidence, not the upgrade's own view.
"""

from __future__ import annotations

import json
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic

INTERVAL_S = 0.2


def main(bootstrap: str, out_path: str, placed_json: str) -> None:
    placed = json.loads(placed_json)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(
        placed["topic"],
        num_partitions=len(placed["assignment"]),
        replica_assignment=placed["assignment"],
        config={"min.insync.replicas": str(placed["min_isr"])},
    )
    admin.create_topics([topic], request_timeout=30)[placed["topic"]].result(timeout=40)
    with open(out_path, "a", buffering=1) as out:
        out.write(json.dumps({"ready": True, "t": time.time()}) + "\n")
        while True:
            started = time.monotonic()
            try:
                md = admin.list_topics(timeout=2)
                sample = {
                    "t": time.time(),
                    "brokers": sorted(md.brokers),
                    "partitions": {
                        f"{name}-{p.id}": [len(p.isrs), p.leader, list(p.isrs)]
                        for name, t in md.topics.items()
                        for p in t.partitions.values()
                    },
                }
            except Exception as exc:  # noqa: BLE001 - an unanswered poll is a data point
                sample = {"t": time.time(), "error": str(exc)}
            out.write(json.dumps(sample) + "\n")
            time.sleep(max(0.0, INTERVAL_S - (time.monotonic() - started)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
