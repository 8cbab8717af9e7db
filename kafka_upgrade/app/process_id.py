"""Which process left this behind, and is that very process still running?

A pid alone is not enough to tell: pids are reused, and after a reboot the same
pid comes back early. So a record names the pid, the process's start time
(clock ticks since boot, from ``/proc/PID/stat``) and the boot id; a process
"is still running" only when all three match and it is not a zombie. Used by
the sandbox (who created it, who holds it) and by the temporary Prefect homes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class ProcessId:
    pid: int
    start_ticks: int | None  # None where /proc cannot tell (then the pid alone decides)
    boot_id: str | None

    @classmethod
    def current(cls) -> ProcessId:
        seen = observe(os.getpid())
        return seen if seen is not None else cls(os.getpid(), None, None)

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_ticks": self.start_ticks, "boot_id": self.boot_id}

    @classmethod
    def from_json(cls, data: object) -> ProcessId | None:
        """The record back, or None when it is missing or malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return None
        ticks = data.get("start_ticks")
        boot = data.get("boot_id")
        return cls(
            data["pid"],
            ticks if isinstance(ticks, int) else None,
            boot if isinstance(boot, str) else None,
        )


def parse_stat(text: str) -> tuple[str, int]:
    """(state, start time in ticks) from the text of ``/proc/PID/stat``."""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = text[text.rindex(")") + 2 :].split()
    return rest[0], int(rest[19])


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return None


def observe(pid: int) -> ProcessId | None:
    """The running process with this pid now, or None (no such process, or a zombie)."""
    try:
        state, ticks = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, IndexError):
        # No usable /proc: fall back to "does the pid exist".
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ProcessId(pid, None, None)
    if state in ("Z", "X"):  # exited, waiting to be reaped: not running
        return None
    return ProcessId(pid, ticks, _boot_id())


def same_process(recorded: ProcessId, seen: ProcessId | None) -> bool:
    """Whether ``seen`` (what runs under the pid now) is the process ``recorded`` names."""
    if seen is None or seen.pid != recorded.pid:
        return False
    if recorded.boot_id and seen.boot_id and recorded.boot_id != seen.boot_id:
        return False
    if recorded.start_ticks is not None and seen.start_ticks is not None:
        return recorded.start_ticks == seen.start_ticks
    return True


def is_running(recorded: ProcessId) -> bool:
    return same_process(recorded, observe(recorded.pid))


def is_current(recorded: ProcessId) -> bool:
    """Whether ``recorded`` is this very process."""
    return same_process(recorded, ProcessId.current())


def alive(pid: int) -> bool:
    """Whether a process (not a zombie) runs under ``pid`` now."""
    return observe(pid) is not None


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc), parents before their children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
