"""Facts preflight needs, gathered over SSH and the admin client, one task per node and fact.

Each task only reads: which Java a node would start Kafka with, what the
broker's deprecated-requests MBean says, what the cluster's topics look like.
The checks that judge these facts are pure (``kafka_upgrade.core.preflight_checks``).
An SSH drop or a cluster that does not answer is retried like every node task;
a JMX port that cannot be read is a fact (the check could not run), not an error.
"""

from __future__ import annotations

from prefect import task

from kafka_upgrade.core.access_checks import access_check_command, access_problems
from kafka_upgrade.core.errors import StepFailed
from kafka_upgrade.core.health import ClusterSnapshot
from kafka_upgrade.core.preflight_checks import (
    JavaFact,
    OldClientProbe,
    deprecated_requests_command,
    java_version_command,
    jmx_port,
    jmx_url,
    node_subject,
    parse_deprecated_requests,
    parse_java_version,
)
from tasks.context import UpgradeContext
from tasks.node import RETRIES


@task(task_run_name="java-version-{label}", **RETRIES)
def java_version(ctx: UpgradeContext, node_id: int, label: str) -> JavaFact:
    """``java -version`` on the node, with the JAVA_HOME its start command would use."""
    node = ctx.node(node_id)
    result = ctx.remote.run(node, java_version_command(node), timeout=60)
    if "exit=" not in result.stdout:
        raise StepFailed(f"{label}: checking the Java version failed: {result.describe()}")
    return parse_java_version(result.stdout)


@task(task_run_name="check-access-{label}", **RETRIES)
def node_access(ctx: UpgradeContext, node_id: int, label: str) -> list[str]:
    """What the login may not do on the node that the roll will need (sudoers lines, writable
    directories, the JVM's open files, a service's status template): sentences, or none."""
    node = ctx.node(node_id)
    result = ctx.remote.run(node, access_check_command(node), timeout=60)
    return access_problems(node, result.stdout, "`kafka-upgrade sudoers --inventory <file>`")


@task(task_run_name="old-clients-{label}", **RETRIES)
def deprecated_requests(ctx: UpgradeContext, node_id: int, label: str) -> OldClientProbe:
    """The broker's DeprecatedRequestsPerSec MBean (KIP-896), read with Kafka's JmxTool on
    the node itself; a broker without a known JMX port is reported as unchecked."""
    node = ctx.node(node_id)
    subject = node_subject(node)
    port = jmx_port(node)
    if port is None:
        return OldClientProbe(
            node_id,
            subject,
            unchecked=(
                "the inventory names no JMX port (start the broker with JMX, e.g. JMX_PORT=9999 "
                "in its environment, and set jmx_port: 9999 for the node in the inventory, or "
                "JMX_PORT in its env)"
            ),
        )
    result = ctx.remote.run(node, deprecated_requests_command(node, port), timeout=90)
    output = result.stdout + "\n" + result.stderr
    return parse_deprecated_requests(node_id, subject, output, jmx_url(node.host, port))


@task(task_run_name="read-topics", **RETRIES)
def cluster_snapshot(ctx: UpgradeContext) -> ClusterSnapshot:
    """Every partition with its replicas, ISR and min.insync.replicas (one Metadata request
    and the topics' configs)."""
    return ctx.reader.full_snapshot()
