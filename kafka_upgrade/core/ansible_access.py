"""How an imported cp-ansible inventory's nodes are reached: the ``ssh`` and ``privilege`` sections.

Refused: a connection other than SSH, jump hosts or SSH options, password logins,
one key per host, become other than sudo.
"""

from __future__ import annotations

from typing import Any

from kafka_upgrade.core.ansible_inventory import Host, problem
from kafka_upgrade.core.ansible_values import as_number, flag, most_common, value
from kafka_upgrade.core.commented_yaml import Path

SSH_CONNECTIONS = {
    "ssh",
    "smart",
    "paramiko",
    "ansible.builtin.ssh",
    "ansible.builtin.paramiko_ssh",
}
UNSUPPORTED_SSH = {
    "ansible_ssh_common_args": "SSH options (a jump host?) that kafka-upgrade does not pass",
    "ansible_ssh_extra_args": "SSH options (a jump host?) that kafka-upgrade does not pass",
    "ansible_password": "a login by password; kafka-upgrade logs in with a key",
    "ansible_ssh_pass": "a login by password; kafka-upgrade logs in with a key",
}


def check_reach(host: Host, source: str) -> None:
    connection = value(host, "ansible_connection", "ssh", source)
    if connection not in SSH_CONNECTIONS:
        raise problem(
            source,
            host.line_of("ansible_connection"),
            f"{host.name} is reached with ansible_connection {connection}",
            "kafka-upgrade reaches nodes over SSH only: import hosts reached by ssh",
        )
    for name, why in UNSUPPORTED_SSH.items():
        if host.has(name):
            raise problem(
                source,
                host.line_of(name),
                f"{name} on {host.name}: {why}",
                "make the host reachable by a direct SSH login with a key, then import again",
            )
    method = value(host, "ansible_become_method", "sudo", source)
    if method != "sudo":
        raise problem(
            source,
            host.line_of("ansible_become_method"),
            f"ansible_become_method {method} on {host.name}",
            "kafka-upgrade becomes root with sudo -n only: allow passwordless sudo",
        )


def ssh_section(
    hosts: list[Host], source: str
) -> tuple[dict[str, Any], dict[Path, str], list[dict[str, Any]]]:
    """The ``ssh`` section (what most hosts use) and each node's overrides."""
    users = [value(h, "ansible_user", None, source) for h in hosts]
    ports = [_port(h, source) for h in hosts]
    if not any(users):
        raise problem(
            source,
            hosts[0].line,
            "no host has an ansible_user (Ansible would log in as whoever runs it)",
            "set ansible_user under all: vars:",
        )
    user = most_common([u for u in users if u])
    port = most_common(ports)
    ssh: dict[str, Any] = {"user": user, "port": port}
    notes: dict[Path, str] = {}
    if not any(h.has("ansible_port") for h in hosts):
        notes[("ssh", "port")] = "assumed: ansible_port not set; SSH's default"
    key = _key_file(hosts, source)
    if key:
        ssh["key_file"] = key
    overrides = [{"ssh_user": u} if u and u != user else {} for u in users]
    for override, p in zip(overrides, ports, strict=True):
        if p != port:
            override["ssh_port"] = p
    return ssh, notes, overrides


def _port(host: Host, source: str) -> int:
    return as_number(value(host, "ansible_port", 22, source), host, source, "ansible_port")


def _key_file(hosts: list[Host], source: str) -> str | None:
    keys = {}
    for host in hosts:
        key = value(host, "ansible_ssh_private_key_file", None, source)
        if key and keys and key not in keys:
            raise problem(
                source,
                host.line_of("ansible_ssh_private_key_file"),
                f"{host.name} logs in with key {key}, another host with {next(iter(keys))}",
                "kafka-upgrade uses one key for every node: authorize one key on all hosts",
            )
        if key:
            keys[key] = host
    return next(iter(keys), None)


def privilege_section(placed: list, source: str) -> tuple[dict[str, Any], dict[Path, str]]:
    hosts = [h for h, _, _ in placed]
    sudo = most_common([flag(h, "ansible_become", False, source) for h in hosts])
    first = {service.group: host for host, service, _ in reversed(placed)}
    users = {
        group: value(host, f"{group}_user", "cp-kafka", source) for group, host in first.items()
    }
    kafka_user = users.get("kafka_broker", "cp-kafka")
    notes: dict[Path, str] = {}
    if not first["kafka_broker"].has("kafka_broker_user"):
        notes[("privilege", "kafka_user")] = "assumed: cp-ansible's default (kafka_broker_user)"
    if users.get("kafka_controller", kafka_user) != kafka_user:
        notes[("privilege", "kafka_user")] = (
            f"the controllers run as {users['kafka_controller']} (kafka_controller_user)"
        )
    become_users = {value(h, "ansible_become_user", "root", source) for h in hosts} - {"root"}
    if become_users:
        notes[("privilege", "sudo")] = (
            f"ansible_become_user {sorted(become_users)[0]} is not carried over: sudo here "
            "runs commands as root"
        )
    return {"sudo": sudo, "kafka_user": kafka_user}, notes
