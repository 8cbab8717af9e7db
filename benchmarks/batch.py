"""Batched restarts (``max_parallel``) against one at a time, on the same real cluster.

A KRaft sandbox of 3 controllers + 6 brokers on racks a, b, c (``--racks 3``,
topics placed rack-aware by Kafka, so brokers of one rack share no partition)
runs, in one go and through a real Prefect server:

1. ``phase-1-binaries`` OLD -> NEW with max_parallel 1 (timed);
2. ``rollback-binaries`` NEW -> OLD with max_parallel N (not compared: it only
   brings the cluster back to the same start);
3. ``phase-1-binaries`` OLD -> NEW with max_parallel N (timed).

Same cluster, same direction, same gates; the controllers restart alone in both
runs. Printed: each run's phase time and its broker part (first broker step
started to last broker step done), and the ratios. A 200 msg/s idempotent
acks=all producer runs the whole time; its lost count is printed too.

    python -m benchmarks.batch            # N = 2
    python -m benchmarks.batch --n 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.measure import figure

NAME = "bt-speed"
OLD, NEW = "3.9.1", "4.1.1"


def _timed(flow: Any, request: Any) -> tuple[float, list[dict[str, Any]]]:
    started = time.monotonic()
    records = flow(request)
    return time.monotonic() - started, records


def _broker_part(records: list[Any]) -> float:
    brokers = [r for r in records if str(r.label).startswith("broker-")]
    if not brokers:
        return 0.0
    first = min(r.started_at for r in brokers)
    return max(r.started_at + r.seconds for r in brokers) - first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2, help="max_parallel of the batched run")
    args = parser.parse_args(argv)

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.upgrade import phase_1_binaries, rollback_binaries
    from kafka_upgrade.app.local_run import flush_to_server
    from kafka_upgrade.app.local_server import temporary_server
    from kafka_upgrade.core.requests import PhaseRequest, RollbackRequest
    from kafka_upgrade.sandbox import cluster
    from kafka_upgrade.sandbox.traffic import ContinuousTraffic

    inventory = cluster.up(
        NAME, "kraft", version=OLD, nodes=6, controllers=3, racks=3, log=lambda m: None
    )
    path = str(cluster.sandbox_dir(NAME) / "inventory.yaml")
    traffic = ContinuousTraffic(inventory.bootstrap_servers, rate=200)
    try:
        with temporary_server() as server, temporary_settings({PREFECT_API_URL: server.api_url}):
            traffic.start()
            one_s, one = _timed(
                phase_1_binaries, PhaseRequest(cluster=path, to_version=NEW, max_parallel=1)
            )
            back_s, _ = _timed(
                rollback_binaries, RollbackRequest(cluster=path, max_parallel=args.n)
            )
            many_s, many = _timed(
                phase_1_binaries, PhaseRequest(cluster=path, to_version=NEW, max_parallel=args.n)
            )
            flush_to_server()
            traffic.stop()
        report = traffic.audit()
    finally:
        traffic.stop()
        cluster.down(NAME, log=lambda m: None)

    one_b, many_b = _broker_part(one), _broker_part(many)
    restarted = sum(1 for r in many if r.action == "restarted")
    print(f"cluster: 3 controllers + 6 brokers, racks a/b/c, {OLD} -> {NEW}, phase-1-binaries")
    print(f"{'run':<26}{'phase s':>10}{'brokers s':>11}{'restarted':>11}")
    print(f"{'max_parallel 1':<26}{one_s:>10.1f}{one_b:>11.1f}{len(one):>11}")
    print(f"{f'max_parallel {args.n}':<26}{many_s:>10.1f}{many_b:>11.1f}{restarted:>11}")
    print(f"(rollback between them, max_parallel {args.n}: {back_s:.1f} s)")
    for line in report.lines():
        print(f"traffic: {line}")
    print(figure("batch_one_s", one_s, 1))
    print(figure("batch_many_s", many_s, 1))
    print(figure("batch_brokers_speedup", one_b / many_b if many_b else 0.0, 2))
    print(figure("batch_speedup", one_s / many_s if many_s else 0.0, 2))
    print(f"batch_lost={report.lost}")
    return 0 if report.lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
