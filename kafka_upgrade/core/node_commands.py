"""Shell commands run on a Kafka node, and parsers for what they print.

Every command is built here, in pure functions, with every value quoted, so
the tasks that run them stay thin and the command lines are unit-tested.

The running process is identified by its server.properties path on its
command line (so several nodes may share one machine, as in the sandbox), and
its version is read from the Kafka jar the JVM holds open, i.e. what the
running process really loaded, not what the symlink says now.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.service_commands import start_command, stop_command

_JAR = re.compile(r"kafka_2\.1[23]-(\d+\.\d+\.\d+)\.jar")
_MAIN_CLASS = {"kafka": r"kafka\.Kafka", "zookeeper": r"org\.apache\.zookeeper\.server\.quorum"}


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    version: str | None


@dataclass(frozen=True)
class NodeState:
    """What a probe saw on a node: the process (if any) and the ``current`` link target."""

    process: ProcessInfo | None
    link_version: str | None

    @property
    def running(self) -> bool:
        return self.process is not None


def probe_command(node: Node) -> str:
    """Print ``pid=<pid> jar=<jar>`` per matching JVM and ``link=<target>``."""
    return find_process_script(str(node.config_path), "kafka", node.access.kafka_sh()) + (
        f"; printf 'link=%s\\n' \"$(readlink {shlex.quote(str(node.link))} || true)\""
    )


def find_process_script(config_path: str, kind: str = "kafka", as_owner: str = "") -> str:
    """``as_owner``: the prefix that reads another user's ``/proc/PID/fd`` (sudo -u kafka)."""
    cfg = shlex.quote(config_path)
    pattern = shlex.quote(_MAIN_CLASS[kind])
    return (
        f"for pid in $(pgrep -f {pattern} || true); do "
        f"if tr '\\0' '\\n' < /proc/$pid/cmdline 2>/dev/null | grep -qxF -- {cfg}; then "
        f"jar=$({as_owner}ls -l /proc/$pid/fd 2>/dev/null "
        "| grep -o 'kafka_2\\.1[23]-[0-9][0-9.]*\\.jar' | head -n 1); "
        'printf \'pid=%s jar=%s\\n\' "$pid" "$jar"; fi; done'
    )


def parse_probe(stdout: str) -> NodeState:
    process: ProcessInfo | None = None
    link_version: str | None = None
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("pid="):
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            match = _JAR.search(fields.get("jar", ""))
            process = ProcessInfo(pid=int(fields["pid"]), version=match.group(1) if match else None)
        elif line.startswith("link="):
            target = line[len("link=") :]
            match = re.search(r"kafka_2\.1[23]-(\d+\.\d+\.\d+)", target)
            link_version = match.group(1) if match else None
    return NodeState(process=process, link_version=link_version)


STOPPING = "#kafka-upgrade:stopping"


def probe_and_stop_command(node: Node) -> str:
    """The probe, then (only when it found the node's process) ``STOPPING`` and the stop
    command: one SSH round trip where a probe and a stop took two."""
    return (
        f"probe=$({probe_command(node)}); printf '%s\\n' \"$probe\"; "
        f'case "$probe" in *pid=*) echo {shlex.quote(STOPPING)}; {stop_command(node)};; esac'
    )


def split_probe_and_stop(stdout: str) -> tuple[NodeState, bool]:
    """What ``probe_and_stop_command`` saw, and whether it asked for the stop."""
    head, marker, _ = stdout.partition(STOPPING + "\n")
    return parse_probe(head), bool(marker)


def pid_alive_command(pid: int) -> str:
    """'alive' or 'gone'; a zombie (exited, not yet reaped by its parent) counts as gone."""
    return (
        f"s=$(sed 's/.*) //' /proc/{int(pid)}/stat 2>/dev/null | cut -c1); "
        'if [ -n "$s" ] && [ "$s" != Z ]; then echo alive; else echo gone; fi'
    )


def switch_binary_command(node: Node, version: str) -> str:
    """Point ``current`` at a pre-staged version directory, atomically (rename over)."""
    target = node.version_dir(version)
    link = node.link
    tmp = link.with_name(link.name + ".kafka-upgrade-tmp")
    t, lk, tp = (shlex.quote(str(p)) for p in (target, link, tmp))
    r = node.access.root_sh()
    return (
        f"{r}test -x {t}/bin/kafka-server-start.sh || "
        f"{{ echo 'version directory {target} is not staged on this host' >&2; exit 3; }}; "
        f"{r}ln -sfn {t} {tp} && {r}mv -Tf {tp} {lk}"
    )


def staged_command(node: Node, version: str) -> str:
    path = shlex.quote(str(node.version_dir(version)))
    r = node.access.root_sh()
    return f"{r}test -x {path}/bin/kafka-server-start.sh && echo staged || echo missing"


def backup_path(node: Node, phase: str, binary: str) -> str:
    """This upgrade's copy of server.properties for one phase: one per node, phase and target
    version (a re-run keeps the first one; a new run of the same upgrade reuses it)."""
    return f"{node.config_path}.kafka-upgrade-{binary}-{phase}.bak"


def backup_exists_command(node: Node, binary: str) -> str:
    """'yes' when any phase of the upgrade to ``binary`` left a backup on this node."""
    pattern = f"{node.config_path}.kafka-upgrade-{binary}-"
    r = node.access.root_sh()
    return (
        f'for f in {shlex.quote(pattern)}*.bak; do {r}test -e "$f" && echo yes && break; done; true'
    )


_CONFIG_BEGIN = "#kafka-upgrade:config-begin"
_CONFIG_END = "#kafka-upgrade:config-end"


@dataclass(frozen=True)
class NodeLook:
    """One look at a node over one SSH round trip: its process and link, its
    server.properties (None: unreadable), whether this upgrade's backup exists, and whether
    the target's version directory is staged."""

    state: NodeState
    props_text: str | None
    backup_exists: bool
    staged: bool


def look_command(node: Node, binary: str) -> str:
    """Everything the roll decides a node on, in one command: the probe, then
    server.properties between markers, then ``backup=yes|no`` and ``staged=yes|no`` for
    ``binary``."""
    config = shlex.quote(str(node.config_path))
    pattern = shlex.quote(f"{node.config_path}.kafka-upgrade-{binary}-")
    version_dir = shlex.quote(str(node.version_dir(binary)))
    r = node.access.root_sh()
    return (
        probe_command(node)
        + f"; echo {shlex.quote(_CONFIG_BEGIN)}; {r}cat {config} 2>/dev/null"
        + f" && {{ echo; echo {shlex.quote(_CONFIG_END)}; }}"
        + f'; b=no; for f in {pattern}*.bak; do {r}test -e "$f" && b=yes && break; done'
        + '; echo "backup=$b"'
        + f"; if {r}test -x {version_dir}/bin/kafka-server-start.sh; then echo staged=yes;"
        + " else echo staged=no; fi"
    )


def parse_look(stdout: str) -> NodeLook:
    """Read ``look_command``'s output. The config sits between markers, so a property line
    can never be taken for a probe line (``link=...``) or the other way round."""
    head, found, rest = stdout.partition(_CONFIG_BEGIN + "\n")
    if not found:
        raise ValueError("the node's answer has no server.properties section")
    body, closed, tail = rest.partition("\n" + _CONFIG_END + "\n")
    if not closed:  # cat failed: no end marker; the flags follow straight away
        body, tail = None, rest
    flags = dict(line.strip().split("=", 1) for line in tail.splitlines() if "=" in line.strip())
    return NodeLook(
        state=parse_probe(head),
        props_text=body,
        backup_exists=flags.get("backup") == "yes",
        staged=flags.get("staged") == "yes",
    )


def backup_command(node: Node, backup: str) -> str:
    """Copy server.properties aside once: an existing backup is kept (a re-run's, the first
    copy of the config as it was); a new one is written to a side file, compared with the
    config and only then renamed into place, so a copy that fails or is cut short (a full
    disk) exits non-zero and leaves no backup behind. Prints the backup's path."""
    config = shlex.quote(str(node.config_path))
    b = shlex.quote(backup)
    part = shlex.quote(f"{backup}.part")
    r = node.access.root_sh()
    return (
        f"if ! {r}test -e {b}; then "
        f"{{ {r}cp -p {config} {part} && {r}cmp -s {config} {part} && {r}mv -f {part} {b}; }} "
        f"|| {{ {r}rm -f {part}; exit 1; }}; fi; echo {b}"
    )


def restore_backup_command(node: Node, backup: str) -> str:
    """Put the backed-up server.properties back (atomically, keeping the backup)."""
    config = shlex.quote(str(node.config_path))
    tmp = shlex.quote(f"{node.config_path}.kafka-upgrade-tmp")
    b = shlex.quote(backup)
    r = node.access.root_sh()
    return f"{r}test -e {b} && {r}cp -p {b} {tmp} && {r}mv -f {tmp} {config}"


def log_tail_command(node: Node, lines: int = 15) -> str:
    """The last lines of the node's kafkaServer.out (the JVM's own stdout and stderr) and
    server.log, each under a header."""
    log_dir = node.log_dir or node.link / "logs"
    parts = []
    k = node.access.kafka_sh()
    for name in ("kafkaServer.out", "server.log"):
        path = shlex.quote(str(log_dir / name))
        parts.append(
            f"t=$({k}tail -n {int(lines)} {path} 2>/dev/null); "
            f"if [ -n \"$t\" ]; then echo '--- {name}'; printf '%s\\n' \"$t\"; fi"
        )
    return "; ".join(parts) + "; true"


def read_config_command(node: Node) -> str:
    return f"{node.access.root_sh()}cat {shlex.quote(str(node.config_path))}"


def write_config_command(node: Node, text: str) -> str:
    """Replace server.properties with ``text`` atomically, keeping its owner, group and mode:
    written beside it (text on standard input, never on a command line), given the config's
    owner and mode, then renamed over it."""
    r = node.access.root_sh()
    config = shlex.quote(str(node.config_path))
    tmp = shlex.quote(f"{node.config_path}.kafka-upgrade-tmp")
    return (
        f"printf '%s' {shlex.quote(text)} | {r}tee {tmp} >/dev/null && "
        f"{r}chown --reference={config} {tmp} && {r}chmod --reference={config} {tmp} && "
        f"{r}mv -f {tmp} {config} || {{ {r}rm -f {tmp}; exit 1; }}"
    )


__all__ = [
    "STOPPING",
    "NodeLook",
    "NodeState",
    "ProcessInfo",
    "backup_command",
    "backup_exists_command",
    "backup_path",
    "find_process_script",
    "log_tail_command",
    "look_command",
    "parse_look",
    "parse_probe",
    "pid_alive_command",
    "probe_and_stop_command",
    "probe_command",
    "read_config_command",
    "restore_backup_command",
    "split_probe_and_stop",
    "staged_command",
    "start_command",
    "stop_command",
    "switch_binary_command",
    "write_config_command",
]
