"""ZooKeeper -> KRaft migration (KIP-866) as pure decisions: configs, phases, gates.

The procedure (Apache Kafka 3.9 docs, operations, "ZooKeeper to KRaft
Migration"), as the flows run it:

==========================  ================================================  =========
phase                       what changes                                      undo
==========================  ================================================  =========
provision-controllers       new controllers: process.roles=controller, the    stop them
                            static quorum (controller.quorum.voters), the
                            migration flag, zookeeper.connect; storage
                            formatted with the ZooKeeper cluster's id
migrate-brokers (A)         every broker gets the migration flag and the      roll back
                            controller.* settings; the active controller
                            copies the metadata and reports MIGRATION
brokers-to-kraft (B)        process.roles=broker, node.id=broker.id;          roll back
                            broker.id, zookeeper.*, IBP and the flag removed; to A
                            AclAuthorizer -> StandardAuthorizer
finalize-controllers (C)    the flag and zookeeper.* removed from the         none: the
                            controllers; ZooKeeper is no longer written       point of
                                                                              no return
==========================  ================================================  =========

Reverting A (Apache's procedure): stop the controllers, delete ``/controller``
in ZooKeeper so a broker is elected the old-style controller, then roll the
brokers without the migration settings. Reverting B first rolls the brokers
back to A (ZooKeeper mode with the flag).

The phase of every node is read from its own server.properties, so a re-run
resumes where a stopped run left off. Every function here is pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from kafka_upgrade.core.health import QuorumStatus, Reason, Verdict
from kafka_upgrade.core.inventory import ControllerToAdd, Inventory, Migration
from kafka_upgrade.core.modes import MIGRATED
from kafka_upgrade.core.upgrade_path import LAST_ZK_RELEASE, release_of

FLAG = "zookeeper.metadata.migration.enable"
IBP = "inter.broker.protocol.version"
VOTERS = "controller.quorum.voters"
LISTENER_NAMES = "controller.listener.names"
PROTOCOL_MAP = "listener.security.protocol.map"
AUTHORIZER = "authorizer.class.name"
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
COMPLETED_LOG_LINE = "Completed migration of metadata from ZooKeeper to KRaft"
# Kafka's default listener.security.protocol.map (3.x), made explicit when a
# controller listener is added to it.
DEFAULT_PROTOCOL_MAP = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"

Wanted = dict[str, str | None]  # key -> value, or None: the key must be absent


class BrokerPhase(StrEnum):
    ZK = "zookeeper"  # a plain ZooKeeper-mode broker
    MIGRATING = "migration"  # ZooKeeper mode with the migration flag (phase A done)
    KRAFT = "kraft"  # process.roles=broker (phase B done)


class ControllerPhase(StrEnum):
    ABSENT = "absent"  # no config yet
    MIGRATION = "migration"  # the flag is on: dual-writes to ZooKeeper
    FINAL = "final"  # the flag is off: KRaft only


class ClusterPhase(StrEnum):
    NOT_STARTED = "not started"
    CONTROLLERS_UP = "controllers provisioned"
    BROKERS_MIGRATING = "brokers being rolled with the migration settings"
    BROKERS_MIGRATED = "brokers in migration mode"
    BROKERS_TO_KRAFT = "brokers being rolled into KRaft"
    BROKERS_KRAFT = "brokers in KRaft, controllers still writing to ZooKeeper"
    FINALIZED = "migration finalized"


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def broker_phase(props: Mapping[str, str]) -> BrokerPhase:
    if "broker" in (props.get("process.roles") or ""):
        return BrokerPhase.KRAFT
    if _true(props.get(FLAG)):
        return BrokerPhase.MIGRATING
    return BrokerPhase.ZK


def controller_phase(props: Mapping[str, str] | None) -> ControllerPhase:
    if not props or "controller" not in (props.get("process.roles") or ""):
        return ControllerPhase.ABSENT
    return ControllerPhase.MIGRATION if _true(props.get(FLAG)) else ControllerPhase.FINAL


def cluster_phase(
    brokers: Mapping[int, BrokerPhase], controllers: Mapping[int, ControllerPhase]
) -> ClusterPhase:
    """Where the migration stands, from every node's own config (so a re-run resumes)."""
    b = set(brokers.values())
    c = set(controllers.values())
    if c == {ControllerPhase.FINAL}:
        return ClusterPhase.FINALIZED
    if c == {ControllerPhase.ABSENT} or not c:
        return ClusterPhase.NOT_STARTED
    if b == {BrokerPhase.ZK}:
        return ClusterPhase.CONTROLLERS_UP
    if b == {BrokerPhase.MIGRATING}:
        return ClusterPhase.BROKERS_MIGRATED
    if b == {BrokerPhase.KRAFT}:
        return ClusterPhase.BROKERS_KRAFT
    if BrokerPhase.KRAFT in b:
        return ClusterPhase.BROKERS_TO_KRAFT
    return ClusterPhase.BROKERS_MIGRATING


# --------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------


def _map_entries(value: str) -> dict[str, str]:
    entries = {}
    for item in value.split(","):
        name, _, protocol = item.strip().partition(":")
        if name:
            entries[name.strip()] = protocol.strip()
    return entries


def _with_controller_listener(props: Mapping[str, str], migration: Migration) -> str:
    entries = _map_entries(props.get(PROTOCOL_MAP) or DEFAULT_PROTOCOL_MAP)
    entries[migration.controller_listener_name] = migration.controller_security_protocol
    return ",".join(f"{k}:{v}" for k, v in entries.items())


def _without_controller_listener(props: Mapping[str, str], migration: Migration) -> str | None:
    if PROTOCOL_MAP not in props:
        return None
    entries = _map_entries(props[PROTOCOL_MAP])
    entries.pop(migration.controller_listener_name, None)
    return ",".join(f"{k}:{v}" for k, v in entries.items())


def _zookeeper_keys(props: Mapping[str, str]) -> Wanted:
    return {k: None for k in props if k.startswith("zookeeper.")}


def node_id_of(props: Mapping[str, str]) -> str | None:
    return props.get("node.id") or props.get("broker.id")


def controller_properties(
    inventory: Inventory, controller: ControllerToAdd, broker_props: Mapping[str, str]
) -> str:
    """server.properties of a new controller in migration mode.

    ``broker_props`` is one broker's config, for the authorizer and super users
    (the controllers answer ACL requests once the metadata is migrated).
    """
    migration = _migration(inventory)
    assert inventory.zookeeper is not None  # the inventory validates zk mode
    ctl, ibl = migration.controller_listener_name, migration.inter_broker_listener_name
    values: dict[str, object] = {
        "process.roles": "controller",
        "node.id": controller.id,
        VOTERS: migration.voters,
        LISTENER_NAMES: ctl,
        "listeners": f"{ctl}://{controller.host}:{controller.controller_port}",
        "inter.broker.listener.name": ibl,
        PROTOCOL_MAP: f"{ctl}:{migration.controller_security_protocol},"
        f"{ibl}:{migration.inter_broker_security_protocol}",
        "log.dirs": controller.metadata_dir,
        FLAG: "true",
        "zookeeper.connect": inventory.zookeeper.connect,
    }
    if broker_props.get(AUTHORIZER) == ACL_AUTHORIZER:
        values[AUTHORIZER] = STANDARD_AUTHORIZER
        if "super.users" in broker_props:
            values["super.users"] = broker_props["super.users"]
    header = "# Written by kafka-upgrade migrate: a KRaft controller in migration mode.\n"
    return header + "".join(f"{k}={v}\n" for k, v in values.items())


def broker_migration_config(migration: Migration, props: Mapping[str, str]) -> Wanted:
    """Phase A: a ZooKeeper broker with the migration flag and the controller settings."""
    return {
        FLAG: "true",
        VOTERS: migration.voters,
        LISTENER_NAMES: migration.controller_listener_name,
        PROTOCOL_MAP: _with_controller_listener(props, migration),
    }


def broker_kraft_config(migration: Migration, props: Mapping[str, str]) -> Wanted:
    """Phase B: the broker in KRaft mode, ``node.id`` = its old ``broker.id``."""
    node_id = node_id_of(props)
    if node_id is None:
        raise ValueError("the broker's server.properties has neither broker.id nor node.id")
    wanted: Wanted = {
        **_zookeeper_keys(props),
        "process.roles": "broker",
        "node.id": node_id,
        "broker.id": None,
        IBP: None,
        FLAG: None,
        VOTERS: migration.voters,
        LISTENER_NAMES: migration.controller_listener_name,
        PROTOCOL_MAP: _with_controller_listener(props, migration),
    }
    if props.get(AUTHORIZER) == ACL_AUTHORIZER:
        wanted[AUTHORIZER] = STANDARD_AUTHORIZER
    return wanted


def controller_final_config(props: Mapping[str, str]) -> Wanted:
    """Phase C: the controller without the flag and without ZooKeeper."""
    return {**_zookeeper_keys(props), FLAG: None}


def broker_back_to_migration(
    inventory: Inventory, props: Mapping[str, str], before: Mapping[str, str] | None = None
) -> Wanted:
    """Revert B: back to ZooKeeper mode with the migration flag (the state after A).

    ``before`` is the broker's config as brokers-to-kraft found it (its backup): every
    key that phase changed gets its value from then, so ZooKeeper settings such as
    ``zookeeper.ssl.*`` come back as they were. Without it, the inventory's
    ``zookeeper.connect`` and IBP 3.9 are restored and other ZooKeeper settings are not.
    """
    migration = _migration(inventory)
    assert inventory.zookeeper is not None
    if before is not None:
        return {key: before.get(key) for key in broker_kraft_config(migration, before)}
    node_id = node_id_of(props)
    if node_id is None:
        raise ValueError("the broker's server.properties has neither broker.id nor node.id")
    wanted: Wanted = {
        "process.roles": None,
        "node.id": None,
        "broker.id": node_id,
        "zookeeper.connect": inventory.zookeeper.connect,
        IBP: props.get(IBP) or LAST_ZK_RELEASE,
        **broker_migration_config(migration, props),
    }
    if props.get(AUTHORIZER) == STANDARD_AUTHORIZER:
        wanted[AUTHORIZER] = ACL_AUTHORIZER
    return wanted


def broker_back_to_zookeeper(inventory: Inventory, props: Mapping[str, str]) -> Wanted:
    """Revert A: a plain ZooKeeper broker again (controllers stopped, /controller deleted)."""
    migration = _migration(inventory)
    if broker_phase(props) is BrokerPhase.KRAFT:
        # B is reverted first; this roll never takes a KRaft broker straight to ZooKeeper.
        return broker_back_to_migration(inventory, props)
    return {
        FLAG: None,
        VOTERS: None,
        LISTENER_NAMES: None,
        PROTOCOL_MAP: _without_controller_listener(props, migration),
    }


# What each roll of the migration wants of a node's config ({}: the roll leaves it as it is).


def migrate_brokers_wants(migration: Migration, props: Mapping[str, str]) -> Wanted:
    """migrate-brokers: phase A for a broker still in ZooKeeper mode."""
    return (
        broker_migration_config(migration, props) if broker_phase(props) is BrokerPhase.ZK else {}
    )


def finalize_controllers_wants(props: Mapping[str, str]) -> Wanted:
    """finalize-controllers: phase C for a controller; brokers want nothing (the roll skips
    them)."""
    if controller_phase(props) is ControllerPhase.ABSENT:
        return {}
    return controller_final_config(props)


def revert_to_migration_wants(
    inventory: Inventory,
    before: Mapping[int, Mapping[str, str] | None],
    props: Mapping[str, str],
) -> Wanted:
    """revert-brokers-to-zookeeper-mode: a KRaft broker back to ZooKeeper mode with the
    migration flag, as its backup from brokers-to-kraft (``before``, by node id) had it."""
    if broker_phase(props) is not BrokerPhase.KRAFT:
        return {}
    node_id = int(node_id_of(props) or -1)
    return broker_back_to_migration(inventory, props, before.get(node_id))


def revert_migrate_brokers_wants(inventory: Inventory, props: Mapping[str, str]) -> Wanted:
    """revert-migrate-brokers: a broker in migration mode back to a plain ZooKeeper broker."""
    if broker_phase(props) is not BrokerPhase.MIGRATING:
        return {}
    return broker_back_to_zookeeper(inventory, props)


def _migration(inventory: Inventory) -> Migration:
    if inventory.migration is None:
        raise ValueError("the inventory has no migration section")
    return inventory.migration


_ALL = ("provision-controllers", "migrate-brokers", "brokers-to-kraft", "finalize-controllers")
# A phase seen done is passed over; one half done runs again and its roll skips done nodes.
# provision-controllers again is harmless (same config, format and start skipped) and
# restarts a controller a crash left down; migrate-brokers again waits for completion.
_TO_RUN: dict[ClusterPhase, tuple[str, ...]] = {
    ClusterPhase.NOT_STARTED: _ALL,
    ClusterPhase.CONTROLLERS_UP: _ALL,
    ClusterPhase.BROKERS_MIGRATING: _ALL,
    ClusterPhase.BROKERS_MIGRATED: _ALL[1:],
    ClusterPhase.BROKERS_TO_KRAFT: _ALL[2:],
    ClusterPhase.BROKERS_KRAFT: _ALL[2:],
    # Finalized: the roll skips every node; the KRaft inventory is written (again).
    ClusterPhase.FINALIZED: _ALL[3:],
}


def phases_to_run(phase: ClusterPhase) -> list[str]:
    """The phases a (re-)run of the whole migration runs, from where it stands."""
    return list(_TO_RUN[phase])


# --------------------------------------------------------------------------
# gates and facts
# --------------------------------------------------------------------------


def ready_to_migrate(
    inventory: Inventory,
    running: Mapping[int, str | None],
    configs: Mapping[int, Mapping[str, str]],
) -> Verdict:
    """Preflight: every broker runs 3.9.x with inter.broker.protocol.version 3.9."""
    reasons = []
    if inventory.migration is None:
        reasons.append(
            Reason(
                "no-migration-section",
                f"the inventory of {inventory.cluster} has no 'migration' section: name the "
                "KRaft controllers to add there (see README, ZooKeeper -> KRaft migration)",
            )
        )
    for node_id, version in sorted(running.items()):
        if version is None or release_of(version) != LAST_ZK_RELEASE:
            seen = "is not running" if version is None else f"runs {version}"
            reasons.append(
                Reason(
                    "not-on-3.9",
                    f"broker {node_id} {seen}: the migration needs every broker on "
                    f"{LAST_ZK_RELEASE}.x; upgrade first (kafka-upgrade run)",
                    (f"broker-{node_id}",),
                )
            )
    for node_id, props in sorted(configs.items()):
        if broker_phase(props) is not BrokerPhase.ZK:
            continue  # a resumed migration: the IBP was checked before it started
        ibp = props.get(IBP)
        # Unset means the binary's own release, 3.9 on a 3.9.x broker (checked above).
        if ibp is not None and release_of(ibp) != LAST_ZK_RELEASE:
            reasons.append(
                Reason(
                    "ibp-not-3.9",
                    f"broker {node_id}: {IBP} is {ibp}; the migration needs "
                    f"{IBP}={LAST_ZK_RELEASE} (or unset, on 3.9.x) on every broker (finish the "
                    "upgrade's phase 2)",
                    (f"broker-{node_id}",),
                )
            )
    return Verdict.of(reasons)


def finalize_allowed(phase: ClusterPhase) -> Verdict:
    if phase in (ClusterPhase.BROKERS_KRAFT, ClusterPhase.FINALIZED):
        return Verdict.yes()
    return Verdict.of(
        [
            Reason(
                "brokers-not-kraft",
                f"the migration is at '{phase}': every broker must run in KRaft mode before the "
                "controllers leave migration mode",
            )
        ]
    )


def revert_allowed(phase: ClusterPhase) -> Verdict:
    if phase is ClusterPhase.FINALIZED:
        return Verdict.of(
            [
                Reason(
                    "finalized",
                    "the controllers already left migration mode: ZooKeeper is no longer "
                    "written, and the Apache procedure has no way back from here",
                )
            ]
        )
    return Verdict.yes()


def parse_zk_cluster_id(stdout: str) -> str:
    """The id in ``zookeeper-shell.sh ZK get /cluster/id`` output (a JSON line)."""
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                data: Any = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("id"):
                return str(data["id"])
    raise ValueError("no cluster id in the output of zookeeper-shell get /cluster/id")


def quorum_formed(status: QuorumStatus, wanted: set[int]) -> Verdict:
    """The new controllers elected a leader and every one of them is a voter."""
    reasons = []
    if status.leader_id is None or status.leader_id < 0:
        reasons.append(Reason("no-leader", "the controller quorum has no leader yet"))
    missing = sorted(wanted - {v.node_id for v in status.voters})
    if missing:
        reasons.append(Reason("voters-missing", f"controllers {missing} are not voters yet"))
    return Verdict.of(reasons)


def kraft_inventory_path(path: Path) -> Path:
    """Where the KRaft inventory is written after the migration: beside the ZooKeeper one
    (``inventory.yaml`` -> ``inventory.kraft.yaml``), which is kept."""
    return path.with_name(f"{path.stem}.kraft{path.suffix or '.yaml'}")


def kraft_inventory(inventory: Inventory) -> dict[str, Any]:
    """The inventory after the migration: mode kraft, the controllers as nodes."""
    migration = _migration(inventory)
    data = inventory.model_dump(mode="json", exclude_none=True)
    data["mode"] = str(MIGRATED)
    data.pop("zookeeper", None)
    data.pop("migration", None)
    for controller in migration.controllers:
        node = controller.model_dump(mode="json", exclude_none=True)
        node.pop("metadata_dir", None)
        node["controller_port"] = controller.controller_port
        data["nodes"].append(node)
    return data
