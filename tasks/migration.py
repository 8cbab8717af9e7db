"""The migration's own steps on the nodes: read the cluster id from ZooKeeper, write,
format and start the new controllers, watch their quorum and the migration's
completion, and (revert) hand the controller role back to the brokers.

The rolls themselves are the upgrade's (``flows.roll``); node start and stop are
``tasks.node``'s. Every value put into a remote command is quoted.
"""

from __future__ import annotations

import shlex

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable
from kafka_upgrade.core.errors import StepFailed
from kafka_upgrade.core.health import Reason, Verdict
from kafka_upgrade.core.inventory import ControllerToAdd, Inventory, Node
from kafka_upgrade.core.kafka_cli import quorum_from_replication
from kafka_upgrade.core.migration import COMPLETED_LOG_LINE, parse_zk_cluster_id, quorum_formed
from kafka_upgrade.core.node_commands import backup_path
from kafka_upgrade.core.properties import read_properties
from kafka_upgrade.core.shell import kafka_command, node_env
from tasks.context import UpgradeContext
from tasks.kafka_tools import run_tool
from tasks.node import RETRIES
from tasks.sensors import _watch


def controllers(inventory: Inventory) -> list[ControllerToAdd]:
    if inventory.migration is None:
        raise StepFailed(f"the inventory of {inventory.cluster} has no migration section")
    return list(inventory.migration.controllers)


def _zk_shell(ctx: UpgradeContext, node: Node, args: list[str]) -> str:
    """zookeeper-shell.sh from ``node``'s install against the inventory's ZooKeeper."""
    assert ctx.inventory.zookeeper is not None
    cmd = kafka_command(
        node,
        [f"{node.link}/bin/zookeeper-shell.sh", ctx.inventory.zookeeper.connect, *args],
        env={**node_env(node), "KAFKA_HEAP_OPTS": "-Xmx128m", "JMX_PORT": "", "KAFKA_JMX_OPTS": ""},
    )
    result = ctx.remote.run(node, cmd, timeout=60)
    if not result.ok:
        raise StepFailed(
            f"zookeeper-shell {' '.join(args)} failed on {node.host}: {result.describe()}; "
            f"check that ZooKeeper at {ctx.inventory.zookeeper.connect} is up"
        )
    return result.stdout


@task(task_run_name="read-cluster-id", **RETRIES)
def read_cluster_id(ctx: UpgradeContext) -> str:
    """The cluster id as ZooKeeper holds it (/cluster/id); the controllers are formatted with it."""
    broker = ctx.inventory.nodes[0]
    out = _zk_shell(ctx, broker, ["get", "/cluster/id"])
    try:
        cluster_id = parse_zk_cluster_id(out)
    except ValueError as exc:
        raise StepFailed(f"{exc}; is {ctx.inventory.zookeeper} this cluster's ZooKeeper?") from None
    get_run_logger().info("cluster id in ZooKeeper: %s", cluster_id)
    return cluster_id


@task(task_run_name="write-controller-config-{label}", **RETRIES)
def write_controller_config(ctx: UpgradeContext, node_id: int, label: str, text: str) -> bool:
    """Write a new controller's server.properties; returns whether it changed."""
    node = ctx.node(node_id)
    r = node.access.root_sh()
    config = shlex.quote(str(node.config_path))
    current = ctx.remote.run(node, f"{r}cat {config} 2>/dev/null; true", timeout=30)
    if current.stdout == text:
        return False
    tmp = shlex.quote(f"{node.config_path}.kafka-upgrade-tmp")
    folder = shlex.quote(str(node.config_path.parent))
    cmd = (
        f"{r}mkdir -p {folder} && printf '%s' {shlex.quote(text)} | {r}tee {tmp} >/dev/null "
        f"&& {r}mv -f {tmp} {config}"
    )
    result = ctx.remote.run(node, cmd, timeout=30)
    if not result.ok:
        raise StepFailed(f"{label}: writing {node.config_path} failed: {result.describe()}")
    get_run_logger().info("%s: wrote %s (migration mode)", label, node.config_path)
    return True


@task(task_run_name="format-{label}", **RETRIES)
def format_controller(ctx: UpgradeContext, node_id: int, label: str, cluster_id: str) -> None:
    """kafka-storage.sh format with the ZooKeeper cluster's id (an already formatted
    directory of the same cluster is left as it is)."""
    node = ctx.node(node_id)
    cmd = kafka_command(
        node,
        [
            f"{node.link}/bin/kafka-storage.sh",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(node.config_path),
            "--ignore-formatted",
        ],
        env={**node_env(node), "JMX_PORT": "", "KAFKA_JMX_OPTS": ""},
    )
    result = ctx.remote.run(node, cmd, timeout=120)
    if not result.ok:
        raise StepFailed(
            f"{label}: formatting its metadata directory failed: {result.describe()}. A directory "
            "formatted for another cluster id must be emptied by hand first."
        )
    get_run_logger().info("%s: %s", label, result.stdout.strip().splitlines()[-1:])


def _read_controller_quorum(ctx: UpgradeContext):  # type: ignore[no-untyped-def]
    added = controllers(ctx.inventory)
    failures = []
    for node in added:
        try:
            text = run_tool(
                ctx,
                "kafka-metadata-quorum.sh",
                ["describe", "--replication"],
                on=node,
                bootstrap=f"{node.host}:{node.controller_port}",
                bootstrap_flag="--bootstrap-controller",
            )
        except StepFailed as exc:
            failures.append(str(exc))
            continue
        return quorum_from_replication(text)
    raise KafkaUnavailable("no new controller answered: " + "; ".join(failures))


@task(task_run_name="wait-controller-quorum", cache_policy=NO_CACHE)
def wait_controller_quorum(ctx: UpgradeContext) -> int:
    wanted = {c.id for c in controllers(ctx.inventory)}
    return _watch(
        ctx,
        "new controller quorum",
        lambda: quorum_formed(_read_controller_quorum(ctx), wanted),
        ctx.inventory.timeouts.start_s,
    )


def _completed_command(node: Node) -> str:
    log_dir = node.log_dir or node.link / "logs"
    pattern = shlex.quote(COMPLETED_LOG_LINE)
    k = node.access.kafka_sh()
    return (
        f'for f in {shlex.quote(str(log_dir))}/server.log*; do {k}tail -n +1 "$f"; done '
        f"2>/dev/null | grep -cF {pattern}; true"
    )


@task(task_run_name="wait-migration-complete", cache_policy=NO_CACHE)
def wait_migration_complete(ctx: UpgradeContext) -> int:
    """Until the active controller has logged that the metadata was copied from ZooKeeper
    (it then runs in MIGRATION state and dual-writes)."""
    added = controllers(ctx.inventory)

    def judge() -> Verdict:
        seen = [
            c.id
            for c in added
            if (ctx.remote.run(c, _completed_command(c), timeout=30).stdout.strip() or "0") != "0"
        ]
        if seen:
            return Verdict.yes()
        return Verdict.no(
            Reason(
                "migration-not-complete",
                "no controller has logged 'Completed migration of metadata from ZooKeeper to "
                "KRaft' yet (it starts once every broker registered with the migration flag)",
            )
        )

    assert ctx.inventory.migration is not None
    return _watch(ctx, "metadata migration", judge, ctx.inventory.migration.completion_timeout_s)


@task(task_run_name="delete-zk-controller", **RETRIES)
def delete_zk_controller(ctx: UpgradeContext) -> None:
    """Revert: delete /controller so a broker is elected the ZooKeeper-mode controller."""
    out = _zk_shell(ctx, ctx.inventory.nodes[0], ["deleteall", "/controller"])
    get_run_logger().warning(
        "deleted /controller in ZooKeeper: a broker takes the controller role back (%s)",
        out.strip().splitlines()[-1:] or "no output",
    )


@task(task_run_name="read-controller-config-{node_id}", **RETRIES)
def read_controller_config(ctx: UpgradeContext, node_id: int) -> dict[str, str] | None:
    """A new controller's server.properties, or None when the migration has not written it."""
    node = ctx.node(node_id)
    path = shlex.quote(str(node.config_path))
    r = node.access.root_sh()
    result = ctx.remote.run(
        node, f"{r}test -e {path} && {r}cat {path} || echo __absent__", timeout=30
    )
    if not result.ok:
        raise StepFailed(
            f"controller {node_id}: cannot read {node.config_path}: {result.describe()}"
        )
    if result.stdout.strip() == "__absent__":
        return None
    return read_properties(result.stdout)


@task(task_run_name="set-aside-metadata-{label}", **RETRIES)
def set_aside_metadata(ctx: UpgradeContext, node_id: int, label: str, suffix: str) -> None:
    """Revert: move a stopped controller's metadata log aside, so a later migration formats
    a fresh one instead of resuming a migration that was undone."""
    node = ctx.node(node_id)
    assert isinstance(node, ControllerToAdd)
    src = shlex.quote(str(node.metadata_dir))
    dst = shlex.quote(f"{node.metadata_dir}.{suffix}")
    k = node.access.kafka_sh()  # the metadata log belongs to the Kafka user
    result = ctx.remote.run(node, f"if [ -e {src} ]; then {k}env mv {src} {dst}; fi", timeout=30)
    if not result.ok:
        raise StepFailed(f"{label}: moving {node.metadata_dir} aside failed: {result.describe()}")
    get_run_logger().info("%s: metadata log moved aside to %s.%s", label, node.metadata_dir, suffix)


@task(task_run_name="read-backup-{node_id}-{phase}", **RETRIES)
def read_backup(
    ctx: UpgradeContext, node_id: int, phase: str, binary: str
) -> dict[str, str] | None:
    """The server.properties a phase's roll backed up before it touched the node, if any."""
    node = ctx.node(node_id)
    path = shlex.quote(backup_path(node, phase, binary))
    r = node.access.root_sh()
    result = ctx.remote.run(
        node, f"{r}test -e {path} && {r}cat {path} || echo __absent__", timeout=30
    )
    if not result.ok or result.stdout.strip() == "__absent__":
        return None
    return read_properties(result.stdout)
