"""Preflight's checks as a spec: tables of facts and the findings each must give."""

from __future__ import annotations

import shlex

import pytest

from kafka_upgrade.core.health import Reason, Verdict
from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.preflight_checks import (
    DEPRECATED_REQUESTS_MBEAN,
    REMOVED_CONFIGS,
    DeprecatedRequest,
    Finding,
    JavaFact,
    OldClientProbe,
    PreflightReport,
    Severity,
    deprecated_requests_command,
    inspect_node,
    java_findings,
    java_major,
    java_version_command,
    jmx_port,
    old_client_findings,
    old_client_plan,
    old_clients_apply,
    parse_deprecated_requests,
    parse_java_version,
    path_findings,
    removed_config_findings,
    unavailable_topic_findings,
)
from kafka_upgrade.core.roll_plan import NodeObservation
from kafka_upgrade.core.upgrade_path import check_upgrade_path
from tests.unit.snapshots import cluster


def node(**fields: object) -> Node:
    data: dict[str, object] = {
        "id": 2,
        "host": "k2.example",
        "roles": ["broker", "controller"],
        "install_dir": "/opt/kafka",
        "config_path": "/etc/kafka/server.properties",
    }
    data.update(fields)
    return Node.model_validate(data)


# ---------------------------------------------------------------------------
# 1. Removed configs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "current", "target", "keys"),
    [
        ({"log.message.format.version": "2.8"}, "3.9.1", "4.1.1", [["log.message.format.version"]]),
        (
            {"inter.broker.protocol.version": "3.9"},
            "3.9.1",
            "4.0.0",
            [["inter.broker.protocol.version"]],
        ),
        (
            {"zookeeper.connect": "zk:2181", "zookeeper.session.timeout.ms": "18000"},
            "3.9.1",
            "4.1.1",
            [["zookeeper.connect", "zookeeper.session.timeout.ms"]],
        ),
        (
            {
                "controlled.shutdown.max.retries": "3",
                "broker.id.generation.enable": "true",
                "num.partitions": "3",
            },
            "3.9.1",
            "4.1.1",
            [["controlled.shutdown.max.retries"], ["broker.id.generation.enable"]],
        ),
        # 4.1 removals apply from 4.0 on, not to a 4.0 target
        (
            {"group.coordinator.new.enable": "true"},
            "4.0.0",
            "4.1.1",
            [["group.coordinator.new.enable"]],
        ),
        ({"group.coordinator.new.enable": "true"}, "3.9.1", "4.0.0", []),
        # already past the release that removed it, or not reaching it
        ({"log.message.format.version": "2.8"}, "4.0.0", "4.1.1", []),
        ({"zookeeper.connect": "zk:2181"}, "3.7.2", "3.8.1", []),
        # a prefix matches whole dotted names only
        ({"zookeeperish.setting": "1"}, "3.9.1", "4.1.1", []),
        ({}, "3.9.1", "4.1.1", []),
    ],
)
def test_removed_configs(
    props: dict[str, str], current: str, target: str, keys: list[list[str]]
) -> None:
    found = removed_config_findings("node 2 (k2.example)", props, current, target)
    assert [f.rule for f in found] == ["removed-config"] * len(keys)
    for finding, expected in zip(found, keys, strict=True):
        assert finding.blocking
        assert finding.subject == "node 2 (k2.example)"
        for key in expected:
            assert key in finding.message
        assert "ignores" in finding.message and "silently" in finding.message


def test_removed_config_messages_say_what_to_do_and_never_quote_values() -> None:
    props = {
        "password.encoder.secret": "s3cr3t-value",
        "delegation.token.master.key": "another-s3cr3t",
        "log.message.timestamp.difference.max.ms": "1000",
    }
    found = removed_config_findings("node 1 (h)", props, "3.9.1", "4.1.1")
    text = " ".join(f.message for f in found)
    assert "s3cr3t" not in text
    assert "delegation.token.secret.key" in text
    assert "log.message.timestamp.before.max.ms" in text and "after.max.ms" in text
    assert all("Delete" in f.message or "delete" in f.message for f in found)


def test_an_unfinished_zookeeper_migration_is_named() -> None:
    found = removed_config_findings(
        "node 1 (h)", {"zookeeper.metadata.migration.enable": "true"}, "3.9.1", "4.1.1"
    )
    assert "still migrating from ZooKeeper" in found[0].message


def test_every_removed_config_entry_says_how_to_fix_it() -> None:
    for entry in REMOVED_CONFIGS:
        assert entry.keys and entry.removed_in >= (4, 0)
        assert "Delete" in entry.advice or "delete" in entry.advice, entry.keys


# ---------------------------------------------------------------------------
# 2. Java
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "11.0.20" 2023-07-18 LTS', 11),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "1.7.0_80"', 7),
        ("sh: 1: java: not found", None),
        ("", None),
    ],
)
def test_java_major(output: str, major: int | None) -> None:
    assert java_major(output) == major


def test_parse_java_version_reads_the_markers() -> None:
    fact = parse_java_version(
        "java_home=/usr/lib/jvm/java-11\njava=/usr/lib/jvm/java-11/bin/java\n"
        'openjdk version "11.0.20" 2023-07-18\nOpenJDK Runtime Environment\nexit=0\n'
    )
    assert fact == JavaFact(
        "/usr/lib/jvm/java-11/bin/java",
        "/usr/lib/jvm/java-11",
        0,
        'openjdk version "11.0.20" 2023-07-18\nOpenJDK Runtime Environment',
    )
    assert fact.major == 11
    assert fact.version_line == 'openjdk version "11.0.20" 2023-07-18'


def _java(major_line: str, exit_code: int = 0, home: str = "") -> JavaFact:
    java = f"{home}/bin/java" if home else "/usr/bin/java"
    return JavaFact(java, home, exit_code, major_line)


@pytest.mark.parametrize(
    ("fact", "target", "rule", "severity"),
    [
        (_java('openjdk version "17.0.15"'), "4.1.1", None, None),
        (_java('openjdk version "21"'), "4.0.0", None, None),
        (_java('openjdk version "11.0.20"'), "4.1.1", "java-too-old", Severity.BLOCKING),
        (
            _java('java version "1.8.0_292"', home="/opt/jdk8"),
            "4.0.0",
            "java-too-old",
            Severity.BLOCKING,
        ),
        (_java('java version "1.8.0_292"'), "3.8.1", "java-below-17-for-4x", Severity.WARNING),
        (_java('openjdk version "11.0.20"'), "3.9.1", "java-below-17-for-4x", Severity.WARNING),
        (_java('openjdk version "17.0.15"'), "3.8.1", None, None),
        (_java('java version "1.7.0_80"'), "3.8.1", "java-too-old", Severity.BLOCKING),
        (
            _java("sh: 1: /nope/bin/java: not found", 127, "/nope"),
            "4.1.1",
            "java-not-found",
            Severity.BLOCKING,
        ),
        (_java("something odd"), "4.1.1", "java-version-unknown", Severity.WARNING),
    ],
)
def test_java_findings(
    fact: JavaFact, target: str, rule: str | None, severity: Severity | None
) -> None:
    found = java_findings("node 2 (k2.example)", fact, target)
    if rule is None:
        assert found == []
        return
    assert [(f.rule, f.severity) for f in found] == [(rule, severity)]
    assert found[0].subject == "node 2 (k2.example)"
    if severity is Severity.BLOCKING:
        assert "JAVA_HOME" in found[0].message and target in found[0].message
    if fact.java_home:
        assert f"{fact.java_home}/bin/java" in found[0].message
        assert "from JAVA_HOME" in found[0].message


def test_java_is_run_as_the_start_script_would() -> None:
    cmd = java_version_command(node(env={"JAVA_HOME": "/opt/jdk17"}))
    argv = shlex.split(cmd)
    assert argv[:2] == ["env", "JAVA_HOME=/opt/jdk17"]
    script = argv[-1]
    assert '"$JAVA_HOME/bin/java"' in script and "-version" in script
    assert "systemctl" not in script
    systemd = java_version_command(node(service={"kind": "systemd", "unit": "kafka.service"}))
    assert "systemctl show -p Environment --value kafka.service" in shlex.split(systemd)[-1]


# ---------------------------------------------------------------------------
# 3. Old clients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "port"),
    [
        ({}, None),
        ({"jmx_port": 9999}, 9999),
        ({"env": {"JMX_PORT": "9581"}}, 9581),
        ({"env": {"JMX_PORT": "9581"}, "jmx_port": 9999}, 9999),
        ({"env": {"KAFKA_JMX_OPTS": "-Dcom.sun.management.jmxremote.port=7199 -Dx=y"}}, 7199),
        ({"env": {"KAFKA_OPTS": "-Dcom.sun.management.jmxremote.port=7200"}}, 7200),
        ({"env": {"JMX_PORT": ""}}, None),
    ],
)
def test_jmx_port(fields: dict[str, object], port: int | None) -> None:
    assert jmx_port(node(**fields)) == port


def test_jmxtool_command_reads_the_mbean_once_without_opening_the_brokers_port() -> None:
    n = node(env={"JMX_PORT": "9999", "KAFKA_JMX_OPTS": "-Dfoo", "KAFKA_OPTS": "-Dbar"})
    argv = shlex.split(deprecated_requests_command(n, 9999))
    assert "JMX_PORT=" in argv and "KAFKA_JMX_OPTS=" in argv and "KAFKA_OPTS=-Dbar" in argv
    assert "JMX_PORT=9999" not in argv
    assert "/opt/kafka/current/bin/kafka-run-class.sh" in argv
    assert "org.apache.kafka.tools.JmxTool" in argv
    assert argv[argv.index("--jmx-url") + 1] == (
        "service:jmx:rmi:///jndi/rmi://k2.example:9999/jmxrmi"
    )
    assert argv[argv.index("--object-name") + 1] == DEPRECATED_REQUESTS_MBEAN
    assert argv[argv.index("--one-time") + 1] == "true"


# Captured from JmxTool 3.9.1 against a 3.9.1 broker (a librdkafka producer with
# api.version.request=false, broker.version.fallback=0.9.0 had sent Produce v1).
SEEN = """Trying to connect to JMX url: service:jmx:rmi:///jndi/rmi://127.0.201.12:9999/jmxrmi
time=1795633976079
kafka.network:type=RequestMetrics,name=DeprecatedRequestsPerSec,request=Produce,version=1,clientSoftwareName=unknown,clientSoftwareVersion=unknown:Count=1
kafka.network:type=RequestMetrics,name=DeprecatedRequestsPerSec,request=Produce,version=1,clientSoftwareName=unknown,clientSoftwareVersion=unknown:EventType=requests
kafka.network:type=RequestMetrics,name=DeprecatedRequestsPerSec,request=Produce,version=1,clientSoftwareName=unknown,clientSoftwareVersion=unknown:OneMinuteRate=0.2
kafka.network:type=RequestMetrics,name=DeprecatedRequestsPerSec,request=Fetch,version=3,clientSoftwareName="sarama",clientSoftwareVersion=1.26.0:Count=7
kafka.network:type=RequestMetrics,name=DeprecatedRequestsPerSec,request=Fetch,version=3,clientSoftwareName="sarama",clientSoftwareVersion=1.26.0:OneMinuteRate=0.0
"""
NONE_SEEN = (
    "Trying to connect to JMX url: service:jmx:rmi:///jndi/rmi://127.0.201.11:9999/jmxrmi\n"
    "No matched attributes for the queried objects [kafka.network:type=RequestMetrics,"
    "name=DeprecatedRequestsPerSec,request=*,version=*,clientSoftwareName=*,"
    "clientSoftwareVersion=*].\n"
)
REFUSED = (
    "Trying to connect to JMX url: service:jmx:rmi:///jndi/rmi://127.0.201.11:9998/jmxrmi\n"
    "Could not connect to JMX url: service:jmx:rmi:///jndi/rmi://127.0.201.11:9998/jmxrmi. "
    "Exception: Failed to retrieve RMIServer stub: javax.naming.ServiceUnavailableException\n"
    "java.io.IOException: Failed to retrieve RMIServer stub\n\tat java.management.rmi/...\n"
)
NO_CLASS = "Error: Could not find or load main class org.apache.kafka.tools.JmxTool\n"


@pytest.mark.parametrize(
    ("output", "requests", "unchecked"),
    [
        (
            SEEN,
            (
                DeprecatedRequest(2, "Fetch", 3, "sarama", "1.26.0", 7),
                DeprecatedRequest(2, "Produce", 1, "unknown", "unknown", 1),
            ),
            "",
        ),
        (NONE_SEEN, (), ""),
        (REFUSED, (), "Could not connect to JMX url"),
        (NO_CLASS, (), "Could not find or load main class"),
        ("", (), "no output"),
    ],
)
def test_parse_deprecated_requests(
    output: str, requests: tuple[DeprecatedRequest, ...], unchecked: str
) -> None:
    probe = parse_deprecated_requests(2, "node 2 (h)", output, "service:jmx:...")
    assert probe.requests == requests
    assert probe.ran is (not unchecked)
    assert unchecked in probe.unchecked


def test_old_clients_are_named_once_across_brokers() -> None:
    probes = [
        OldClientProbe(
            1,
            "node 1 (h1)",
            (DeprecatedRequest(1, "Metadata", 3, "sarama", "1.26.0", 4),),
        ),
        OldClientProbe(
            2,
            "node 2 (h2)",
            (
                DeprecatedRequest(2, "Produce", 1, "unknown", "unknown", 1),
                DeprecatedRequest(2, "Fetch", 3, "sarama", "1.26.0", 7),
            ),
        ),
        OldClientProbe(3, "node 3 (h3)", unchecked="the inventory gives no JMX port"),
        OldClientProbe(4, "node 4 (h4)", unchecked="the inventory gives no JMX port"),
        OldClientProbe(5, "node 5 (h5)", unchecked="the broker is not running"),
    ]
    found = old_client_findings(probes, "4.1.1")
    by_subject = {f.subject: f for f in found}
    assert set(by_subject) == {
        "client sarama 1.26.0",
        "client (unnamed)",
        "nodes 3 and 4",
        "node 5 (h5)",
    }
    sarama = by_subject["client sarama 1.26.0"]
    assert sarama.rule == "old-client" and sarama.blocking
    assert "Metadata v3 to broker 1" in sarama.message and "Fetch v3 to broker 2" in sarama.message
    assert "(4 requests since that broker started)" in sarama.message
    unnamed = by_subject["client (unnamed)"]
    assert "Produce v1 to broker 2" in unnamed.message
    assert "requestApiVersionDeprecated" in unnamed.message
    unchecked = by_subject["nodes 3 and 4"]
    assert unchecked.rule == "old-clients-unchecked" and not unchecked.blocking
    assert "could not run: the inventory gives no JMX port" in unchecked.message
    assert "on these brokers" in unchecked.message
    assert "could not run: the broker is not running" in by_subject["node 5 (h5)"].message


@pytest.mark.parametrize(
    ("roles", "binary", "plan"),
    [
        (["broker"], "3.9.1", "read"),
        (["broker", "controller"], "3.7.0", "read"),
        (["broker"], "3.6.2", "unchecked: it runs 3.6.2; the metric exists from 3.7"),
        (["broker"], None, "unchecked: the broker is not running"),
        (["broker"], "4.0.0", None),  # 4.x brokers take no removed request at all
        (["controller"], "3.9.1", None),  # controllers serve no clients
    ],
)
def test_old_client_plan(roles: list[str], binary: str | None, plan: str | None) -> None:
    running = {} if binary is None else {2: binary}
    probes, to_read = old_client_plan([node(roles=roles)], running)
    seen = [f"unchecked: {p.unchecked}" for p in probes] + ["read" for _ in to_read]
    assert seen == ([plan] if plan else [])
    assert all(p.subject == "node 2 (k2.example)" for p in probes)


@pytest.mark.parametrize(
    ("current", "target", "applies"),
    [
        ("3.9.1", "4.1.1", True),
        ("3.7.2", "4.0.0", True),
        ("3.7.2", "3.8.1", False),
        ("4.0.0", "4.1.1", False),
    ],
)
def test_old_clients_matter_when_crossing_into_4(current: str, target: str, applies: bool) -> None:
    assert old_clients_apply(current, target) is applies


# ---------------------------------------------------------------------------
# 4. The path: metadata.version among its rules
# ---------------------------------------------------------------------------


def test_path_reasons_block_and_the_4x_note_is_replaced_by_the_checks() -> None:
    verdict = check_upgrade_path("3.9.1", "4.1.1", "kraft", metadata_version="3.2-IV0")
    found = path_findings(verdict)
    assert [(f.rule, f.severity) for f in found] == [
        ("metadata-version-too-old", Severity.BLOCKING)
    ]
    assert found[0].subject == "cluster" and "kafka-features.sh upgrade" in found[0].message
    unknown = path_findings(check_upgrade_path("3.9.1", "4.1.1", "kraft"))
    assert [(f.rule, f.severity) for f in unknown] == [("check-metadata-version", Severity.WARNING)]
    assert path_findings(Verdict.yes(Reason("kafka-4-removals", "x"))) == []


# ---------------------------------------------------------------------------
# 5. Topics a restart makes unavailable
# ---------------------------------------------------------------------------


def _rules(findings: list[Finding]) -> list[tuple[str, str, Severity]]:
    return [(f.subject, f.rule, f.severity) for f in findings]


B, W = Severity.BLOCKING, Severity.WARNING


@pytest.mark.parametrize(
    ("build", "version", "accepted", "expected", "accepted_at_risk"),
    [
        # healthy topics: RF above min.insync.replicas
        (
            lambda: cluster(1, 2, 3).topic("orders", partitions=3, rf=3, min_isr=2),
            "3.9.1",
            [],
            [],
            (),
        ),
        (
            lambda: cluster(1, 2, 3).topic("logs", partitions=2, rf=2, min_isr=1),
            "3.9.1",
            [],
            [],
            (),
        ),
        # RF 1: offline during its broker's restart
        (
            lambda: cluster(1, 2, 3).topic("scratch", partitions=2, rf=1, min_isr=1),
            "3.9.1",
            [],
            [("topic scratch", "restart-takes-offline", B)],
            (),
        ),
        # RF == min.insync.replicas: acks=all stalls
        (
            lambda: cluster(1, 2, 3).topic("payments", partitions=4, rf=3, min_isr=3),
            "3.9.1",
            [],
            [("topic payments", "restart-stops-acks-all", B)],
            (),
        ),
        # RF below min.insync.replicas: 3.7+ caps it at RF, so a restart stalls acks=all
        (
            lambda: cluster(1, 2, 3).topic("audit", rf=2, min_isr=3),
            "3.9.1",
            [],
            [("topic audit", "restart-stops-acks-all", B)],
            (),
        ),
        # ... before 3.7 acks=all writes fail already: a warning, not the restart's doing
        (
            lambda: cluster(1, 2, 3).topic("audit", rf=2, min_isr=3),
            "3.6.2",
            [],
            [("topic audit", "acks-all-already-failing", W)],
            (),
        ),
        # accepted by name: a warning, and listed as accepted
        (
            lambda: cluster(1, 2, 3).topic("payments", rf=3, min_isr=3).topic("scratch", rf=1),
            "3.9.1",
            ["payments"],
            [
                ("topic payments", "restart-stops-acks-all", W),
                ("topic scratch", "restart-takes-offline", B),
            ],
            ("payments",),
        ),
        # accepting what is not at risk, or does not exist, is said
        (
            lambda: cluster(1, 2, 3).topic("orders", rf=3, min_isr=2),
            "3.9.1",
            ["orders", "ghost"],
            [
                ("topic ghost", "accepted-topic-not-at-risk", W),
                ("topic orders", "accepted-topic-not-at-risk", W),
            ],
            (),
        ),
    ],
)
def test_unavailable_topics(
    build: object,
    version: str,
    accepted: list[str],
    expected: list[tuple[str, str, Severity]],
    accepted_at_risk: tuple[str, ...],
) -> None:
    snapshot = build().build()  # type: ignore[operator]
    found, at_risk = unavailable_topic_findings(snapshot, version, accepted)
    assert _rules(found) == expected
    assert at_risk == accepted_at_risk


def test_unavailable_topic_messages_are_true_to_what_kafka_does() -> None:
    snapshot = (
        cluster(1, 2, 3)
        .topic("scratch", partitions=3, rf=1)
        .topic("payments", partitions=2, rf=3, min_isr=3)
        .topic("audit", rf=2, min_isr=3)
        .build()
    )
    found = {f.subject: f.message for f in unavailable_topic_findings(snapshot, "3.9.1")[0]}
    scratch = found["topic scratch"]
    assert "3 partitions have replication factor 1" in scratch
    assert "producer (any acks) and consumer" in scratch and "accept_unavailable" in scratch
    payments = found["topic payments"]
    assert "replication factor 3 and min.insync.replicas 3" in payments
    assert "NOT_ENOUGH_REPLICAS" in payments and "acks=0 and acks=1 producers" in payments
    assert "min.insync.replicas=2" in payments
    audit = found["topic audit"]
    assert "acks=all writes succeed while all 2 replicas are in sync" in audit
    assert "never" not in " ".join(found.values())  # they do succeed: seen on 3.9.1


# ---------------------------------------------------------------------------
# Every node
# ---------------------------------------------------------------------------


def _observed(**fields: object) -> NodeObservation:
    seen: dict[str, object] = {
        "node_id": 2,
        "roles": {"broker", "controller"},
        "running": True,
        "binary": "3.9.1",
        "link": "3.9.1",
        "staged": True,
    }
    seen.update(fields)
    return NodeObservation(**seen)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seen", "expected", "standing"),
    [
        ({}, [], "running"),
        ({"binary": "4.1.1", "link": "4.1.1"}, [], "running"),
        ({"staged": False}, [("not-staged", B)], "running"),
        (
            {"config": {"inter.broker.protocol.version": "4.2"}},
            [("pin-above-target", B), ("removed-config", B)],  # 4.x no longer knows the key
            "running",
        ),
        (
            {"config": {"log.message.format.version": "2.8"}},
            [("removed-config", B)],
            "running",
        ),
        ({"running": False, "binary": None}, [("stopped", B)], "refused"),
        ({"probed": False, "running": False}, [("node-unknown", B)], "refused"),
        (
            {"running": False, "binary": None, "link": "4.1.1"},
            [("stopped-mid-upgrade", W)],
            "left down",
        ),
        (
            {"running": False, "binary": None, "backup_exists": True},
            [("stopped-mid-upgrade", W)],
            "left down",
        ),
        ({"binary": "3.8.1"}, [("unexpected-version", B)], "refused"),
        ({"binary": None}, [("unexpected-version", B)], "refused"),
    ],
)
def test_inspect_node(
    seen: dict[str, object], expected: list[tuple[str, Severity]], standing: str
) -> None:
    found = inspect_node(node(), _observed(**seen), "3.9.1", "4.1.1")
    assert [(f.rule, f.severity) for f in found.findings] == expected
    assert all(f.subject == "node 2 (k2.example)" for f in found.findings)
    got = "running" if found.running else "left down" if found.left_down else "refused"
    assert got == standing


def test_inspect_node_messages_say_what_to_do() -> None:
    missing = inspect_node(node(), _observed(staged=False), "3.9.1", "4.1.1").findings[0]
    assert missing.message == (
        "/opt/kafka/kafka_2.13-4.1.1 is not installed; stage it first: "
        "`kafka-upgrade stage --inventory <file> --version 4.1.1`"
    )
    unknown = inspect_node(node(), _observed(binary=None), "3.9.1", "4.1.1").findings[0]
    assert unknown.message == (
        "runs a version that could not be read, neither the inventory's current version "
        "3.9.1 nor the target 4.1.1; correct current_version in the inventory"
    )


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


def test_report_refusal_lists_every_blocking_finding_once() -> None:
    report = PreflightReport(
        "prod",
        "3.9.1",
        "4.1.1",
        (
            Finding("removed-config", "node 2 (h2)", "server.properties sets x."),
            Finding("old-clients-unchecked", "node 3 (h3)", "could not run.", Severity.WARNING),
            Finding("restart-stops-acks-all", "topic payments", "stalls."),
        ),
        ("audit",),
    )
    assert not report.ok
    text = report.refusal()
    assert text.count("\n  - ") == 2
    assert text.startswith("preflight refused; nothing was touched:\n")
    assert "node 2 (h2): server.properties sets x. (rule removed-config)" in text
    assert "topic payments: stalls." in text and "could not run" not in text
    assert "[" not in text  # console markup would swallow bracketed text
    assert report.as_json()["accepted_unavailable"] == ["audit"]
    assert any("accept_unavailable" in line for line in report.lines())
    assert PreflightReport("prod", "3.9.1", "4.1.1", report.warnings).ok


def test_accept_unavailable_and_jmx_port_are_settings() -> None:
    from kafka_upgrade.core.requests import UpgradeRequest

    request = UpgradeRequest(cluster="prod-eu-1", accept_unavailable=["payments"])
    assert request.accept_unavailable == ["payments"]
    assert UpgradeRequest(cluster="prod-eu-1").accept_unavailable == []
    assert node(jmx_port=9999).jmx_port == 9999
    with pytest.raises(ValueError):
        node(jmx_port=0)
