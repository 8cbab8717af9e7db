"""May ``sandbox up --name X`` take over X's existing directory? A pure decision.

A sandbox records who created it (the process running ``up``) and who owns it:
the process whose life bounds it (a demo, a test session), or nobody, when it
stays until ``sandbox down`` (what the ``sandbox up`` command makes). When X's
directory exists, ``up`` observes it and decides:

=======================================  =================  ==================
observed                                 action             because
=======================================  =================  ==================
no state file                            take it down       an earlier up stopped before
                                                            writing state, or failed
phase starting, creator is us            take it down       ours, unfinished
phase starting, creator running          refuse             another process is starting it
phase starting, creator gone             take it down       its creator died mid-way
up, owner is us                          take it down       ours: start fresh
up, owner running                        refuse             it belongs to that process
up, owner gone                           take it down       its owner died without ``down``
up, no owner, processes running          refuse             a live sandbox someone uses
up, no owner, nothing running            take it down       nothing left to keep
=======================================  =================  ==================

"Taking it down" is ``cluster.down``: it kills everything whose command line
lies under the sandbox directory, so nothing of the old one survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kafka_upgrade.app.process_id import ProcessId

Phase = Literal["starting", "up"]


@dataclass(frozen=True)
class Existing:
    """What ``up`` sees of an existing sandbox directory."""

    has_state: bool
    phase: Phase = "up"
    creator: ProcessId | None = None
    creator_running: bool = False
    creator_is_us: bool = False
    owner: ProcessId | None = None  # None: it stays until `sandbox down`
    owner_running: bool = False
    owner_is_us: bool = False
    processes_running: bool = False


@dataclass(frozen=True)
class Verdict:
    action: Literal["take-down", "refuse"]
    reason: str

    @property
    def take_down(self) -> bool:
        return self.action == "take-down"


def read_record(state: dict[str, Any]) -> tuple[Phase, ProcessId | None, ProcessId | None]:
    """(phase, creator, owner) from a sandbox.json; state files from before these
    fields existed read as an up sandbox with neither."""
    phase: Phase = "starting" if state.get("phase") == "starting" else "up"
    return phase, ProcessId.from_json(state.get("creator")), ProcessId.from_json(state.get("owner"))


def decide(name: str, seen: Existing) -> Verdict:
    down_hint = f"`kafka-upgrade sandbox down --name {name}`"
    if not seen.has_state:
        return Verdict(
            "take-down", "its directory has no state: an earlier `sandbox up` stopped or failed"
        )
    if seen.phase == "starting":
        pid = seen.creator.pid if seen.creator else "?"
        if seen.creator_is_us:
            return Verdict("take-down", "this process started it earlier and did not finish")
        if seen.creator_running:
            return Verdict(
                "refuse",
                f"sandbox {name!r} is being started right now by process {pid}; "
                f"wait for it, or stop it and run {down_hint}",
            )
        return Verdict("take-down", f"its creator, process {pid}, died while starting it")
    if seen.owner is not None:
        pid = seen.owner.pid
        if seen.owner_is_us:
            return Verdict("take-down", "this process brought it up earlier")
        if seen.owner_running:
            return Verdict(
                "refuse",
                f"sandbox {name!r} belongs to process {pid}, which is still running; "
                f"stop that process, or run {down_hint}",
            )
        return Verdict("take-down", f"its owner, process {pid}, ended without taking it down")
    if seen.processes_running:
        return Verdict(
            "refuse",
            f"sandbox {name!r} is already up (it stays until taken down); "
            f"use it, or run {down_hint} first",
        )
    return Verdict("take-down", "it was up, but none of its processes is running any more")
