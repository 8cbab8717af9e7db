"""The cluster inventory: what an operator writes down about a production cluster.

One YAML file describes the cluster (mode, bootstrap servers, versions), how to
reach each node over SSH, where Kafka is installed on it and how its service is
stopped and started. ``kafka-upgrade sandbox up`` writes the same format for
the local sandbox, so every flow runs on the sandbox exactly as on production.

Environment variables override the file (``KAFKA_UPGRADE_`` prefix, ``__``
between nested names, e.g. ``KAFKA_UPGRADE_KAFKA__SASL_PASSWORD``). Secrets are
``SecretStr``: they print as ``**********`` in logs, reprs and artifacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kafka_upgrade.core.errors import BadInput
from kafka_upgrade.core.modes import ZOOKEEPER, ModeField
from kafka_upgrade.core.privilege import Access

Role = Literal["broker", "controller"]

_VERSION_PATTERN = r"^\d+\.\d+\.\d+$"


class InventoryError(BadInput):
    """The inventory cannot be used as written; the message names the field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SshSettings(_Strict):
    user: str = Field(description="Login user on every node (a node may override it).")
    port: int = Field(22, ge=1, le=65535, description="SSH port (a node may override it).")
    key_file: Path | None = Field(None, description="Private key for the login.")
    known_hosts: Path | None = Field(
        None,
        description="known_hosts file used to verify host keys; ~/.ssh/known_hosts when empty. "
        "Unknown or changed host keys are refused.",
    )
    connect_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds to open an SSH connection (and see its banner); also bounds "
        "preflight's quick look at each node and its probe of bootstrap_servers.",
    )
    command_timeout_s: float = Field(120.0, gt=0, description="Upper bound for one remote command.")


TEMPLATE_FIELDS = ("id", "host", "config", "link", "install_dir", "kafka_user")


class ServiceControl(_Strict):
    kind: Literal["scripts", "systemd", "command"] = Field(
        "scripts",
        description="'scripts': kafka-server-start.sh -daemon / kafka-server-stop.sh from the "
        "current install; 'systemd': systemctl start/stop of `unit`; 'command': the `start`, "
        "`stop` and `status` command templates (supervisord, init scripts, a site wrapper).",
    )
    unit: str | None = Field(None, description="systemd unit name, for kind=systemd.")
    start: str | None = Field(
        None,
        description="kind=command: the command that starts the node, e.g. "
        "'supervisorctl start kafka' or '/etc/init.d/kafka start'. Placeholders "
        "{id} {host} {config} {link} {install_dir} {kafka_user} are filled in, quoted.",
    )
    stop: str | None = Field(
        None,
        description="kind=command: the command that asks for a controlled shutdown (SIGTERM); "
        "the tool waits for the process to exit itself.",
    )
    status: str | None = Field(
        None,
        description="kind=command: a command that exits 0 while the node runs; preflight "
        "runs it on every running node to prove the templates work.",
    )
    sudo: bool = Field(
        False,
        description="Run the service commands with sudo -n as root (privilege.sudo runs every "
        "command that needs it through sudo, these included).",
    )

    @model_validator(mode="after")
    def _complete(self) -> ServiceControl:
        if self.kind == "systemd" and not self.unit:
            raise ValueError("service.kind is 'systemd' but service.unit is empty: name the unit")
        templates = {"start": self.start, "stop": self.stop, "status": self.status}
        if self.kind == "command":
            missing = [name for name, text in templates.items() if not text]
            if missing:
                raise ValueError(
                    f"service.kind is 'command' but service.{missing[0]} is empty: give the "
                    f"command that {'checks' if missing[0] == 'status' else missing[0] + 's'} "
                    "the node"
                )
        elif any(templates.values()):
            raise ValueError(
                "service.start/stop/status are for service.kind 'command'; set kind: command "
                "or remove them"
            )
        for name, text in templates.items():
            if text:
                _check_template(f"service.{name}", text)
        return self


def _check_template(field: str, text: str) -> None:
    """A template splits into words and names only the known placeholders."""
    import shlex
    import string

    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc} (quote the command as a shell would)") from None
    if not words:
        raise ValueError(f"{field} is empty")
    if not words[0].startswith("/") and "/" in words[0]:
        raise ValueError(f"{field}: give the program as an absolute path or a plain name")
    for word in words:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(word) if name is not None]
        except ValueError as exc:
            raise ValueError(f"{field}: {exc} (write a literal brace as {{{{ or }}}})") from None
        unknown = [n for n in names if n not in TEMPLATE_FIELDS]
        if unknown:
            raise ValueError(
                f"{field}: unknown placeholder {{{unknown[0]}}}; use "
                + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
            )


class Privilege(_Strict):
    """How the login reaches Kafka's files and processes on a node."""

    sudo: bool = Field(
        False,
        description="Run every remote action that needs it through sudo -n: the file work on "
        "server.properties and the install directory as root, the JVM probe, Kafka's scripts "
        "and logs as kafka_user. `kafka-upgrade sudoers` prints the sudoers lines.",
    )
    kafka_user: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="The user that owns Kafka's data and runs the JVM; staged versions are "
        "given to it. Default: the SSH login user.",
    )


class HasRoles:
    """``is_broker`` / ``is_controller`` of anything with ``roles`` (an inventory's node, a
    sandbox's node spec)."""

    if TYPE_CHECKING:
        roles: Sequence[str]

    @property
    def is_broker(self) -> bool:
        return "broker" in self.roles

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles


class Node(_Strict, HasRoles):
    id: int = Field(ge=0, description="broker.id / node.id")
    host: str = Field(description="Address the node is reached at over SSH.")
    roles: list[Role] = Field(description="'broker', 'controller' or both (KRaft combined).")
    ssh_port: int | None = Field(
        None, ge=1, le=65535, description="SSH port of this node; ssh.port when empty."
    )
    ssh_user: str | None = Field(None, description="Login user on this node; ssh.user when empty.")
    install_dir: Path = Field(
        description="Directory holding the Kafka versions side by side (kafka_2.13-X.Y.Z/)."
    )
    current_link: Path | None = Field(
        None, description="Symlink to the running version; install_dir/current when empty."
    )
    config_path: Path = Field(description="The node's server.properties.")
    log_dir: Path | None = Field(None, description="Where the service writes server.log.")
    controller_port: int = Field(
        9093, ge=1, le=65535, description="KRaft controller listener port (controller role)."
    )
    jmx_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="The broker's JMX port, for preflight's old-client check (KIP-896); "
        "JMX_PORT in env works too.",
    )
    service: ServiceControl = Field(
        default_factory=ServiceControl, description="How the node's Kafka is stopped and started."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment for Kafka commands (KAFKA_HEAP_OPTS, ...)."
    )
    privilege: Privilege | None = Field(
        None, description="This node's own privilege settings; the top-level ones when empty."
    )
    # Set by the inventory: the login and the privilege settings that apply here.
    _access: Access = PrivateAttr(default_factory=Access)

    @property
    def access(self) -> Access:
        return self._access

    @property
    def link(self) -> Path:
        return self.current_link or self.install_dir / "current"

    def version_dir(self, version: str) -> Path:
        return self.install_dir / f"kafka_2.13-{version}"


class ZooKeeper(_Strict):
    connect: str = Field(description="zookeeper.connect string of the cluster.")


class ControllerToAdd(Node):
    """A KRaft controller the ZooKeeper -> KRaft migration adds (a node like any other)."""

    roles: list[Role] = Field(
        default_factory=lambda: ["controller"], description="Always [controller]."
    )
    metadata_dir: Path = Field(
        description="The controller's log.dirs (its metadata log); formatted by the migration."
    )

    @model_validator(mode="after")
    def _controller_only(self) -> ControllerToAdd:
        if self.roles != ["controller"]:
            raise ValueError(
                f"controller {self.id}: roles must be [controller]; the migration adds "
                "dedicated controllers (combined broker+controller nodes cannot migrate)"
            )
        return self


class Migration(_Strict):
    """ZooKeeper -> KRaft: the controllers to add and how the nodes talk to them."""

    controllers: list[ControllerToAdd] = Field(
        min_length=1, description="The KRaft controllers to add: 1, 3 or 5 dedicated nodes."
    )
    controller_listener_name: str = Field(
        "CONTROLLER",
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="Listener name of the controller quorum (controller.listener.names).",
    )
    controller_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Security protocol of the controller listener."
    )
    inter_broker_listener_name: str = Field(
        "PLAINTEXT",
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="The brokers' inter-broker listener, which the controllers use to reach "
        "them during the migration.",
    )
    inter_broker_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        Field("PLAINTEXT", description="Security protocol of the inter-broker listener.")
    )
    completion_timeout_s: float = Field(
        600.0, gt=0, description="Wait for the controller to report the metadata migrated."
    )

    @model_validator(mode="after")
    def _quorum(self) -> Migration:
        ids = [c.id for c in self.controllers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(
                f"migration.controllers: id {dupes[0]} appears more than once; "
                "controller ids must be unique"
            )
        if len(ids) not in (1, 3, 5):
            raise ValueError(
                f"migration.controllers: {len(ids)} controllers; a quorum needs 1, 3 or 5 "
                "(3 for production)"
            )
        addresses = [(c.host, c.controller_port) for c in self.controllers]
        clash = [a for a in addresses if addresses.count(a) > 1]
        if clash:
            raise ValueError(
                f"migration.controllers: {clash[0][0]}:{clash[0][1]} is used by two "
                "controllers; give each its own host or controller_port"
            )
        if self.controller_listener_name == self.inter_broker_listener_name:
            raise ValueError(
                "migration: controller_listener_name and inter_broker_listener_name are both "
                f"{self.controller_listener_name}; the controller listener needs its own name"
            )
        return self

    @property
    def voters(self) -> str:
        """controller.quorum.voters: the migration needs the static quorum."""
        return ",".join(f"{c.id}@{c.host}:{c.controller_port}" for c in self.controllers)


class KafkaClientSettings(_Strict):
    """Settings of the AdminClient / health clients (librdkafka names, underscores for dots)."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="Protocol of the listener in bootstrap_servers (security.protocol); the "
        "sasl_* settings need SASL_PLAINTEXT or SASL_SSL.",
    )
    sasl_mechanism: str | None = Field(
        None,
        description="SASL mechanism of that listener: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, "
        "GSSAPI or OAUTHBEARER.",
    )
    sasl_username: str | None = Field(
        None, description="SASL user name (needed by PLAIN and SCRAM)."
    )
    sasl_password: SecretStr | None = Field(
        None,
        description="SASL password (PLAIN and SCRAM); best set in the environment as "
        "KAFKA_UPGRADE_KAFKA__SASL_PASSWORD, or use sasl_password_block.",
    )
    sasl_password_block: str | None = Field(
        None, description="Name of a Prefect Secret block holding the SASL password."
    )
    ssl_ca_location: Path | None = Field(
        None,
        description="CA certificate (PEM) that signed the brokers' certificates, on the machine "
        "running the upgrade.",
    )
    ssl_certificate_location: Path | None = Field(
        None, description="Client certificate (PEM) for mutual TLS, on the machine running it."
    )
    ssl_key_location: Path | None = Field(
        None, description="Private key of the client certificate, on the machine running it."
    )
    ssl_key_password: SecretStr | None = Field(
        None, description="Password of ssl_key_location, when the key is encrypted."
    )
    tools_command_config: Path | None = Field(
        None,
        description="Client properties file present on every node, passed to Kafka's CLI "
        "tools as --command-config (SASL/SSL clusters); keeps secrets off command lines.",
    )

    def librdkafka_config(self) -> dict[str, str]:
        """Client configuration for confluent-kafka; the only place secrets are unwrapped."""
        config: dict[str, str] = {"security.protocol": self.security_protocol}
        for field, key in [
            ("sasl_mechanism", "sasl.mechanism"),
            ("sasl_username", "sasl.username"),
            ("ssl_ca_location", "ssl.ca.location"),
            ("ssl_certificate_location", "ssl.certificate.location"),
            ("ssl_key_location", "ssl.key.location"),
        ]:
            value = getattr(self, field)
            if value is not None:
                config[key] = str(value)
        for field, key in [
            ("sasl_password", "sasl.password"),
            ("ssl_key_password", "ssl.key.password"),
        ]:
            secret: SecretStr | None = getattr(self, field)
            if secret is not None:
                config[key] = secret.get_secret_value()
        return config


class Timeouts(_Strict):
    stop_s: float = Field(300.0, gt=0, description="Wait for a stopped node's process to exit.")
    start_s: float = Field(300.0, gt=0, description="Wait for a started node to register.")
    recover_s: float = Field(600.0, gt=0, description="Wait for a node to rejoin every ISR.")
    healthy_before_s: float = Field(600.0, gt=0, description="Wait for a safe moment to restart.")
    approval_s: float = Field(86400.0, gt=0, description="How long an approval may wait.")
    leadership_s: float = Field(
        30.0, gt=0, description="Wait for a restarted broker to lead its preferred partitions."
    )


class HealthThresholds(_Strict):
    poll_interval_s: float = Field(
        0.25,
        gt=0,
        le=1.0,
        description="Seconds between health polls (at least as long as the last poll's "
        "cluster snapshot took, so a big cluster is never polled flat out).",
    )
    stable_checks: int = Field(3, ge=1, description="Consecutive healthy polls required.")
    stable_s: float = Field(
        1.0,
        ge=0,
        description="...and for at least this many seconds, from the first of them to the last.",
    )
    stable_reuse_s: float = Field(
        15.0,
        ge=0,
        description="A node's restart gate needs one healthy poll instead of a second stability "
        "watch when the cluster was seen stably healthy this recently (after the previous "
        "node's recovery, with nothing seen unhealthy since). 0: always watch again.",
    )
    controller_max_lag: int = Field(1000, ge=0, description="Max voter lag (records).")
    controller_caught_up_ms: int = Field(5000, ge=0, description="Voter caught up this recently.")
    lag_growth_warn: int = Field(10000, ge=0, description="Consumer lag growth worth a warning.")
    preferred_leaders: bool = Field(
        True,
        description="After a broker is back in its ISRs, elect it leader of its preferred "
        "partitions and wait until it leads them, so the next restart moves a normal load.",
    )


class Inventory(BaseSettings):
    """A cluster as the operator describes it."""

    model_config = SettingsConfigDict(
        env_prefix="KAFKA_UPGRADE_", env_nested_delimiter="__", extra="forbid"
    )

    cluster: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Cluster name (kebab-case).")
    mode: ModeField = Field(
        description="Where the cluster keeps its metadata: 'zk' (ZooKeeper) or 'kraft'. It "
        "decides the roll order and the step after phase 1."
    )
    bootstrap_servers: str = Field(
        description="The brokers' client listener as host:port,host:port,...; the admin "
        "client, the health checks and Kafka's CLI tools connect here."
    )
    current_version: str = Field(
        pattern=_VERSION_PATTERN,
        description="Kafka version the nodes run now (X.Y.Z); the upgrade path starts here and "
        "a rollback returns here.",
    )
    target_version: str | None = Field(
        None,
        pattern=_VERSION_PATTERN,
        description="Kafka version to upgrade to (X.Y.Z), staged on every node beforehand; a "
        "run's --to / to_version overrides it.",
    )
    ssh: SshSettings = Field(description="How to log in to the nodes.")
    privilege: Privilege = Field(
        default_factory=Privilege,
        description="sudo and the Kafka user on every node (a node may override it).",
    )
    nodes: list[Node] = Field(
        min_length=1, description="Every node of the cluster: brokers and KRaft controllers."
    )
    zookeeper: ZooKeeper | None = Field(
        None, description="ZooKeeper mode only (required there): where ZooKeeper is."
    )
    migration: Migration | None = Field(
        None,
        description="ZooKeeper mode only: the KRaft controllers `kafka-upgrade migrate` adds, "
        "and the migration's settings.",
    )
    kafka: KafkaClientSettings = Field(
        default_factory=KafkaClientSettings,
        description="How the admin and health clients log in to the brokers.",
    )
    timeouts: Timeouts = Field(
        default_factory=Timeouts, description="How long each step may wait before it fails."
    )
    health: HealthThresholds = Field(
        default_factory=HealthThresholds,
        description="When the cluster counts as healthy: how often it is polled and how long it "
        "must stay healthy before the roll moves on.",
    )
    accept_unavailable: list[str] = Field(
        default_factory=list,
        description="Topics you accept to be unavailable while their brokers restart "
        "(replication factor 1, or no more replicas than min.insync.replicas); preflight "
        "refuses any other such topic.",
    )
    max_parallel: int = Field(
        1,
        ge=1,
        description="Brokers restarted at once: up to this many brokers that share no "
        "partition, one rack first when broker.rack is set; controllers always alone. 1 (the "
        "default): one node at a time. A run's max_parallel overrides it.",
    )
    finalize_features: list[str] | None = Field(
        None,
        description="KRaft 4.x finalize: the features to raise (default: every feature the "
        "target release implies except kraft.version, which changes the quorum for good).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init kwargs; the environment must win over it.
        return env_settings, init_settings

    @model_validator(mode="after")
    def _consistent(self) -> Inventory:
        ids = [n.id for n in self.nodes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(
                f"nodes: id {dupes[0]} appears more than once; node ids must be unique"
            )
        if not self.mode.controller_role:
            if self.zookeeper is None:
                raise ValueError("mode is 'zk' but the 'zookeeper' section is missing")
            bad = [n.id for n in self.nodes if n.roles != ["broker"]]
            if bad:
                raise ValueError(
                    f"nodes: node {bad[0]} has roles other than [broker]; "
                    "ZooKeeper-mode nodes are brokers only"
                )
        if self.mode.controller_role and not any(n.is_controller for n in self.nodes):
            raise ValueError("mode is 'kraft' but no node has the 'controller' role")
        if self.migration is not None:
            if self.mode is not ZOOKEEPER:
                raise ValueError(
                    "migration: this cluster is already in KRaft mode (mode is 'kraft'); the "
                    "migration section belongs to a ZooKeeper-mode inventory. Remove it."
                )
            clash = sorted({c.id for c in self.migration.controllers} & set(ids))
            if clash:
                raise ValueError(
                    f"migration.controllers: id {clash[0]} is also a broker id; brokers and "
                    "controllers share one node id space in KRaft: pick ids no broker uses "
                    "(e.g. 3000 and up)"
                )
        self._resolve_access()
        return self

    def _resolve_access(self) -> None:
        """Give every node the login and privilege settings that apply to it."""
        for n in [*self.nodes, *(self.migration.controllers if self.migration else [])]:
            p = n.privilege or self.privilege
            n._access = Access(self.ssh_user(n), p.sudo, p.kafka_user)

    def node(self, node_id: int) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        for c in self.migration.controllers if self.migration else []:
            if c.id == node_id:
                return c
        raise InventoryError(f"no node with id {node_id} in inventory of cluster {self.cluster}")

    @property
    def broker_ids(self) -> list[int]:
        return sorted(n.id for n in self.nodes if n.is_broker)

    def ssh_user(self, node: Node) -> str:
        return node.ssh_user or self.ssh.user

    def ssh_port(self, node: Node) -> int:
        return node.ssh_port or self.ssh.port

    def to_yaml(self) -> str:
        # Secrets are written masked; a real secret belongs in the environment.
        data = self.model_dump(mode="json", exclude_none=True)
        return yaml.safe_dump(data, sort_keys=False)


def load_inventory(path: Path | str, **overrides: Any) -> Inventory:
    """Read and validate an inventory file; every problem becomes an InventoryError."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise InventoryError(f"inventory file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise InventoryError(f"inventory file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InventoryError(f"inventory file {path} must hold a mapping at the top level")
    raw.update(overrides)
    try:
        return Inventory(**raw)
    except ValidationError as exc:
        raise InventoryError(_describe(path, exc)) from None


def _describe(path: Path, exc: ValidationError) -> str:
    lines = [f"inventory file {path} is not valid:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        # Never echo the input: it may be a secret.
        lines.append(f"  - {where}: {err['msg']}")
    return "\n".join(lines)
