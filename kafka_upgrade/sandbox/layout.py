"""The sandbox's shape, decided in pure functions: addresses, ids, paths, configs.

Every node gets its own loopback address ``127.0.N.(10+id)`` (N derived from
the sandbox name), its own data dir, an install dir that holds Kafka versions
side by side with a ``current`` symlink, and its own ``server.properties``.
ZooKeeper, in zk mode, sits at ``127.0.N.10``. KRaft controllers a migration
will add (zk mode, ``kraft_controllers``) get ids 3001.. and the addresses
``127.0.N.(100+i)``: laid out and staged, not started.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kafka_upgrade.core.errors import BadInput
from kafka_upgrade.core.inventory import HasRoles
from kafka_upgrade.core.modes import Mode, UnknownMode, mode_of

BROKER_PORT = 9092
CONTROLLER_PORT = 9093
ZK_PORT = 2181
SSH_PORT = 2222
# JMX, when the sandbox is asked for it: on each node's own address, the RMI
# registry and the connector on this one port.
JMX_PORT = 9999

# Small JVMs: a sandbox runs up to seven of them on a 2-core machine.
SANDBOX_JVM_ENV = {
    "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m",
    "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k "
    "-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true",
}


def jmx_env(host: str, port: int = JMX_PORT) -> dict[str, str]:
    """Environment that makes a node's JVM serve JMX on ``host:port`` only, without
    authentication (a local sandbox; production JMX wants auth and TLS)."""
    return {
        "JMX_PORT": str(port),
        "KAFKA_JMX_OPTS": " ".join(
            [
                "-Dcom.sun.management.jmxremote",
                "-Dcom.sun.management.jmxremote.authenticate=false",
                "-Dcom.sun.management.jmxremote.ssl=false",
                f"-Dcom.sun.management.jmxremote.host={host}",
                f"-Dcom.sun.management.jmxremote.rmi.port={port}",
                f"-Djava.rmi.server.hostname={host}",
            ]
        ),
    }


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class SandboxSpecError(BadInput, ValueError):
    """A sandbox request that cannot be built; the message names the option."""


def sandboxes_root() -> Path:
    env = os.environ.get("KAFKA_UPGRADE_SANDBOX_DIR")
    return Path(env) if env else Path.home() / ".cache" / "kafka-upgrade" / "sandboxes"


def subnet_octet(name: str) -> int:
    """A stable third octet for the sandbox's addresses, so two sandboxes don't collide."""
    return 20 + zlib.crc32(name.encode()) % 200


LAYOUTS = ("plain", "prod")


@dataclass(frozen=True)
class NodeSpec(HasRoles):
    """One node's place on disk. ``prod``: a production host's paths under the node's root
    (``opt/kafka``, ``etc/kafka``, ``var/lib/kafka``, ``var/log/kafka``), else flat ones."""

    id: int
    roles: tuple[str, ...]
    host: str
    root: Path
    rack: str | None = None  # broker.rack (``--racks``)
    prod: bool = False

    @property
    def install_dir(self) -> Path:
        return self.root / ("opt/kafka" if self.prod else "install")

    @property
    def current_link(self) -> Path:
        return self.install_dir / "current"

    @property
    def config_path(self) -> Path:
        return self.root / ("etc/kafka" if self.prod else "config") / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.root / ("var/lib/kafka" if self.prod else "data")

    @property
    def log_dir(self) -> Path:
        return self.root / ("var/log/kafka" if self.prod else "logs")


@dataclass(frozen=True)
class ProdUsers:
    """The users a prod-layout sandbox adds: an unprivileged SSH login and the Kafka user."""

    login: str
    kafka: str


def prod_users(octet: int) -> ProdUsers:
    return ProdUsers(login=f"ku{octet}ops", kafka=f"ku{octet}kafka")


@dataclass(frozen=True)
class SandboxSpec:
    name: str
    mode: Mode
    version: str
    root: Path
    octet: int
    nodes: tuple[NodeSpec, ...]
    jmx: bool = False  # every node serves JMX on its own address, port JMX_PORT
    # zk mode: controllers a ZooKeeper -> KRaft migration adds (laid out, not started)
    migration_controllers: tuple[NodeSpec, ...] = ()
    layout: str = "plain"

    @property
    def prod(self) -> bool:
        return self.layout == "prod"

    @property
    def users(self) -> ProdUsers:
        return prod_users(self.octet)

    @property
    def wrapper(self) -> Path:
        """prod: the site's service wrapper, run through sudo (``service.kind: command``)."""
        return self.root / "bin" / "kafka-service"

    @property
    def sudoers_file(self) -> Path:
        return Path("/etc/sudoers.d") / f"kafka-upgrade-{self.name}"

    @property
    def zk_host(self) -> str:
        return f"127.0.{self.octet}.10"

    @property
    def zk_connect(self) -> str:
        return f"{self.zk_host}:{ZK_PORT}"

    @property
    def zk_root(self) -> Path:
        return self.root / "zookeeper"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def inventory_path(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{n.host}:{BROKER_PORT}" for n in self.nodes if n.is_broker)

    @property
    def controller_voters(self) -> str:
        return ",".join(f"{n.id}@{n.host}:{CONTROLLER_PORT}" for n in self.nodes if n.is_controller)

    @property
    def addresses(self) -> list[str]:
        return [n.host for n in (*self.nodes, *self.migration_controllers)]

    def listening_ports(self) -> list[tuple[str, int]]:
        ports = [(a, SSH_PORT) for a in self.addresses]
        if self.jmx:
            ports += [(a, JMX_PORT) for a in self.addresses]
        for n in (*self.nodes, *self.migration_controllers):
            if n.is_broker:
                ports.append((n.host, BROKER_PORT))
            if n.is_controller:
                ports.append((n.host, CONTROLLER_PORT))
        if self.mode.uses_zookeeper:
            ports.append((self.zk_host, ZK_PORT))
        return ports


def plan_sandbox(
    name: str,
    mode: Mode | str,
    version: str,
    nodes: int = 3,
    controllers: int = 0,
    root: Path | None = None,
    jmx: bool = False,
    racks: int = 0,
    kraft_controllers: int = 0,
    stage: Sequence[str] = (),
    layout: str = "plain",
) -> SandboxSpec:
    """Decide the sandbox layout. ``controllers=0`` means combined KRaft nodes; ``racks`` N
    sets broker.rack on the brokers round-robin over racks a, b, c... (0: no racks);
    ``kraft_controllers`` (zk mode) lays out the controllers a migration adds, which run
    3.9.x: the sandbox's ``version`` or one of the ``stage``d versions it is upgraded to
    first."""
    if not _NAME.match(name):
        raise SandboxSpecError(
            f"--name {name!r}: use lowercase letters, digits and dashes (at most 40 characters)"
        )
    try:
        mode = mode_of(mode)
    except UnknownMode:
        raise SandboxSpecError(f"--mode {mode!r}: choose 'zk' or 'kraft'") from None
    if not re.match(r"^\d+\.\d+\.\d+$", version):
        raise SandboxSpecError(f"--version {version!r}: give a release like 3.9.1")
    major = int(version.split(".")[0])
    if mode.uses_zookeeper and major >= 4:
        raise SandboxSpecError(
            f"--version {version}: Kafka 4 has no ZooKeeper mode; use --mode kraft or a 3.x version"
        )
    if not 1 <= nodes <= 9:
        raise SandboxSpecError(f"--nodes {nodes}: choose 1 to 9 brokers")
    if controllers and mode.uses_zookeeper:
        raise SandboxSpecError("--controllers applies to --mode kraft only")
    if controllers < 0 or controllers > 5 or (controllers and controllers % 2 == 0):
        raise SandboxSpecError(f"--controllers {controllers}: choose 0 (combined), 1, 3 or 5")
    if not 0 <= racks <= min(nodes, 26):
        raise SandboxSpecError(
            f"--racks {racks}: choose 0 (no broker.rack) to {min(nodes, 26)} (one per broker)"
        )
    if kraft_controllers and mode.controller_role:
        raise SandboxSpecError(
            "--kraft-controllers applies to --mode zk only (controllers for the migration)"
        )
    if kraft_controllers not in (0, 1, 3, 5):
        raise SandboxSpecError(f"--kraft-controllers {kraft_controllers}: choose 1, 3 or 5")
    if kraft_controllers and not any(v.startswith("3.9.") for v in (version, *stage)):
        staged = f" (staged: {', '.join(stage)})" if stage else ""
        raise SandboxSpecError(
            f"--kraft-controllers needs 3.9.x as --version or among --stage (the migration "
            f"runs on 3.9), not {version}{staged}"
        )
    if layout not in LAYOUTS:
        raise SandboxSpecError(f"--layout {layout!r}: choose 'plain' or 'prod'")
    prod = layout == "prod"
    if prod and kraft_controllers:
        raise SandboxSpecError("--kraft-controllers is not available with --layout prod yet")
    root = (root or sandboxes_root()) / name
    octet = subnet_octet(name)

    def spec(node_id: int, roles: tuple[str, ...]) -> NodeSpec:
        host = f"127.0.{octet}.{10 + node_id}"
        return NodeSpec(node_id, roles, host, root / f"node-{node_id}", prod=prod)

    if mode.uses_zookeeper:
        specs = [spec(i, ("broker",)) for i in range(1, nodes + 1)]
    elif controllers == 0:
        specs = [spec(i, ("broker", "controller")) for i in range(1, nodes + 1)]
    else:
        specs = [spec(i, ("controller",)) for i in range(1, controllers + 1)]
        specs += [spec(controllers + i, ("broker",)) for i in range(1, nodes + 1)]
    if racks:
        brokers = [n for n in specs if n.is_broker]
        on_rack = {n.id: "abcdefghijklmnopqrstuvwxyz"[i % racks] for i, n in enumerate(brokers)}
        specs = [replace(n, rack=on_rack.get(n.id)) for n in specs]
    to_add = tuple(
        NodeSpec(3000 + i, ("controller",), f"127.0.{octet}.{100 + i}", root / f"controller-{i}")
        for i in range(1, kraft_controllers + 1)
    )
    return SandboxSpec(name, mode, version, root, octet, tuple(specs), jmx, to_add, layout)


def _properties(values: dict[str, object]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def server_properties(spec: SandboxSpec, node: NodeSpec) -> str:
    replication = min(3, sum(1 for n in spec.nodes if n.is_broker))
    common: dict[str, object] = {
        "log.dirs": node.data_dir,
        "num.partitions": 3,
        "default.replication.factor": replication,
        "min.insync.replicas": min(2, replication),
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min(2, replication),
        "group.initial.rebalance.delay.ms": 0,
        "num.network.threads": 2,
        "num.io.threads": 2,
        "num.recovery.threads.per.data.dir": 1,
        "log.segment.bytes": 16 * 1024 * 1024,
    }
    if spec.mode.uses_zookeeper:
        values: dict[str, object] = {
            "broker.id": node.id,
            "zookeeper.connect": spec.zk_connect,
            "listeners": f"PLAINTEXT://{node.host}:{BROKER_PORT}",
            "advertised.listeners": f"PLAINTEXT://{node.host}:{BROKER_PORT}",
            "zookeeper.connection.timeout.ms": 18000,
        }
        if node.rack is not None:
            values["broker.rack"] = node.rack
        return _properties({**values, **common})
    listeners = []
    if node.is_broker:
        listeners.append(f"PLAINTEXT://{node.host}:{BROKER_PORT}")
    if node.is_controller:
        listeners.append(f"CONTROLLER://{node.host}:{CONTROLLER_PORT}")
    values = {
        "process.roles": ",".join(node.roles),
        "node.id": node.id,
        "controller.quorum.voters": spec.controller_voters,
        "listeners": ",".join(listeners),
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    }
    if node.is_broker:
        values["advertised.listeners"] = f"PLAINTEXT://{node.host}:{BROKER_PORT}"
        values["inter.broker.listener.name"] = "PLAINTEXT"
    if not node.is_broker:
        return _properties({**values, "log.dirs": node.data_dir})
    if node.rack is not None:
        values["broker.rack"] = node.rack
    return _properties({**values, **common})


def zookeeper_properties(spec: SandboxSpec) -> str:
    return _properties(
        {
            "dataDir": spec.zk_root / "data",
            "clientPort": ZK_PORT,
            "clientPortAddress": spec.zk_host,
            "maxClientCnxns": 0,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "ruok,stat,srvr",
        }
    )
