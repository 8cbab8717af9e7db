"""The plan on synthetic inventories: roll order plus the phase plan the approver reads.

For 12 / 100 / 1,000 brokers, in both modes (ZooKeeper: brokers only, the
protocol pinned from 3.7 to 3.8 on every one; KRaft: three controller-only
nodes plus the brokers, no config change), one plan is
``order.roll_order`` over every node, then ``phase_plan.roll_plan`` over all
of them, rendered as the log lines and the approval form's markdown. Pure
code, no child process: the figures are the median time of repeated runs and
the peak resident memory of a fresh process per size.

    python -m benchmarks.plan            # everything, then name=value figures
    python -m benchmarks.plan --quick    # 12 and 100 brokers only
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from benchmarks.measure import figure, isolated, median, status_mb

SIZES = (12, 100, 1000)
MODES = ("zk", "kraft")


def plan_once(brokers: int, mode: str) -> tuple[int, int, float]:
    """One plan, as the flow makes it; returns (nodes, markdown characters, order seconds)."""
    from kafka_upgrade.core.modes import mode_of
    from kafka_upgrade.core.order import NodeRef, roll_order
    from kafka_upgrade.core.phase_plan import roll_plan

    refs = [NodeRef(i, frozenset({"broker"})) for i in range(1, brokers + 1)]
    rules = mode_of(mode)
    if rules.controller_role:
        refs += [NodeRef(9000 + i, frozenset({"controller"})) for i in (1, 2, 3)]
        active = 9002
    else:
        active = brokers // 2
    started = time.perf_counter()
    order = roll_order(refs, rules, active)
    order_s = time.perf_counter() - started
    labels = [f"controller-{i}" if i > 9000 else f"broker-{i}" for i in order]
    if rules.pins_protocol:
        key = "inter.broker.protocol.version"
        wanted = {label: {key: "3.8"} for label in labels}
        current = {label: {key: "3.7"} for label in labels}
        phase = "phase-2-protocol"
    else:
        wanted, current, phase = {}, {}, "phase-1-binaries"
    plan = roll_plan(phase, "bench", labels, "4.1.1", wanted, current)
    plan.lines()
    return len(labels), len(plan.markdown()), order_s


def measure_size(brokers: int, repeats: int) -> dict:
    out: dict = {"brokers": brokers}
    for mode in MODES:
        plan_once(brokers, mode)  # imports and warm-up
        times, order_times = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            nodes, chars, order_s = plan_once(brokers, mode)
            times.append(time.perf_counter() - started)
            order_times.append(order_s)
        out[mode] = {
            "s": median(times),
            "order_s": median(order_times),
            "nodes": nodes,
            "markdown_chars": chars,
        }
    out["mb"] = status_mb()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 and 100 brokers only")
    parser.add_argument("--one", type=int, metavar="BROKERS")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_size(args.one, args.repeats)))
        return 0
    sizes = SIZES[:2] if args.quick else SIZES
    print("one plan = roll_order + phase_plan.roll_plan + lines() + markdown() (MB: peak RSS)")
    print(
        f"{'brokers':>7} {'mode':<6} {'nodes':>6} {'median_s':>9} {'order_s':>9}"
        f" {'form_chars':>10} {'MB':>6}"
    )
    results = {}
    for brokers in sizes:
        r = isolated("benchmarks.plan", ["--one", str(brokers), "--repeats", str(args.repeats)])
        results[brokers] = r
        for mode in MODES:
            m = r[mode]
            print(
                f"{brokers:>7} {mode:<6} {m['nodes']:>6} {m['s']:>9.4f} {m['order_s']:>9.4f}"
                f" {m['markdown_chars']:>10} {r['mb']:>6.0f}",
                flush=True,
            )
    print()
    for brokers in sizes:
        r = results[brokers]
        print(figure(f"plan_s_{brokers}", max(r[m]["s"] for m in MODES), 4))
        print(figure(f"plan_mb_{brokers}", r["mb"], 0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
