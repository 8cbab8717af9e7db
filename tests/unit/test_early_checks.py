"""The early checks as tables: what a person got wrong, and the one sentence that says so."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import paramiko
import pytest
from pydantic import SecretStr

from kafka_upgrade.adapters.remote import FabricRemote, HostKeyError
from kafka_upgrade.core.early_checks import (
    FileState,
    ProbeResult,
    Problem,
    bootstrap_problem,
    kafka_settings_problems,
    local_problems,
    node_check_command,
    node_check_problems,
    parse_bootstrap,
    ssh_problem,
    summarize,
)
from kafka_upgrade.core.inventory import Inventory, KafkaClientSettings

HOME = Path("/home/ops")


def inventory(**changes: Any) -> Inventory:
    data: dict[str, Any] = {
        "cluster": "prod-eu",
        "mode": "kraft",
        "bootstrap_servers": "k1:9092,k2:9092",
        "current_version": "3.9.1",
        "target_version": "4.1.1",
        "ssh": {"user": "kafka", "port": 22, "key_file": "/keys/id", "known_hosts": "/keys/kh"},
        "nodes": [
            {
                "id": i,
                "host": f"k{i}",
                "roles": ["broker", "controller"],
                "install_dir": "/opt/kafka",
                "config_path": "/etc/kafka/server.properties",
            }
            for i in (1, 2)
        ],
    }
    data.update(changes)
    return Inventory(**data)


def all_files(state: FileState = FileState.OK, **by_path: FileState):
    return lambda path: by_path.get(str(path), state)


def subjects(problems: list[Problem]) -> list[str]:
    return [p.subject for p in problems]


# --------------------------------------------------------------------------- local


def test_a_good_inventory_has_no_problems() -> None:
    version, problems = local_problems(inventory(), None, "upgrade", all_files(), HOME)
    assert (version, problems) == ("4.1.1", [])


@pytest.mark.parametrize(
    ("changes", "to", "subject", "words"),
    [
        ({}, "4.1", "--to", ["'4.1' is not a Kafka release", "4.1.0"]),
        ({}, "latest", "--to", ["'latest' is not a Kafka release", "MAJOR.MINOR.PATCH"]),
        ({}, "3.8.1", "--to", ["[downgrade-refused]", "older than the current 3.9.1"]),
        ({}, "3.9.1", "--to", ["[nothing-to-do]"]),
        ({"target_version": "3.8.1"}, None, "target_version", ["[downgrade-refused]"]),
        ({"target_version": None}, None, "target_version", ["pass --to VERSION"]),
        (
            {
                "mode": "zk",
                "zookeeper": {"connect": "z1:2181"},
                "nodes": [
                    {
                        "id": 1,
                        "host": "k1",
                        "roles": ["broker"],
                        "install_dir": "/opt/kafka",
                        "config_path": "/etc/kafka/server.properties",
                    }
                ],
            },
            "4.1.1",
            "--to",
            ["[zookeeper-removed-in-4]", "migrate the cluster to KRaft"],
        ),
        ({"current_version": "2.8.2"}, "4.1.1", "--to", ["[major-jump-too-large]"]),
    ],
)
def test_version_problems(changes: dict, to: str | None, subject: str, words: list[str]) -> None:
    version, problems = local_problems(inventory(**changes), to, "upgrade", all_files(), HOME)
    assert problems and set(subjects(problems)) == {subject}
    for word in words:
        assert word in str(problems[0])


def test_a_rollback_has_no_target_to_check() -> None:
    version, problems = local_problems(
        inventory(target_version=None), "4.1", "rollback", all_files(), HOME
    )
    assert (version, problems) == ("3.9.1", [])


@pytest.mark.parametrize(
    ("files", "subject", "words"),
    [
        ({"/keys/id": FileState.MISSING}, "ssh.key_file", ["/keys/id does not exist"]),
        ({"/keys/id": FileState.NOT_A_FILE}, "ssh.key_file", ["is not a regular file"]),
        ({"/keys/id": FileState.UNREADABLE}, "ssh.key_file", ["cannot be read"]),
        (
            {"/keys/kh": FileState.MISSING},
            "ssh.known_hosts",
            ["/keys/kh does not exist", "ssh-keyscan -p 22 k1 k2 >> /keys/kh"],
        ),
    ],
)
def test_file_problems(files: dict, subject: str, words: list[str]) -> None:
    _, problems = local_problems(inventory(), None, "upgrade", all_files(**files), HOME)
    assert subjects(problems) == [subject]
    for word in words:
        assert word in str(problems[0])


def test_known_hosts_defaults_to_the_users_file() -> None:
    inv = inventory(ssh={"user": "kafka"})
    missing = all_files(**{str(HOME / ".ssh/known_hosts"): FileState.MISSING})
    _, problems = local_problems(inv, None, "upgrade", missing, HOME)
    assert subjects(problems) == ["ssh.known_hosts"]
    assert str(HOME / ".ssh/known_hosts") in problems[0].detail


def test_files_are_not_checked_for_a_worker() -> None:
    _, problems = local_problems(inventory(), None, "upgrade", None, HOME)
    assert problems == []


def test_ssl_files_are_checked_on_this_machine() -> None:
    inv = inventory(kafka={"security_protocol": "SSL", "ssl_ca_location": "/etc/ca.pem"})
    _, problems = local_problems(
        inv, None, "upgrade", all_files(**{"/etc/ca.pem": FileState.MISSING}), HOME
    )
    assert [str(p) for p in problems] == [
        "kafka.ssl_ca_location: /etc/ca.pem does not exist on this machine"
    ]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, []),
        ({"security_protocol": "SSL"}, []),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "bot",
                "sasl_password": "pw",
            },
            [],
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "bot",
                "sasl_password_block": "kafka-pw",
            },
            [],
        ),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, []),
        ({"security_protocol": "SASL_PLAINTEXT"}, ["kafka.sasl_mechanism"]),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-1"},
            ["kafka.sasl_mechanism"],
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
            ["kafka.sasl_username", "kafka.sasl_password"],
        ),
        ({"sasl_username": "bot", "sasl_mechanism": "PLAIN"}, ["kafka.security_protocol"]),
    ],
)
def test_kafka_settings(settings: dict, expected: list[str]) -> None:
    if "sasl_password" in settings:
        settings["sasl_password"] = SecretStr(settings["sasl_password"])
    assert subjects(kafka_settings_problems(KafkaClientSettings(**settings))) == expected


def test_a_missing_password_says_where_it_comes_from() -> None:
    problems = kafka_settings_problems(
        KafkaClientSettings(
            security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="bot"
        )
    )
    assert "KAFKA_UPGRADE_KAFKA__SASL_PASSWORD" in str(problems[0])


@pytest.mark.parametrize(
    ("servers", "parsed", "bad"),
    [
        ("k1:9092,k2:9093", [("k1", 9092), ("k2", 9093)], []),
        ("[::1]:9092", [("::1", 9092)], []),
        ("PLAINTEXT://k1:9092", [("k1", 9092)], []),
        ("k1", [], ["'k1' is not host:port"]),
        ("k1:0", [], ["'k1:0' is not host:port"]),
        ("k1:9092,", [("k1", 9092)], ["empty entry"]),
        ("k1:90x", [], ["'k1:90x' is not host:port"]),
    ],
)
def test_bootstrap_format(servers: str, parsed: list, bad: list[str]) -> None:
    got, problems = parse_bootstrap(servers)
    assert got == parsed
    assert len(problems) == len(bad)
    for problem, words in zip(problems, bad, strict=True):
        assert problem.subject == "bootstrap_servers"
        assert words in problem.detail


def test_summarize_one_or_many() -> None:
    one = Problem("ssh.key_file", "/k does not exist")
    assert summarize([one]) == "ssh.key_file: /k does not exist"
    many = summarize([one, Problem("node 2 (k2)", "not staged")])
    assert many.splitlines() == [
        "2 problems; nothing was touched:",
        "  - ssh.key_file: /k does not exist",
        "  - node 2 (k2): not staged",
    ]


# --------------------------------------------------------------------------- remote


def test_node_check_command_quotes_paths() -> None:
    inv = inventory(
        nodes=[
            {
                "id": 1,
                "host": "k1",
                "roles": ["broker", "controller"],
                "install_dir": "/opt/kafka dir",
                "config_path": "/etc/kafka conf/server.properties",
            }
        ]
    )
    command = node_check_command(inv.nodes[0], "4.1.1")
    assert "'/opt/kafka dir/kafka_2.13-4.1.1/bin/kafka-server-start.sh'" in command
    assert "'/etc/kafka conf/server.properties'" in command


@pytest.mark.parametrize(
    ("stdout", "purpose", "words"),
    [
        (
            "staged\nconfig-ok\npid=7 jar=kafka_2.13-3.9.1.jar\nlink=kafka_2.13-3.9.1\n",
            "upgrade",
            [],
        ),
        ("staged\nconfig-ok\npid=7 jar=kafka_2.13-4.1.1.jar\n", "upgrade", []),
        ("staged\nconfig-ok\nlink=kafka_2.13-3.9.1\n", "upgrade", []),  # stopped: preflight's
        ("config-ok\n", "upgrade", ["Kafka 4.1.1 (the target) is not staged"]),
        ("config-ok\n", "rollback", ["(the current version) is not staged"]),
        ("staged\n", "upgrade", ["config_path /etc/kafka/server.properties does not exist"]),
        (
            "staged\nconfig-ok\npid=7 jar=kafka_2.13-3.8.1.jar\n",
            "upgrade",
            ["runs Kafka 3.8.1 (pid 7), neither current_version 3.9.1 nor the target 4.1.1"],
        ),
    ],
)
def test_node_check_problems(stdout: str, purpose: str, words: list[str]) -> None:
    node = inventory().nodes[0]
    problems = node_check_problems(node, "4.1.1", stdout, purpose, current="3.9.1")  # type: ignore[arg-type]
    assert len(problems) == len(words)
    for problem, word in zip(problems, words, strict=True):
        assert problem.subject == "node 1 (k1)"
        assert word in problem.detail


def test_ssh_problem_keeps_the_transports_host_and_port() -> None:
    node = inventory().nodes[1]
    problem = ssh_problem(node, "node 2 (k2:2222): nothing accepts SSH connections there")
    assert str(problem) == "node 2 (k2:2222): nothing accepts SSH connections there"
    assert ssh_problem(node, "odd").subject == "node 2 (k2)"


PLAIN = KafkaClientSettings()
SASL = KafkaClientSettings(
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="bot",
    sasl_password=SecretStr("pw"),
)
SSL = KafkaClientSettings(security_protocol="SSL")


def failed(*errors: str, exception: str | None = None, timed_out: bool = False) -> ProbeResult:
    return ProbeResult(
        ok=False, seconds=1.0, errors=errors, exception=exception, timed_out=timed_out
    )


# librdkafka's words, as its error callback gave them against a real 3.9 broker.
REFUSED = "_TRANSPORT: k1:9099/bootstrap: Connect to ipv4#10.0.0.1:9099 failed: Connection refused"
SASL_ON_PLAIN = (
    "_AUTHENTICATION: sasl_plaintext://k1:9092/bootstrap: SASL SCRAM-SHA-512 mechanism "
    "handshake failed: Broker: Request not valid in current SASL state: broker's supported "
    "mechanisms: "
)
SSL_ON_PLAIN = (
    "_TRANSPORT: ssl://k1:9092/bootstrap: SSL handshake failed: Disconnected: SSL connection "
    "closed by peer: connecting to a PLAINTEXT broker listener?"
)


@pytest.mark.parametrize(
    ("kafka", "result", "subject", "words"),
    [
        (PLAIN, ProbeResult(ok=True, seconds=0.1, broker_ids=(1, 2)), None, []),
        (
            PLAIN,
            ProbeResult(ok=True, seconds=0.1, broker_ids=(7, 8)),
            "bootstrap_servers",
            ["brokers [7, 8]", "inventory's brokers are [1, 2]"],
        ),
        (
            PLAIN,
            failed(REFUSED, "_ALL_BROKERS_DOWN: 1/1 brokers are down"),
            "bootstrap_servers",
            ["nothing listens on k1:9099"],
        ),
        (
            PLAIN,
            failed("_RESOLVE: k9:9092/bootstrap: Failed to resolve 'k9:9092': Name or service"),
            "bootstrap_servers",
            ["cannot resolve k9:9092"],
        ),
        (
            SASL,
            failed(SASL_ON_PLAIN, "_ALL_BROKERS_DOWN: 0/2 brokers are down"),
            "kafka.security_protocol",
            ["is SASL_PLAINTEXT", "k1:9092 is not a SASL listener"],
        ),
        (
            SASL,
            failed(
                "_AUTHENTICATION: sasl_plaintext://k1:9092/bootstrap: SASL authentication "
                "error: Authentication failed during authentication due to invalid "
                "credentials with SASL mechanism SCRAM-SHA-512 (after 3ms in state AUTH_REQ)"
            ),
            "kafka.sasl_username",
            ["k1:9092 refused the login of 'bot'", "invalid credentials"],
        ),
        (
            SASL,
            failed(
                "_AUTHENTICATION: sasl_plaintext://k1:9092/bootstrap: SASL SCRAM-SHA-512 "
                "mechanism handshake failed: Broker: Unsupported SASL mechanism: broker's "
                "supported mechanisms: PLAIN"
            ),
            "kafka.sasl_mechanism",
            ["SCRAM-SHA-512 is not enabled on k1:9092; it offers PLAIN"],
        ),
        (SSL, failed(SSL_ON_PLAIN), "kafka.security_protocol", ["k1:9092 is a PLAINTEXT"]),
        (
            SSL,
            failed(
                "_SSL: ssl://k1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL "
                "routines::certificate verify failed: broker certificate could not be verified"
            ),
            "kafka.ssl_ca_location",
            ["certificate of k1:9093 is not trusted"],
        ),
        (
            PLAIN,
            failed(
                "_TRANSPORT: k1:9093/bootstrap: Disconnected while requesting ApiVersion: "
                "might be caused by incorrect security.protocol configuration (connecting to "
                "a SSL listener?) or broker version is < 0.10"
            ),
            "kafka.security_protocol",
            ["k1:9093 closed the connection at once", "expects SSL or SASL"],
        ),
        (
            PLAIN,
            failed(
                exception='KafkaError{code=_UNSUPPORTED_FEATURE,val=-165,str="Failed to get '
                'metadata: Local: Required feature not supported by broker"}'
            ),
            "bootstrap_servers",
            ["not as a broker (a KRaft controller listener?)"],
        ),
        (
            PLAIN,
            failed(
                "_BAD_MSG: k1:22/bootstrap: Receive failed: Invalid response size 1397966893 "
                "(0..100000000): increase receive.message.max.bytes"
            ),
            "bootstrap_servers",
            ["k1:22 answers, but not in Kafka's protocol", "it began with 'SSH-'"],
        ),
        (PLAIN, failed(timed_out=True), "bootstrap_servers", ["no answer from k1:9092,k2:9092"]),
        (
            PLAIN,
            failed("_TRANSPORT: k1:9092/bootstrap: Connection timed out (after 10001ms)"),
            "bootstrap_servers",
            ["no answer from k1:9092 within 10 s", "firewalls"],
        ),
        (
            SSL,
            failed("_TRANSPORT: ssl://k1:9092/bootstrap: Disconnected (after 2ms in state UP)"),
            "kafka.security_protocol",
            ["is SSL but k1:9092 closed every connection"],
        ),
        # The first rule that recognizes the failure answers: refused before disconnected.
        (
            PLAIN,
            failed(REFUSED, "_TRANSPORT: k2:9092/bootstrap: Disconnected (after 2ms in state UP)"),
            "bootstrap_servers",
            ["nothing listens on k1:9099"],
        ),
        (
            PLAIN,
            failed("_ALL_BROKERS_DOWN: 2/2 brokers are down"),
            "bootstrap_servers",
            ["did not answer a metadata request within 10 s (_ALL_BROKERS_DOWN: 2/2 brokers"],
        ),
    ],
)
def test_bootstrap_probe_is_classified(
    kafka: KafkaClientSettings,
    result: ProbeResult,
    subject: str | None,
    words: list[str],
) -> None:
    problem = bootstrap_problem(kafka, "k1:9092,k2:9092", result, [1, 2], timeout=10)
    if subject is None:
        assert problem is None
        return
    assert problem is not None
    assert problem.subject == subject
    for word in words:
        assert word in problem.detail, problem.detail


def test_a_crashed_probe_says_so() -> None:
    result = ProbeResult(ok=False, seconds=1, crashed="the admin client process was killed")
    problem = bootstrap_problem(PLAIN, "k1:9092", result, [1], timeout=10)
    assert problem is not None and "was killed" in problem.detail


# --------------------------------------------------------------------------- the transport


def _socket_error(kind: str) -> Exception:
    return {
        "refused": paramiko.ssh_exception.NoValidConnectionsError(
            {("10.0.0.2", 2222): ConnectionRefusedError()}
        ),
        "dns": socket.gaierror(-2, "Name or service not known"),
        "timeout": TimeoutError("timed out"),
    }[kind]


@pytest.mark.parametrize(
    ("make", "kind", "words"),
    [
        (
            lambda: paramiko.SSHException("Server '[k2]:2222' not found in known_hosts"),
            "HostKeyError",
            ["node 2 (k2:2222): host key is not in /keys/kh", "ssh-keyscan -p 2222 k2 >> /keys/kh"],
        ),
        (
            lambda: paramiko.BadHostKeyException("k2", _key(), _key()),
            "HostKeyError",
            ["does not match the entry in known_hosts /keys/kh", "ssh-keygen -R '[k2]:2222'"],
        ),
        (
            lambda: paramiko.AuthenticationException("Authentication failed."),
            "LoginError",
            ["SSH login as 'kafka' with the key /keys/id was refused"],
        ),
        (
            lambda: paramiko.AuthenticationException("Authentication timeout."),
            "TransientRemoteError",
            ["the SSH login timed out"],
        ),
        (
            lambda: FileNotFoundError(2, "No such file or directory", "/keys/id"),
            "LoginError",
            ["cannot read /keys/id: No such file or directory"],
        ),
        (
            lambda: paramiko.SSHException("Error reading SSH protocol banner"),
            "TransientRemoteError",
            ["no SSH session came up within 10 s: check the SSH port"],
        ),
        (lambda: _socket_error("refused"), "TransientRemoteError", ["nothing accepts SSH"]),
        (lambda: _socket_error("dns"), "TransientRemoteError", ["host name k2 does not resolve"]),
        (lambda: _socket_error("timeout"), "TransientRemoteError", ["no SSH answer within 10 s"]),
    ],
)
def test_ssh_errors_are_translated_with_the_fix(make: Any, kind: str, words: list[str]) -> None:
    inv = inventory(
        ssh={"user": "kafka", "port": 2222, "key_file": "/keys/id", "known_hosts": "/keys/kh"}
    )
    error = FabricRemote(inv)._translate(inv.nodes[1], make())
    assert type(error).__name__ == kind
    for word in words:
        assert word in str(error), str(error)


def test_an_unreadable_known_hosts_is_a_host_key_error(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("k1 ssh-ed25519 AAAA!!not-base64\n")  # paramiko's InvalidHostKey
    inv = inventory(ssh={"user": "kafka", "known_hosts": str(known_hosts)})
    with pytest.raises(HostKeyError, match="cannot read known_hosts .*: fix the file"):
        FabricRemote(inv).run(inv.nodes[0], "true")


class _Key:
    """Stands in for a host key (only its text is ever shown)."""

    def get_base64(self) -> str:
        return "AAAAC3NzaC1lZDI1NTE5AAAAIFake"


def _key() -> Any:
    return _Key()
