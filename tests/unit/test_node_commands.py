"""Commands run on nodes: values quoted, output parsed."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kafka_upgrade.core.inventory import Node
from kafka_upgrade.core.node_commands import (
    backup_command,
    backup_exists_command,
    backup_path,
    log_tail_command,
    look_command,
    parse_look,
    parse_probe,
    probe_and_stop_command,
    restore_backup_command,
    split_probe_and_stop,
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
    assert shlex.split(start_command(n)) == [
        "sudo",
        "-n",
        "--",
        "systemctl",
        "start",
        "kafka.service",
    ]
    assert shlex.split(stop_command(n)) == [
        "sudo",
        "-n",
        "--",
        "systemctl",
        "stop",
        "--no-block",
        "kafka.service",
    ]


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


def test_backups_are_one_per_phase_and_target_and_found_by_target(tmp_path: Path) -> None:
    n = node(config_path=str(tmp_path / "my conf" / "server.properties"))
    (tmp_path / "my conf").mkdir()
    assert backup_path(n, "phase-1-binaries", "4.1.1") == (
        f"{n.config_path}.kafka-upgrade-4.1.1-phase-1-binaries.bak"
    )
    found = subprocess.run(["bash", "-c", backup_exists_command(n, "4.1.1")], capture_output=True)
    assert found.stdout.strip() == b""
    Path(backup_path(n, "phase-2-protocol", "4.1.1")).write_text("x=1\n")
    found = subprocess.run(["bash", "-c", backup_exists_command(n, "4.1.1")], capture_output=True)
    assert found.stdout.strip() == b"yes"
    other = subprocess.run(["bash", "-c", backup_exists_command(n, "3.9.1")], capture_output=True)
    assert other.stdout.strip() == b""


def test_a_backup_is_made_once_and_a_failed_copy_leaves_none(tmp_path: Path) -> None:
    n = node(config_path=str(tmp_path / "server.properties"))
    Path(n.config_path).write_text("broker.id=1\n")
    backup = str(tmp_path / "server.properties.kafka-upgrade-4.1.1-phase-1-binaries.bak")
    made = subprocess.run(["sh", "-c", backup_command(n, backup)], capture_output=True, text=True)
    assert (made.returncode, made.stdout.strip()) == (0, backup)
    assert Path(backup).read_text() == "broker.id=1\n"
    Path(n.config_path).write_text("broker.id=1\nchanged=yes\n")
    again = subprocess.run(["sh", "-c", backup_command(n, backup)], capture_output=True)
    assert again.returncode == 0 and Path(backup).read_text() == "broker.id=1\n"  # the first
    missing = node(config_path=str(tmp_path / "gone" / "server.properties"))
    other = str(tmp_path / "gone.bak")
    failed = subprocess.run(["sh", "-c", backup_command(missing, other)], capture_output=True)
    assert failed.returncode != 0
    assert not Path(other).exists() and not Path(other + ".part").exists()


def test_restore_puts_the_backup_back(tmp_path: Path) -> None:
    n = node(config_path=str(tmp_path / "server.properties"))
    Path(n.config_path).write_text("inter.broker.protocol.version=3.8\n")
    backup = tmp_path / "server.properties.kafka-upgrade-3.8.1-phase-2-protocol.bak"
    backup.write_text("inter.broker.protocol.version=3.7\n")
    subprocess.run(["bash", "-c", restore_backup_command(n, str(backup))], check=True)
    assert Path(n.config_path).read_text() == "inter.broker.protocol.version=3.7\n"
    assert backup.exists()


def test_log_tail_quotes_paths_and_labels_each_file(tmp_path: Path) -> None:
    logs = tmp_path / "log dir"
    logs.mkdir()
    (logs / "kafkaServer.out").write_text(
        "".join(f"line {i}\n" for i in range(30)) + "Error: Could not find or load main class\n"
    )
    out = subprocess.run(
        ["bash", "-c", log_tail_command(node(log_dir=str(logs)), lines=3)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [
        "--- kafkaServer.out",
        "line 28",
        "line 29",
        "Error: Could not find or load main class",
    ]


def _look(n: Node, binary: str) -> str:
    done = subprocess.run(["bash", "-c", look_command(n, binary)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_one_look_reads_link_config_backup_and_staged_from_a_real_shell(tmp_path: Path) -> None:
    install, conf = tmp_path / "inst all", tmp_path / "my conf"
    script = install / "kafka_2.13-4.1.1" / "bin" / "kafka-server-start.sh"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (install / "current").symlink_to("kafka_2.13-3.9.1")
    conf.mkdir()
    # Lines that look like the probe's own must stay config: the markers keep them apart.
    (conf / "server.properties").write_text("link=x\npid=7 jar=y\nbroker.id=2")
    n = node(install_dir=str(install), config_path=str(conf / "server.properties"))

    look = parse_look(_look(n, "4.1.1"))
    assert look.state.process is None and look.state.link_version == "3.9.1"
    assert look.props_text is not None
    assert look.props_text.splitlines() == ["link=x", "pid=7 jar=y", "broker.id=2"]
    assert (look.backup_exists, look.staged) == (False, True)

    Path(backup_path(n, "phase-1-binaries", "4.1.1")).write_text("x=1\n")
    assert parse_look(_look(n, "4.1.1")).backup_exists
    other = parse_look(_look(n, "3.9.1"))  # not staged here, no backup for it
    assert (other.backup_exists, other.staged) == (False, False)


def test_a_look_at_a_missing_config_says_unreadable_not_empty(tmp_path: Path) -> None:
    n = node(install_dir=str(tmp_path), config_path=str(tmp_path / "nope" / "server.properties"))
    look = parse_look(_look(n, "4.1.1"))
    assert look.props_text is None
    assert (look.backup_exists, look.staged) == (False, False)
    empty = tmp_path / "empty.properties"
    empty.write_text("")
    assert parse_look(_look(node(config_path=str(empty)), "4.1.1")).props_text == ""


def test_an_answer_without_the_config_section_is_refused() -> None:
    with pytest.raises(ValueError, match="server.properties section"):
        parse_look("link=/opt/kafka_2.13-3.9.1\n")


def test_probe_and_stop_stops_only_a_process_it_found(tmp_path: Path) -> None:
    conf = tmp_path / "server.properties"
    conf.write_text("broker.id=2\n")
    stop = tmp_path / "kafka_2.13-4.1.1" / "bin" / "kafka-server-stop.sh"
    stop.parent.mkdir(parents=True)
    stop.write_text('#!/bin/sh\necho "asked to stop $1"\n')
    stop.chmod(0o755)
    (tmp_path / "current").symlink_to("kafka_2.13-4.1.1")
    n = node(install_dir=str(tmp_path), config_path=str(conf), env={})

    def run() -> tuple[object, bool, str]:
        done = subprocess.run(
            ["bash", "-c", probe_and_stop_command(n)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        state, asked = split_probe_and_stop(done.stdout)
        return state, asked, done.stdout

    state, asked, out = run()  # nothing runs with this config: no stop asked
    assert state.process is None and not asked and "asked to stop" not in out

    # A process whose command line names kafka.Kafka and this config, as a broker's does.
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "kafka.Kafka", str(conf)]
    )
    try:
        state, asked, out = run()
        assert state.process is not None and state.process.pid == fake.pid
        assert asked
        assert out.rstrip().endswith(f"asked to stop {conf}")
    finally:
        fake.kill()
        fake.wait()
