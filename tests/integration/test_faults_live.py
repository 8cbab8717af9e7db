"""Evidence: the roll survives faults injected from outside while it runs, on real KRaft
sandboxes (3 combined nodes, real sshd, real Prefect server), upgrading OLD -> NEW.

(c) A broker the tool has not restarted yet is SIGKILLed (not by the tool) right after
    the first node came back on NEW. While it is down (kept down 25 s) no other node is
    restarted, and within seconds the run's log names it ("broker N ... not
    registered"). Once it is started again (over SSH, as the tool starts nodes) the run
    completes and every node runs NEW.
(d) The SSH connections drop in the middle of a step: right after a node's controlled
    shutdown, while ``stop-<node>`` polls for the exit over SSH, the sandbox's sshd and
    all its per-connection processes are SIGKILLed, and started again about a second
    later. The step is retried (a task run with more than one attempt), the run log
    says why (the transient SSH error), and the run completes with every node on NEW.

The faults are watched and injected from outside the tool: Kafka pids from /proc,
the sshd processes by their config and parent chain; the verdicts come from the
Prefect server (logs, task runs) and from ``kafka-upgrade sandbox status``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from kafka_upgrade.adapters.remote import FabricRemote
from kafka_upgrade.app.local_server import PrefectServer, temporary_server
from kafka_upgrade.core.node_commands import start_command
from kafka_upgrade.core.versions import KRAFT_PAIR
from tests.integration.conftest import require_tools
from tests.integration.faults import (
    BackgroundUpgrade,
    LogWatch,
    RunRecord,
    inventory_path,
    kill_sshd,
    node_pids,
    process_age,
    restart_sshd,
    roll_order,
    running_versions,
    sandbox_down,
    sandbox_up,
)

pytestmark = pytest.mark.integration
OLD, NEW = KRAFT_PAIR.old, KRAFT_PAIR.new

ROLL_TIMEOUT_S = 1500.0  # a whole upgrade takes 2-5 min on 2 busy cores; generous
KEEP_DOWN_S = 25.0
NAMED_WITHIN_S = 15.0
SSHD_GAP_S = 1.0


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[PrefectServer]:
    with temporary_server() as server:
        yield server


def _alive(upgrade: BackgroundUpgrade, what: str) -> None:
    if not upgrade.running:
        outcome = upgrade.outcome
        raise AssertionError(
            f"the run ended before {what}: "
            + (f"{outcome.state}: {outcome.message}" if outcome else repr(upgrade.error))
        )


def test_sigkilled_broker_halts_the_roll_until_it_is_back(prefect_server: PrefectServer) -> None:
    require_tools()
    name = "ft-kill"
    inventory = sandbox_up(name)
    upgrade: BackgroundUpgrade | None = None
    try:
        assert set(running_versions(name).values()) == {OLD}
        server_logs = {n.id: LogWatch(n.log_dir / "server.log") for n in inventory.nodes}
        before = node_pids(inventory)
        assert all(before.values()), before
        upgrade = BackgroundUpgrade(prefect_server, inventory_path(name), NEW).start()
        assert upgrade.flow_run_id is not None
        record = RunRecord(prefect_server, upgrade.flow_run_id)

        # 1. The first node the roll restarts comes back: new pid, up a few seconds, and
        #    its own server.log says the server started (broker and controller are up).
        first: int | None = None
        new_pid: int | None = None
        deadline = time.monotonic() + 900
        while True:
            _alive(upgrade, "the first node came back")
            assert time.monotonic() < deadline, "no node came back within 900 s"
            pids = node_pids(inventory)
            if first is None:
                changed = [n for n, p in pids.items() if p is not None and p != before[n]]
                if changed:
                    first, new_pid = changed[0], pids[changed[0]]
            elif pids[first] != new_pid:
                raise AssertionError(f"node {first}'s new pid {new_pid} is gone: {pids}")
            elif (process_age(new_pid) or 0) >= 3 and "Kafka Server started" in server_logs[
                first
            ].new_text():
                break
            time.sleep(0.2)
        assert new_pid is not None
        order = roll_order(record.logs())
        assert order and order[0] == first, f"roll order {order}, first restarted {first}"
        victim = order[-1]  # not restarted yet, and not the next one either
        pids_at_kill = node_pids(inventory)
        assert pids_at_kill[victim] == before[victim], pids_at_kill
        print(
            f"\nroll order {order}; node {first} back as pid {new_pid} "
            f"(up {process_age(new_pid) or 0:.1f} s); SIGKILL node {victim} (pid {before[victim]})"
        )

        # 2. SIGKILL a node the roll has not reached; keep it down, watch every pid.
        os.kill(before[victim], signal.SIGKILL)
        killed_wall, killed = time.time(), time.monotonic()
        restarts: list[str] = []  # any node's process changing while the victim is down
        seen: dict[int, int | None] = {**pids_at_kill, victim: None}
        named_line: str | None = None
        named_after: float | None = None  # the naming line's own timestamp, since the kill
        named_seen: float | None = None  # when this test first read it from the server
        next_log_read = killed + 1.0
        while time.monotonic() - killed < KEEP_DOWN_S:
            pids = node_pids(inventory)
            elapsed = time.monotonic() - killed
            for node, pid in pids.items():
                if node == victim:
                    if pid is not None and pid != seen[node]:
                        restarts.append(f"node {node} (killed) started as pid {pid}")
                elif pid != seen[node]:
                    restarts.append(f"node {node}: pid {seen[node]} -> {pid} at +{elapsed:.1f} s")
                seen[node] = pid
            if named_line is None and time.monotonic() >= next_log_read:
                next_log_read = time.monotonic() + 1.0
                for log in record.logs():
                    text = log.message
                    if (
                        log.timestamp.timestamp() >= killed_wall - 0.5
                        and f"broker {victim}" in text
                        and ("not registered" in text or "refuses connections" in text)
                    ):
                        named_line = text
                        named_after = log.timestamp.timestamp() - killed_wall
                        named_seen = time.time() - killed_wall
                        break
            time.sleep(0.2)
        assert upgrade.running, f"the run ended while node {victim} was down: {upgrade.outcome}"

        # 3. Start it again, over SSH, the way the tool starts a node.
        node = inventory.node(victim)
        with FabricRemote(inventory) as remote:
            started = remote.run(node, start_command(node), timeout=120)
        down_for = time.time() - killed_wall
        print(f"node {victim} was down {down_for:.1f} s; started again: exit {started.exit_code}")
        if named_after is not None:
            print(
                f"the run log named broker {victim} {named_after:.1f} s after the kill "
                f"(read from the server after {named_seen:.1f} s): {named_line[:300]}"
            )
        else:
            print(f"the run log did not name broker {victim} within {KEEP_DOWN_S:.0f} s")

        assert started.ok, started.describe()  # the test's own step; the rest is the tool's

        # 4. The run carries on and completes; every node runs NEW. Everything is judged
        #    after the run has ended, so one failure does not hide the others.
        outcome = upgrade.wait(ROLL_TIMEOUT_S)
        versions = running_versions(name)
        print(f"run {outcome.state} in phases {outcome.phase_seconds}; versions {versions}")
        for r in outcome.records:
            print(f"  {r.phase} node {r.node_id}: {r.action} in {r.seconds} s")
        print(f"the run's log around the kill (seconds after the SIGKILL of node {victim}):")
        for log in record.logs():
            after = log.timestamp.timestamp() - killed_wall
            if -2 <= after <= KEEP_DOWN_S + 5 and not log.message.startswith("Finished in"):
                print(f"  {after:+6.1f} s  {log.message[:160]}")
        problems = []
        if restarts:
            problems.append(f"nodes restarted while node {victim} was down: {restarts}")
        if named_after is None:
            problems.append(f"no log line named broker {victim} as down while it was down")
        elif named_after > NAMED_WITHIN_S:
            problems.append(
                f"the run log named broker {victim} only {named_after:.1f} s after the kill "
                f"(limit {NAMED_WITHIN_S:.0f} s)"
            )
        if outcome.state != "COMPLETED":
            problems.append(f"the run ended {outcome.state}: {outcome.message[:3000]}")
        if versions != {n.id: NEW for n in inventory.nodes}:
            problems.append(f"not every node runs {NEW}: {versions}")
        assert not problems, "\n".join(problems)
    finally:
        sandbox_down(name)
        if upgrade is not None and upgrade.running:
            print("the run was still going when the sandbox went down (it fails on its own)")


def test_ssh_drop_mid_step_is_retried_and_the_run_completes(
    prefect_server: PrefectServer,
) -> None:
    require_tools()
    name = "ft-ssh"
    inventory = sandbox_up(name)
    upgrade: BackgroundUpgrade | None = None
    try:
        assert set(running_versions(name).values()) == {OLD}
        before = node_pids(inventory)
        assert all(before.values()), before
        upgrade = BackgroundUpgrade(prefect_server, inventory_path(name), NEW).start()
        assert upgrade.flow_run_id is not None
        record = RunRecord(prefect_server, upgrade.flow_run_id)

        # 1. The first controlled shutdown ends: its Kafka pid disappears while
        #    stop-<node> is still polling for the exit over SSH.
        stopped: int | None = None
        deadline = time.monotonic() + 900
        while stopped is None:
            _alive(upgrade, "a node was stopped")
            assert time.monotonic() < deadline, "no node was stopped within 900 s"
            pids = node_pids(inventory)
            gone = [n for n, p in pids.items() if p is None]
            stopped = gone[0] if gone else None
            if stopped is None:
                time.sleep(0.05)
        seen_gone = time.monotonic()

        # 2. Every SSH connection drops: sshd and its per-connection processes die.
        killed = kill_sshd(name)
        dropped = time.monotonic()
        time.sleep(max(0.0, SSHD_GAP_S - (time.monotonic() - dropped)))
        restart_sshd(name, inventory)
        gap = time.monotonic() - dropped
        print(
            f"\nnode {stopped}'s pid {before[stopped]} gone; {(dropped - seen_gone) * 1000:.0f} ms "
            f"later killed sshd processes {killed}; sshd listening again after {gap:.2f} s"
        )

        # 3. The run completes; every node runs NEW.
        outcome = upgrade.wait(ROLL_TIMEOUT_S)
        print(f"run {outcome.state} in phases {outcome.phase_seconds}")
        for r in outcome.records:
            print(f"  {r.phase} node {r.node_id}: {r.action} in {r.seconds} s")

        # 4. A step was retried, and the log says why.
        task_runs = record.task_runs()
        retried = [t for t in task_runs if (t.run_count or 0) > 1]
        for t in retried:
            states = record.state_names(t.id)
            print(f"retried: {t.name} run_count={t.run_count} states={states}")
        logs = record.logs()
        why = [
            log.message
            for log in logs
            if "Retry" in log.message
            and ("TransientRemoteError" in log.message or "SSH" in log.message)
        ]
        for line in why:
            print(f"log: {line[:400]}")
        ssh_lines = [
            log.message for log in logs if "SSH" in log.message and "Retry" not in log.message
        ]
        for line in ssh_lines[:5]:
            print(f"log (SSH): {line[:400]}")

        assert outcome.state == "COMPLETED", outcome.message
        assert running_versions(name) == {n.id: NEW for n in inventory.nodes}
        assert retried, "no task run was retried after the SSH drop; task runs: " + ", ".join(
            f"{t.name}={t.run_count}" for t in task_runs
        )
        assert why, "no log line says the step is retried because of the SSH error"
    finally:
        sandbox_down(name)
