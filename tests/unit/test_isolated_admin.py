"""One-off admin calls in a child: a crashed child is an error value, never our crash.

No Kafka here: the calls go to a port nobody listens on, and the test kills
the child with SIGABRT (what a librdkafka assertion does) while it waits.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from kafka_upgrade.adapters import isolated_admin
from kafka_upgrade.adapters.isolated_admin import AdminProcessDied, describe_exit
from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable

NOBODY = {"bootstrap.servers": "127.0.0.1:1"}


def _admin_children() -> set[int]:
    """Our children running the isolated admin module."""
    found = set()
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        ppid = stat[stat.rindex(")") + 2 :].split()[1]
        if ppid == me and isolated_admin.CHILD_MODULE in cmdline:
            found.add(int(entry.name))
    return found


class Aborter:
    """Sends SIGABRT to the first ``count`` admin children it sees; records every child."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen: set[int] = set()
        self.aborted: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in _admin_children() - self.seen:
                self.seen.add(pid)
                if len(self.aborted) < self.count:
                    time.sleep(0.5)  # let it get going
                    os.kill(pid, signal.SIGABRT)
                    self.aborted.append(pid)
            time.sleep(0.05)

    def __enter__(self) -> Aborter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def test_an_aborted_child_is_a_clear_error_and_the_caller_lives() -> None:
    started = time.monotonic()
    with Aborter(count=1) as aborter, pytest.raises(AdminProcessDied) as caught:
        isolated_admin.create_topic(NOBODY, "orders", timeout=60)
    message = str(caught.value)
    assert "create topic" in message
    assert "killed by SIGABRT (a librdkafka abort)" in message
    assert len(aborter.aborted) == 1
    assert time.monotonic() - started < 60, "the error came from the crash, not a timeout"
    assert _admin_children() == set(), "no child is left behind"
    assert isinstance(caught.value, KafkaUnavailable)  # transient, for callers that retry


def test_the_wait_loop_replaces_a_crashed_child_and_goes_on_to_its_deadline() -> None:
    with Aborter(count=1) as aborter, pytest.raises(KafkaUnavailable) as caught:
        isolated_admin.wait_for_brokers(NOBODY, {1, 2, 3}, timeout=5)
    assert len(aborter.aborted) == 1
    assert len(aborter.seen) == 2, "a second child should have taken over"
    # The second child ran to the deadline and said what it saw.
    assert not isinstance(caught.value, AdminProcessDied)
    assert "brokers [1, 2, 3] did not register" in str(caught.value)


def test_exit_status_in_words() -> None:
    assert describe_exit(-signal.SIGABRT) == "was killed by SIGABRT (a librdkafka abort)"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(1) == "exited with status 1 without answering"
