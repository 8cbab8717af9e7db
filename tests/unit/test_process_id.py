"""Telling a recorded process from whatever runs under its pid now."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from kafka_upgrade.app.process_id import (
    ProcessId,
    is_current,
    is_running,
    observe,
    parse_stat,
    same_process,
)

REC = ProcessId(4242, 1000, "boot-a")


@pytest.mark.parametrize(
    ("seen", "same"),
    [
        (None, False),  # nothing runs under the pid
        (ProcessId(4242, 1000, "boot-a"), True),
        (ProcessId(4242, 2000, "boot-a"), False),  # the pid was reused
        (ProcessId(4242, 1000, "boot-b"), False),  # same pid and ticks, another boot
        (ProcessId(4243, 1000, "boot-a"), False),
        (ProcessId(4242, None, None), True),  # no /proc: the pid alone decides
    ],
)
def test_same_process(seen: ProcessId | None, same: bool) -> None:
    assert same_process(REC, seen) is same


def test_stat_with_spaces_and_parentheses_in_the_command_name() -> None:
    fields = " ".join(str(i) for i in range(4, 23))  # fields 4..22; 22 is the start time
    assert parse_stat(f"77 (a) b (c)) S {fields} 23 24") == ("S", 22)


def test_record_round_trips_and_rejects_garbage() -> None:
    assert ProcessId.from_json(REC.to_json()) == REC
    assert ProcessId.from_json(None) is None
    assert ProcessId.from_json({"pid": "12"}) is None


def test_this_process_is_running_and_is_us() -> None:
    me = ProcessId.current()
    assert me.start_ticks is not None
    assert is_running(me) and is_current(me)
    assert not is_current(ProcessId(me.pid, me.start_ticks + 1, me.boot_id))


def test_an_ended_process_is_not_running_even_unreaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    recorded = observe(child.pid)
    assert recorded is not None and is_running(recorded)
    child.kill()
    deadline = time.monotonic() + 10
    while observe(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    # Killed but not yet reaped: a zombie, which counts as gone.
    assert not is_running(recorded)
    child.wait()
    assert not is_running(recorded)


def test_descendants_and_alive_follow_a_real_process_tree() -> None:
    from kafka_upgrade.app.process_id import alive, descendants

    parent = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        children = descendants(parent.pid)
        assert len(children) == 2 and all(alive(p) for p in children)
    finally:
        parent.kill()
        parent.wait()
    for pid in children:
        os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in children)
    assert not alive(parent.pid)
