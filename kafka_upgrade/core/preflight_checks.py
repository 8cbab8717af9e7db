"""Preflight checks that catch what breaks real upgrades, as pure functions over facts.

Each check looks at facts a task gathered (a node's server.properties, what
``java -version`` printed, what JmxTool read, a cluster snapshot) and returns
``Finding`` values: the rule, the node, key, topic or client concerned, and
what to do. A blocking finding refuses the upgrade before anything is touched;
a warning is logged and shown in the plan.

Checks (rule ids in brackets):

1. Removed configs ("removed-config"): a node's server.properties sets a key
   the target no longer knows. Kafka 4.x starts anyway and ignores such keys
   without a word (seen: a 4.1.1 node started with every key of
   ``REMOVED_CONFIGS`` and logged none of them), so what they configured would
   change unnoticed. The table comes from Kafka's own 4.0 notes, apache/kafka
   ``docs/upgrade.html`` ("Notable changes in 4.0.0": Common and Broker) and
   ``docs/zk2kraft.html`` ("Removal Zookeeper configs"), each key checked
   against the broker's config definitions (``KafkaConfig.configDef()``) in
   the 3.9.1, 4.0.0 and 4.1.1 jars; keys only that comparison found are marked
   so in the table.
2. Java ("java-too-old", "java-not-found", "java-version-unknown",
   "java-below-17-for-4x"): the Java a node's start script would use (its
   ``JAVA_HOME``, else ``java`` on the PATH) against what the target needs:
   Kafka 4.0 brokers, controllers and tools need Java 17 (4.0 notes, KIP-750
   and KIP-1013); 3.x runs on Java 8 or newer.
3. Old clients ("old-client", "old-clients-unchecked"): Kafka 4.0 removed the
   request versions of clients older than Kafka 2.1 (KIP-896). Brokers from
   3.7 count such requests in the MBean ``DEPRECATED_REQUESTS_MBEAN``, tagged
   with the client's software name and version; preflight reads it on every
   3.7+ broker with Kafka's own JmxTool. A broker without JMX cannot be
   checked: a warning says how to enable it. Seen on a 3.9.1 broker: a
   librdkafka 2.16 producer with ``api.version.request=false`` and
   ``broker.version.fallback=0.9.0`` sent Produce v1 (counted, client software
   "unknown") and Metadata v0 (not counted). ``broker.version.fallback=0.10.0``
   does not make librdkafka 2.16 old: any value from 0.10 on turns ApiVersions
   back on.
4. metadata.version below the target's minimum: ``check_upgrade_path``'s own
   reasons, turned into findings by ``path_findings`` (not repeated here).
5. Topics a restart makes unavailable ("restart-takes-offline",
   "restart-stops-acks-all", "accepted-topic-not-at-risk",
   "acks-all-already-failing"): every partition with replication factor 1,
   or with no more replicas than min.insync.replicas, grouped by topic.
   Refused unless the operator names the topic in ``accept_unavailable``.
   Seen on a 3.9.1 sandbox while one broker was stopped: an RF 1 partition
   took no writes at all (acks=all and acks=1 timed out); RF 2 / min.insync 2,
   RF 3 / min.insync 3 and RF 2 / min.insync 3 answered acks=all writes with
   NOT_ENOUGH_REPLICAS while acks=1 writes succeeded; RF 3 / min.insync 2 was
   not affected. With every replica in sync, acks=all writes to RF 1 /
   min.insync 2 and RF 2 / min.insync 3 succeeded: since 3.7 Kafka caps
   min.insync.replicas at the replication factor (``effectiveMinIsr``,
   KAFKA-15583); before 3.7 such writes were refused.

The commands that gather the facts and the parsers of what they print are
here too, so they are unit-tested with the checks.
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kafka_upgrade.core.health import ClusterSnapshot, PartitionState, Reason, Verdict
from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.plan import pin_conflicts
from kafka_upgrade.core.roll_plan import NodeObservation, NodeState, Want, node_state
from kafka_upgrade.core.shell import kafka_command, node_env, quote_command
from kafka_upgrade.core.upgrade_path import parse_version

Release = tuple[int, int]

# How many partitions a message names before it says "and N more".
NAMED_LIMIT = 5


# --------------------------------------------------------------------------
# Findings and the report
# --------------------------------------------------------------------------


class Severity(StrEnum):
    BLOCKING = "blocking"  # the upgrade is refused; nothing is touched
    WARNING = "warning"  # logged and shown; the upgrade may go on


@dataclass(frozen=True)
class Finding:
    """One thing preflight found: ``subject`` names the node, topic, client or cluster;
    ``message`` says what is wrong and what to do; ``rule`` is a stable kebab-case id."""

    rule: str
    subject: str
    message: str
    severity: Severity = Severity.BLOCKING

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.BLOCKING

    def __str__(self) -> str:
        # Round brackets: square ones vanish in console markup.
        return f"{self.subject}: {self.message} (rule {self.rule})"

    def as_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "subject": self.subject,
            "message": self.message,
            "severity": self.severity.value,
        }


def blocking(rule: str, subject: str, message: str) -> Finding:
    return Finding(rule, subject, message, Severity.BLOCKING)


def warning(rule: str, subject: str, message: str) -> Finding:
    return Finding(rule, subject, message, Severity.WARNING)


@dataclass(frozen=True)
class PreflightReport:
    """Everything preflight found, and the topics the operator accepted to be unavailable.

    ``accepted_unavailable`` lists only accepted topics that a restart really
    makes unavailable (what the approval form and the report must say).
    """

    cluster: str
    current: str
    target: str
    findings: tuple[Finding, ...] = ()
    accepted_unavailable: tuple[str, ...] = ()
    left_down: tuple[str, ...] = ()  # nodes an earlier run of this upgrade left stopped

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.blocking)

    @property
    def ok(self) -> bool:
        return not self.blocking

    def refusal(self) -> str:
        """The one message a refusal prints: every blocking finding, one per line."""
        lines = "\n".join(f"  - {f}" for f in self.blocking)
        return f"preflight refused; nothing was touched:\n{lines}"

    def lines(self) -> list[str]:
        out = [
            f"preflight {self.current} -> {self.target}: "
            + ("ok" if self.ok else f"refused ({len(self.blocking)} blocking)")
            + (f", {len(self.warnings)} warnings" if self.warnings else "")
        ]
        out += [f"  blocking: {f}" for f in self.blocking]
        out += [f"  warning: {f}" for f in self.warnings]
        if self.accepted_unavailable:
            out.append(
                "  accepted unavailable during restarts (accept_unavailable): "
                + ", ".join(self.accepted_unavailable)
            )
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "current": self.current,
            "target": self.target,
            "ok": self.ok,
            "findings": [f.as_json() for f in self.findings],
            "accepted_unavailable": list(self.accepted_unavailable),
        }


def node_subject(node: Node) -> str:
    return f"node {node.id} ({node.host})"


def _release(version: str) -> Release:
    major, minor, _ = parse_version(version)
    return major, minor


def _crosses(current: str, target: str, release: Release) -> bool:
    """Does going from ``current`` to ``target`` cross into ``release``?"""
    return _release(current) < release <= _release(target)


def _capped(names: Sequence[str], limit: int = NAMED_LIMIT) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def _and(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}"


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


# --------------------------------------------------------------------------
# 1. Removed configs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RemovedConfig:
    """Keys a release removed (a key ending in "." is a prefix), and what to do instead."""

    keys: tuple[str, ...]
    removed_in: Release
    advice: str  # "{Delete}" / "{delete}" become "Delete the line" or "delete these lines"

    def matches(self, key: str) -> bool:
        return any(key.startswith(k) if k.endswith(".") else key == k for k in self.keys)


REMOVED_CONFIGS: tuple[RemovedConfig, ...] = (
    RemovedConfig(
        ("log.message.format.version",),
        (4, 0),
        "the message format is fixed since protocol 3.0 (KIP-724) and 3.x already ignores this "
        "key in KRaft mode. {Delete}.",
    ),
    RemovedConfig(
        # Found by the jar comparison; the 4.0 notes do not list it.
        ("inter.broker.protocol.version",),
        (4, 0),
        "KRaft reads metadata.version (kafka-features.sh) instead; since 3.3 this key is read "
        "only when upgrading from a KRaft release before 3.3. {Delete}.",
    ),
    RemovedConfig(
        ("zookeeper.",),
        (4, 0),
        "ZooKeeper settings: 4.x has no ZooKeeper mode. {Delete}.",
    ),
    RemovedConfig(
        ("controlled.shutdown.max.retries", "controlled.shutdown.retry.backoff.ms"),
        (4, 0),
        "ZooKeeper-mode controlled shutdown retries; a KRaft broker's controlled shutdown is "
        "driven by the controller quorum. {Delete}.",
    ),
    RemovedConfig(
        ("broker.id.generation.enable", "reserved.broker.max.id"),
        (4, 0),
        "ZooKeeper-mode broker id generation; KRaft nodes are named by node.id. {Delete}.",
    ),
    RemovedConfig(
        ("password.encoder.",),
        (4, 0),
        "ZooKeeper-mode encryption of dynamic password configs; KRaft keeps them in the "
        "metadata log. {Delete}.",
    ),
    RemovedConfig(
        ("control.plane.listener.name",),
        (4, 0),
        "ZooKeeper-mode control plane listener; KRaft uses controller.listener.names. {Delete}.",
    ),
    RemovedConfig(
        ("log.message.timestamp.difference.max.ms",),
        (4, 0),
        "replaced by log.message.timestamp.before.max.ms and log.message.timestamp.after.max.ms "
        "(KIP-937, both known since 3.6): set those to the limits you need, then {delete}. "
        "4.0 also lowered the default of log.message.timestamp.after.max.ms to 1 hour "
        "(KIP-1030).",
    ),
    RemovedConfig(
        ("delegation.token.master.key",),
        (4, 0),
        "renamed delegation.token.secret.key: set that key to the same value, then {delete}; "
        "4.x reads only the new name, and without it delegation tokens stop working.",
    ),
    RemovedConfig(
        ("offsets.commit.required.acks",),
        (4, 0),
        "offset commits always wait for every in-sync replica since 4.0 (KIP-1041). {Delete}.",
    ),
    RemovedConfig(
        ("auto.include.jmx.reporter",),
        (4, 0),
        "metric.reporters now includes org.apache.kafka.common.metrics.JmxReporter by default. "
        "If this key was false to turn JMX metrics off, set metric.reporters without "
        "JmxReporter instead. {Delete}.",
    ),
    RemovedConfig(
        # JmxReporter's own keys (not in KafkaConfig): from the 4.0 notes only.
        ("metrics.jmx.blacklist", "metrics.jmx.whitelist"),
        (4, 0),
        "renamed metrics.jmx.exclude and metrics.jmx.include: set those to the same patterns, "
        "then {delete}; otherwise 4.x exports every metric over JMX.",
    ),
    RemovedConfig(
        # Found by the jar comparison; the 4.0 notes do not list it.
        ("leader.imbalance.per.broker.percentage",),
        (4, 0),
        "4.0 no longer defines it; automatic leader rebalancing is set with "
        "auto.leader.rebalance.enable and leader.imbalance.check.interval.seconds. "
        "{Delete}.",
    ),
    RemovedConfig(
        # Found by the jar comparison; the 4.0 notes do not list it.
        ("log.message.downconversion.enable",),
        (4, 0),
        "4.0 removed message down-conversion with the old fetch versions that needed it "
        "(KIP-724, KIP-896). {Delete}.",
    ),
    RemovedConfig(
        # Found by the jar comparison; the 4.0 notes do not list it.
        ("eligible.leader.replicas.enable",),
        (4, 0),
        "3.9's early-access switch for eligible leader replicas (KIP-966); 4.x turns them on "
        "with the eligible.leader.replicas.version feature (kafka-features.sh). "
        "{Delete}.",
    ),
    RemovedConfig(
        # Found by the jar comparison (present in 4.0.0, absent from 4.1.1).
        (
            "group.coordinator.new.enable",
            "group.share.max.groups",
            "metadata.log.segment.min.bytes",
        ),
        (4, 1),
        "internal or early-access settings that 4.1 no longer defines. {Delete}.",
    ),
)

_MIGRATION_FLAG = "zookeeper.metadata.migration.enable"


def removed_config_findings(
    subject: str, props: Mapping[str, str], current: str, target: str
) -> list[Finding]:
    """Keys in one node's server.properties that a release between current and target
    removed. Values are never quoted: some of these keys hold secrets."""
    findings = []
    for entry in REMOVED_CONFIGS:
        if not _crosses(current, target, entry.removed_in):
            continue
        keys = sorted(k for k in props if entry.matches(k))
        if not keys:
            continue
        major, minor = entry.removed_in
        it = _plural(len(keys), "it", "them")
        lines = _plural(len(keys), "the line", "these lines")
        advice = entry.advice.format(Delete=f"Delete {lines}", delete=f"delete {lines}")
        message = (
            f"server.properties sets {_and(keys)}, removed in Kafka {major}.{minor}: "
            f"{advice} Kafka {major}.x starts with {it} and ignores {it} silently (seen on "
            "4.1.1), so the change would go unnoticed."
        )
        if props.get(_MIGRATION_FLAG, "").strip().lower() == "true" and _MIGRATION_FLAG in keys:
            message += (
                f" {_MIGRATION_FLAG}=true: this node is still migrating from ZooKeeper; finish "
                "the migration on 3.9 first (take the controllers out of migration mode)."
            )
        findings.append(blocking("removed-config", subject, message))
    return findings


# --------------------------------------------------------------------------
# 2. Java
# --------------------------------------------------------------------------

# Kafka 4.0: "brokers, connect and tools now require Java 17" (KIP-750, KIP-1013).
JAVA_FOR_4 = 17
# Kafka 3.x runs on Java 8 and newer (Java 8 deprecated since 3.0, removed in 4.0).
JAVA_FOR_3 = 8


def java_required(target: str) -> int:
    return JAVA_FOR_4 if _release(target) >= (4, 0) else JAVA_FOR_3


@dataclass(frozen=True)
class JavaFact:
    """What ``java -version`` said on a node, run the way its start script would."""

    java: str  # the binary: $JAVA_HOME/bin/java or the java on the PATH
    java_home: str  # "" when JAVA_HOME was not set
    exit_code: int | None
    output: str  # what java -version printed (it prints to stderr)

    @property
    def major(self) -> int | None:
        return java_major(self.output)

    @property
    def version_line(self) -> str:
        for line in self.output.splitlines():
            if "version" in line:
                return line.strip()
        return self.output.strip().splitlines()[0] if self.output.strip() else ""


_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?[^"]*"')


def java_major(output: str) -> int | None:
    """``openjdk version "17.0.15"`` -> 17, ``java version "1.8.0_292"`` -> 8, else None."""
    m = _JAVA_VERSION.search(output)
    if m is None:
        return None
    first = int(m.group(1))
    if first == 1 and m.group(2) is not None:
        return int(m.group(2))
    return first


_JAVA_SCRIPT = (
    'if [ -n "${JAVA_HOME:-}" ]; then j="$JAVA_HOME/bin/java"; '
    "else j=$(command -v java || echo java); fi; "
    'echo "java_home=${JAVA_HOME:-}"; echo "java=$j"; '
    '"$j" -version 2>&1; echo "exit=$?"'
)


def java_version_command(node: Node) -> str:
    """``java -version`` as the node's start command runs Java: the node's env from the
    inventory (JAVA_HOME if set there), for systemd the unit's JAVA_HOME, else the login's."""
    script = _JAVA_SCRIPT
    if node.service.kind == "systemd" and node.service.unit:
        unit = shlex.quote(node.service.unit)
        script = (
            f"for kv in $(systemctl show -p Environment --value {unit} 2>/dev/null); do "
            'case "$kv" in JAVA_HOME=*) JAVA_HOME="${kv#JAVA_HOME=}"; export JAVA_HOME;; esac; '
            "done; " + script
        )
    return quote_command(["sh", "-c", script], env=node_env(node))


def parse_java_version(stdout: str) -> JavaFact:
    java = java_home = ""
    exit_code: int | None = None
    body: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("java_home=") and not java_home and not java:
            java_home = line[len("java_home=") :].strip()
        elif line.startswith("java=") and not java:
            java = line[len("java=") :].strip()
        elif line.startswith("exit="):
            try:
                exit_code = int(line[len("exit=") :])
            except ValueError:
                exit_code = None
        else:
            body.append(line)
    return JavaFact(
        java=java or "java", java_home=java_home, exit_code=exit_code, output="\n".join(body)
    )


def java_findings(subject: str, fact: JavaFact, target: str) -> list[Finding]:
    need = java_required(target)
    source = "from JAVA_HOME" if fact.java_home else "the java on the PATH"
    where = f"{fact.java} ({source})"
    fix = (
        f"Install Java {need} or newer on the host and point JAVA_HOME at it (in the node's env "
        "in the inventory, or the service's environment), then re-run."
    )
    if fact.exit_code != 0:
        said = fact.version_line or "nothing"
        return [
            blocking(
                "java-not-found",
                subject,
                f"no usable Java: `{fact.java} -version` ({source}) failed (exit "
                f"{fact.exit_code}: {said}). "
                f"Kafka {target} needs Java {need} or newer. {fix}",
            )
        ]
    major = fact.major
    if major is None:
        return [
            warning(
                "java-version-unknown",
                subject,
                f"could not read the Java version from `{fact.java} -version` ({source}): "
                f"{fact.version_line or 'no output'}; make sure it is Java {need} or newer.",
            )
        ]
    if major < need:
        return [
            blocking(
                "java-too-old",
                subject,
                f"Kafka would start on Java {major}: {where} says {fact.version_line}. "
                f"Kafka {target} needs Java {need} or newer. {fix}",
            )
        ]
    if major < JAVA_FOR_4 and _release(target) < (4, 0):
        return [
            warning(
                "java-below-17-for-4x",
                subject,
                f"Kafka starts on Java {major}: {where}; fine for {target}, but Kafka 4.x needs "
                f"Java {JAVA_FOR_4}: plan that upgrade before moving to 4.x.",
            )
        ]
    return []


# --------------------------------------------------------------------------
# 3. Old clients (KIP-896)
# --------------------------------------------------------------------------

# The release that removed the old request versions, and the first that counts them.
OLD_PROTOCOLS_REMOVED_IN: Release = (4, 0)
DEPRECATED_METRIC_SINCE: Release = (3, 7)
DEPRECATED_REQUESTS_MBEAN = (
    "kafka.network:type=RequestMetrics,name=DeprecatedRequestsPerSec,"
    "request=*,version=*,clientSoftwareName=*,clientSoftwareVersion=*"
)
JMXTOOL = "org.apache.kafka.tools.JmxTool"
_JMX_PORT_OPT = re.compile(r"-Dcom\.sun\.management\.jmxremote\.port=(\d+)")


def old_clients_apply(current: str, target: str) -> bool:
    return _crosses(current, target, OLD_PROTOCOLS_REMOVED_IN)


def jmx_port(node: Node) -> int | None:
    """The broker's JMX port: the node's ``jmx_port``, else JMX_PORT (or
    -Dcom.sun.management.jmxremote.port in KAFKA_JMX_OPTS / KAFKA_OPTS) in its env."""
    if node.jmx_port is not None:
        return node.jmx_port
    port = node.env.get("JMX_PORT", "").strip()
    if port.isdigit():
        return int(port)
    for key in ("KAFKA_JMX_OPTS", "KAFKA_OPTS"):
        m = _JMX_PORT_OPT.search(node.env.get(key, ""))
        if m:
            return int(m.group(1))
    return None


def jmx_url(host: str, port: int) -> str:
    return f"service:jmx:rmi:///jndi/rmi://{host}:{port}/jmxrmi"


def deprecated_requests_command(node: Node, port: int) -> str:
    """Kafka's JmxTool, from the node's current install, reading the deprecated-requests
    MBean once. Its own JVM must not open the broker's JMX port (it is taken), so the
    JMX settings of the node's env are blanked for it."""
    env = {**node_env(node), "KAFKA_HEAP_OPTS": "-Xmx128m", "JMX_PORT": "", "KAFKA_JMX_OPTS": ""}
    return kafka_command(
        node,
        [
            f"{node.link}/bin/kafka-run-class.sh",
            JMXTOOL,
            "--jmx-url",
            jmx_url(node.host, port),
            "--object-name",
            DEPRECATED_REQUESTS_MBEAN,
            "--one-time",
            "true",
            "--report-format",
            "properties",
        ],
        env=env,
    )


@dataclass(frozen=True)
class DeprecatedRequest:
    """One line of the MBean: a client sent ``request`` at ``version`` to ``broker``."""

    broker: int
    request: str
    version: int
    client_name: str
    client_version: str
    count: int  # since the broker started (its meters' rates overstate a lone request)


@dataclass(frozen=True)
class OldClientProbe:
    """What the old-client check saw on one broker: the requests, or why it could not run."""

    node_id: int
    subject: str
    requests: tuple[DeprecatedRequest, ...] = ()
    unchecked: str = ""  # why the check could not run here ("" when it ran)

    @property
    def ran(self) -> bool:
        return not self.unchecked


_MBEAN_KEY = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,]*)')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_deprecated_requests(
    node_id: int, subject: str, output: str, where: str
) -> OldClientProbe:
    """JmxTool's ``--report-format properties`` output as a probe.

    ``output`` is stdout and stderr together; JmxTool exits 1 both when nothing
    matched (no old client: the MBean is created on the first such request) and
    when it could not connect, so the text decides.
    """
    answered = "No matched attributes" in output or re.search(r"^time=", output, re.MULTILINE)
    if not answered:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        reason = next((line for line in lines if "Could not connect" in line), None)
        reason = reason or next((line for line in lines if "Error" in line), None)
        reason = reason or (lines[-1] if lines else "no output")
        return OldClientProbe(
            node_id, subject, unchecked=f"JmxTool could not read {where}: {reason}"
        )
    rows: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("kafka.network:") or "=" not in line:
            continue
        name, _, attribute = line.rpartition(":")
        attr, _, value = attribute.partition("=")
        tags = {k: _unquote(v) for k, v in _MBEAN_KEY.findall(name.split(":", 1)[1])}
        if tags.get("name") != "DeprecatedRequestsPerSec":
            continue
        key = (
            tags.get("request", "?"),
            tags.get("version", "?"),
            tags.get("clientSoftwareName", "unknown"),
            tags.get("clientSoftwareVersion", "unknown"),
        )
        rows[key][attr] = value
    requests = []
    for (request, version, name, client_version), attrs in sorted(rows.items()):
        try:
            count = int(float(attrs.get("Count", "0")))
            number = int(version)
        except ValueError:
            continue
        if count > 0:
            requests.append(
                DeprecatedRequest(node_id, request, number, name, client_version, count)
            )
    return OldClientProbe(node_id, subject, tuple(requests))


def _client_label(name: str, version: str) -> str:
    if name == "unknown" and version == "unknown":
        return "client (unnamed)"
    return f"client {name} {version}"


def old_client_findings(probes: Iterable[OldClientProbe], target: str) -> list[Finding]:
    """One blocking finding per client that sent removed request versions (all brokers
    together), and one warning per broker the check could not run on."""
    by_client: dict[tuple[str, str], list[DeprecatedRequest]] = defaultdict(list)
    unchecked: dict[str, list[OldClientProbe]] = defaultdict(list)
    findings: list[Finding] = []
    for probe in probes:
        if not probe.ran:
            unchecked[probe.unchecked].append(probe)
        for r in probe.requests:
            by_client[(r.client_name, r.client_version)].append(r)
    for why, alike in unchecked.items():
        many = len(alike) > 1
        subject = "nodes " + _and([str(p.node_id) for p in alike]) if many else alike[0].subject
        findings.append(
            warning(
                "old-clients-unchecked",
                subject,
                f"the old-client check (KIP-896) could not run: {why}. Kafka {target} rejects "
                "the request versions of clients older than Kafka 2.1; look for them yourself "
                "in the MBean kafka.network:type=RequestMetrics,name=DeprecatedRequestsPerSec "
                f"on {'these brokers' if many else 'this broker'}.",
            )
        )
    for (name, version), requests in sorted(by_client.items()):
        seen = [
            f"{r.request} v{r.version} to broker {r.broker} ({r.count} "
            f"{_plural(r.count, 'request', 'requests')} since that broker started)"
            for r in sorted(requests, key=lambda r: (r.broker, r.request, r.version))
        ]
        unnamed = name == "unknown" and version == "unknown"
        who = (
            " It did not name itself (clients name themselves in ApiVersions v3, KIP-511: Java "
            "clients before 2.4 do not, nor does librdkafka with api.version.request=false); "
            "find it in the brokers' request log (kafka.request.logger at DEBUG marks its "
            'requests "requestApiVersionDeprecated":true, with its address and client id).'
            if unnamed
            else ""
        )
        findings.append(
            blocking(
                "old-client",
                _client_label(name, version),
                f"sent request versions that Kafka 4.0 removed (KIP-896): {'; '.join(seen)}. "
                f"Kafka {target} brokers reject them, so this client stops working as soon as "
                "its brokers are upgraded. Upgrade it to a release that speaks Kafka 2.1's "
                f"protocol or newer (Java clients 2.1+), then re-run.{who}",
            )
        )
    return findings


def old_client_plan(
    nodes: Iterable[Node], running: Mapping[int, str | None]
) -> tuple[list[OldClientProbe], list[Node]]:
    """Where the old-client metric is read: (a probe saying why each broker that cannot
    be read goes unchecked, the brokers to read). ``running`` maps each node that runs on
    the current or the target version to that version; the metric exists from 3.7, and
    4.x brokers no longer take the removed requests at all."""
    probes: list[OldClientProbe] = []
    to_read: list[Node] = []
    for node in nodes:
        if not node.is_broker:
            continue
        binary = running.get(node.id)
        version = parse_version(binary)[:2] if binary else None
        if version is None:
            probes.append(
                OldClientProbe(node.id, node_subject(node), unchecked="the broker is not running")
            )
        elif version < DEPRECATED_METRIC_SINCE:
            probes.append(
                OldClientProbe(
                    node.id,
                    node_subject(node),
                    unchecked=f"it runs {binary}; the metric exists from 3.7",
                )
            )
        elif version < (4, 0):
            to_read.append(node)
    return probes, to_read


# --------------------------------------------------------------------------
# 4. The upgrade path (metadata.version among its rules)
# --------------------------------------------------------------------------

# check_upgrade_path's note that 4.x has removals: the checks above replace it.
_SUPERSEDED_NOTES = frozenset({"kafka-4-removals"})


def path_findings(verdict: Verdict) -> list[Finding]:
    """``check_upgrade_path``'s reasons as blocking findings, its notes as warnings."""
    findings = [blocking(r.rule, "cluster", r.message) for r in verdict.reasons]
    findings += [
        warning(n.rule, "cluster", n.message)
        for n in verdict.notes
        if n.rule not in _SUPERSEDED_NOTES
    ]
    return findings


def reason_findings(reasons: Iterable[Reason], subject: str, severity: Severity) -> list[Finding]:
    """Reasons from other verdicts (pins, node states, cluster health) as findings."""
    return [Finding(r.rule, subject, r.message, severity) for r in reasons]


# --------------------------------------------------------------------------
# Every node: staged, pinned sanely, running on a version the inventory expects
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInspection:
    """Preflight's findings on one node, and whether it runs on the current or the target
    version (``running``) or was left stopped by this very upgrade (``left_down``: the roll
    starts it first)."""

    findings: tuple[Finding, ...]
    running: bool = False
    left_down: bool = False


def inspect_node(node: Node, obs: NodeObservation, current: str, target: str) -> NodeInspection:
    """What one node's observation means for an upgrade from ``current`` to ``target``."""
    subject = node_subject(node)
    findings: list[Finding] = []
    if not obs.staged:
        findings.append(
            blocking(
                "not-staged",
                subject,
                f"{node.version_dir(target)} is not installed; stage it first: "
                f"`kafka-upgrade stage --inventory <file> --version {target}`",
            )
        )
    props = dict(obs.config)
    findings += reason_findings(
        pin_conflicts(node.id, current, target, props).reasons, subject, Severity.BLOCKING
    )
    findings += removed_config_findings(subject, props, current, target)
    state, reason = node_state(obs, Want(target))
    if state in (NodeState.STOPPED, NodeState.UNKNOWN):
        findings.append(blocking(reason.rule, subject, reason.message))
    elif state is NodeState.STOPPED_MID_UPGRADE:
        findings.append(warning(reason.rule, subject, reason.message))
        return NodeInspection(tuple(findings), left_down=True)
    elif obs.binary not in (current, target):
        findings.append(
            blocking(
                "unexpected-version",
                subject,
                f"runs {obs.binary or 'a version that could not be read'}, neither the "
                f"inventory's current version {current} nor the target {target}; correct "
                "current_version in the inventory",
            )
        )
    else:
        return NodeInspection(tuple(findings), running=True)
    return NodeInspection(tuple(findings))


# --------------------------------------------------------------------------
# 5. Topics that cannot stay available through a restart
# --------------------------------------------------------------------------

# From 3.7 Kafka caps min.insync.replicas at the replication factor (KAFKA-15583).
MIN_ISR_CAPPED_FROM: Release = (3, 7)


@dataclass
class _TopicRisk:
    offline: list[PartitionState] = field(default_factory=list)  # RF 1
    stalls: list[PartitionState] = field(default_factory=list)  # 1 < RF <= min ISR
    failing: list[PartitionState] = field(default_factory=list)  # RF < min ISR, before 3.7


def _risks(snapshot: ClusterSnapshot, capped: bool) -> dict[str, _TopicRisk]:
    risks: dict[str, _TopicRisk] = defaultdict(_TopicRisk)
    for p in snapshot.partitions:
        rf = len(p.replicas)
        if rf == 1:
            risks[p.topic].offline.append(p)
        elif rf == p.min_isr or (rf < p.min_isr and capped):
            risks[p.topic].stalls.append(p)
        elif rf < p.min_isr:
            risks[p.topic].failing.append(p)
    return risks


def _offline_text(parts: list[PartitionState]) -> str:
    by_broker: dict[int, list[str]] = defaultdict(list)
    for p in parts:
        by_broker[p.replicas[0]].append(p.name)
    where = "; ".join(f"broker {b}: {_capped(names)}" for b, names in sorted(by_broker.items()))
    n = len(parts)
    return (
        f"{n} {_plural(n, 'partition has', 'partitions have')} replication factor 1 ({where}): "
        f"{_plural(n, 'it is', 'each is')} offline while its broker restarts, and every "
        f"producer (any acks) and consumer of {_plural(n, 'it', 'them')} waits or fails until "
        "the broker is back."
    )


def _stall_text(parts: list[PartitionState], capped: bool) -> str:
    groups: dict[tuple[int, int], list[PartitionState]] = defaultdict(list)
    for p in parts:
        groups[(len(p.replicas), p.min_isr)].append(p)
    texts = []
    for (rf, min_isr), group in sorted(groups.items()):
        brokers = sorted({b for p in group for b in p.replicas})
        n = len(group)
        text = (
            f"{n} {_plural(n, 'partition has', 'partitions have')} replication factor {rf} and "
            f"min.insync.replicas {min_isr} ({_capped([p.name for p in group])}): while any of "
            f"{_plural(len(brokers), 'broker', 'brokers')} {_and([str(b) for b in brokers])} "
            "restarts, acks=all producers get NOT_ENOUGH_REPLICAS and retry until "
            "delivery.timeout.ms, then fail; acks=0 and acks=1 producers and consumers carry on."
        )
        if rf < min_isr and capped:
            text += (
                f" (Kafka 3.7+ counts min.insync.replicas above the replication factor as {rf}, "
                f"so acks=all writes succeed while all {rf} replicas are in sync.)"
            )
        texts.append(text)
    return " ".join(texts)


def unavailable_topic_findings(
    snapshot: ClusterSnapshot, running_version: str, accepted: Collection[str] = ()
) -> tuple[list[Finding], tuple[str, ...]]:
    """Every topic with partitions a single broker restart makes unavailable, one finding
    per topic: blocking, or a warning when the operator accepted it by name.

    Returns the findings and the accepted topics that really are at risk.
    """
    capped = _release(running_version) >= MIN_ISR_CAPPED_FROM
    accepted_set = {t.strip() for t in accepted if t.strip()}
    findings: list[Finding] = []
    accepted_at_risk: list[str] = []
    for topic, risk in sorted(_risks(snapshot, capped).items()):
        subject = f"topic {topic}"
        if risk.failing:
            m = risk.failing[0].min_isr
            findings.append(
                warning(
                    "acks-all-already-failing",
                    subject,
                    f"{_capped([p.name for p in risk.failing])}: fewer replicas than "
                    f"min.insync.replicas {m}; Kafka {running_version} (before 3.7) refuses "
                    "acks=all writes to them already, restarts or not. Raise the replication "
                    "factor or lower min.insync.replicas.",
                )
            )
        if not (risk.offline or risk.stalls):
            continue
        text = " ".join(
            t
            for t in (
                _offline_text(risk.offline) if risk.offline else "",
                _stall_text(risk.stalls, capped) if risk.stalls else "",
            )
            if t
        )
        rule = "restart-takes-offline" if risk.offline else "restart-stops-acks-all"
        if topic in accepted_set:
            accepted_at_risk.append(topic)
            findings.append(
                warning(rule, subject, f"accepted in accept_unavailable, the roll goes on: {text}")
            )
            continue
        fixes = []
        if risk.offline:
            fixes.append("give it more replicas (kafka-reassign-partitions.sh)")
        if risk.stalls:
            below = min(len(p.replicas) for p in risk.stalls) - 1
            fixes.append(
                "raise its replication factor above min.insync.replicas, or lower "
                "min.insync.replicas for the upgrade (kafka-configs.sh --alter --entity-type "
                f"topics --entity-name {topic} --add-config min.insync.replicas={below})"
            )
        findings.append(
            blocking(
                rule,
                subject,
                f"{text} To keep it available, {'; '.join(fixes)}. Or accept it: add {topic} "
                "to accept_unavailable in the inventory or the run request.",
            )
        )
    at_risk = {t for t, r in _risks(snapshot, capped).items() if r.offline or r.stalls}
    for topic in sorted(accepted_set - at_risk):
        known = any(p.topic == topic for p in snapshot.partitions)
        findings.append(
            warning(
                "accepted-topic-not-at-risk",
                f"topic {topic}",
                "named in accept_unavailable, but "
                + (
                    "a restart does not make any of its partitions unavailable"
                    if known
                    else "the cluster has no such topic"
                )
                + "; nothing to accept, remove it from the list.",
            )
        )
    return findings, tuple(accepted_at_risk)


__all__ = [
    "DEPRECATED_REQUESTS_MBEAN",
    "REMOVED_CONFIGS",
    "DeprecatedRequest",
    "Finding",
    "JavaFact",
    "NodeInspection",
    "OldClientProbe",
    "PreflightReport",
    "RemovedConfig",
    "Severity",
    "blocking",
    "deprecated_requests_command",
    "inspect_node",
    "java_findings",
    "java_major",
    "java_required",
    "java_version_command",
    "jmx_port",
    "node_subject",
    "old_client_findings",
    "old_client_plan",
    "old_clients_apply",
    "parse_deprecated_requests",
    "parse_java_version",
    "path_findings",
    "reason_findings",
    "removed_config_findings",
    "unavailable_topic_findings",
    "warning",
]
