"""Bad input refused in seconds, before any Prefect server starts: the half that looks.

It gathers the facts ``kafka_upgrade.core.early_checks`` decides on: the state of
the local files the inventory names, then, all at once and each bounded by
``ssh.connect_timeout_s``, one SSH command per node (host key verified, the
version staged, server.properties readable) and a metadata request to the
bootstrap servers from a short-lived child process
(``kafka_upgrade.adapters.isolated_admin.probe``).

``check(...)`` returns every problem found; nothing here changes a node.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kafka_upgrade.core.early_checks import (
    FileState,
    ProbeResult,
    Problem,
    Purpose,
    bootstrap_problem,
    local_problems,
    node_check_command,
    node_check_problems,
    ssh_problem,
)
from kafka_upgrade.core.inventory import Inventory, Node

# Time for the probe child to start Python and import confluent-kafka.
PROBE_STARTUP_S = 10.0


def file_state(path: Path) -> FileState:
    """Whether this user can read ``path`` as a file."""
    path = path.expanduser()
    if not path.exists():
        return FileState.MISSING
    if not path.is_file():
        return FileState.NOT_A_FILE
    if not os.access(path, os.R_OK):
        return FileState.UNREADABLE
    return FileState.OK


def check_local(
    inventory: Inventory, to: str | None, purpose: Purpose, files: bool = True
) -> tuple[str | None, list[Problem]]:
    """The run's version and what is wrong on this machine alone (milliseconds)."""
    return local_problems(inventory, to, purpose, file_state if files else None, Path.home())


def _check_node(inventory: Inventory, node: Node, version: str, purpose: Purpose) -> list[Problem]:
    from kafka_upgrade.adapters.remote import FabricRemote, RemoteError

    timeout = inventory.ssh.connect_timeout_s
    remote = FabricRemote(inventory)
    try:
        result = remote.run(node, node_check_command(node, version), timeout=timeout)
    except RemoteError as exc:
        return [ssh_problem(node, str(exc))]
    finally:
        remote.close()
    return node_check_problems(
        node, version, result.stdout, purpose, current=inventory.current_version
    )


def _check_bootstrap(inventory: Inventory) -> list[Problem]:
    from kafka_upgrade.adapters import isolated_admin
    from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable, client_config

    kafka = inventory.kafka
    if kafka.sasl_password is None and kafka.sasl_password_block is not None:
        return []  # the password lives in Prefect; preflight asks the cluster
    timeout = inventory.ssh.connect_timeout_s
    try:
        data = isolated_admin.probe(client_config(inventory), timeout, PROBE_STARTUP_S)
        result = ProbeResult(
            ok=bool(data["ok"]),
            seconds=float(data.get("seconds", 0.0)),
            broker_ids=tuple(data.get("broker_ids", ())),
            errors=tuple(data.get("errors", ())),
            exception=data.get("exception"),
            timed_out=bool(data.get("timed_out", False)),
        )
    except KafkaUnavailable as exc:
        result = ProbeResult(ok=False, seconds=timeout, crashed=str(exc))
    problem = bootstrap_problem(
        kafka, inventory.bootstrap_servers, result, inventory.broker_ids, timeout
    )
    return [] if problem is None else [problem]


def quiet_paramiko() -> None:
    """Keep paramiko's own error logs (a traceback per failed handshake) off the console.

    Its transport thread may log after the caller already holds the
    translated error, so this stays for the process: the translated error,
    which names the node and the fix, is what an operator reads.
    """
    logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)


def check_remote(inventory: Inventory, version: str, purpose: Purpose) -> list[Problem]:
    """Every node over SSH and the bootstrap servers, in parallel; node order kept."""
    quiet_paramiko()
    with ThreadPoolExecutor(max_workers=min(16, len(inventory.nodes) + 1)) as pool:
        bootstrap = pool.submit(_check_bootstrap, inventory)
        nodes = [
            pool.submit(_check_node, inventory, node, version, purpose) for node in inventory.nodes
        ]
        problems = [p for future in nodes for p in future.result()]
        problems += bootstrap.result()
    return problems


__all__ = ["check_local", "check_remote", "file_state"]
