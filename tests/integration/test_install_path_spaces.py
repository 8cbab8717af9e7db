"""The generated Kafka scripts work from an install path with a space in it.

For a 3.x (log4j 1) and a 4.x (log4j 2) layout: the scripts are generated
into ``.../kafka install/kafka_2.13-V/bin`` (the jars linked from the dist
cache), a one-node KRaft cluster whose config, data and log dirs all have
spaces is formatted with ``kafka-storage.sh``, started with
``kafka-server-start.sh -daemon``, writes its ``server.log`` through the log
config found under the spaced path, and is stopped with
``kafka-server-stop.sh CONFIG``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kafka_upgrade.core.versions import KRAFT_PAIR
from kafka_upgrade.sandbox import dist
from kafka_upgrade.sandbox.layout import SANDBOX_JVM_ENV
from tests.integration.conftest import require_tools

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _install(version: str, root: Path) -> Path:
    """Freshly generated bin/ and config/ under ``root``; libs/ linked from the cache."""
    cached = dist.fetch(version, log=lambda _m: None)
    home = root / dist.dist_dir_name(version)
    (home / "libs").parent.mkdir(parents=True)
    (home / "libs").symlink_to(cached / "libs")
    layout = dist.select_layout(version, dist._classes_in(sorted((cached / "libs").glob("*.jar"))))
    dist._write_files(home / "bin", dist.render_bin(layout), mode=0o755)
    dist._write_files(home / "config", dist.render_config(layout), mode=0o644)
    return home


def _java_with(config: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(config).encode() in args and b"kafka.Kafka" in args:
            pids.append(int(proc.name))
    return pids


@pytest.mark.parametrize("version", [KRAFT_PAIR.old, KRAFT_PAIR.new])
def test_generated_scripts_run_from_a_path_with_spaces(version: str, tmp_path: Path) -> None:
    require_tools()
    root = tmp_path / "kafka install"
    home = _install(version, root)
    config = tmp_path / "conf dir" / "server.properties"
    config.parent.mkdir()
    data, logs = tmp_path / "data dir", tmp_path / "log dir"
    port, controller = _free_port(), _free_port()
    config.write_text(
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.voters=1@127.0.0.1:{controller}\n"
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n"
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n"
        "controller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        f"log.dirs={data}\n"
        "offsets.topic.replication.factor=1\n"
        "transaction.state.log.replication.factor=1\n"
        "transaction.state.log.min.isr=1\n"
    )
    env = {**os.environ, **SANDBOX_JVM_ENV, "LOG_DIR": str(logs)}
    env.pop("KAFKA_LOG4J_OPTS", None)
    bin_dir = home / "bin"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], env=env, capture_output=True, text=True, timeout=120
        )

    uuid = run(bin_dir / "kafka-storage.sh", "random-uuid")
    assert uuid.returncode == 0, uuid.stderr
    formatted = run(bin_dir / "kafka-storage.sh", "format", "-t", uuid.stdout.strip(), "-c", config)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    started = run(bin_dir / "kafka-server-start.sh", "-daemon", config)
    assert started.returncode == 0, started.stderr
    try:
        server_log = logs / "server.log"
        began = time.monotonic()
        deadline = began + 120
        seen = False  # -daemon returns before its child has become the JVM
        while time.monotonic() < deadline:
            if server_log.exists() and "Kafka Server started" in server_log.read_text():
                break
            out = logs / "kafkaServer.out"
            running = bool(_java_with(config))
            seen = seen or running
            if not running and (seen or time.monotonic() - began > 15):
                pytest.fail(
                    f"Kafka {version}'s JVM {'exited' if seen else 'never appeared'}: "
                    + (out.read_text() if out.exists() else "no kafkaServer.out")
                )
            time.sleep(0.5)
        else:
            pytest.fail(f"Kafka {version} did not start from {home} within 120 s")
    finally:
        stopped = run(bin_dir / "kafka-server-stop.sh", config)
        deadline = time.monotonic() + 60
        while _java_with(config) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in _java_with(config):
            os.kill(pid, 9)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not _java_with(config)
