"""Helpers the benchmark scripts share: peak memory from /proc, isolated runs, figures.

Peak memory is the kernel's high-water mark of resident memory (``VmHWM``) of
a process, parent or child, so every measured case runs in a fresh process
(``isolated``): a peak cannot be reset.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

MB = 1024 * 1024


def status_mb(pid: int | str = "self", field: str = "VmHWM") -> float:
    """A memory field of /proc/PID/status in MB (VmHWM: peak resident, VmRSS: now)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / MB
    raise LookupError(f"{field} not in /proc/{pid}/status")


def written_bytes(pid: int) -> int:
    """Bytes the process has written so far (pipes included), from /proc/PID/io."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise LookupError(f"wchar not in /proc/{pid}/io")


def isolated(module: str, args: Sequence[str], timeout: float = 900) -> dict[str, Any]:
    """Run ``python -m module args`` in a fresh process; its last stdout line, as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def figure(name: str, value: float | str, digits: int = 3) -> str:
    """One ``name=value`` line (the form ``benchmarks.run`` collects)."""
    text = value if isinstance(value, str) else f"{value:.{digits}f}"
    return f"{name}={text}"


def ratio(old: float, new: float) -> float:
    return old / new if new > 0 else float("inf")
