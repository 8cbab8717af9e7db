"""Per-node actions: back up and edit server.properties, stop, switch binary, start.

Each task does one observable thing on one node and says what it did. None
decides whether it *should* run: the roll asks the verdicts first, and what a
stop or a start does next is decided in ``core/node_steps.py``. Transient
faults (SSH dropped, a timeout) are retried with backoff; anything else stops
the run.
"""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable
from kafka_upgrade.core.errors import StepFailed
from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.node_commands import (
    STOPPING,
    NodeState,
    backup_command,
    backup_path,
    log_tail_command,
    look_command,
    parse_look,
    parse_probe,
    pid_alive_command,
    probe_and_stop_command,
    probe_command,
    read_config_command,
    restore_backup_command,
    split_probe_and_stop,
    staged_command,
    start_command,
    switch_binary_command,
    write_config_command,
)
from kafka_upgrade.core.node_steps import Next, after_stop_asked, before_start, exit_watch
from kafka_upgrade.core.properties import apply_properties, read_properties
from kafka_upgrade.core.roll_plan import NodeObservation, registration
from tasks.context import UpgradeContext, retry_transient_only

RETRIES = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient_only,
    "cache_policy": NO_CACHE,
}


def _log_line(line: str) -> None:
    get_run_logger().info("  | %s", line)


@task(task_run_name="probe-node-{node_id}", **RETRIES)
def probe_node(ctx: UpgradeContext, node_id: int) -> NodeState:
    """Which Kafka process runs on the node, on which binary, and where `current` points."""
    node = ctx.node(node_id)
    result = ctx.remote.look(node, probe_command(node))
    if not result.ok:
        raise StepFailed(f"probing node {node_id} failed: {result.describe()}")
    return parse_probe(result.stdout)


@task(task_run_name="read-config-{node_id}", **RETRIES)
def read_config(ctx: UpgradeContext, node_id: int) -> dict[str, str]:
    node = ctx.node(node_id)
    result = ctx.remote.look(node, read_config_command(node))
    if not result.ok:
        raise StepFailed(
            f"node {node_id}: cannot read {node.config_path}: {result.describe()}; "
            "check config_path in the inventory"
        )
    return read_properties(result.stdout)


@task(task_run_name="observe-{label}", **RETRIES)
def observe_node(ctx: UpgradeContext, node_id: int, label: str, binary: str) -> NodeObservation:
    """Everything the roll plan needs to know about one node, seen now, in one SSH round
    trip (``node_commands.look_command``): process, link, server.properties, this
    upgrade's backup, whether ``binary`` is staged; and a broker's registration."""
    node = ctx.node(node_id)
    result = ctx.remote.look(node, look_command(node, binary))
    if not result.ok:
        raise StepFailed(f"{label}: looking at the node failed: {result.describe()}")
    look = parse_look(result.stdout)
    if look.props_text is None:
        raise StepFailed(
            f"{label}: cannot read {node.config_path}; check config_path in the inventory"
        )
    state = look.state
    registered = in_isr = None
    if node.is_broker and state.running:
        try:
            registered, in_isr = registration(ctx.reader.snapshot([node_id]), node_id)
        except KafkaUnavailable:
            pass  # unknown: the roll's gates will look again
    return NodeObservation(
        node_id=node_id,
        roles=frozenset(node.roles),
        running=state.running,
        binary=state.process.version if state.process else None,
        link=state.link_version,
        config=read_properties(look.props_text),
        backup_exists=look.backup_exists,
        registered=registered,
        in_every_isr=in_isr,
        staged=look.staged,
    )


def require_staged(node: Node, label: str, version: str, staged: bool) -> None:
    """Refuse before any stop when the version directory is missing (``staged`` from a
    look), so a missing install never leaves a node down."""
    if not staged:
        raise StepFailed(
            f"{label}: {node.version_dir(version)} is not installed on {node.host}; "
            f"stage it (`kafka-upgrade stage --inventory <file> --version {version}`) and "
            "re-run. The node was not touched."
        )


@task(task_run_name="backup-config-{label}", **RETRIES)
def backup_config(ctx: UpgradeContext, node_id: int, label: str, phase: str, binary: str) -> str:
    """Copy server.properties aside once per node, phase and target version (a re-run, or a
    revert, finds the first copy: the config as it was before this phase touched the node)."""
    node = ctx.node(node_id)
    config = str(node.config_path)
    backup = backup_path(node, phase, binary)
    result = ctx.remote.run(node, backup_command(node, backup), timeout=30)
    if not result.ok:
        raise StepFailed(f"{label}: backing up {config} failed: {result.describe()}")
    get_run_logger().info("%s: server.properties backed up to %s", label, backup)
    return backup


@task(task_run_name="restore-config-{label}", **RETRIES)
def restore_config(ctx: UpgradeContext, node_id: int, label: str, backup: str) -> None:
    node = ctx.node(node_id)
    result = ctx.remote.run(node, restore_backup_command(node, backup), timeout=30)
    if not result.ok:
        raise StepFailed(f"{label}: restoring {backup} failed: {result.describe()}")
    get_run_logger().info("%s: server.properties restored from %s", label, backup)


def node_logs(ctx: UpgradeContext, node_id: int) -> str:
    """The node's last log lines (best effort: an unreachable node gives a note instead)."""
    node = ctx.node(node_id)
    try:
        return ctx.remote.run(node, log_tail_command(node), timeout=30).stdout.strip()
    except Exception as exc:  # noqa: BLE001 - the logs only explain a failure already found
        return f"(its logs could not be read: {exc})"


@task(task_run_name="set-config-{label}", **RETRIES)
def set_config(
    ctx: UpgradeContext, node_id: int, label: str, updates: dict[str, str | None]
) -> bool:
    """Apply key updates (None: remove the key) to server.properties; returns whether the
    file changed."""
    logger = get_run_logger()
    node = ctx.node(node_id)
    config = str(node.config_path)
    current = ctx.remote.run(node, read_config_command(node), timeout=30)
    if not current.ok:
        raise StepFailed(f"{label}: cannot read {config}: {current.describe()}")
    new_text = apply_properties(current.stdout, updates)
    if new_text == current.stdout:
        logger.info("%s: %s already has %s", label, config, updates)
        return False
    result = ctx.remote.run(node, write_config_command(node, new_text), timeout=30)
    if not result.ok:
        raise StepFailed(f"{label}: writing {config} failed: {result.describe()}")
    logger.info(
        "%s: set %s in %s",
        label,
        ", ".join(f"{k}={v}" if v is not None else f"{k} removed" for k, v in updates.items()),
        config,
    )
    return True


@task(task_run_name="stop-{label}", **RETRIES)
def stop_node(ctx: UpgradeContext, node_id: int, label: str) -> float:
    """Controlled shutdown, then wait (bounded) until the process has exited.

    A node that does not exit in time is a failure for a human to look at:
    it is never killed with SIGKILL behind the operator's back.
    """
    logger = get_run_logger()
    node = ctx.node(node_id)
    stopping = False

    def say(line: str) -> None:  # the stop command's own words, not the probe's lines
        nonlocal stopping
        if stopping:
            _log_line(line)
        stopping = stopping or line == STOPPING

    started = time.monotonic()
    result = ctx.remote.run(node, probe_and_stop_command(node), timeout=60, on_line=say)
    before, asked = split_probe_and_stop(result.stdout)
    pid = before.process.pid if before.process else None
    decision = after_stop_asked(label, pid, asked, "" if result.ok else result.describe())
    if decision.next is Next.STOP_RUN:
        raise StepFailed(decision.said)
    logger.info("%s", decision.said)
    if pid is None:
        return 0.0
    limit = ctx.inventory.timeouts.stop_s
    while True:
        gone = ctx.remote.look(node, pid_alive_command(pid)).stdout.strip() == "gone"
        seconds = time.monotonic() - started
        decision = exit_watch(label, pid, gone, seconds, limit)
        if decision.next is Next.GO_ON:
            logger.info("%s", decision.said)
            return seconds
        if decision.next is Next.STOP_RUN:
            raise StepFailed(decision.said)
        time.sleep(0.2)  # one cheap SSH probe per look


@task(task_run_name="check-staged-{label}", **RETRIES)
def check_staged(ctx: UpgradeContext, node_id: int, label: str, version: str) -> None:
    node = ctx.node(node_id)
    result = ctx.remote.run(node, staged_command(node, version), timeout=30)
    require_staged(node, label, version, result.stdout.strip() == "staged")


@task(task_run_name="switch-binary-{label}", **RETRIES)
def switch_binary(ctx: UpgradeContext, node_id: int, label: str, version: str) -> None:
    node = ctx.node(node_id)
    result = ctx.remote.run(node, switch_binary_command(node, version), timeout=30)
    if result.exit_code == 3:
        raise StepFailed(
            f"{label}: {node.version_dir(version)} is not staged on {node.host}; "
            f"install Kafka {version} there (side by side) and re-run"
        )
    if not result.ok:
        raise StepFailed(f"{label}: switching {node.link} failed: {result.describe()}")
    get_run_logger().info("%s: %s now points at kafka_2.13-%s", label, node.link, version)


@task(task_run_name="start-{label}", **RETRIES)
def start_node(ctx: UpgradeContext, node_id: int, label: str) -> None:
    node = ctx.node(node_id)
    state = parse_probe(ctx.remote.look(node, probe_command(node)).stdout)
    decision = before_start(label, state.process.pid if state.process else None)
    if decision.next is not Next.START:
        get_run_logger().info("%s", decision.said)
        return
    result = ctx.remote.run(node, start_command(node), timeout=60, on_line=_log_line)
    if not result.ok:
        raise StepFailed(f"{label}: the start command failed: {result.describe()}")
    get_run_logger().info("%s: started from %s", label, node.link)
