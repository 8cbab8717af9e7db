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

Here: the mode, cluster name, version, bootstrap servers, ZooKeeper and client
security. The ``ssh`` and ``privilege`` sections are ``core/ansible_access``'s, the
``nodes`` ``core/ansible_nodes``'s; both read values with ``core/ansible_values``.

The defaults are cp-ansible's own (confluentinc/cp-ansible, 8.3.x,
``roles/variables/defaults/main.yml`` and ``vars/main.yml``; the ``zookeeper_*``
ones from 7.9.x, the last line with ZooKeeper).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kafka_upgrade.core.ansible_access import (
    SSH_CONNECTIONS,
    UNSUPPORTED_SSH,
    check_reach,
    privilege_section,
    ssh_section,
)
from kafka_upgrade.core.ansible_inventory import (
    AnsibleImportError,
    AnsibleInventory,
    Host,
    problem,
    read_inventory,
)
from kafka_upgrade.core.ansible_nodes import BROKER, CONTROLLER, CpService, nodes_of
from kafka_upgrade.core.ansible_values import (
    LISTENERS,
    advertised,
    as_flag,
    as_number,
    flag,
    internal_listener,
    value,
)
from kafka_upgrade.core.commented_yaml import Path, render
from kafka_upgrade.core.modes import KRAFT, ZOOKEEPER, Mode

__all__ = [
    "BROKER",
    "CONTROLLER",
    "CP_TO_KAFKA",
    "LISTENERS",
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "SSH_CONNECTIONS",
    "UNSUPPORTED_SSH",
    "AnsibleImportError",
    "CpService",
    "Imported",
    "import_cp_ansible",
]

# Confluent Platform minor -> Apache Kafka minor it ships. 5.x: Confluent's own
# table (docs.confluent.io, legacy 5.5 "Supported Versions and Interoperability");
# 7.x and 8.x: the same table as quoted by public projects (not Confluent's text).
CP_TO_KAFKA = {
    **{f"5.{m}": f"2.{m}" for m in range(6)},
    **{f"7.{m}": f"3.{m}" for m in range(5, 10)},
    **{f"8.{m}": f"4.{m}" for m in range(4)},
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
        check_reach(host, source)
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
    data["ssh"], ssh_notes, overrides = ssh_section([h for h, _, _ in placed], source)
    data["privilege"], privilege_notes = privilege_section(placed, source)
    data["nodes"], node_notes = nodes_of(placed, overrides, source)
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
    cp = value(host, "confluent_package_version", None, source)
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
        internal = internal_listener(host, source)
        name = internal.get("hostname") or advertised(host, source)
        defaulted |= "port" not in internal
        port = as_number(internal.get("port", 9092), host, source, LISTENERS)
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
    tls = flag(broker, "zookeeper_ssl_enabled", flag(broker, "ssl_enabled", False, source), source)
    port = as_number(
        value(broker, "zookeeper_client_port", 2182 if tls else 2181, source),
        broker,
        source,
        "zookeeper_client_port",
    )
    chroot = value(broker, "zookeeper_chroot", "", source)
    names = [advertised(h, source) for h in inv.hosts("zookeeper")]
    connect = ",".join(f"{name}:{port}" for name in names) + str(chroot)
    note = None
    if not broker.has("zookeeper_client_port"):
        note = f"assumed: cp-ansible's client port {port} (zookeeper_client_port not set)"
    return {"connect": connect}, note


def _client(broker: Host, source: str) -> tuple[dict[str, str] | None, dict[Path, str]]:
    """The AdminClient's security, from the internal listener (the one clients use)."""
    internal = internal_listener(broker, source)
    tls = flag(broker, "ssl_enabled", False, source)
    if "ssl_enabled" in internal:
        tls = as_flag(internal["ssl_enabled"], broker, "ssl_enabled", source)
    sasl = str(internal.get("sasl_protocol") or value(broker, "sasl_protocol", "none", source))
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
