"""What a stop or a start of one node does next, decided from what was seen.

The tasks in ``tasks/node.py`` run the commands and report what they saw; these
pure functions say what that means:

=============================  ==============================================
seen                           next
=============================  ==============================================
stop: no Kafka process         nothing to stop (a re-run, or a node already
                               down): go on
stop: the command failed       stop the run: the node's state is unclear
stop: shutdown asked           watch the process until it exits
watch: the process is gone     exited: go on
watch: still there, in time    look again
watch: still there, too long   stop the run; nothing is ever killed behind
                               the operator's back
start: a process runs          already running: nothing to start
start: no process              start it
=============================  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Next(StrEnum):
    GO_ON = "go on"
    WATCH = "watch until it exits"
    LOOK_AGAIN = "look again"
    START = "start it"
    STOP_RUN = "stop the run"


@dataclass(frozen=True)
class StepDecision:
    next: Next
    said: str  # what the log (or the failure) says, naming the node


def after_stop_asked(label: str, pid: int | None, asked: bool, failure: str) -> StepDecision:
    """The probe-and-stop command ran: ``pid`` the process it found (None: none), ``asked``
    whether the shutdown was asked, ``failure`` the command's own account when it failed
    (empty when it succeeded)."""
    if pid is None:
        return StepDecision(Next.GO_ON, f"{label}: no Kafka process running; nothing to stop")
    if not asked or failure:
        return StepDecision(
            Next.STOP_RUN, f"{label}: the stop command failed: {failure or 'it was not asked'}"
        )
    return StepDecision(
        Next.WATCH, f"{label}: controlled shutdown of pid {pid} (leadership moves off first)"
    )


def exit_watch(label: str, pid: int, gone: bool, elapsed: float, limit: float) -> StepDecision:
    """One look at a process asked to shut down ``elapsed`` seconds ago."""
    if gone:
        return StepDecision(Next.GO_ON, f"{label}: pid {pid} exited after {elapsed:.1f} s")
    if elapsed < limit:
        return StepDecision(Next.LOOK_AGAIN, "")
    return StepDecision(
        Next.STOP_RUN,
        f"{label}: pid {pid} still runs {limit:.0f} s after a controlled shutdown was asked. "
        "Nothing was killed. Look at its server.log and a thread dump (jstack), stop it by hand, "
        "then re-run the upgrade: nodes already done are skipped.",
    )


def before_start(label: str, pid: int | None) -> StepDecision:
    """Start a node only when no Kafka process runs there."""
    if pid is not None:
        return StepDecision(Next.GO_ON, f"{label}: already running as pid {pid}")
    return StepDecision(Next.START, "")
