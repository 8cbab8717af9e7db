"""Runnable Apache Kafka installations in a local cache, one directory per version.

``fetch("3.9.1")`` returns ``<cache>/kafka_2.13-3.9.1/``, laid out like the
official tarball: ``libs/`` (every runtime jar), ``config/`` (log4j configs)
and ``bin/`` (the start/stop/tool scripts this project uses).

Two sources:

- Maven Central (default). A generated ``pom.xml`` depending on ``kafka_2.13``,
  ``kafka-tools`` and ``kafka-storage`` is resolved with
  ``mvn dependency:copy-dependencies``; the ``bin/`` scripts and log configs
  are generated here. Main classes moved between Kafka versions, so each script
  gets the class that actually exists in that version's jars.
- A tarball, when ``$KAFKA_UPGRADE_DIST_URL`` is set to a URL template with
  ``{version}`` (e.g. the Apache archive). It is unpacked as is, except that
  the stop scripts are replaced by ours (see below).

Our ``kafka-server-stop.sh`` / ``zookeeper-server-stop.sh`` differ from
upstream on purpose: given the config path a node was started with, they
signal only that node's JVM, so several nodes can share one host (the
sandbox). Without an argument they behave like upstream (signal all of them).

Every install is assembled in a temporary directory next to its destination
and renamed into place in one step, with a completion marker inside, so an
aborted or concurrent fetch never leaves a directory that looks usable but
is not.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.sax.saxutils import escape

from kafka_upgrade.core.errors import ToolFailed

__all__ = [
    "DEFAULT_CACHE",
    "DistError",
    "dist_dir_name",
    "fetch",
    "is_complete",
]

DEFAULT_CACHE: Path = Path(
    os.environ.get("KAFKA_UPGRADE_DIST_CACHE") or Path.home() / ".cache" / "kafka-upgrade" / "dist"
).expanduser()

URL_ENV = "KAFKA_UPGRADE_DIST_URL"
SCALA_BINARY = "2.13"
MARKER = ".kafka-upgrade-complete"
# Bumped whenever the generated bin/ scripts change: a cached install built by
# Maven with older scripts gets them rewritten on its next fetch (2: paths with
# spaces are passed as single words).
SCRIPTS_REVISION = 2

# 4.x publishes log4j-core/api but no SLF4J binding, so without this the broker
# (which logs through SLF4J 1.7) silently logs nothing.
LOG4J2_SLF4J_BINDING = ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3")
# Pinned so the resolution does not depend on which plugin version the
# installed Maven happens to default to.
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
MVN_TIMEOUT_S = 20 * 60
DOWNLOAD_TIMEOUT_S = 60

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")

SERVER_CLASS = "kafka.Kafka"
ZOOKEEPER_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

# Candidates per tool script, preferred first. Where both exist in one release
# (FeatureCommand in 3.7-3.9), the org.apache.kafka.tools one is what upstream's
# kafka-features.sh runs; the Scala one is a leftover.
TOOL_CANDIDATES: dict[str, tuple[str, ...]] = {
    "kafka-storage.sh": ("org.apache.kafka.tools.StorageTool", "kafka.tools.StorageTool"),
    "kafka-topics.sh": ("org.apache.kafka.tools.TopicCommand", "kafka.admin.TopicCommand"),
    "kafka-features.sh": ("org.apache.kafka.tools.FeatureCommand", "kafka.admin.FeatureCommand"),
    "kafka-metadata-quorum.sh": (
        "org.apache.kafka.tools.MetadataQuorumCommand",
        "kafka.admin.MetadataQuorumCommand",
    ),
    "kafka-configs.sh": ("org.apache.kafka.tools.ConfigCommand", "kafka.admin.ConfigCommand"),
    "kafka-broker-api-versions.sh": (
        "org.apache.kafka.tools.BrokerApiVersionsCommand",
        "kafka.admin.BrokerApiVersionsCommand",
    ),
    "kafka-console-producer.sh": (
        "org.apache.kafka.tools.ConsoleProducer",
        "kafka.tools.ConsoleProducer",
    ),
    "kafka-console-consumer.sh": (
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "kafka.tools.ConsoleConsumer",
    ),
    "kafka-consumer-groups.sh": (
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "kafka.admin.ConsumerGroupCommand",
    ),
    "kafka-leader-election.sh": (
        "org.apache.kafka.tools.LeaderElectionCommand",
        "kafka.admin.LeaderElectionCommand",
    ),
    "kafka-reassign-partitions.sh": (
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        "kafka.admin.ReassignPartitionsCommand",
    ),
    "kafka-get-offsets.sh": ("org.apache.kafka.tools.GetOffsetShell", "kafka.tools.GetOffsetShell"),
    "zookeeper-shell.sh": (
        "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka",
        "org.apache.zookeeper.ZooKeeperMain",
    ),
}
# Arguments upstream's script puts before the user's (`zookeeper-shell.sh HOST:PORT`
# is really `ZooKeeperMain -server HOST:PORT`).
TOOL_FIXED_ARGS: dict[str, tuple[str, ...]] = {"zookeeper-shell.sh": ("-server",)}
# The scripts the rolling upgrade and the sandbox cannot do without; the rest
# are conveniences written only when the version has them.
REQUIRED_TOOLS = frozenset(
    {"kafka-storage.sh", "kafka-topics.sh", "kafka-features.sh", "kafka-metadata-quorum.sh"}
)

# Classes whose presence tells which logging backend a version ships.
_LOG4J2_PROBE = "org.apache.logging.log4j.core.LoggerContext"
_LOG4J1_PROBE = "org.apache.log4j.PropertyConfigurator"

LOG_PATTERN = "[%d] %p %m (%c)%n"


class DistError(ToolFailed):
    """Fetching or assembling a distribution failed; the message says what to do."""


# --------------------------------------------------------------------------- pure parts


def validate_version(version: str) -> str:
    """Return ``version`` if it looks like a Kafka release (``3.7.2``), else raise."""
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise DistError(
            f"invalid Kafka version {version!r}: expected MAJOR.MINOR.PATCH such as 3.9.1 or 4.1.1"
        )
    return version


def major_of(version: str) -> int:
    return int(validate_version(version).split(".", 1)[0])


def dist_dir_name(version: str) -> str:
    """``"3.9.1"`` -> ``"kafka_2.13-3.9.1"`` (the official tarball's directory name)."""
    return f"kafka_{SCALA_BINARY}-{validate_version(version)}"


def is_complete(path: Path) -> bool:
    """True if ``path`` is a finished install (its completion marker exists)."""
    return (Path(path) / MARKER).is_file()


def render_pom(version: str) -> str:
    """The throwaway ``pom.xml`` whose runtime dependencies are a Kafka install's ``libs/``."""
    validate_version(version)
    deps = [
        ("org.apache.kafka", f"kafka_{SCALA_BINARY}", version),
        ("org.apache.kafka", "kafka-tools", version),
        ("org.apache.kafka", "kafka-storage", version),
    ]
    if major_of(version) >= 4:
        deps.append(LOG4J2_SLF4J_BINDING)
    dep_xml = "\n".join(
        "    <dependency>\n"
        f"      <groupId>{escape(g)}</groupId>\n"
        f"      <artifactId>{escape(a)}</artifactId>\n"
        f"      <version>{escape(v)}</version>\n"
        "    </dependency>"
        for g, a, v in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka-upgrade</groupId>
  <artifactId>kafka-dist-{version}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dep_xml}
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <plugin>
          <groupId>org.apache.maven.plugins</groupId>
          <artifactId>maven-dependency-plugin</artifactId>
          <version>{DEPENDENCY_PLUGIN_VERSION}</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
"""


@dataclass(frozen=True)
class Layout:
    """What to generate for one version, decided from the classes in its jars."""

    version: str
    log4j2: bool
    zookeeper: bool
    tools: Mapping[str, str] = field(default_factory=dict)  # script name -> main class


def select_layout(version: str, classes: Iterable[str]) -> Layout:
    """Pick the logging backend and each script's main class from ``classes``.

    ``classes`` are fully qualified names (``kafka.admin.TopicCommand``) found in
    the version's jars. Raises ``DistError`` naming every required class missing.
    """
    major = major_of(version)
    present = set(classes)
    missing: list[str] = []

    if SERVER_CLASS not in present:
        missing.append(f"kafka-server-start.sh ({SERVER_CLASS})")

    tools: dict[str, str] = {}
    for script, candidates in TOOL_CANDIDATES.items():
        chosen = next((c for c in candidates if c in present), None)
        if chosen is not None:
            tools[script] = chosen
        elif script in REQUIRED_TOOLS:
            missing.append(f"{script} (one of {', '.join(candidates)})")

    zookeeper = ZOOKEEPER_CLASS in present
    # 3.x clusters may still run on ZooKeeper; 4.x removed it, so no scripts there.
    if major < 4 and not zookeeper:
        missing.append(f"zookeeper-server-start.sh ({ZOOKEEPER_CLASS})")
    if major >= 4:
        zookeeper = False
        tools.pop("zookeeper-shell.sh", None)

    if _LOG4J2_PROBE in present:
        log4j2 = True
    elif _LOG4J1_PROBE in present:
        log4j2 = False
    else:
        log4j2 = False
        missing.append(f"a logging backend ({_LOG4J2_PROBE} or {_LOG4J1_PROBE})")

    if missing:
        raise DistError(
            f"Kafka {version}: the resolved jars lack classes the generated scripts need: "
            + "; ".join(missing)
            + ". This Kafka version is probably not supported by kafka_upgrade.sandbox.dist; "
            f"use a tarball instead by setting {URL_ENV}."
        )
    return Layout(version=version, log4j2=log4j2, zookeeper=zookeeper, tools=tools)


def _log4j_opt(layout: Layout, path: str) -> str:
    """The JVM option selecting the log config at ``path`` (expanded by bash).

    Always passed as one quoted word: an install path may contain spaces.
    """
    if layout.log4j2:
        return f"-Dlog4j2.configurationFile={path}"
    return f"-Dlog4j.configuration=file:{path}"


def _log_config_names(layout: Layout) -> tuple[str, str, str]:
    """(server, zookeeper, tools) log config file names for this backend."""
    if layout.log4j2:
        return "log4j2.properties", "zookeeper-log4j2.properties", "tools-log4j2.properties"
    return "log4j.properties", "zookeeper-log4j.properties", "tools-log4j.properties"


# Resolves the install dir without following symlinks, so a node's
# `current -> kafka_2.13-X` path stays the one the operator sees in `ps`.
_BASE = 'base=$(cd "$(dirname "$0")/.." && pwd)'


def _script_head(layout: Layout, usage: str, refused: str) -> str:
    """A generated script's first lines: who made it, its ``usage``, ``refused`` said
    when it gets no argument, and ``base``: the install dir."""
    return f"""#!/usr/bin/env bash
# Generated by kafka_upgrade.sandbox.dist for Kafka {layout.version}.
# Usage: {usage}
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "USAGE: {refused}" >&2
  exit 1
fi
{_BASE}
"""


def run_class_script(layout: Layout) -> str:
    tools_log = _log_config_names(layout)[2]
    head = _script_head(layout, "kafka-run-class.sh CLASS [args]", "$0 classname [opts]")
    return f"""{head}LOG_DIR="${{LOG_DIR:-$base/logs}}"
if [ -n "${{JAVA_HOME:-}}" ]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

KAFKA_HEAP_OPTS=${{KAFKA_HEAP_OPTS:--Xmx256M}}
KAFKA_JVM_PERFORMANCE_OPTS=${{KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC \
-XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
-Djava.awt.headless=true}}
# Paths stay single quoted words (an install dir may contain spaces); only the
# operator's KAFKA_*_OPTS strings are split into options, like upstream.
if [ -n "${{KAFKA_LOG4J_OPTS:-}}" ]; then
  mkdir -p "$LOG_DIR"
  log4j_arg=
elif [ -n "${{KAFKA_LOG4J_CONFIG:-}}" ]; then
  # A start script chose the server's log config.
  mkdir -p "$LOG_DIR"
  log4j_arg="{_log4j_opt(layout, "$KAFKA_LOG4J_CONFIG")}"
else
  # A tool: log WARN to stderr only.
  log4j_arg="{_log4j_opt(layout, f"$base/config/{tools_log}")}"
fi
KAFKA_JMX_OPTS=${{KAFKA_JMX_OPTS:-}}
if [ -n "${{JMX_PORT:-}}" ]; then
  KAFKA_JMX_OPTS="${{KAFKA_JMX_OPTS:--Dcom.sun.management.jmxremote \
-Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false}} \
-Dcom.sun.management.jmxremote.port=$JMX_PORT"
fi

# The option variables are word-split on purpose (like upstream); no globbing of them.
set -f
exec "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS ${{KAFKA_GC_LOG_OPTS:-}} \\
  $KAFKA_JMX_OPTS "-Dkafka.logs.dir=$LOG_DIR" ${{KAFKA_LOG4J_OPTS:-}} \\
  ${{log4j_arg:+"$log4j_arg"}} -cp "$base/libs/*" ${{KAFKA_OPTS:-}} "$@"
"""


def start_script(
    layout: Layout, *, main_class: str, log_config: str, out_name: str, heap: str, what: str
) -> str:
    usage = f"$0 [-daemon] {what}.properties [--override property=value]*"
    head = _script_head(layout, usage, usage)
    return f"""{head}export LOG_DIR="${{LOG_DIR:-$base/logs}}"
export KAFKA_HEAP_OPTS=${{KAFKA_HEAP_OPTS:-{heap}}}
# kafka-run-class.sh passes it as one word (KAFKA_LOG4J_OPTS, when set, wins).
export KAFKA_LOG4J_CONFIG="${{KAFKA_LOG4J_CONFIG:-$base/config/{log_config}}}"

if [ "$1" = "-daemon" ]; then
  shift
  mkdir -p "$LOG_DIR"
  # New session + no terminal streams: the JVM must outlive the SSH session
  # that ran this script.
  setsid nohup "$base/bin/kafka-run-class.sh" {main_class} "$@" \\
    > "$LOG_DIR/{out_name}" 2>&1 < /dev/null &
  exit 0
fi
exec "$base/bin/kafka-run-class.sh" {main_class} "$@"
"""


def stop_script(main_class: str, what: str, config: str) -> str:
    """A stop script that signals JVMs running ``main_class``.

    Without an argument: all of them (upstream behaviour). With one: only those
    whose command line has that exact argument (the config path the node was
    started with), so co-located nodes are left alone. Does not wait, like
    upstream; exits 1 if nothing matched.
    """
    return f"""#!/usr/bin/env bash
# Generated by kafka_upgrade.sandbox.dist.
# Usage: $0 [{config}]
# Unlike upstream, an argument restricts the signal to the JVM(s) started with
# exactly that argument (e.g. the config path), so several nodes can share a host.
set -uo pipefail
SIGNAL=${{SIGNAL:-TERM}}
main_class={main_class}
target=${{1:-}}

pids=()
for dir in /proc/[0-9]*; do
  pid=${{dir#/proc/}}
  # argv[0] only, read without forking: most processes are not java.
  first=
  IFS= read -r -d '' first 2>/dev/null < "$dir/cmdline" || true
  [ "${{first##*/}}" = java ] || continue
  args=$(tr '\\0' '\\n' 2>/dev/null < "$dir/cmdline") || continue
  printf '%s\\n' "$args" | grep -qxF -- "$main_class" || continue
  if [ -n "$target" ]; then
    printf '%s\\n' "$args" | grep -qxF -- "$target" || continue
  fi
  pids+=("$pid")
done

if [ ${{#pids[@]}} -eq 0 ]; then
  echo "No {what} server to stop"
  exit 1
fi
kill -s "$SIGNAL" "${{pids[@]}}"
"""


def tool_script(layout: Layout, main_class: str, fixed_args: Iterable[str] = ()) -> str:
    lead = "".join(f"{a} " for a in fixed_args)
    return f"""#!/usr/bin/env bash
# Generated by kafka_upgrade.sandbox.dist for Kafka {layout.version}.
exec "$(dirname "$0")/kafka-run-class.sh" {main_class} {lead}"$@"
"""


def render_bin(layout: Layout) -> dict[str, str]:
    """Every ``bin/`` script for ``layout``: file name -> text."""
    server_log, zk_log, _ = _log_config_names(layout)
    scripts = {
        "kafka-run-class.sh": run_class_script(layout),
        "kafka-server-start.sh": start_script(
            layout,
            main_class=SERVER_CLASS,
            log_config=server_log,
            out_name="kafkaServer.out",
            heap="-Xmx1G -Xms1G",
            what="server",
        ),
        "kafka-server-stop.sh": stop_script(SERVER_CLASS, "kafka", "server.properties"),
    }
    if layout.zookeeper:
        scripts["zookeeper-server-start.sh"] = start_script(
            layout,
            main_class=ZOOKEEPER_CLASS,
            log_config=zk_log,
            out_name="zookeeper.out",
            heap="-Xmx512M -Xms512M",
            what="zookeeper",
        )
        scripts["zookeeper-server-stop.sh"] = stop_script(
            ZOOKEEPER_CLASS, "zookeeper", "zookeeper.properties"
        )
    for script, main_class in layout.tools.items():
        scripts[script] = tool_script(layout, main_class, TOOL_FIXED_ARGS.get(script, ()))
    return scripts


def _log4j1_file_config(file_name: str) -> str:
    return f"""# Generated by kafka_upgrade.sandbox.dist.
log4j.rootLogger=INFO, stdout, fileAppender

log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern={LOG_PATTERN}

log4j.appender.fileAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.fileAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.fileAppender.File=${{kafka.logs.dir}}/{file_name}
log4j.appender.fileAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.fileAppender.layout.ConversionPattern={LOG_PATTERN}

log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.org.apache.zookeeper=INFO
log4j.logger.kafka.request.logger=WARN
"""


def _log4j2_file_config(file_name: str) -> str:
    return f"""# Generated by kafka_upgrade.sandbox.dist.
status = warn
name = kafka

appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = {LOG_PATTERN}

appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${{sys:kafka.logs.dir}}/{file_name}
appender.file.filePattern = ${{sys:kafka.logs.dir}}/{file_name}.%d{{yyyy-MM-dd-HH}}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = {LOG_PATTERN}
appender.file.policies.type = Policies
appender.file.policies.time.type = TimeBasedTriggeringPolicy

rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
rootLogger.appenderRef.file.ref = FILE

logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


_LOG4J1_TOOLS = f"""# Generated by kafka_upgrade.sandbox.dist.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern={LOG_PATTERN}
log4j.appender.stderr.Target=System.err
"""

_LOG4J2_TOOLS = f"""# Generated by kafka_upgrade.sandbox.dist.
status = warn
name = kafka-tools

appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = {LOG_PATTERN}

rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
"""


def render_config(layout: Layout) -> dict[str, str]:
    """Every ``config/`` file for ``layout``: file name -> text."""
    server_log, zk_log, tools_log = _log_config_names(layout)
    file_config = _log4j2_file_config if layout.log4j2 else _log4j1_file_config
    files = {
        server_log: file_config("server.log"),
        tools_log: _LOG4J2_TOOLS if layout.log4j2 else _LOG4J1_TOOLS,
    }
    if layout.zookeeper:
        # Its own file: a ZooKeeper sharing LOG_DIR with a broker must not
        # roll the broker's server.log.
        files[zk_log] = file_config("zookeeper.log")
    return files


def url_for(template: str, version: str) -> str:
    if "{version}" not in template:
        raise DistError(
            f"{URL_ENV}={template!r} has no {{version}} placeholder, so every version would "
            "download the same tarball; use e.g. "
            "https://archive.apache.org/dist/kafka/{version}/kafka_2.13-{version}.tgz"
        )
    return template.replace("{version}", validate_version(version))


def check_member(member: tarfile.TarInfo) -> None:
    """Reject tar members that could write outside the extraction directory."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DistError(f"unsafe path in Kafka tarball: {member.name!r}")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = name.parent if member.issym() else PurePosixPath()
        if target.is_absolute() or _escapes(base / target):
            raise DistError(f"unsafe link in Kafka tarball: {member.name!r} -> {member.linkname!r}")
    elif not (member.isfile() or member.isdir()):
        raise DistError(f"unexpected special file in Kafka tarball: {member.name!r}")


def _escapes(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


# --------------------------------------------------------------------------- I/O


def fetch(version: str, cache: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """Return ``<cache>/kafka_2.13-VERSION``, building it first if it is not complete yet.

    ``cache`` defaults to ``DEFAULT_CACHE``. The source is Maven Central unless
    ``$KAFKA_UPGRADE_DIST_URL`` is set. Raises ``DistError`` (bad version, mvn
    missing or failing, download failing, unsupported version).
    """
    name = dist_dir_name(version)
    cache = Path(cache if cache is not None else DEFAULT_CACHE).expanduser()
    dest = cache / name
    if is_complete(dest):
        if _scripts_outdated(dest):
            with _locked(cache / f".{name}.lock", log, version):
                if _scripts_outdated(dest):
                    _refresh_scripts(dest, version, log)
        return dest

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DistError(
            f"cannot create the dist cache {cache}: {exc}; "
            "pass another cache dir or set KAFKA_UPGRADE_DIST_CACHE"
        ) from exc

    with _locked(cache / f".{name}.lock", log, version):
        # Someone else may have finished it while we waited for the lock.
        if is_complete(dest):
            return dest
        _remove_stale(cache, name, dest, log)
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache))
        try:
            template = os.environ.get(URL_ENV)
            if template:
                built = _build_from_tarball(version, url_for(template, version), tmp, log)
            else:
                built = _build_from_maven(version, tmp / name, tmp, log)
            try:
                built.rename(dest)
            except OSError as exc:
                raise DistError(f"cannot move the finished install to {dest}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"Kafka {version} ready in {dest} ({time.monotonic() - started:.1f}s)")
    return dest


@contextlib.contextmanager
def _locked(lock_path: Path, log: Callable[[str], None], version: str) -> Iterator[None]:
    # Serialises fetches of one version across processes, so two sandboxes
    # starting at once run mvn once, not twice.
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process fetching Kafka {version} ({lock_path})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_stale(cache: Path, name: str, dest: Path, log: Callable[[str], None]) -> None:
    # We hold the lock, so any temp dir of this version is from a killed fetch.
    for stale in cache.glob(f".{name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if dest.exists() or dest.is_symlink():
        log(f"removing incomplete {dest} (no {MARKER})")
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        else:
            dest.unlink()


def _build_from_maven(version: str, out: Path, work: Path, log: Callable[[str], None]) -> Path:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DistError(
            "mvn not found on PATH: install Maven 3.6+ and a JDK (e.g. `apt-get install maven`), "
            f"or set {URL_ENV} to a Kafka tarball URL template such as "
            "https://archive.apache.org/dist/kafka/{version}/kafka_2.13-{version}.tgz"
        )
    pom = work / "pom.xml"
    pom.write_text(render_pom(version))
    libs = out / "libs"
    log(f"resolving Kafka {version} from Maven Central with mvn (slow only while ~/.m2 is cold)")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    code, tail = _run_captured(cmd, cwd=work, timeout=MVN_TIMEOUT_S)
    if code != 0:
        raise DistError(
            f"mvn could not resolve Kafka {version} (exit {code}). Check that {version} is a "
            "released version on Maven Central and that Maven can reach it (proxy/mirror in "
            f"~/.m2/settings.xml), or set {URL_ENV} to download a tarball instead.\n"
            "Last mvn output:\n" + "\n".join(tail)
        )
    jars = sorted(libs.glob("*.jar"))
    if not jars:
        raise DistError(
            f"mvn succeeded but copied no jars into {libs}; mvn output:\n" + "\n".join(tail)
        )

    layout = select_layout(version, _classes_in(jars))
    _write_files(out / "bin", render_bin(layout), mode=0o755)
    _write_files(out / "config", render_config(layout), mode=0o644)
    _finish(out, version, source="maven")
    return out


def _build_from_tarball(version: str, url: str, work: Path, log: Callable[[str], None]) -> Path:
    archive = work / "kafka.tgz"
    log(f"downloading Kafka {version} from {url}")
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp,
            open(archive, "wb") as fh,
        ):
            shutil.copyfileobj(resp, fh, length=1 << 20)
    except (OSError, ValueError) as exc:
        raise DistError(
            f"downloading Kafka {version} from {url} failed: {exc}. Check the URL "
            f"(from {URL_ENV}) and network access, or unset {URL_ENV} to use Maven Central."
        ) from exc

    unpacked = work / "unpacked"
    unpacked.mkdir()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                check_member(m)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(unpacked, members=members, filter="data")
            else:  # Python < 3.11.4; members were checked above
                tar.extractall(unpacked, members=members)
    except (tarfile.TarError, OSError) as exc:
        raise DistError(f"{url} is not a readable Kafka tarball: {exc}") from exc

    tops = [p for p in unpacked.iterdir() if p.is_dir()]
    if len(tops) != 1 or not (tops[0] / "bin" / "kafka-server-start.sh").is_file():
        raise DistError(
            f"{url} does not look like a Kafka release tarball (expected one top-level "
            "directory with bin/kafka-server-start.sh)"
        )
    out = tops[0]
    # Upstream's stop scripts kill every broker on the host; ours can target one.
    bin_dir = out / "bin"
    stops = {"kafka-server-stop.sh": stop_script(SERVER_CLASS, "kafka", "server.properties")}
    if (bin_dir / "zookeeper-server-stop.sh").exists():
        stops["zookeeper-server-stop.sh"] = stop_script(
            ZOOKEEPER_CLASS, "zookeeper", "zookeeper.properties"
        )
    _write_files(bin_dir, stops, mode=0o755)
    _finish(out, version, source=url)
    return out


def _finish(out: Path, version: str, source: str) -> None:
    (out / "VERSION").write_text(version + "\n")
    # Last write: its presence is what is_complete() trusts.
    (out / MARKER).write_text(_marker_text(version, source))


def _marker_text(version: str, source: str) -> str:
    scripts = f"scripts={SCRIPTS_REVISION}\n" if source == "maven" else ""
    return f"version={version}\nsource={source}\n{scripts}"


def _scripts_outdated(path: Path) -> bool:
    """A Maven-built install whose generated scripts predate ``SCRIPTS_REVISION``."""
    try:
        text = (path / MARKER).read_text()
    except OSError:
        return False
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if fields.get("source") != "maven":
        return False
    try:
        return int(fields.get("scripts", "1")) < SCRIPTS_REVISION
    except ValueError:
        return True


def _refresh_scripts(path: Path, version: str, log: Callable[[str], None]) -> None:
    """Rewrite a cached install's generated scripts, each replaced atomically.

    Nodes may run from this install: a script being read by bash keeps its
    old inode, the next start reads the new one.
    """
    layout = select_layout(version, _classes_in(sorted((path / "libs").glob("*.jar"))))
    for fname, text in render_bin(layout).items():
        _replace_file(path / "bin" / fname, text, 0o755)
    _replace_file(path / MARKER, _marker_text(version, "maven"), 0o644)
    log(f"Kafka {version}: rewrote the generated scripts in {path / 'bin'}")


def _replace_file(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def _write_files(directory: Path, files: Mapping[str, str], mode: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        path = directory / fname
        path.write_text(text)
        path.chmod(mode)


def _classes_in(jars: Iterable[Path]) -> set[str]:
    """Top-level class names in ``jars`` (reads only each jar's directory)."""
    names: set[str] = set()
    for jar in jars:
        try:
            with zipfile.ZipFile(jar) as zf:
                for entry in zf.namelist():
                    if entry.endswith(".class") and "$" not in entry:
                        names.add(entry[: -len(".class")].replace("/", "."))
        except zipfile.BadZipFile as exc:
            raise DistError(
                f"{jar} is not a valid jar ({exc}); delete it from ~/.m2/repository and retry"
            ) from exc
    return names


def _run_captured(cmd: list[str], cwd: Path, timeout: float) -> tuple[int, list[str]]:
    """Run ``cmd``; return (exit code, its last output lines).

    Captured rather than streamed: with ``-q`` Maven prints nothing on success,
    and on failure the lines belong in the DistError, not twice on the console.
    """
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = (
            exc.output
            if isinstance(exc.output, str)
            else (exc.output or b"").decode(errors="replace")
        )
        return -1, _tail(out) + [f"(killed after {timeout:.0f}s)"]
    except OSError as exc:
        raise DistError(f"cannot run {cmd[0]}: {exc}") from exc
    return proc.returncode, _tail(proc.stdout)


def _tail(output: str, n: int = 40) -> list[str]:
    # Maven 3.8 emits colour resets even in batch mode with colour off.
    lines = (_ANSI_RE.sub("", line).rstrip() for line in output.splitlines())
    return [line for line in lines if line][-n:]
