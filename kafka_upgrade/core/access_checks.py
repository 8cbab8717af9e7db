"""Proof, per node and before any change, that every action the roll takes is allowed.

One command per node (``access_check_command``) asks sudo about each program the
roll runs (``sudo -n -l``: nothing is run), tests that the config and install
directories are writable by whoever writes them, runs the ``command`` service's
``status`` template, and probes the process (its version needs the JVM's open
files). ``access_problems`` turns what it printed into sentences that name the
node, the action and the sudoers line that would allow it.
"""

from __future__ import annotations

import shlex

from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.node_commands import parse_probe, probe_command
from kafka_upgrade.core.privilege import Grant, grant_check_command, grants, refused_grants
from kafka_upgrade.core.service_commands import service_programs, status_command

DROPIN = "/etc/sudoers.d/kafka-upgrade"


def node_grants(node: Node) -> list[Grant]:
    """The sudoers permissions this node needs (none without sudo)."""
    return grants(node.access, service_programs(node))


def access_check_command(node: Node) -> str:
    r = node.access.root_sh()
    parts = [grant_check_command(node_grants(node))]
    for name, folder in (
        ("config-dir", node.config_path.parent),
        ("install-dir", node.install_dir),
    ):
        path = shlex.quote(str(folder))
        parts.append(f"if {r}test -w {path}; then echo {name}=ok; else echo {name}=no; fi")
    status = status_command(node)
    if status is not None:
        parts.append(f"{status} >/dev/null 2>&1; echo status=$?")
    parts.append(probe_command(node))
    return "; ".join(parts) + "; true"


def _flags(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        key, eq, value = line.strip().partition("=")
        if eq and key in ("config-dir", "install-dir", "status"):
            found[key] = value
    return found


def access_problems(node: Node, stdout: str, inventory_hint: str = "") -> list[str]:
    """What ``access_check_command`` printed, as sentences about ``node`` (empty: all
    allowed). ``inventory_hint``: how to print the whole drop-in (the CLI names the file)."""
    access = node.access
    problems = []
    for grant, path in refused_grants(node_grants(node), stdout):
        problems.append(
            f"sudo -n refuses {grant.program} as {grant.runas} for {access.login}, needed for "
            f"{grant.needed_for}: add `{grant.line(access.login, path or None)}` to {DROPIN}"
            + (f" ({inventory_hint} prints every line)" if inventory_hint else "")
        )
    flags = _flags(stdout)
    who = "root (sudo)" if access.sudo else f"the login {access.login}"
    for key, folder in (("config-dir", node.config_path.parent), ("install-dir", node.install_dir)):
        if flags.get(key) == "no":
            problems.append(
                f"{folder} is not writable by {who}; the roll writes there (a backup and the "
                "new server.properties, the current link): "
                + (
                    "check the path and that the filesystem is not read-only"
                    if access.sudo
                    else "set privilege.sudo: true, or give the login write access"
                )
            )
    process = parse_probe(stdout).process
    if process is not None and process.version is None:
        problems.append(
            f"Kafka runs (pid {process.pid}) but its open jar cannot be read, so its version is "
            "unknown: "
            + (
                f"set privilege.kafka_user to the user the JVM runs as (now {access.kafka_owner})"
                if access.sudo
                else "set privilege.sudo: true and privilege.kafka_user to the JVM's user"
            )
        )
    if process is not None and flags.get("status", "0") != "0":
        problems.append(_status_problem(node, flags["status"], process.pid))
    return problems


def _status_problem(node: Node, code: str, pid: int) -> str:
    if node.service.kind == "systemd":
        return (
            f"systemctl is-active {node.service.unit} says the unit is not active (exit {code}) "
            f"while Kafka runs (pid {pid}): the unit does not run this node, so the roll could "
            "not stop it; check service.unit"
        )
    return (
        f"service.status exited {code} while Kafka runs (pid {pid}): fix the template so it "
        "exits 0 for a running node (a refusal by sudo shows as a non-zero exit too)"
    )
