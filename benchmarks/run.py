"""``make bench``: run every registered benchmark script, then print the headline figures.

Each script is a module that runs on its own (``python -m benchmarks.poll``),
prints its table and ratios, and ends with ``name=value`` lines. This runner
runs them one after the other (never in parallel: they measure time and
memory), passes their output through, and ends with one ``name=value`` line
per headline figure, in ``HEADLINES`` order. A headline no registered script
printed reads ``n/a (not measured by this script)``.

To add a benchmark: write ``benchmarks/NAME.py`` with a ``main(argv)`` that
prints ``name=value`` lines, and add a ``Script`` to ``SCRIPTS`` below (and its
headline names to ``HEADLINES`` if they are new).

    python -m benchmarks.run              # all
    python -m benchmarks.run poll         # only the scripts named
    python -m benchmarks.run --quick      # passes --quick to the scripts that take it
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

FIGURE = re.compile(r"^([a-z][a-z0-9_]*)=(.*)$")
NOT_MEASURED = "n/a (not measured by this script)"


@dataclass(frozen=True)
class Script:
    name: str  # benchmarks/<name>.py, run as python -m benchmarks.<name>
    what: str
    quick: bool = False  # takes --quick


# The registry.
SCRIPTS: tuple[Script, ...] = (
    Script("poll", "one health poll (observe + verdict), old path and new, 12-1,000 brokers", True),
    Script("plan", "roll order + phase plan, 12-1,000 brokers", True),
    Script("overhead", "roll phase time against inherent restart times, real KRaft sandbox"),
    Script("batch", "phase 1 on a 3+6 node KRaft sandbox: max_parallel 2 against 1 (15-35 min)"),
)

HEADLINES: tuple[str, ...] = (
    "overhead_ratio",
    "overhead_phase_s",
    "overhead_inherent_s",
    "poll_s_1000",
    "poll_mb_1000",
    "poll_old_s_1000",
    "poll_old_mb_1000",
    "poll_speedup_1000",
    "poll_verdicts_identical",
    "plan_s_1000",
    "batch_speedup",
    "batch_brokers_speedup",
)


def run_script(script: Script, quick: bool) -> tuple[dict[str, str], bool]:
    """Run one script, echo its output; the figures it printed, and whether it succeeded."""
    args = [sys.executable, "-m", f"benchmarks.{script.name}"]
    if quick and script.quick:
        args.append("--quick")
    print(f"== {script.name}: {script.what}", flush=True)
    started = time.monotonic()
    figures: dict[str, str] = {}
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            m = FIGURE.match(line.strip())
            if m:
                figures[m.group(1)] = m.group(2)
    ok = proc.returncode == 0
    status = "done" if ok else f"FAILED (exit {proc.returncode})"
    print(f"== {script.name}: {status} in {time.monotonic() - started:.0f} s\n", flush=True)
    return figures, ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="script names to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes where supported")
    args = parser.parse_args(argv)
    known = {s.name: s for s in SCRIPTS}
    unknown = [n for n in args.only if n not in known]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; registered: {', '.join(known)}")
    chosen = [known[n] for n in args.only] if args.only else list(SCRIPTS)

    print(
        f"machine: {platform.node()}, {platform.machine()}, {_cpus()} CPUs, "
        f"Python {platform.python_version()}, load {_load()}\n",
        flush=True,
    )
    figures: dict[str, str] = {}
    failed = []
    for script in chosen:
        got, ok = run_script(script, args.quick)
        if not ok:
            failed.append(script.name)
        figures.update(got)

    print("== headline figures")
    for name in HEADLINES:
        print(f"{name}={figures.get(name, NOT_MEASURED)}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _cpus() -> str:
    return str(os.cpu_count() or "?")


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
