"""Running Kafka's own CLI tools on a node (for what the AdminClient lacks:
features and the metadata quorum)."""

from __future__ import annotations

from pathlib import Path

from kafka_upgrade.adapters.remote import TransientRemoteError
from kafka_upgrade.core.errors import StepFailed
from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.shell import kafka_command, node_env
from tasks.context import UpgradeContext


def tool_command(
    node: Node,
    tool: str,
    bootstrap: str,
    args: list[str],
    flag: str = "--bootstrap-server",
    command_config: Path | None = None,
    version: str | None = None,
) -> str:
    """The tool from the node's ``current`` install, or from the staged ``version``."""
    extra = ["--command-config", str(command_config)] if command_config else []
    home = node.version_dir(version) if version else node.link
    return kafka_command(
        node,
        [f"{home}/bin/{tool}", flag, bootstrap, *extra, *args],
        # A tool's JVM must not open the broker's JMX port (taken: the tool would exit).
        env={**node_env(node), "KAFKA_HEAP_OPTS": "-Xmx256m", "JMX_PORT": "", "KAFKA_JMX_OPTS": ""},
    )


def run_tool(
    ctx: UpgradeContext,
    tool: str,
    args: list[str],
    *,
    on: Node | None = None,
    bootstrap: str | None = None,
    bootstrap_flag: str = "--bootstrap-server",
    timeout: float = 90.0,
    version: str | None = None,
) -> str:
    """Run ``tool`` on ``on`` (or on the first node that answers); returns stdout.

    Tools run from the node's ``current`` install. A node that is down (for
    instance the one being restarted) is passed over for the next one.
    """
    bootstrap = bootstrap or ctx.inventory.bootstrap_servers
    candidates = [on] if on is not None else list(ctx.inventory.nodes)
    failures: list[str] = []
    for node in candidates:
        try:
            result = ctx.remote.run(
                node,
                tool_command(
                    node,
                    tool,
                    bootstrap,
                    args,
                    bootstrap_flag,
                    ctx.inventory.kafka.tools_command_config,
                    version,
                ),
                timeout=timeout,
            )
        except TransientRemoteError as exc:
            failures.append(str(exc))
            continue
        if result.ok:
            return result.stdout
        failures.append(result.describe())
    raise StepFailed(f"{tool} {' '.join(args)} failed on every node tried: " + "; ".join(failures))
