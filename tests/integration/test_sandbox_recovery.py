"""A `sandbox up` killed mid-way is cleaned up by the next `sandbox up` of the name.

Issue 7: librdkafka aborted `sandbox up` while it waited for the brokers, and
an abort skips every cleanup, so the nodes and sshd it had started stayed up.
Here the creator is killed with SIGKILL at that very moment (its admin child
waiting for the brokers to register), and:

1. while it still runs, another `up` of the name is refused, naming its pid;
2. the kill leaves sshd and the Kafka nodes running (what a crash leaves);
   the admin child dies with its caller;
3. the next `sandbox up --name` says in one line that it takes the remains
   down, starts fresh, and comes up; nothing of the first one survives;
4. the new sandbox is safe from a third `up` while its owner lives;
5. `sandbox down` leaves no process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kafka_upgrade.adapters.isolated_admin import CHILD_MODULE
from kafka_upgrade.app.process_id import descendants, is_running, observe
from kafka_upgrade.core.versions import pair_for
from kafka_upgrade.sandbox import cluster
from tests.integration.conftest import CLI, cli, require_tools, sandbox_status

pytestmark = pytest.mark.integration

NAME = "iso-killed"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _state() -> dict:
    try:
        return json.loads((cluster.sandbox_dir(NAME) / "sandbox.json").read_text())
    except (OSError, ValueError):
        return {}


def _wait_for(what: str, check: object, first: subprocess.Popen, log: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        if first.poll() is not None:
            pytest.fail(
                f"the first `sandbox up` ended (exit {first.returncode}) before {what}:\n"
                + log.read_text()
            )
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n" + log.read_text())


def _one_line(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines when stderr is not a terminal


def test_the_next_up_takes_down_what_a_killed_up_left(tmp_path: Path) -> None:
    require_tools()
    log = tmp_path / "first-up.log"
    with log.open("w") as out:
        first = subprocess.Popen(
            [*CLI, "sandbox", "up", "--name", NAME, "--mode", "kraft"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # 1. Started, not finished: another up of this name is refused, naming the creator.
        _wait_for("its state", lambda: _state().get("phase") == "starting", first, log, timeout=600)
        started = time.monotonic()
        with pytest.raises(cluster.SandboxError) as refused:
            cluster.up(NAME, "kraft", log=lambda m: None)
        assert f"being started right now by process {first.pid}" in str(refused.value)
        assert f"sandbox down --name {NAME}" in str(refused.value)

        # 2. Kill it where issue 7's abort hit: waiting for the brokers, in its admin child.
        admin_child = _wait_for(
            "its admin child",
            lambda: [p for p in descendants(first.pid) if CHILD_MODULE in _cmdline(p)],
            first,
            log,
            timeout=300,
        )[0]
        child = observe(admin_child)
        assert _state().get("phase") == "starting", "it came up before the test could kill it"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        print(f"\nfirst up killed {time.monotonic() - started:.1f} s after its state appeared")

        left = {pid: observe(pid) for pid in cluster.running_processes(NAME)}
        commands = [_cmdline(pid) for pid in left]
        assert any("sshd" in c for c in commands), commands
        assert sum("server.properties" in c for c in commands) == 3, commands
        deadline = time.monotonic() + 10
        while child is not None and is_running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child is None or not is_running(child), "the admin child outlived its caller"

        # 3. The next up says what it does, in one line, and comes up fresh.
        again_started = time.monotonic()
        again = cli("sandbox", "up", "--name", NAME, "--mode", "kraft")
        print(f"second up took {time.monotonic() - again_started:.1f} s")
        said = _one_line(again.stderr)
        assert (
            f"sandbox '{NAME}' exists but its creator, process {first.pid}, died while "
            "starting it; taking it down first"
        ) in said, again.stderr
        survivors = [pid for pid, rec in left.items() if rec is not None and is_running(rec)]
        assert survivors == [], [_cmdline(p) for p in survivors]
        info = sandbox_status(NAME)
        old = pair_for("kraft").old
        assert [(n["running"], n["version"]) for n in info["nodes"]] == [(True, old)] * 3

        # 4. Its owner (this test session) lives: another up of the name is refused.
        pids = {n["id"]: n["pid"] for n in info["nodes"]}
        third = cli("sandbox", "up", "--name", NAME, "--mode", "kraft", check=False)
        assert third.returncode == 1
        assert f"belongs to process {os.getpid()}, which is still running" in _one_line(
            third.stderr
        )
        assert {n["id"]: n["pid"] for n in sandbox_status(NAME)["nodes"]} == pids

        # 5. Down leaves nothing.
        cli("sandbox", "down", "--name", NAME)
        assert cluster.running_processes(NAME) == []
        assert not cluster.sandbox_dir(NAME).exists()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        if cluster.sandbox_dir(NAME).exists():
            cli("sandbox", "down", "--name", NAME, check=False)
