"""How a node's Kafka service is started, stopped and checked: the command lines.

Three kinds (``service.kind``):

- ``scripts``: ``kafka-server-start.sh -daemon`` / ``kafka-server-stop.sh`` from the
  node's ``current`` install, as the Kafka user;
- ``systemd``: ``systemctl start|stop --no-block <unit>``;
- ``command``: the operator's ``start``/``stop``/``status`` templates (supervisord, an
  init script, a site wrapper), each placeholder filled in and quoted as one word.

With ``privilege.sudo`` (or ``service.sudo``) ``systemd`` and ``command`` run as root
through ``sudo -n``; ``scripts`` run as ``privilege.kafka_user``.
"""

from __future__ import annotations

import shlex

from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.shell import kafka_command, node_env, quote_command


def _root(node: Node) -> list[str]:
    return ["sudo", "-n", "--"] if node.access.sudo or node.service.sudo else []


def _kafka_script(node: Node, script: str, *args: str) -> str:
    """One of Kafka's scripts from ``current``, as the Kafka user when that is another user."""
    argv = [f"{node.link}/bin/{script}", *args]
    if node.access.separate_kafka_user:
        return kafka_command(node, argv, node_env(node))
    return quote_command([*_root(node), *argv], env=node_env(node))


def template_values(node: Node) -> dict[str, str]:
    """What a ``command`` template's placeholders stand for on this node."""
    return {
        "id": str(node.id),
        "host": node.host,
        "config": str(node.config_path),
        "link": str(node.link),
        "install_dir": str(node.install_dir),
        "kafka_user": node.access.kafka_owner,
    }


def render_template(template: str, values: dict[str, str]) -> list[str]:
    """The template's words with placeholders filled in; a value stays inside its word, so
    a value with spaces or ``;`` never becomes a second word or a second command."""
    return [word.format(**values) for word in shlex.split(template)]


def _template(node: Node, template: str | None) -> str:
    if template is None:
        raise ValueError(f"node {node.id}: service.kind is 'command' but a template is missing")
    return quote_command([*_root(node), *render_template(template, template_values(node))])


def start_command(node: Node) -> str:
    if node.service.kind == "systemd":
        return quote_command([*_root(node), "systemctl", "start", str(node.service.unit)])
    if node.service.kind == "command":
        return _template(node, node.service.start)
    return _kafka_script(node, "kafka-server-start.sh", "-daemon", str(node.config_path))


def stop_command(node: Node) -> str:
    """Ask for a controlled shutdown; does not wait (the caller waits on the pid)."""
    if node.service.kind == "systemd":
        return quote_command(
            [*_root(node), "systemctl", "stop", "--no-block", str(node.service.unit)]
        )
    if node.service.kind == "command":
        return _template(node, node.service.stop)
    return _kafka_script(node, "kafka-server-stop.sh", str(node.config_path))


def status_command(node: Node) -> str | None:
    """A command that exits 0 while the node runs: ``command`` kind only (the process probe
    is what the roll trusts; this proves the templates work before anything changes)."""
    if node.service.kind == "command":
        return _template(node, node.service.status)
    if node.service.kind == "systemd":
        return quote_command(["systemctl", "is-active", "--quiet", str(node.service.unit)])
    return None


def service_programs(node: Node) -> dict[str, str]:
    """The programs the service commands run as root, each with what it is for."""
    if not (node.access.sudo or node.service.sudo):
        return {}
    if node.service.kind == "systemd":
        return {"systemctl": f"starting and stopping {node.service.unit}"}
    if node.service.kind == "command":
        found: dict[str, str] = {}
        for name in ("start", "stop", "status"):
            template = getattr(node.service, name)
            program = shlex.split(template)[0]
            found.setdefault(program, f"the service.{name} command")
        return found
    return {}
