"""Commands run on nodes: values quoted, output parsed."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from kafka_upgrade.inventory import Node
from kafka_upgrade.node_commands import (
    parse_probe,
    start_command,
    stop_command,
    switch_binary_command,
)


def node(**kw: object) -> Node:
    base: dict = {
        "id": 2,
        "host": "10.0.0.2",
        "roles": ["broker"],
        "install_dir": "/opt/kafka dir",
        "config_path": "/etc/kafka/server.properties",
        "env": {"KAFKA_HEAP_OPTS": "-Xmx1g -Xms1g"},
    }
    base.update(kw)
    return Node(**base)


def test_start_command_quotes_every_value() -> None:
    cmd = start_command(node())
    assert shlex.split(cmd) == [
        "env",
        "KAFKA_HEAP_OPTS=-Xmx1g -Xms1g",
        "/opt/kafka dir/current/bin/kafka-server-start.sh",
        "-daemon",
        "/etc/kafka/server.properties",
    ]


def test_stop_targets_this_node_config_only() -> None:
    assert shlex.split(stop_command(node()))[-1] == "/etc/kafka/server.properties"


def test_systemd_service() -> None:
    n = node(service={"kind": "systemd", "unit": "kafka.service", "sudo": True})
    assert shlex.split(start_command(n)) == ["sudo", "-n", "systemctl", "start", "kafka.service"]
    assert "--no-block" in shlex.split(stop_command(n))


def test_parse_probe_reads_version_from_the_open_jar() -> None:
    out = "pid=4242 jar=kafka_2.13-3.9.1.jar\nlink=/opt/kafka/kafka_2.13-4.1.1\n"
    state = parse_probe(out)
    assert state.running and state.process is not None
    assert state.process.pid == 4242
    assert state.process.version == "3.9.1"
    assert state.link_version == "4.1.1"


def test_parse_probe_not_running() -> None:
    state = parse_probe("link=/opt/kafka/kafka_2.13-3.9.1\n")
    assert not state.running
    assert state.link_version == "3.9.1"


def test_switch_binary_is_atomic_and_refuses_unstaged_versions(tmp_path: Path) -> None:
    install = tmp_path / "inst all"
    (install / "kafka_2.13-3.9.1" / "bin").mkdir(parents=True)
    (install / "kafka_2.13-4.1.1" / "bin").mkdir(parents=True)
    for v in ("3.9.1", "4.1.1"):
        script = install / f"kafka_2.13-{v}" / "bin" / "kafka-server-start.sh"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    (install / "current").symlink_to("kafka_2.13-3.9.1")
    n = node(install_dir=str(install))

    done = subprocess.run(["bash", "-c", switch_binary_command(n, "4.1.1")], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert (install / "current").resolve().name == "kafka_2.13-4.1.1"

    refused = subprocess.run(
        ["bash", "-c", switch_binary_command(n, "9.9.9")], capture_output=True, text=True
    )
    assert refused.returncode == 3
    assert "not staged" in refused.stderr
    assert (install / "current").resolve().name == "kafka_2.13-4.1.1"
