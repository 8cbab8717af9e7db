"""The ``nodes`` of an imported cp-ansible inventory: one per host and cp-ansible service.

A host in both ``kafka_broker`` and ``kafka_controller`` runs two services there
(two node ids, two units). Each node's id, address, paths, unit and controller
port are the host's own values or cp-ansible's defaults, the latter with a note.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from kafka_upgrade.core.ansible_inventory import Host, problem
from kafka_upgrade.core.ansible_values import as_number, flag, value
from kafka_upgrade.core.commented_yaml import Path


@dataclass(frozen=True)
class CpService:
    """What cp-ansible does differently for a broker and a controller."""

    role: str  # our role
    group: str  # its cp-ansible group, also the prefix of its variables
    config_dir: str  # under config_prefix (/etc)
    log_dir: str
    first_id: int  # node id of the group's first host when none is given
    id_vars: tuple[str, ...]


BROKER = CpService("broker", "kafka_broker", "kafka", "/var/log/kafka", 1, ("node_id", "broker_id"))
CONTROLLER = CpService(
    "controller", "kafka_controller", "controller", "/var/log/controller", 9991, ("node_id",)
)


def nodes_of(
    placed: list, overrides: list[dict[str, Any]], source: str
) -> tuple[list[dict[str, Any]], dict[Path, str]]:
    nodes: list[dict[str, Any]] = []
    notes: dict[Path, str] = {}
    seen: dict[int, Host] = {}
    for index, ((host, service, position), override) in enumerate(
        zip(placed, overrides, strict=True)
    ):
        node, node_notes = _node(host, service, position, override, source)
        if node["id"] in seen:
            raise problem(
                source,
                host.line_of("node_id") if host.has("node_id") else host.line,
                f"node id {node['id']} of {host.name} is also {seen[node['id']].name}'s",
                "give every broker and controller its own node_id",
            )
        seen[node["id"]] = host
        nodes.append(node)
        notes.update({("nodes", index, *path): note for path, note in node_notes.items()})
    return nodes, notes


def _node(
    host: Host, service: CpService, position: int, override: dict[str, Any], source: str
) -> tuple[dict[str, Any], dict[Path, str]]:
    node_id, id_note = _node_id(host, service, position, source)
    node: dict[str, Any] = {"id": node_id, "host": _address(host, source), "roles": [service.role]}
    node.update(override)
    paths, notes = _paths(host, service, source)
    node.update(paths)
    notes[("id",)] = id_note
    if service is CONTROLLER:
        port = value(host, "kafka_controller_port", 9093, source)
        node["controller_port"] = as_number(port, host, source, "kafka_controller_port")
        if not host.has("kafka_controller_port"):
            notes[("controller_port",)] = "assumed: cp-ansible's default (kafka_controller_port)"
    node["service"] = {
        "kind": "systemd",
        "unit": _unit(host, service, source),
        "sudo": flag(host, "ansible_become", False, source),
    }
    remarks = [_rack_note(host, service, source)]
    if "ansible_user" not in host.vars:
        remarks.append("ansible_user not set for this host: the common ssh.user is assumed")
    notes[()] = "; ".join(r for r in remarks if r)
    return node, notes


def _node_id(host: Host, service: CpService, position: int, source: str) -> tuple[int, str | None]:
    for name in service.id_vars:
        if host.has(name):
            return as_number(value(host, name, None, source), host, source, name), None
    node_id = service.first_id + position
    names = "node.id or broker.id" if service is BROKER else "node.id"
    return node_id, (
        f"assumed: cp-ansible's default ({service.first_id} + position in {service.group}); "
        f"must match {names} in this node's server.properties"
    )


def _address(host: Host, source: str) -> str:
    address = value(host, "ansible_host", host.name, source)
    if not isinstance(address, str) or not address.strip() or re.search(r"[\s<>{}]", address):
        raise problem(
            source,
            host.line_of("ansible_host"),
            f"host {host.name!r} has no address SSH can reach ({address!r})",
            "name the host by its DNS name or IP, or set ansible_host",
        )
    return address


def _paths(host: Host, service: CpService, source: str) -> tuple[dict[str, str], dict[Path, str]]:
    method = value(host, "installation_method", "package", source)
    if method not in ("package", "archive"):
        raise problem(
            source,
            host.line_of("installation_method"),
            f"installation_method {method}",
            "cp-ansible knows package and archive only: fix the value",
        )
    archive = value(host, "archive_destination_path", "/opt/confluent", source)
    base = value(host, "archive_config_base_path", archive, source) if method == "archive" else "/"
    prefix = value(host, f"{service.group}_config_prefix", None, source) or posixpath.join(
        value(host, "config_prefix", "/etc", source), service.config_dir
    )
    paths = {
        "install_dir": archive,
        "config_path": posixpath.join(base, prefix.strip("/"), "server.properties"),
        "log_dir": value(host, f"{service.group}_log_dir", service.log_dir, source),
    }
    layout_vars = ("config_prefix", f"{service.group}_config_prefix", "archive_config_base_path")
    given = "" if host.has("archive_destination_path") else ", cp-ansible's default"
    notes: dict[Path, str] = {
        ("install_dir",): f"assumed: archive_destination_path{given}; it must hold Apache Kafka "
        "tarballs (kafka_2.13-X.Y.Z/) and the 'current' link (see the top)",
    }
    if not any(host.has(name) for name in layout_vars):
        notes[("config_path",)] = f"assumed: cp-ansible's default for installation_method {method}"
    if not host.has(f"{service.group}_log_dir"):
        notes[("log_dir",)] = f"assumed: cp-ansible's default ({service.group}_log_dir)"
    return paths, notes


def _unit(host: Host, service: CpService, source: str) -> str:
    if service is CONTROLLER:
        return "confluent-kcontroller"
    server = flag(host, "confluent_server_enabled", True, source)
    return "confluent-server" if server else "confluent-kafka"


def _rack_note(host: Host, service: CpService, source: str) -> str | None:
    properties = host.vars.get("kafka_broker_custom_properties")
    if service is not BROKER or properties is None or not isinstance(properties.value, dict):
        return None
    rack = properties.value.get("broker.rack")
    if rack is None:
        return None
    return f"broker.rack {rack} (kafka_broker_custom_properties): read from the cluster at run time"
