"""What a stop or a start does next, as a table: seen -> next step and the words said."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.node_steps import Next, after_stop_asked, before_start, exit_watch

L = "broker-2"

STOPS = [
    ("no process", (None, False, ""), Next.GO_ON, "no Kafka process running; nothing to stop"),
    ("no process, command failed", (None, False, "exit 1"), Next.GO_ON, "nothing to stop"),
    ("shutdown asked", (41, True, ""), Next.WATCH, "controlled shutdown of pid 41"),
    ("command failed", (41, True, "exit 1: denied"), Next.STOP_RUN, "failed: exit 1: denied"),
    ("not asked", (41, False, ""), Next.STOP_RUN, "the stop command failed"),
]


@pytest.mark.parametrize(
    ("seen", "next_", "said"), [s[1:] for s in STOPS], ids=[s[0] for s in STOPS]
)
def test_after_the_stop_was_asked(seen: tuple, next_: Next, said: str) -> None:
    decision = after_stop_asked(L, *seen)
    assert decision.next is next_
    assert said in decision.said and decision.said.startswith(L)


EXITS = [
    ("gone", (True, 3.2, 60.0), Next.GO_ON, "pid 41 exited after 3.2 s"),
    ("gone at the limit", (True, 61.0, 60.0), Next.GO_ON, "exited after 61.0 s"),
    ("still there, in time", (False, 3.0, 60.0), Next.LOOK_AGAIN, ""),
    ("still there, too long", (False, 60.0, 60.0), Next.STOP_RUN, "Nothing was killed"),
]


@pytest.mark.parametrize(
    ("seen", "next_", "said"), [e[1:] for e in EXITS], ids=[e[0] for e in EXITS]
)
def test_watching_the_exit(seen: tuple, next_: Next, said: str) -> None:
    decision = exit_watch(L, 41, *seen)
    assert decision.next is next_
    assert said in decision.said


def test_a_start_only_when_nothing_runs() -> None:
    assert before_start(L, None).next is Next.START
    running = before_start(L, 41)
    assert (running.next, running.said) == (Next.GO_ON, "broker-2: already running as pid 41")
