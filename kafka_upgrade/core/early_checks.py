"""Bad input refused in seconds, before any Prefect server starts: the pure half.

``kafka-upgrade run`` / ``rollback`` / ``trigger`` ask these before they start
anything. Everything here decides from facts the caller gathered
(``kafka_upgrade.adapters.early_probes`` gathers them: file states, what SSH and the
bootstrap probe saw), so each rule is a table test.

Local (``local_problems``), in this order:

1. ``--to`` is a release version MAJOR.MINOR.PATCH; a target is chosen at all.
2. The version path (``check_upgrade_path`` with the versions the inventory
   states): no downgrade, no ZooKeeper cluster onto 4.x, one major at a time.
3. The files this machine reads: ``ssh.key_file``, ``ssh.known_hosts``
   (host keys are verified, so it must exist), the client's SSL files.
4. The Kafka client settings hang together (SASL needs a mechanism and
   credentials; SASL settings without a SASL protocol) and every bootstrap
   server is ``host:port``.

Remote (``ssh_problem``, ``node_check_problems``, ``bootstrap_problem``): one
sentence per node or address for what the quick probes saw: the SSH login
(host key, refused, silent, login), the version staged, server.properties
readable, a running node on neither the current nor the target version; and
the bootstrap servers, where librdkafka's errors tell "nothing listens on
host:port" from "that listener is not a SASL listener" or "refused the login".

Every finding is a ``Problem``: the field or node it concerns and what to do.
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kafka_upgrade.core.inventory import Inventory, KafkaClientSettings, Node
from kafka_upgrade.core.upgrade_path import check_upgrade_path, parse_version

Purpose = Literal["upgrade", "rollback"]

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER")
# Mechanisms that log in with sasl_username / sasl_password.
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class Problem:
    """One piece of bad input: ``subject`` is the field or node, ``detail`` what to do."""

    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail}"


def summarize(problems: Sequence[Problem]) -> str:
    """One message for the console: the problem itself, or a list of them."""
    if len(problems) == 1:
        return str(problems[0])
    return f"{len(problems)} problems; nothing was touched:\n" + "\n".join(
        f"  - {p}" for p in problems
    )


# --------------------------------------------------------------------------- local


def target_problems(
    inventory_target: str | None, to: str | None
) -> tuple[str | None, list[Problem]]:
    """The target version a run would use, or the problem with it."""
    if to is not None:
        try:
            parse_version(to)
        except ValueError:
            hint = ""
            if re.fullmatch(r"\d+\.\d+", to.strip()):
                hint = f" (a release, not a feature level: e.g. {to.strip()}.0)"
            return None, [
                Problem(
                    "--to",
                    f"{to!r} is not a Kafka release version: write MAJOR.MINOR.PATCH{hint}, "
                    "e.g. 4.1.1",
                )
            ]
        return to.strip(), []
    if not inventory_target:
        return None, [
            Problem(
                "target_version",
                "no target version: pass --to VERSION or set target_version in the inventory",
            )
        ]
    return inventory_target, []


def path_problems(current: str, target: str, mode: str, subject: str) -> list[Problem]:
    """The version rules of ``check_upgrade_path``, with what the inventory states."""
    verdict = check_upgrade_path(current, target, mode)  # type: ignore[arg-type]
    return [
        Problem(subject, f"upgrade {current} -> {target} refused: {reason}")
        for reason in verdict.reasons
    ]


class FileState(enum.Enum):
    OK = "ok"
    MISSING = "does not exist"
    NOT_A_FILE = "is not a regular file"
    UNREADABLE = "cannot be read by this user"


FileFacts = Callable[[Path], FileState]


def known_hosts_path(inventory: Inventory, home: Path) -> Path:
    return inventory.ssh.known_hosts or home / ".ssh" / "known_hosts"


def _keyscan_line(inventory: Inventory, known_hosts: Path) -> str:
    """The command that fetches every node's host key (to be verified, then kept)."""
    by_port: dict[int, list[str]] = {}
    for node in inventory.nodes:
        hosts = by_port.setdefault(inventory.ssh_port(node), [])
        if node.host not in hosts:
            hosts.append(node.host)
    parts = [
        f"ssh-keyscan -p {port} {' '.join(shlex.quote(h) for h in hosts)}"
        for port, hosts in sorted(by_port.items())
    ]
    target = shlex.quote(str(known_hosts))
    return "; ".join(f"{p} >> {target}" for p in parts)


def file_problems(inventory: Inventory, facts: FileFacts, home: Path) -> list[Problem]:
    """The files this machine reads before and during the run."""
    problems: list[Problem] = []
    ssh = inventory.ssh
    if ssh.key_file is not None:
        state = facts(ssh.key_file)
        if state is not FileState.OK:
            problems.append(
                Problem(
                    "ssh.key_file",
                    f"{ssh.key_file} {state.value}: point ssh.key_file at the private key "
                    "that logs in to the nodes",
                )
            )
    known_hosts = known_hosts_path(inventory, home)
    state = facts(known_hosts)
    if state is FileState.MISSING:
        problems.append(
            Problem(
                "ssh.known_hosts",
                f"{known_hosts} does not exist; host keys are verified against it, never "
                "accepted blindly. Fetch them, compare the fingerprints with the hosts', "
                f"then keep them: {_keyscan_line(inventory, known_hosts)}",
            )
        )
    elif state is not FileState.OK:
        problems.append(Problem("ssh.known_hosts", f"{known_hosts} {state.value}"))
    kafka = inventory.kafka
    for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        path: Path | None = getattr(kafka, name)
        if path is None:
            continue
        state = facts(path)
        if state is not FileState.OK:
            problems.append(Problem(f"kafka.{name}", f"{path} {state.value} on this machine"))
    return problems


def kafka_settings_problems(kafka: KafkaClientSettings) -> list[Problem]:
    """Client settings that cannot work together, whatever the cluster says."""
    problems: list[Problem] = []
    sasl = kafka.security_protocol.startswith("SASL_")
    given = [
        name
        for name in ("sasl_mechanism", "sasl_username", "sasl_password", "sasl_password_block")
        if getattr(kafka, name) is not None
    ]
    if not sasl:
        if given:
            problems.append(
                Problem(
                    "kafka.security_protocol",
                    f"is {kafka.security_protocol} but {', '.join('kafka.' + g for g in given)} "
                    "set: use SASL_PLAINTEXT or SASL_SSL for a SASL listener, or remove the "
                    "SASL settings",
                )
            )
        return problems
    mechanism = kafka.sasl_mechanism
    if mechanism is None:
        problems.append(
            Problem(
                "kafka.sasl_mechanism",
                f"security_protocol is {kafka.security_protocol} but no sasl_mechanism is set: "
                f"name the listener's mechanism ({', '.join(SASL_MECHANISMS)})",
            )
        )
        return problems
    if mechanism not in SASL_MECHANISMS:
        problems.append(
            Problem(
                "kafka.sasl_mechanism",
                f"{mechanism!r} is not a SASL mechanism Kafka clients know: use one of "
                f"{', '.join(SASL_MECHANISMS)}",
            )
        )
        return problems
    if mechanism in PASSWORD_MECHANISMS:
        if kafka.sasl_username is None:
            problems.append(
                Problem("kafka.sasl_username", f"SASL {mechanism} needs a user name: set it")
            )
        if kafka.sasl_password is None and kafka.sasl_password_block is None:
            problems.append(
                Problem(
                    "kafka.sasl_password",
                    f"SASL {mechanism} needs a password: export "
                    "KAFKA_UPGRADE_KAFKA__SASL_PASSWORD, or name a Prefect Secret block in "
                    "kafka.sasl_password_block",
                )
            )
    return problems


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]]+)):(?P<port>\d+)$")


def parse_bootstrap(servers: str) -> tuple[list[tuple[str, int]], list[Problem]]:
    """``"k1:9092,k2:9092"`` -> [(host, port)], or the entries that are not host:port."""
    parsed: list[tuple[str, int]] = []
    problems: list[Problem] = []
    entries = [e.strip() for e in servers.split(",")]
    for entry in entries:
        if not entry:
            problems.append(
                Problem("bootstrap_servers", f"{servers!r} has an empty entry: write host:port,...")
            )
            continue
        m = _HOST_PORT.match(entry.split("://", 1)[-1])
        port = int(m.group("port")) if m else 0
        if m is None or not 1 <= port <= 65535:
            problems.append(
                Problem(
                    "bootstrap_servers",
                    f"{entry!r} is not host:port (e.g. k1.example:9092, the brokers' client "
                    "listener)",
                )
            )
            continue
        parsed.append((m.group("v6") or m.group("host"), port))
    return parsed, problems


def local_problems(
    inventory: Inventory,
    to: str | None,
    purpose: Purpose,
    facts: FileFacts | None,
    home: Path,
) -> tuple[str | None, list[Problem]]:
    """Everything checkable on this machine alone: (the run's version, the problems).

    The version is the target for an upgrade, the current version for a
    rollback. ``facts`` None skips the file checks (the files live on a worker).
    Path problems are reported only when the target itself is well formed.
    """
    problems: list[Problem] = []
    version: str | None = inventory.current_version
    if purpose == "upgrade":
        version, problems = target_problems(inventory.target_version, to)
        if version is not None:
            subject = "--to" if to is not None else "target_version"
            problems += path_problems(inventory.current_version, version, inventory.mode, subject)
    if facts is not None:
        problems += file_problems(inventory, facts, home)
    problems += kafka_settings_problems(inventory.kafka)
    problems += parse_bootstrap(inventory.bootstrap_servers)[1]
    return version, problems


# --------------------------------------------------------------------------- remote


def node_subject(node: Node) -> str:
    return f"node {node.id} ({node.host})"


STAGED = "staged"
SUDOERS_HINT = "`kafka-upgrade sudoers --inventory <file>`"
CONFIG_OK = "config-ok"


def node_check_command(node: Node, version: str) -> str:
    """One SSH command: is ``version`` staged, is server.properties readable, what runs."""
    from kafka_upgrade.core.access_checks import access_check_command

    bin_dir = shlex.quote(str(node.version_dir(version) / "bin" / "kafka-server-start.sh"))
    config = shlex.quote(str(node.config_path))
    r = node.access.root_sh()
    return (
        f"if {r}test -x {bin_dir}; then echo {STAGED}; fi; "
        f"if {r}test -r {config}; then echo {CONFIG_OK}; fi; {access_check_command(node)}"
    )


def node_check_problems(
    node: Node, version: str, stdout: str, purpose: Purpose, current: str | None = None
) -> list[Problem]:
    """What ``node_check_command`` printed, as problems of that node.

    A running node must run the inventory's ``current`` version or the
    target (a re-run); a stopped one is left to preflight, which knows
    whether this upgrade stopped it.
    """
    from kafka_upgrade.core.access_checks import access_problems
    from kafka_upgrade.core.node_commands import parse_probe

    lines = {line.strip() for line in stdout.splitlines()}
    problems = [
        Problem(node_subject(node), said) for said in access_problems(node, stdout, SUDOERS_HINT)
    ]
    running = parse_probe(stdout).process
    if (
        purpose == "upgrade"
        and current is not None
        and running is not None
        and running.version is not None
        and running.version not in (current, version)
    ):
        problems.append(
            Problem(
                node_subject(node),
                f"runs Kafka {running.version} (pid {running.pid}), neither current_version "
                f"{current} nor the target {version}: set current_version to what the "
                "cluster runs",
            )
        )
    if STAGED not in lines:
        what = "the target" if purpose == "upgrade" else "the current version"
        problems.append(
            Problem(
                node_subject(node),
                f"Kafka {version} ({what}) is not staged: {node.version_dir(version)}/bin/"
                f"kafka-server-start.sh is missing; stage it with `kafka-upgrade stage "
                f"--inventory <file> --version {version}` (or unpack kafka_2.13-{version} into "
                f"{node.install_dir})",
            )
        )
    if CONFIG_OK not in lines:
        problems.append(
            Problem(
                node_subject(node),
                f"config_path {node.config_path} does not exist or cannot be read by "
                "the SSH user: point config_path at the node's server.properties",
            )
        )
    return problems


def ssh_problem(node: Node, message: str) -> Problem:
    """A failed SSH connection. ``message`` is the transport's: ``node 1 (host:port): ...``."""
    head, sep, detail = message.partition(": ")
    if sep and head.startswith(f"node {node.id} ("):
        return Problem(head, detail)
    return Problem(node_subject(node), message)


@dataclass(frozen=True)
class ProbeResult:
    """What a short-lived Kafka client saw when it tried the bootstrap servers.

    ``errors`` are librdkafka's error callbacks as ``"CODE: text"`` (e.g.
    ``"_TRANSPORT: 127.0.0.1:9099/bootstrap: Connect to ... failed: Connection
    refused"``), ``exception`` the metadata call's last failure.
    """

    ok: bool
    seconds: float
    broker_ids: tuple[int, ...] = ()
    errors: tuple[str, ...] = ()
    exception: str | None = None
    timed_out: bool = False
    crashed: str | None = None  # the probe process itself failed (its words)


_RESPONSE_SIZE = re.compile(r"Invalid response size (\d+)")
_SUPPORTED = re.compile(r"supported mechanisms: ?([A-Z0-9_, -]*)")
_ADDRESS = re.compile(r"(?:[a-z_]+://)?([^\s/]+:\d+)/")


def _addresses(texts: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for text in texts:
        m = _ADDRESS.search(text.split(": ", 1)[-1])
        if m and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def _where(texts: Iterable[str], fallback: str) -> str:
    addresses = _addresses(texts)
    return ", ".join(addresses) if addresses else fallback


_BOOTSTRAP = "bootstrap_servers"


def bootstrap_problem(
    kafka: KafkaClientSettings,
    servers: str,
    result: ProbeResult,
    broker_ids: Sequence[int],
    timeout: float,
) -> Problem | None:
    """Classify the bootstrap probe: None when the cluster answered as expected."""
    if result.ok:
        return _wrong_cluster(servers, result, broker_ids)
    if result.crashed is not None:
        return Problem(_BOOTSTRAP, f"the Kafka client probing {servers} failed: {result.crashed}")
    failure = _Failure(kafka, servers, result, timeout)
    for classify in _FAILURES:
        problem = classify(failure)
        if problem is not None:
            return problem
    return _no_metadata(failure)


def _wrong_cluster(servers: str, result: ProbeResult, broker_ids: Sequence[int]) -> Problem | None:
    """A cluster answered: is it the inventory's (do they share a broker id)?"""
    if broker_ids and result.broker_ids and not set(broker_ids) & set(result.broker_ids):
        return Problem(
            _BOOTSTRAP,
            f"{servers} answers as a cluster of brokers {sorted(result.broker_ids)}, "
            f"but the inventory's brokers are {sorted(broker_ids)}: is this the right "
            "cluster?",
        )
    return None


@dataclass(frozen=True)
class _Failure:
    """A bootstrap probe that got no metadata, with what it takes to say why."""

    kafka: KafkaClientSettings
    servers: str
    result: ProbeResult
    timeout: float

    @property
    def protocol(self) -> str:
        return self.kafka.security_protocol

    def having(self, *needles: str) -> list[str]:
        """The errors (and the exception) that mention one of ``needles``."""
        texts = [*self.result.errors, self.result.exception or ""]
        return [e for e in texts if any(n in e for n in needles)]

    def where(self, hits: Iterable[str]) -> str:
        return _where(hits, self.servers)


def _unresolved(seen: _Failure) -> Problem | None:
    if hits := seen.having("Failed to resolve", "Name or service not known"):
        return Problem(
            _BOOTSTRAP,
            f"cannot resolve {seen.where(hits)}: check the host names in bootstrap_servers",
        )
    return None


def _tls_to_plaintext(seen: _Failure) -> Problem | None:
    if hits := seen.having("connecting to a PLAINTEXT broker listener?"):
        return Problem(
            "kafka.security_protocol",
            f"is {seen.protocol} but {seen.where(hits)} is a PLAINTEXT listener (the TLS "
            "handshake was answered in plain text): use PLAINTEXT there, or the port of the "
            "cluster's SSL listener",
        )
    return None


def _authentication(seen: _Failure) -> Problem | None:
    """SASL failed: no SASL listener there, a mechanism it does not offer, or the login."""
    auth = [e for e in seen.result.errors if e.startswith("_AUTHENTICATION")]
    if not auth:
        return None
    where = seen.where(auth)
    offered = _SUPPORTED.search(auth[0])
    mechanisms = offered.group(1).strip(" ,") if offered else ""
    if "Request not valid in current SASL state" in auth[0] or (offered and not mechanisms):
        return Problem(
            "kafka.security_protocol",
            f"is {seen.protocol} but {where} is not a SASL listener (it refused the SASL "
            "handshake): use that listener's protocol (PLAINTEXT or SSL), or the port of "
            "the cluster's SASL listener",
        )
    mechanism = seen.kafka.sasl_mechanism
    if mechanisms and mechanism and mechanism not in mechanisms:
        return Problem(
            "kafka.sasl_mechanism",
            f"{mechanism} is not enabled on {where}; it offers {mechanisms}",
        )
    why = auth[0].split("failed: ", 1)[-1].split(" (after", 1)[0]
    return Problem(
        "kafka.sasl_username",
        f"{where} refused the login of {seen.kafka.sasl_username!r} ({why}): check the user "
        "and its password (KAFKA_UPGRADE_KAFKA__SASL_PASSWORD)",
    )


def _untrusted_certificate(seen: _Failure) -> Problem | None:
    if hits := seen.having("certificate verify failed", "self-signed certificate", "self signed"):
        return Problem(
            "kafka.ssl_ca_location",
            f"the certificate of {seen.where(hits)} is not trusted: point "
            "kafka.ssl_ca_location at the CA that signed the brokers' certificates",
        )
    return None


def _plaintext_to_secured(seen: _Failure) -> Problem | None:
    if hits := seen.having("connecting to a SSL listener?", "incorrect security.protocol"):
        return Problem(
            "kafka.security_protocol",
            f"is {seen.protocol} but {seen.where(hits)} closed the connection at once: it "
            "probably expects SSL or SASL; set security_protocol to the listener's protocol",
        )
    return None


def _not_a_broker(seen: _Failure) -> Problem | None:
    if "_UNSUPPORTED_FEATURE" in (seen.result.exception or ""):
        return Problem(
            _BOOTSTRAP,
            f"{seen.servers} answers, but not as a broker (a KRaft controller listener?): use the "
            "brokers' client port",
        )
    return None


def _refused(seen: _Failure) -> Problem | None:
    if refused := seen.having("Connection refused"):
        return Problem(
            _BOOTSTRAP,
            f"nothing listens on {seen.where(refused)} (connection refused): check the "
            "host and the port of the brokers' client listener",
        )
    return None


def _not_kafka(seen: _Failure) -> Problem | None:
    """Another service answered: the size Kafka read is that service's first four bytes."""
    if hits := seen.having("Invalid response size"):
        size = _RESPONSE_SIZE.search(hits[0])
        first = ""
        if size:
            raw = int(size.group(1)).to_bytes(4, "big")
            if all(32 <= b < 127 for b in raw):
                first = f", it began with {raw.decode()!r}"
        return Problem(
            _BOOTSTRAP,
            f"{seen.where(hits)} answers, but not in Kafka's protocol (another service "
            f"listens there{first}): use the brokers' client port",
        )
    return None


def _timed_out(seen: _Failure) -> Problem | None:
    if hits := seen.having("Connection timed out", "timed out"):
        return Problem(
            _BOOTSTRAP,
            f"no answer from {seen.where(hits)} within {seen.timeout:.0f} s: check the "
            "address, the port and firewalls",
        )
    if seen.result.timed_out and not seen.result.errors:
        return Problem(
            _BOOTSTRAP,
            f"no answer from {seen.servers} within {seen.timeout:.0f} s (connected, but no Kafka "
            "response): check the address, the port and firewalls",
        )
    return None


def _disconnected(seen: _Failure) -> Problem | None:
    if hits := seen.having("Disconnected"):
        return Problem(
            "kafka.security_protocol",
            f"is {seen.protocol} but {seen.where(hits)} closed every connection: check that "
            "the listener at that port uses this protocol (SASL or SSL listeners close "
            "plain connections)",
        )
    return None


def _no_metadata(seen: _Failure) -> Problem:
    """None of the above: the last thing librdkafka said."""
    errors = seen.result.errors
    last = (errors[-1] if errors else seen.result.exception) or "no answer"
    return Problem(
        _BOOTSTRAP,
        f"{seen.servers} did not answer a metadata request within {seen.timeout:.0f} s ({last})",
    )


# What a failed probe means, asked in this order; the first that recognizes it answers.
_FAILURES: tuple[Callable[[_Failure], Problem | None], ...] = (
    _unresolved,
    _tls_to_plaintext,
    _authentication,
    _untrusted_certificate,
    _plaintext_to_secured,
    _not_a_broker,
    _refused,
    _not_kafka,
    _timed_out,
    _disconnected,
)


__all__ = [
    "FileState",
    "Problem",
    "ProbeResult",
    "bootstrap_problem",
    "file_problems",
    "kafka_settings_problems",
    "local_problems",
    "node_check_command",
    "node_check_problems",
    "parse_bootstrap",
    "path_problems",
    "ssh_problem",
    "summarize",
    "target_problems",
]
