"""One health poll (observe + verdict) on synthetic clusters, old path and new side by side.

A poll is what a sensor does each second, made a little heavier: take a
snapshot through ``AdminWorker`` (a real child process, real pipe, real
encoding; the child serves a synthetic cluster, see ``benchmarks.synthetic``),
then ask ``cluster_healthy``, the restart gate of the next broker and the
recovered gate of the broker being rolled (a sensor asks one of these).

- old: the child loop, parent call, snapshot and verdicts of commit a37339f
  (``benchmarks.baseline``): every partition built in the child, shipped as
  one JSON line, rebuilt in the parent, one scan of all of them per rule;
- new: ``AdminWorker.snapshot()`` (only the partitions out of line cross the
  pipe) and the verdicts of ``kafka_upgrade.core.health`` / ``roll_plan``.

Clusters: 12 / 100 / 1,000 brokers with 5k / 50k / 200k partitions, RF 3,
min.insync.replicas 2; scenarios "healthy" and "broker-down" (the headline:
the worse of the two), and "tenth-down" at 1,000 brokers (a rack lost: a
stress case, not a headline). Every case runs in fresh processes, so the peak
resident memory of the parent and of the child is that case's own.

    python -m benchmarks.poll            # everything, then name=value figures
    python -m benchmarks.poll --quick    # 12 and 100 brokers only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.measure import figure, isolated, median, ratio, status_mb, written_bytes

SIZES: tuple[tuple[int, int], ...] = ((12, 5_000), (100, 50_000), (1000, 200_000))
HEADLINE_SCENARIOS = ("healthy", "broker-down")
STRESS_SCENARIO = "tenth-down"
VERSION = "4.1.1"
BROKER = frozenset({"broker"})


def _poll(path: str, worker: Any, spec: Any, expected: Sequence[int]) -> tuple[Any, ...]:
    """One observe + the three verdicts; returns the verdicts."""
    if path == "old":
        from benchmarks import baseline

        old = baseline.old_snapshot(worker)
        return (
            baseline.cluster_healthy(old, expected),
            baseline.restart_gate(spec.next_node, old, expected),
            baseline.recovered_gate(spec.focus, VERSION, VERSION, old, expected),
        )
    from kafka_upgrade.core.health import cluster_healthy
    from kafka_upgrade.core.roll_plan import Seen, recovered_gate, restart_gate

    snap = worker.snapshot()
    return (
        cluster_healthy(snap, expected),
        restart_gate("kraft", {spec.next_node: BROKER}, Seen(snap, expected)),
        recovered_gate("kraft", BROKER, spec.focus, VERSION, VERSION, Seen(snap, expected)),
    )


def _fingerprint(verdicts: Sequence[Any]) -> str:
    """Rules, note rules and subjects of the verdicts: equal when old and new agree."""
    text = json.dumps(
        [
            [[r.rule, list(r.subjects)] for r in v.reasons]
            + [[n.rule, list(n.subjects)] for n in v.notes]
            for v in verdicts
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def measure_case(path: str, brokers: int, partitions: int, scenario: str, polls: int) -> dict:
    """One case in this (fresh) process: warm-up poll, then ``polls`` timed polls."""
    from benchmarks.synthetic import CHILD_COMMAND, ClusterSpec, spec_to_config
    from kafka_upgrade.adapters.admin_worker import AdminWorker

    spec = ClusterSpec(brokers, partitions, scenario=scenario)
    expected = spec.broker_ids
    parent_base = status_mb("self", "VmRSS")
    if path == "old":
        from benchmarks.baseline import OLD_CHILD_COMMAND, OldAdminWorker

        worker: AdminWorker = OldAdminWorker(
            spec_to_config(spec), timeout=600, command=OLD_CHILD_COMMAND
        )
    else:
        worker = AdminWorker(spec_to_config(spec), timeout=600, command=CHILD_COMMAND)
    try:
        started = time.perf_counter()
        verdicts = _poll(path, worker, spec, expected)  # child builds its cluster; configs cached
        warmup = time.perf_counter() - started
        pid = worker.pid
        assert pid is not None
        child_base = status_mb(pid, "VmRSS")
        times, sent = [], []
        for _ in range(polls):
            before = written_bytes(pid)
            started = time.perf_counter()
            verdicts = _poll(path, worker, spec, expected)
            times.append(time.perf_counter() - started)
            sent.append(written_bytes(pid) - before)
        child_peak = status_mb(pid)
    finally:
        worker.close()
    return {
        "path": path,
        "brokers": brokers,
        "partitions": partitions,
        "scenario": scenario,
        "poll_s": median(times),
        "poll_s_max": max(times),
        "warmup_s": warmup,
        "parent_mb": status_mb(),
        "parent_base_mb": parent_base,
        "child_mb": child_peak,
        "child_base_mb": child_base,
        "reply_bytes": int(median(sent)),
        "message_chars": max(len(str(v)) for v in verdicts),
        "ok": [v.ok for v in verdicts],
        "fingerprint": _fingerprint(verdicts),
    }


def _row(r: dict) -> str:
    return (
        f"{r['brokers']:>5} {r['partitions']:>7} {r['scenario']:<12} {r['path']:<4}"
        f" {r['poll_s']:>8.3f} {r['poll_s_max']:>8.3f} {r['parent_mb']:>8.0f}"
        f" {r['child_mb']:>8.0f} {r['reply_bytes'] / 1e6:>9.3f} {r['message_chars']:>7}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 and 100 brokers only")
    parser.add_argument("--polls", type=int, default=5, help="timed polls per case (new path)")
    parser.add_argument("--one", nargs=4, metavar=("PATH", "BROKERS", "PARTITIONS", "SCENARIO"))
    args = parser.parse_args(argv)
    if args.one:
        path, brokers, partitions, scenario = args.one
        result = measure_case(path, int(brokers), int(partitions), scenario, args.polls)
        print(json.dumps(result))
        return 0

    sizes = SIZES[:2] if args.quick else SIZES
    cases = [(b, p, s) for b, p in sizes for s in HEADLINE_SCENARIOS]
    if not args.quick:
        cases.append((*SIZES[-1], STRESS_SCENARIO))
    print("one health poll = snapshot + cluster_healthy + restart gate + recovered gate")
    print(
        f"{'brok':>5} {'parts':>7} {'scenario':<12} {'path':<4} {'median_s':>8} {'max_s':>8}"
        f" {'parent':>8} {'child':>8} {'reply_MB':>9} {'msg_len':>7}   (MB: peak RSS)"
    )
    results: dict[tuple[int, str, str], dict] = {}
    for brokers, partitions, scenario in cases:
        for path in ("old", "new"):
            polls = args.polls if path == "new" else max(2, args.polls // 2)
            r = isolated(
                "benchmarks.poll",
                ["--one", path, str(brokers), str(partitions), scenario, "--polls", str(polls)],
            )
            results[(brokers, scenario, path)] = r
            print(_row(r), flush=True)
        old, new = results[(brokers, scenario, "old")], results[(brokers, scenario, "new")]
        same = "same verdicts" if old["fingerprint"] == new["fingerprint"] else "VERDICTS DIFFER"
        print(
            f"{'':>26} old/new: time x{ratio(old['poll_s'], new['poll_s']):.1f}, parent MB"
            f" x{ratio(old['parent_mb'], new['parent_mb']):.1f}, child MB"
            f" x{ratio(old['child_mb'], new['child_mb']):.1f}; {same}",
            flush=True,
        )

    print()
    agree = all(
        results[(b, s, "old")]["fingerprint"] == results[(b, s, "new")]["fingerprint"]
        for b, _, s in cases
    )
    print(figure("poll_verdicts_identical", "yes" if agree else "NO"))
    for brokers, _ in sizes:
        for path, prefix in (("new", "poll"), ("old", "poll_old")):
            worst = [results[(brokers, s, path)] for s in HEADLINE_SCENARIOS]
            print(figure(f"{prefix}_s_{brokers}", max(r["poll_s"] for r in worst)))
            print(figure(f"{prefix}_parent_mb_{brokers}", max(r["parent_mb"] for r in worst), 0))
            print(figure(f"{prefix}_child_mb_{brokers}", max(r["child_mb"] for r in worst), 0))
            print(
                figure(
                    f"{prefix}_mb_{brokers}",
                    max(max(r["parent_mb"], r["child_mb"]) for r in worst),
                    0,
                )
            )
        new_s = max(results[(brokers, s, "new")]["poll_s"] for s in HEADLINE_SCENARIOS)
        old_s = max(results[(brokers, s, "old")]["poll_s"] for s in HEADLINE_SCENARIOS)
        print(figure(f"poll_speedup_{brokers}", ratio(old_s, new_s), 1))
    if not args.quick:
        big = SIZES[-1][0]
        stress = results[(big, STRESS_SCENARIO, "new")]
        print(figure(f"poll_stress_s_{big}", stress["poll_s"]))
        print(figure(f"poll_stress_mb_{big}", max(stress["parent_mb"], stress["child_mb"]), 0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
