"""Helpers for fault-injection tests: watch a sandbox's processes straight from /proc,
break its sshd, run an upgrade in the background, and read what the run told Prefect.

The faults are injected and watched from outside the run under test (from /proc and
the sandbox's files, like an operator or a crash would), never through the run's own
transport or admin client; versions are read through ``kafka-upgrade sandbox status``.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import Log, TaskRun
from prefect.client.schemas.sorting import FlowRunSort, LogSort, TaskRunSort
from prefect.settings import PREFECT_API_URL, temporary_settings

from kafka_upgrade.app.local_run import RunOutcome, run_upgrade
from kafka_upgrade.app.local_server import PrefectServer
from kafka_upgrade.core.inventory import Inventory, load_inventory
from kafka_upgrade.sandbox import cluster, sshd
from tests.integration.conftest import cli

# -- processes, from /proc -----------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    comm: str
    args: tuple[str, ...]


def processes() -> dict[int, Proc]:
    """Every live (non-zombie) process this user can read."""
    found: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        if rest[0] in ("Z", "X"):
            continue  # exited (pid 1 here may never reap it): not running
        args = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
        found[int(entry.name)] = Proc(int(entry.name), int(rest[1]), rest[0], comm, args)
    return found


def node_pids(inventory: Inventory) -> dict[int, int | None]:
    """Kafka pid per node: the JVM whose command line holds the node's server.properties."""
    wanted = {str(n.config_path): n.id for n in inventory.nodes}
    found: dict[int, int | None] = {n.id: None for n in inventory.nodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" not in args:
            continue  # also skips zombies (empty cmdline) and kafka-server-stop.sh
        for arg in args:
            node = wanted.get(arg.decode(errors="replace"))
            if node is not None:
                found[node] = int(entry.name)
    return found


def process_age(pid: int) -> float | None:
    """Seconds since ``pid`` started, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return None
    start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


class LogWatch:
    """Text a node's server.log gained since this watch was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_text(self) -> str:
        try:
            size = self.path.stat().st_size
        except OSError:
            return ""
        if size < self.offset:  # rotated
            self.offset = 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")


# -- the sandbox ---------------------------------------------------------------------


def sandbox_up(name: str) -> Inventory:
    """A KRaft sandbox on OLD with NEW staged, through the CLI (its librdkafka client
    lives and dies in that process, never in the test's)."""
    cli("sandbox", "up", "--name", name, "--mode", "kraft")
    return load_inventory(inventory_path(name))


def inventory_path(name: str) -> Path:
    return cluster.sandbox_dir(name) / "inventory.yaml"


def sandbox_down(name: str) -> None:
    if cluster.sandbox_dir(name).exists():
        result = cli("sandbox", "down", "--name", name, check=False)
        if result.returncode != 0:
            print(f"sandbox down {name} exited {result.returncode}: {result.stderr[-2000:]}")


def running_versions(name: str) -> dict[int, str | None]:
    """Per node, the version its running process loaded (None: not running)."""
    status = json.loads(cli("sandbox", "status", "--name", name, "--json").stdout)
    return {n["id"]: n["version"] if n["running"] else None for n in status["nodes"]}


# -- the sandbox's sshd --------------------------------------------------------------


def _state_path(name: str) -> Path:
    return cluster.sandbox_dir(name) / "sandbox.json"


def sshd_listener(name: str) -> int:
    return int(json.loads(_state_path(name).read_text())["sshd_pid"])


def sshd_processes(name: str) -> list[int]:
    """The sandbox's sshd listener and every sshd process below it (one [priv] monitor and
    one user@notty process per open connection: these hold the tool's TCP connections)."""
    config = str(sshd.SshdFiles(cluster.sandbox_dir(name) / "ssh").config)
    procs = processes()
    roots = {
        p.pid for p in procs.values() if p.comm.startswith("sshd") and config in " ".join(p.args)
    }
    listener = sshd_listener(name)
    if listener in procs:
        roots.add(listener)
    found = set(roots)
    grew = True
    while grew:
        below = {
            p.pid for p in procs.values() if p.ppid in found and p.comm.startswith("sshd")
        } - found
        found |= below
        grew = bool(below)
    return sorted(found)


def kill_sshd(name: str) -> list[int]:
    """SIGKILL the sandbox's sshd and all its per-connection processes: every open SSH
    connection to every node drops, and nothing listens until ``restart_sshd``."""
    listener = sshd_listener(name)
    try:
        os.kill(listener, signal.SIGSTOP)  # no new connection while we look for the old ones
    except ProcessLookupError:
        pass
    pids = sshd_processes(name)
    for pid in [listener, *[p for p in pids if p != listener]]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def restart_sshd(name: str, inventory: Inventory, timeout: float = 15.0) -> subprocess.Popen:
    """Start the sandbox's sshd again with its own config (the command line ``sshd.start``
    uses), wait until every node's address accepts, and record its pid for ``sandbox down``.

    The process is this test's child; a thread reaps it when ``sandbox down`` stops it
    (pid 1 here does not reap, and ``sshd.stop`` waits for the pid to vanish).
    """
    files = sshd.SshdFiles(cluster.sandbox_dir(name) / "ssh")
    proc = subprocess.Popen(
        [sshd.find_sshd(), "-D", "-f", str(files.config), "-E", str(files.log_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    threading.Thread(target=proc.wait, daemon=True).start()
    pending = [n.host for n in inventory.nodes]
    port = inventory.ssh.port
    deadline = time.monotonic() + timeout
    while pending:
        if proc.poll() is not None:
            raise AssertionError(f"sshd exited with {proc.returncode}; see {files.log_file}")
        if time.monotonic() > deadline:
            raise AssertionError(f"sshd did not listen on {pending[0]}:{port} in {timeout} s")
        try:
            with socket.create_connection((pending[0], port), timeout=0.5):
                pending.pop(0)
        except OSError:
            time.sleep(0.02)
    state = json.loads(_state_path(name).read_text())
    state["sshd_pid"] = proc.pid
    tmp = _state_path(name).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(_state_path(name))
    return proc


# -- an upgrade in the background ----------------------------------------------------


@dataclass
class BackgroundUpgrade:
    """``rolling-upgrade`` OLD -> NEW (auto-approved) in a thread of this process."""

    server: PrefectServer
    inventory_path: Path
    to_version: str
    flow_run_id: UUID | None = None
    outcome: RunOutcome | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)
    _created: threading.Event = field(default_factory=threading.Event, repr=False)

    def start(self) -> BackgroundUpgrade:
        def created(flow_run_id: UUID) -> None:
            self.flow_run_id = flow_run_id
            self._created.set()

        def body() -> None:
            try:
                self.outcome = run_upgrade(
                    self.server,
                    str(self.inventory_path),
                    self.to_version,
                    auto_approve=True,
                    say=lambda m: print(f"[run] {m}"),
                    interactive=False,
                    on_created=created,
                )
            except BaseException as exc:  # noqa: BLE001 - reported by wait()
                self.error = exc
            finally:
                self._created.set()

        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(body,), daemon=True, name="upgrade"
        )
        self._thread.start()
        if not self._created.wait(120) or self.flow_run_id is None:
            raise AssertionError(f"the flow run was not created: {self.error!r}")
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float) -> RunOutcome:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the upgrade did not finish within {timeout:.0f} s")
        if self.error is not None:
            raise AssertionError(f"run_upgrade raised {self.error!r}") from self.error
        assert self.outcome is not None
        return self.outcome


# -- what the run told the Prefect server --------------------------------------------


class RunRecord:
    """Reads one flow run's logs and task runs (its subflows' included) from the server."""

    def __init__(self, server: PrefectServer, flow_run_id: UUID) -> None:
        self.server = server
        self.root = flow_run_id

    @contextmanager
    def _client(self) -> Iterator[Any]:
        with (
            temporary_settings(updates={PREFECT_API_URL: self.server.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client

    def flow_run_ids(self) -> list[UUID]:
        """The run and every subflow below it."""
        ids = [self.root]
        frontier = [self.root]
        with self._client() as client:
            while frontier:
                children = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier)
                    ),
                    sort=FlowRunSort.ID_DESC,  # 3.8.8's sync client sends None as null: a 422
                    limit=200,
                )
                frontier = [c.id for c in children if c.id not in ids]
                ids.extend(frontier)
        return ids

    def logs(self) -> list[Log]:
        """Every log line of the run and its subflows, oldest first."""
        ids = self.flow_run_ids()
        found: list[Log] = []
        with self._client() as client:
            while True:
                page = client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)),
                    sort=LogSort.TIMESTAMP_ASC,
                    limit=200,
                    offset=len(found),
                )
                found.extend(page)
                if len(page) < 200:
                    return found

    def task_runs(self) -> list[TaskRun]:
        ids = self.flow_run_ids()
        found: list[TaskRun] = []
        with self._client() as client:
            while True:
                page = client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
                    sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                    limit=200,
                    offset=len(found),
                )
                found.extend(page)
                if len(page) < 200:
                    return found

    def state_names(self, task_run_id: UUID) -> list[str]:
        """A task run's state history, oldest first (e.g. Running, AwaitingRetry, Retrying)."""
        with self._client() as client:
            states = client.read_task_run_states(task_run_id)
        return [s.name or s.type.value for s in sorted(states, key=lambda s: s.timestamp)]


_LABEL = re.compile(r"\b(?:broker|controller)-(\d+)\b")


def roll_order(logs: Iterable[Log], phase: str = "phase-1-binaries") -> list[int] | None:
    """Node ids in the order the run said it rolls them ("<phase>: roll order a -> b -> c")."""
    for log in logs:
        if f"{phase}: roll order " in log.message:
            order = log.message.split("roll order ", 1)[1].split(" (", 1)[0]
            return [int(m) for m in _LABEL.findall(order)]
    return None
