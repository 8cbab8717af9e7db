"""A local, real Kafka cluster that looks like production hosts: up, status, down.

``up`` fetches the Kafka distributions, lays out every node (own address, data
dir, versions side by side under ``install/`` with a ``current`` symlink, own
``server.properties``), starts a private sshd, then formats and starts every
node *over SSH*, exactly as the upgrade flows will reach them, and writes an
inventory file in the format users write for production.

A sandbox left by a process that died (killed, or aborted by librdkafka) is
taken down by the next ``up`` of the same name; ``sandbox/ownership.py``
decides when that is safe.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kafka_upgrade.adapters import isolated_admin
from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable, client_config
from kafka_upgrade.adapters.remote import FabricRemote
from kafka_upgrade.app.process_id import ProcessId, is_current, is_running
from kafka_upgrade.core.errors import ToolFailed
from kafka_upgrade.core.inventory import Inventory, Node, load_inventory
from kafka_upgrade.core.migration import kraft_inventory_path
from kafka_upgrade.core.modes import Mode
from kafka_upgrade.core.node_commands import (
    parse_probe,
    probe_command,
    start_command,
    stop_command,
)
from kafka_upgrade.core.shell import kafka_command, node_env
from kafka_upgrade.core.versions import pair_for
from kafka_upgrade.sandbox import dist, ownership, prod_hosts, sshd
from kafka_upgrade.sandbox.layout import (
    CONTROLLER_PORT,
    SANDBOX_JVM_ENV,
    SSH_PORT,
    NodeSpec,
    SandboxSpec,
    jmx_env,
    plan_sandbox,
    sandboxes_root,
    server_properties,
    zookeeper_properties,
)

Log = Callable[[str], None]


class SandboxError(ToolFailed):
    """The sandbox could not be brought up, inspected or taken down."""


@dataclass(frozen=True)
class NodeStatus:
    id: int
    host: str
    roles: list[str]
    version: str | None
    running: bool
    pid: int | None
    current_link: str | None


def sandbox_dir(name: str) -> Path:
    return sandboxes_root() / name


def inventory_path(root: Path) -> Path:
    """The sandbox's inventory as the cluster is now: the KRaft one a finished migration
    wrote beside the one `up` wrote (which is kept), else that one."""
    written = root / "inventory.yaml"
    kraft = kraft_inventory_path(written)
    return kraft if kraft.exists() else written


def _check_ports_free(spec: SandboxSpec, grace: float = 15.0) -> None:
    """Every address:port the sandbox listens on is free; a port a process just killed
    (an abandoned sandbox taken down a moment ago) gets ``grace`` seconds to be released."""
    deadline = time.monotonic() + grace
    for host, port in spec.listening_ports():
        while True:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((host, port))
                    break
                except OSError as exc:
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    raise SandboxError(
                        f"{host}:{port} is already in use ({exc.strerror}); is sandbox "
                        f"{spec.name!r} (or another one) still up? Try `kafka-upgrade sandbox "
                        f"down --name {spec.name}`"
                    ) from None


def _node_entry(spec: SandboxSpec, n: NodeSpec) -> dict[str, Any]:
    return {
        "id": n.id,
        "host": n.host,
        "roles": list(n.roles),
        "install_dir": str(n.install_dir),
        "current_link": str(n.current_link),
        "config_path": str(n.config_path),
        "log_dir": str(n.log_dir),
        "controller_port": CONTROLLER_PORT,
        "service": prod_hosts.service_entry(spec) if spec.prod else {"kind": "scripts"},
        "env": _jvm_env(spec, n),
    }


def _jvm_env(spec: SandboxSpec, n: NodeSpec) -> dict[str, str]:
    return {**SANDBOX_JVM_ENV, **(jmx_env(n.host) if spec.jmx else {})}


def _write_inventory(spec: SandboxSpec, stage: list[str]) -> Inventory:
    files = sshd.SshdFiles(spec.ssh_dir)
    data: dict[str, Any] = {
        "cluster": spec.name,
        "mode": str(spec.mode),
        "bootstrap_servers": spec.bootstrap_servers,
        "current_version": spec.version,
        "ssh": {
            "user": spec.users.login if spec.prod else sshd.login_user(),
            "port": SSH_PORT,
            "key_file": str(files.client_key),
            "known_hosts": str(files.known_hosts),
        },
        "nodes": [_node_entry(spec, n) for n in spec.nodes],
    }
    if spec.prod:
        data["privilege"] = {"sudo": True, "kafka_user": spec.users.kafka}
    later = [v for v in stage if v != spec.version]
    if later:
        data["target_version"] = later[-1]
    if spec.mode.uses_zookeeper:
        data["zookeeper"] = {"connect": spec.zk_connect}
    if spec.migration_controllers:
        data["migration"] = {
            "controllers": [
                {
                    **_node_entry(spec, n),
                    "metadata_dir": str(n.data_dir),
                }
                for n in spec.migration_controllers
            ]
        }
    inventory = Inventory(**data)
    spec.inventory_path.write_text(
        "# Written by `kafka-upgrade sandbox up`; the same format as a production inventory.\n"
        + inventory.to_yaml()
    )
    return inventory


def up(
    name: str,
    mode: Mode | str,
    version: str | None = None,
    nodes: int = 3,
    controllers: int = 0,
    stage: list[str] | None = None,
    log: Log = print,
    start_timeout: float = 180.0,
    owner: ProcessId | None | Literal["creator"] = "creator",
    jmx: bool = False,
    racks: int = 0,
    kraft_controllers: int = 0,
    layout: str = "plain",
) -> Inventory:
    """Bring a sandbox up and return its inventory (also written to disk).

    ``owner`` is the process whose life bounds the sandbox: by default the
    caller (a demo, a test session); ``None`` keeps it until ``sandbox down``.
    Once the owner has ended, the next ``up`` of this name takes it down.
    ``jmx`` makes every node serve JMX on its own address (``JMX_PORT`` in the
    inventory's node env), e.g. for the KIP-896 old-client check.
    ``kraft_controllers`` (zk mode, on 3.9 or with 3.9 staged): lay out that many KRaft
    controllers on their own addresses, staged and reachable over SSH but not started,
    and name them in the inventory's ``migration`` section for ``kafka-upgrade migrate``.
    ``layout="prod"``: nodes shaped like production hosts (``sandbox/prod_hosts.py``).
    """
    version = version or pair_for(mode).old
    if stage is None:
        pair = pair_for(mode)
        stage = [pair.new] if version == pair.old else []
    spec = plan_sandbox(
        name,
        mode,
        version,
        nodes,
        controllers,
        jmx=jmx,
        racks=racks,
        kraft_controllers=kraft_controllers,
        stage=stage,
        layout=layout,
    )
    versions = [version, *[v for v in stage if v != version]]
    sshd.find_sshd()  # fail before any work when openssh-server is missing
    if spec.prod:
        prod_hosts.check_machine(spec)
    creator = ProcessId.current()
    owner_id = creator if owner == "creator" else owner

    with _name_lock(name, log):
        dists = _claim(name, spec, versions, log)
        spec.root.mkdir(parents=True)
        state = _new_state(name, spec.mode, spec, creator, owner_id)
        _save_state(spec, state)
    try:
        if spec.prod:
            inventory = _lay_out_prod(spec, state, dists, versions)
        else:
            _lay_out(spec, dists, version)
            inventory = _write_inventory(spec, versions)
        _start_sshd(spec, state, log)

        if spec.mode.uses_zookeeper:
            state["zookeeper"] = _start_zookeeper(spec, dists[version])
            _save_state(spec, state)
            log(f"ZooKeeper listening on {spec.zk_connect}")

        with FabricRemote(inventory) as remote:
            if spec.mode.controller_role:
                cluster_id = _random_cluster_id()
                state["cluster_id"] = cluster_id
                _format_storage(remote, inventory, cluster_id, log)
            _start_nodes(remote, inventory, log)
        _wait_for_brokers(name, inventory, start_timeout, log)
        state["phase"] = "up"
        _save_state(spec, state)
        log(f"sandbox {name!r} is up: {inventory.bootstrap_servers}")
        return inventory
    except BaseException:
        log(f"sandbox {name!r} failed to come up; taking it down (logs kept under {spec.root})")
        down(name, keep_files=True, log=log)
        raise


def _claim(name: str, spec: SandboxSpec, versions: list[str], log: Log) -> dict[str, Path]:
    """Under the name's lock: take down what an ended owner left of ``name`` (or refuse),
    check that the sandbox's ports are free, fetch every Kafka version it stages."""
    verdict = _reclaim(name, log)
    if verdict is not None and not verdict.take_down:
        raise SandboxError(verdict.reason)
    _check_ports_free(spec)

    dists = {}
    for v in versions:
        log(f"fetching Kafka {v} ...")
        dists[v] = dist.fetch(v, log=log)
    return dists


def _new_state(
    name: str, mode: Mode, spec: SandboxSpec, creator: ProcessId, owner: ProcessId | None
) -> dict[str, Any]:
    """``sandbox.json`` of a sandbox starting: who made it, who owns it."""
    return {
        "name": name,
        "mode": str(mode),
        "root": str(spec.root),
        "octet": spec.octet,
        "phase": "starting",
        "creator": creator.to_json(),
        "owner": owner.to_json() if owner else None,
    }


def _lay_out(spec: SandboxSpec, dists: dict[str, Path], version: str) -> None:
    """Every node's directories, the staged versions side by side (links into the cache),
    ``current`` on ``version``, and its server.properties."""
    for n in (*spec.nodes, *spec.migration_controllers):
        for d in (n.install_dir, n.config_path.parent, n.data_dir, n.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        for v, path in dists.items():
            (n.install_dir / dist.dist_dir_name(v)).symlink_to(path)
        n.current_link.symlink_to(dist.dist_dir_name(version))
        if n in spec.nodes:  # a controller to add gets its config from the migration
            n.config_path.write_text(server_properties(spec, n))


def _lay_out_prod(
    spec: SandboxSpec, state: dict[str, Any], dists: dict[str, Path], versions: list[str]
) -> Inventory:
    """The users, every node's tree as on a production host (with ``--stage none`` only the
    running version: the target is for `kafka-upgrade stage`), the inventory, the wrapper
    and the sudoers file."""
    record: dict[str, Any] = state.setdefault("prod", {})
    prod_hosts.add_users(spec, record, lambda: _save_state(spec, state))
    for n in spec.nodes:
        prod_hosts.lay_out_node(spec, n, dists, server_properties(spec, n))
        prod_hosts.write_env(n, _jvm_env(spec, n))
    inventory = _write_inventory(spec, versions)
    prod_hosts.install_wrapper(spec)
    prod_hosts.install_sudoers(spec, inventory, record, lambda: _save_state(spec, state))
    return inventory


def _start_sshd(spec: SandboxSpec, state: dict[str, Any], log: Log) -> None:
    files = sshd.SshdFiles(spec.ssh_dir)
    sshd.prepare(files, spec.addresses, SSH_PORT)
    if spec.prod:
        prod_hosts.open_login_keys(spec.ssh_dir)
    state["sshd_pid"] = sshd.start(files, spec.addresses, SSH_PORT)
    _save_state(spec, state)
    log(f"sshd listening on {', '.join(spec.addresses)} port {SSH_PORT}")


def _format_storage(remote: FabricRemote, inventory: Inventory, cluster_id: str, log: Log) -> None:
    """``kafka-storage.sh format`` on every node over SSH, all with ``cluster_id``."""

    def format_node(node_id: int) -> None:
        node = inventory.node(node_id)
        cmd = kafka_command(
            node,
            [
                f"{node.link}/bin/kafka-storage.sh",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(node.config_path),
            ],
            node_env(node),
        )
        result = remote.run(node, cmd, timeout=120)
        if not result.ok:
            raise SandboxError(f"formatting storage failed: {result.describe()}")

    _each(format_node, [n.id for n in inventory.nodes])
    log(f"formatted storage of {len(inventory.nodes)} nodes (cluster id {cluster_id})")


def _start_nodes(remote: FabricRemote, inventory: Inventory, log: Log) -> None:
    """Start every node over SSH, as the upgrade will."""

    def start_node(node_id: int) -> None:
        node = inventory.node(node_id)
        result = remote.run(node, start_command(node), timeout=60)
        if not result.ok:
            raise SandboxError(f"starting node {node_id} failed: {result.describe()}")

    _each(start_node, [n.id for n in inventory.nodes])
    log("started every node over SSH; waiting for the brokers to register ...")


def _wait_for_brokers(name: str, inventory: Inventory, timeout: float, log: Log) -> None:
    try:
        isolated_admin.wait_for_brokers(
            client_config(inventory),
            set(inventory.broker_ids),
            timeout=timeout,
            log=log,
        )
    except KafkaUnavailable as exc:
        raise SandboxError(f"sandbox {name!r}: {exc}") from None


def _reclaim(name: str, log: Log) -> ownership.Verdict | None:
    """Take down what is left of sandbox ``name`` when its creator or owner is gone.

    Returns the verdict (None: nothing there); a refusal is left to the caller.
    """
    if not sandbox_dir(name).exists():
        return None
    verdict = ownership.decide(name, _observe_existing(name))
    if verdict.take_down:
        log(f"sandbox {name!r} exists but {verdict.reason}; taking it down first")
        down(name, log=lambda m: None)
    return verdict


def reclaim_abandoned(log: Log = print) -> list[str]:
    """Take down every sandbox whose creator or owner is gone; the names taken down.

    Sandboxes someone is starting, owns or keeps up are left alone.
    """
    root = sandboxes_root()
    if not root.is_dir():
        return []
    taken = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        with _name_lock(entry.name, log, wait=False) as free:
            if free:
                verdict = _reclaim(entry.name, log)
                if verdict is not None and verdict.take_down:
                    taken.append(entry.name)
    return taken


@contextmanager
def _name_lock(name: str, log: Log, wait: bool = True) -> Iterator[bool]:
    """One ``up`` at a time per name, from deciding about the old one to the new state.

    Yields whether the lock is held (always, when ``wait``).
    """
    root = sandboxes_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{name}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            log(f"another `sandbox up --name {name}` is preparing it; waiting ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield True  # closing the file releases the lock


def _observe_existing(name: str) -> ownership.Existing:
    path = sandbox_dir(name) / "sandbox.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return ownership.Existing(has_state=False)
    phase, creator, owner = ownership.read_record(state)
    return ownership.Existing(
        has_state=True,
        phase=phase,
        creator=creator,
        creator_running=creator is not None and is_running(creator),
        creator_is_us=creator is not None and is_current(creator),
        owner=owner,
        owner_running=owner is not None and is_running(owner),
        owner_is_us=owner is not None and is_current(owner),
        processes_running=bool(running_processes(name)),
    )


def _each(fn: Callable[[int], None], ids: list[int]) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(ids))) as pool:
        for future in [pool.submit(fn, i) for i in ids]:
            future.result()


def _random_cluster_id() -> str:
    """A cluster id as Kafka's Uuid.randomUuid makes it: never starting with "-", which
    kafka-storage.sh would read as an option (one id in 64 did)."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _start_zookeeper(spec: SandboxSpec, install: Path) -> dict[str, Any]:
    (spec.zk_root / "data").mkdir(parents=True, exist_ok=True)
    (spec.zk_root / "logs").mkdir(parents=True, exist_ok=True)
    config = spec.zk_root / "zookeeper.properties"
    config.write_text(zookeeper_properties(spec))
    env = {**os.environ, **SANDBOX_JVM_ENV, "LOG_DIR": str(spec.zk_root / "logs")}
    env["KAFKA_HEAP_OPTS"] = "-Xms64m -Xmx256m"
    subprocess.run(
        [str(install / "bin" / "zookeeper-server-start.sh"), "-daemon", str(config)],
        env=env,
        check=True,
        capture_output=True,
    )
    host, port = spec.zk_host, 2181
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(b"ruok")
                if s.recv(4) == b"imok":
                    return {"config": str(config), "connect": spec.zk_connect}
        except OSError:
            pass
        time.sleep(0.3)
    raise SandboxError(f"ZooKeeper did not answer on {spec.zk_connect} within 60 s")


def _save_state(spec: SandboxSpec, state: dict[str, Any]) -> None:
    spec.state_path.write_text(json.dumps(state, indent=2))


def _load_state(name: str) -> dict[str, Any]:
    path = sandbox_dir(name) / "sandbox.json"
    if not path.exists():
        raise SandboxError(f"no sandbox named {name!r} (looked in {path.parent})")
    return json.loads(path.read_text())


def status(name: str) -> dict[str, Any]:
    """What is running in the sandbox, as the processes themselves report it."""
    state = _load_state(name)
    root = Path(state["root"])
    path = inventory_path(root)
    inventory = load_inventory(path)
    nodes: list[NodeStatus] = []
    with FabricRemote(inventory) as remote:

        def probe(node_id: int) -> NodeStatus:
            node = inventory.node(node_id)
            try:
                seen = parse_probe(remote.run(node, probe_command(node), timeout=30).stdout)
            except Exception:
                seen = None
            proc = seen.process if seen else None
            return NodeStatus(
                id=node.id,
                host=node.host,
                roles=list(node.roles),
                version=proc.version if proc else None,
                running=proc is not None,
                pid=proc.pid if proc else None,
                current_link=f"kafka_2.13-{seen.link_version}"
                if seen and seen.link_version
                else None,
            )

        with ThreadPoolExecutor(max_workers=len(inventory.nodes)) as pool:
            nodes = list(pool.map(probe, [n.id for n in inventory.nodes]))
    return {
        "name": name,
        "mode": str(inventory.mode),
        "bootstrap_servers": inventory.bootstrap_servers,
        "inventory": str(path),
        "zookeeper": state.get("zookeeper", {}).get("connect"),
        "layout": "prod" if "prod" in state else "plain",
        "login_user": inventory.ssh.user,
        "kafka_user": inventory.nodes[0].access.kafka_owner,
        "sudoers_file": state.get("prod", {}).get("sudoers_file"),
        "nodes": [n.__dict__ for n in nodes],
    }


def down(name: str, keep_files: bool = False, log: Log = print, timeout: float = 60.0) -> None:
    """Stop every node (controlled), ZooKeeper and sshd; leave no process behind."""
    root = sandbox_dir(name)
    if not root.exists():
        raise SandboxError(f"no sandbox named {name!r} (looked in {root})")
    state = (
        json.loads((root / "sandbox.json").read_text()) if (root / "sandbox.json").exists() else {}
    )
    path = inventory_path(root)
    if path.exists() and state.get("sshd_pid"):
        inventory = load_inventory(path)
        try:
            with FabricRemote(inventory) as remote:

                def stop(node_id: int) -> None:
                    node = inventory.node(node_id)
                    remote.run(node, stop_command(node), timeout=30)

                # The controllers a migration added run too, once it started them (after
                # the migration they are nodes of the KRaft inventory).
                added = inventory.migration.controllers if inventory.migration else []
                deadline = time.monotonic() + timeout
                nodes = [*inventory.nodes, *added]
                for wave in stop_waves(nodes):
                    _each(stop, [n.id for n in wave])
                    _wait_stopped(wave, min(deadline, time.monotonic() + _WAVE_S))
                hung = [n for n in nodes if _pids_matching(str(n.config_path))]
                if hung:  # a KRaft voter left alone has no quorum to commit its shutdown
                    for node in hung:
                        _signal_matching(str(node.config_path), signal.SIGKILL)
                    log(
                        f"killed node(s) {', '.join(str(n.id) for n in hung)}: still in their "
                        f"controlled shutdown after {_WAVE_S:.0f} s (the last KRaft voter has "
                        "no quorum left to finish it)"
                    )
        except Exception as exc:  # noqa: BLE001 - teardown goes on regardless
            log(f"controlled stop over SSH failed ({exc}); stopping processes directly")
            for pid in _pids_matching(f"{root}/", exclude_sshd=True):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        _wait_gone(root, timeout, log)
    if state.get("zookeeper"):
        _signal_matching(str(state["zookeeper"]["config"]), signal.SIGTERM)
    _wait_gone(root, 20, log, exclude_sshd=True)
    if state.get("sshd_pid"):
        sshd.stop(int(state["sshd_pid"]))
    leftovers = _signal_matching(f"{root}/", signal.SIGKILL)
    if leftovers:
        log(f"killed leftover processes {leftovers}")
    if "prod" in state:
        prod_hosts.remove(state["prod"], log)
    if not keep_files:
        shutil.rmtree(root, ignore_errors=True)
    else:
        (root / "sandbox.json").unlink(missing_ok=True)
    log(f"sandbox {name!r} is down")


_WAVE_S = 20.0  # how long `down` waits for one wave of controlled shutdowns


def stop_waves(nodes: Sequence[Node]) -> list[list[Node]]:
    """The order `down` stops nodes in: the brokers first, all at once, while the
    controllers that take their controlled shutdown still run; then combined nodes one at a
    time, so each shutdown commits through the quorum the others still form; then the
    controller-only nodes. (All at once, a KRaft broker waits for a quorum that is gone and
    is killed a minute later.)"""
    brokers = [n for n in nodes if n.is_broker and not n.is_controller]
    combined = [[n] for n in nodes if n.is_broker and n.is_controller]
    controllers = [n for n in nodes if not n.is_broker]
    return [wave for wave in (brokers, *combined, controllers) if wave]


def _wait_stopped(nodes: Sequence[Node], deadline: float) -> None:
    """Until no process runs with one of these nodes' configs, or the deadline."""
    while time.monotonic() < deadline:
        if not any(_pids_matching(str(n.config_path)) for n in nodes):
            return
        time.sleep(0.3)


def _pids_matching(needle: str, exclude_sshd: bool = False) -> list[int]:
    """Local processes whose command line mentions ``needle`` (the sandbox's root)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline and not (exclude_sshd and "sshd" in cmdline.split(" ", 1)[0]):
            found.append(int(entry.name))
    return found


def _signal_matching(needle: str, sig: signal.Signals) -> list[int]:
    pids = _pids_matching(needle)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def _wait_gone(root: Path, timeout: float, log: Log, exclude_sshd: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pids_matching(f"{root}/", exclude_sshd=exclude_sshd):
            return
        time.sleep(0.3)


def stop_zookeeper(name: str, timeout: float = 30.0) -> None:
    """Stop the sandbox's ZooKeeper (e.g. to show a migrated cluster no longer needs it)."""
    state = _load_state(name)
    if not state.get("zookeeper"):
        raise SandboxError(f"sandbox {name!r} has no ZooKeeper")
    config = str(state["zookeeper"]["config"])
    _signal_matching(config, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pids_matching(config) and time.monotonic() < deadline:
        time.sleep(0.3)
    if _pids_matching(config):
        raise SandboxError(f"ZooKeeper of sandbox {name!r} did not stop within {timeout:.0f} s")


def running_processes(name: str) -> list[int]:
    """Pids of anything still running from this sandbox (for tests and `down`)."""
    return _pids_matching(f"{sandbox_dir(name)}/")


__all__ = [
    "SandboxError",
    "down",
    "reclaim_abandoned",
    "running_processes",
    "status",
    "stop_zookeeper",
    "up",
]
