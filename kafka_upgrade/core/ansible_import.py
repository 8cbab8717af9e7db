"""A Confluent cp-ansible inventory (``hosts.yml``) as a kafka-upgrade inventory.

1. Read the groups as Ansible does (``core/ansible_inventory``): ``kafka_broker``
   and either ``kafka_controller`` (KRaft) or ``zookeeper`` (ZooKeeper mode).
   Both is a ZooKeeper -> KRaft migration in progress: refused.
2. Refuse what kafka-upgrade cannot do: a connection other than SSH, jump hosts
   or SSH options, password logins, one key per host, become other than sudo,
   SASL other than PLAIN/SCRAM, a Jinja template in a value it needs.
3. One node per host and cp-ansible service: a host in both ``kafka_broker`` and
   ``kafka_controller`` runs two services there (two node ids, two units).
4. Every value hosts.yml does not give is cp-ansible's default or a guess and
   carries a note, which ``commented_yaml.render`` writes as a ``# assumed``
   comment on its line.

The defaults are cp-ansible's own (confluentinc/cp-ansible, 8.3.x,
``roles/variables/defaults/main.yml`` and ``vars/main.yml``; the ``zookeeper_*``
ones from 7.9.x, the last line with ZooKeeper).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kafka_upgrade.core.ansible_inventory import (
    AnsibleImportError,
    AnsibleInventory,
    Host,
    problem,
    read_inventory,
)
from kafka_upgrade.core.commented_yaml import Path, render
from kafka_upgrade.core.modes import KRAFT, ZOOKEEPER, Mode

# Confluent Platform minor -> Apache Kafka minor it ships. 5.x: Confluent's own
# table (docs.confluent.io, legacy 5.5 "Supported Versions and Interoperability");
# 7.x and 8.x: the same table as quoted by public projects (not Confluent's text).
CP_TO_KAFKA = {
    **{f"5.{m}": f"2.{m}" for m in range(6)},
    **{f"7.{m}": f"3.{m}" for m in range(5, 10)},
    **{f"8.{m}": f"4.{m}" for m in range(4)},
}
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
SASL_MECHANISMS = {"plain": "PLAIN", "scram": "SCRAM-SHA-512", "scram256": "SCRAM-SHA-256"}
SECURITY_PROTOCOLS = {
    (False, False): "PLAINTEXT",
    (True, False): "SSL",
    (False, True): "SASL_PLAINTEXT",
    (True, True): "SASL_SSL",
}
_CLUSTER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
LISTENERS = "kafka_broker_custom_listeners"


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


@dataclass(frozen=True)
class Imported:
    data: dict[str, Any]  # the inventory, as its YAML loads
    notes: dict[Path, str]  # path of a value -> why it was assumed
    header: tuple[str, ...]

    def to_yaml(self) -> str:
        return render(self.data, self.notes, self.header)


def import_cp_ansible(
    text: str,
    *,
    source: str = "hosts.yml",
    cluster: str | None = None,
    current_version: str | None = None,
) -> Imported:
    """The inventory described by the cp-ansible ``hosts.yml`` whose content is ``text``."""
    inv = read_inventory(text, source)
    mode = _mode(inv)
    placed = [(h, BROKER, i) for i, h in enumerate(inv.hosts("kafka_broker"))]
    placed += [(h, CONTROLLER, i) for i, h in enumerate(inv.hosts("kafka_controller"))]
    for host, _, _ in placed:
        _check_reach(host, source)
    notes: dict[Path, str] = {}
    data: dict[str, Any] = {}
    data["cluster"], notes[("cluster",)] = _cluster(cluster, source)
    data["mode"] = mode.name
    data["bootstrap_servers"], notes[("bootstrap_servers",)] = _bootstrap(
        inv.hosts("kafka_broker"), source
    )
    data["current_version"], notes[("current_version",)] = _current_version(
        current_version, placed[0][0], source
    )
    data["ssh"], ssh_notes, overrides = _ssh([h for h, _, _ in placed], source)
    data["privilege"], privilege_notes = _privilege(placed, source)
    data["nodes"], node_notes = _nodes(placed, overrides, source)
    if mode is ZOOKEEPER:
        data["zookeeper"], notes[("zookeeper", "connect")] = _zookeeper(inv, placed[0][0])
    client, client_notes = _client(placed[0][0], source)
    if client:
        data["kafka"] = client
    notes.update(ssh_notes | privilege_notes | node_notes | client_notes)
    return Imported(data, {k: v for k, v in notes.items() if v}, _header(source))


def _header(source: str) -> tuple[str, ...]:
    return (
        f"Imported from {source} (cp-ansible) by `kafka-upgrade inventory import`.",
        "Review every line marked '# assumed' before the first run.",
        "cp-ansible installs Confluent Platform (packages under /usr, or archives under",
        "archive_destination_path) and its systemd units start those binaries; kafka-upgrade",
        "installs Apache Kafka tarballs side by side under install_dir (kafka_2.13-X.Y.Z/) and",
        "switches install_dir/current: stage the running version there and point each unit",
        "at install_dir/current (a systemd override) before a roll.",
        "Secrets are never copied: give them in the environment, e.g.",
        "KAFKA_UPGRADE_KAFKA__SASL_PASSWORD.",
        "",
    )


# --- the cluster ------------------------------------------------------------------------


def _mode(inv: AnsibleInventory) -> Mode:
    brokers, controllers, zookeeper = (
        inv.hosts(g) for g in ("kafka_broker", "kafka_controller", "zookeeper")
    )
    if controllers and zookeeper:
        raise problem(
            inv.source,
            inv.lines["zookeeper"],
            "both a zookeeper and a kafka_controller group: a ZooKeeper -> KRaft migration",
            "import the cluster as it runs now: drop kafka_controller (and describe the new "
            "controllers in the migration section) or, once migrated, drop zookeeper",
        )
    if not brokers:
        raise problem(
            inv.source,
            inv.lines.get("kafka_broker", 1),
            "no hosts in a kafka_broker group",
            "list the brokers under kafka_broker: hosts:",
        )
    if not controllers and not zookeeper:
        raise problem(
            inv.source,
            1,
            "neither a kafka_controller (KRaft) nor a zookeeper group with hosts",
            "add the group the cluster runs with, so the mode is known",
        )
    return KRAFT if controllers else ZOOKEEPER


def _cluster(given: str | None, source: str) -> tuple[str, str | None]:
    if given is not None:
        if not _CLUSTER_NAME.fullmatch(given):
            raise AnsibleImportError(
                f"--cluster {given!r}: use lowercase letters, digits and dashes (kebab-case)"
            )
        return given, None
    stem = PurePosixPath(source).name.split(".")[0]
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "cluster"
    return name, f"assumed: from the file name {source}; pass --cluster to name it"


def _current_version(given: str | None, host: Host, source: str) -> tuple[str, str | None]:
    if given is not None:
        if not _VERSION.fullmatch(given):
            raise AnsibleImportError(
                f"--current-version {given!r}: give the Apache Kafka version as X.Y.Z, e.g. 3.9.1"
            )
        return given, None
    ask = "set this to the Apache Kafka version the nodes run, or pass --current-version"
    cp = _value(host, "confluent_package_version", None, source)
    if cp is None:
        return "unknown", f"ASSUMED: hosts.yml names no version; {ask} (the file loads after)"
    minor = ".".join(str(cp).split(".")[:2])
    if minor not in CP_TO_KAFKA:
        return "unknown", f"ASSUMED: Confluent Platform {cp} has no known Kafka version; {ask}"
    kafka = CP_TO_KAFKA[minor]
    return f"{kafka}.0", (
        f"ASSUMED: derived from confluent_package_version {cp} (Confluent Platform {minor} "
        f"ships Apache Kafka {kafka}; the patch level is a guess); {ask}"
    )


def _bootstrap(brokers: tuple[Host, ...], source: str) -> tuple[str, str | None]:
    addresses, defaulted = [], False
    for host in brokers:
        internal = _internal_listener(host, source)
        name = internal.get("hostname") or _advertised(host, source)
        defaulted |= "port" not in internal
        port = _as_number(internal.get("port", 9092), host, source, LISTENERS)
        addresses.append(f"{name}:{port}")
    note = (
        "assumed: cp-ansible's internal listener port 9092 "
        "(kafka_broker_custom_listeners.internal.port not set)"
        if defaulted
        else None
    )
    return ",".join(addresses), note


def _zookeeper(inv: AnsibleInventory, broker: Host) -> tuple[dict[str, str], str | None]:
    """zookeeper.connect as cp-ansible writes it into a broker's server.properties."""
    source = inv.source
    tls = _flag(
        broker, "zookeeper_ssl_enabled", _flag(broker, "ssl_enabled", False, source), source
    )
    port = _as_number(
        _value(broker, "zookeeper_client_port", 2182 if tls else 2181, source),
        broker,
        source,
        "zookeeper_client_port",
    )
    chroot = _value(broker, "zookeeper_chroot", "", source)
    names = [_advertised(h, source) for h in inv.hosts("zookeeper")]
    connect = ",".join(f"{name}:{port}" for name in names) + str(chroot)
    note = None
    if not broker.has("zookeeper_client_port"):
        note = f"assumed: cp-ansible's client port {port} (zookeeper_client_port not set)"
    return {"connect": connect}, note


def _client(broker: Host, source: str) -> tuple[dict[str, str] | None, dict[Path, str]]:
    """The AdminClient's security, from the internal listener (the one clients use)."""
    internal = _internal_listener(broker, source)
    tls = _flag(broker, "ssl_enabled", False, source)
    if "ssl_enabled" in internal:
        tls = _as_flag(internal["ssl_enabled"], broker, "ssl_enabled", source)
    sasl = str(internal.get("sasl_protocol") or _value(broker, "sasl_protocol", "none", source))
    mechanism = sasl.split(",")[0].strip().lower()
    if mechanism != "none" and mechanism not in SASL_MECHANISMS:
        raise problem(
            source,
            broker.line_of("sasl_protocol"),
            f"sasl_protocol {mechanism}: kafka-upgrade's client speaks SASL PLAIN and SCRAM only",
            "write the kafka section by hand for a listener it can use",
        )
    protocol = SECURITY_PROTOCOLS[(tls, mechanism != "none")]
    if protocol == "PLAINTEXT":
        return None, {}
    client, notes = {"security_protocol": protocol}, {}
    if tls:
        notes[("kafka", "security_protocol")] = (
            "add ssl_ca_location: the CA file that signed the brokers' certificates"
        )
    if mechanism != "none":
        client["sasl_mechanism"] = SASL_MECHANISMS[mechanism]
        notes[("kafka", "sasl_mechanism")] = (
            "add sasl_username; the password goes in env KAFKA_UPGRADE_KAFKA__SASL_PASSWORD, "
            "never in this file"
        )
    return client, notes


# --- how nodes are reached ----------------------------------------------------------------


def _check_reach(host: Host, source: str) -> None:
    connection = _value(host, "ansible_connection", "ssh", source)
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
    method = _value(host, "ansible_become_method", "sudo", source)
    if method != "sudo":
        raise problem(
            source,
            host.line_of("ansible_become_method"),
            f"ansible_become_method {method} on {host.name}",
            "kafka-upgrade becomes root with sudo -n only: allow passwordless sudo",
        )


def _ssh(
    hosts: list[Host], source: str
) -> tuple[dict[str, Any], dict[Path, str], list[dict[str, Any]]]:
    """The ``ssh`` section (what most hosts use) and each node's overrides."""
    users = [_value(h, "ansible_user", None, source) for h in hosts]
    ports = [_port(h, source) for h in hosts]
    if not any(users):
        raise problem(
            source,
            hosts[0].line,
            "no host has an ansible_user (Ansible would log in as whoever runs it)",
            "set ansible_user under all: vars:",
        )
    user = _most_common([u for u in users if u])
    port = _most_common(ports)
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
    return _as_number(_value(host, "ansible_port", 22, source), host, source, "ansible_port")


def _key_file(hosts: list[Host], source: str) -> str | None:
    keys = {}
    for host in hosts:
        key = _value(host, "ansible_ssh_private_key_file", None, source)
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


def _privilege(placed: list, source: str) -> tuple[dict[str, Any], dict[Path, str]]:
    hosts = [h for h, _, _ in placed]
    sudo = _most_common([_flag(h, "ansible_become", False, source) for h in hosts])
    first = {service.group: host for host, service, _ in reversed(placed)}
    users = {
        group: _value(host, f"{group}_user", "cp-kafka", source) for group, host in first.items()
    }
    kafka_user = users.get("kafka_broker", "cp-kafka")
    notes: dict[Path, str] = {}
    if not first["kafka_broker"].has("kafka_broker_user"):
        notes[("privilege", "kafka_user")] = "assumed: cp-ansible's default (kafka_broker_user)"
    if users.get("kafka_controller", kafka_user) != kafka_user:
        notes[("privilege", "kafka_user")] = (
            f"the controllers run as {users['kafka_controller']} (kafka_controller_user)"
        )
    become_users = {_value(h, "ansible_become_user", "root", source) for h in hosts} - {"root"}
    if become_users:
        notes[("privilege", "sudo")] = (
            f"ansible_become_user {sorted(become_users)[0]} is not carried over: sudo here "
            "runs commands as root"
        )
    return {"sudo": sudo, "kafka_user": kafka_user}, notes


# --- the nodes ----------------------------------------------------------------------------


def _nodes(
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
        port = _value(host, "kafka_controller_port", 9093, source)
        node["controller_port"] = _as_number(port, host, source, "kafka_controller_port")
        if not host.has("kafka_controller_port"):
            notes[("controller_port",)] = "assumed: cp-ansible's default (kafka_controller_port)"
    node["service"] = {
        "kind": "systemd",
        "unit": _unit(host, service, source),
        "sudo": _flag(host, "ansible_become", False, source),
    }
    remarks = [_rack_note(host, service, source)]
    if "ansible_user" not in host.vars:
        remarks.append("ansible_user not set for this host: the common ssh.user is assumed")
    notes[()] = "; ".join(r for r in remarks if r)
    return node, notes


def _node_id(host: Host, service: CpService, position: int, source: str) -> tuple[int, str | None]:
    for name in service.id_vars:
        if host.has(name):
            return _as_number(_value(host, name, None, source), host, source, name), None
    node_id = service.first_id + position
    names = "node.id or broker.id" if service is BROKER else "node.id"
    return node_id, (
        f"assumed: cp-ansible's default ({service.first_id} + position in {service.group}); "
        f"must match {names} in this node's server.properties"
    )


def _address(host: Host, source: str) -> str:
    address = _value(host, "ansible_host", host.name, source)
    if not isinstance(address, str) or not address.strip() or re.search(r"[\s<>{}]", address):
        raise problem(
            source,
            host.line_of("ansible_host"),
            f"host {host.name!r} has no address SSH can reach ({address!r})",
            "name the host by its DNS name or IP, or set ansible_host",
        )
    return address


def _paths(host: Host, service: CpService, source: str) -> tuple[dict[str, str], dict[Path, str]]:
    method = _value(host, "installation_method", "package", source)
    if method not in ("package", "archive"):
        raise problem(
            source,
            host.line_of("installation_method"),
            f"installation_method {method}",
            "cp-ansible knows package and archive only: fix the value",
        )
    archive = _value(host, "archive_destination_path", "/opt/confluent", source)
    base = _value(host, "archive_config_base_path", archive, source) if method == "archive" else "/"
    prefix = _value(host, f"{service.group}_config_prefix", None, source) or posixpath.join(
        _value(host, "config_prefix", "/etc", source), service.config_dir
    )
    paths = {
        "install_dir": archive,
        "config_path": posixpath.join(base, prefix.strip("/"), "server.properties"),
        "log_dir": _value(host, f"{service.group}_log_dir", service.log_dir, source),
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
    server = _flag(host, "confluent_server_enabled", True, source)
    return "confluent-server" if server else "confluent-kafka"


def _rack_note(host: Host, service: CpService, source: str) -> str | None:
    properties = host.vars.get("kafka_broker_custom_properties")
    if service is not BROKER or properties is None or not isinstance(properties.value, dict):
        return None
    rack = properties.value.get("broker.rack")
    if rack is None:
        return None
    return f"broker.rack {rack} (kafka_broker_custom_properties): read from the cluster at run time"


# --- reading values ---------------------------------------------------------------------


def _value(host: Host, name: str, default: Any, source: str) -> Any:
    """The host's ``name``, ``default`` when unset; a Jinja template is refused."""
    if not host.has(name):
        return default
    value = host.vars[name].value
    if _templated(value):
        raise problem(
            source,
            host.line_of(name),
            f"{name} of {host.name} is a Jinja template",
            "write the value itself: the importer does not run Ansible",
        )
    return value


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def _flag(host: Host, name: str, default: bool, source: str) -> bool:
    return _as_flag(_value(host, name, default, source), host, name, source)


def _as_flag(value: Any, host: Host, name: str, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise problem(
        source, host.line_of(name), f"{name} of {host.name} is {value!r}", "write true or false"
    )


def _as_number(value: Any, host: Host, source: str, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise problem(
        source, host.line_of(name), f"{name} of {host.name} is {value!r}", "write a number"
    )


def _internal_listener(host: Host, source: str) -> dict[str, Any]:
    listeners = host.vars.get(LISTENERS)
    if listeners is None or not listeners.value:
        return {}
    internal = listeners.value.get("internal") if isinstance(listeners.value, dict) else []
    if internal is None:
        return {}
    if not isinstance(internal, dict) or _templated(internal):
        raise problem(
            source,
            listeners.line,
            f"kafka_broker_custom_listeners.internal of {host.name} is not plain values",
            "write the internal listener's port, hostname, ssl_enabled, sasl_protocol as values",
        )
    return internal


def _advertised(host: Host, source: str) -> str:
    """The name cp-ansible gives a host in listeners and connect strings."""
    if _flag(host, "hostname_aliasing_enabled", False, source):
        fallback = _value(host, "ansible_host", host.name, source)
        return str(_value(host, "hostname", fallback, source))
    return host.name


def _most_common(values: list) -> Any:
    return Counter(values).most_common(1)[0][0]
