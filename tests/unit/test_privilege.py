"""Who runs what on a node: sudo prefixes, the service kinds' exact commands, the sudoers
lines, and the access check's sentences."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kafka_upgrade.core.access_checks import access_check_command, access_problems, node_grants
from kafka_upgrade.core.inventory import Inventory, Node
from kafka_upgrade.core.node_commands import (
    backup_command,
    log_tail_command,
    look_command,
    probe_command,
    switch_binary_command,
    write_config_command,
)
from kafka_upgrade.core.privilege import Access, Grant, refused_grants, sudoers_dropin
from kafka_upgrade.core.service_commands import (
    render_template,
    start_command,
    status_command,
    stop_command,
)

WRAPPER = "/usr/local/bin/kafka-service"


def inventory(top: dict[str, Any] | None = None, **node_kw: Any) -> Inventory:
    node: dict[str, Any] = {
        "id": 1,
        "host": "k1",
        "roles": ["broker", "controller"],
        "install_dir": "/opt/kafka",
        "config_path": "/etc/kafka/server.properties",
        "env": {"KAFKA_HEAP_OPTS": "-Xmx1g"},
        **node_kw,
    }
    data: dict[str, Any] = {
        "cluster": "c",
        "mode": "kraft",
        "bootstrap_servers": "k1:9092",
        "current_version": "4.0.0",
        "ssh": {"user": "ops"},
        "nodes": [node],
    }
    if top is not None:
        data["privilege"] = top
    return Inventory(**data)


def prod_node(**kw: Any) -> Node:
    return inventory({"sudo": True, "kafka_user": "kafka"}, **kw).nodes[0]


def test_without_sudo_nothing_is_prefixed() -> None:
    n = inventory().nodes[0]
    for cmd in (backup_command(n, "/b"), look_command(n, "4.1.1"), start_command(n)):
        assert "sudo" not in cmd
    assert n.access == Access("ops", False, None)


def test_sudo_puts_file_work_under_root_and_kafka_work_under_the_kafka_user() -> None:
    n = prod_node()
    assert "sudo -n -- cp -p /etc/kafka/server.properties" in backup_command(n, "/b")
    assert "sudo -n -- ln -sfn" in switch_binary_command(n, "4.1.1")
    assert "sudo -n -- mv -Tf" in switch_binary_command(n, "4.1.1")
    assert "sudo -n -- cat /etc/kafka/server.properties" in look_command(n, "4.1.1")
    assert "sudo -n -u kafka -- ls -l /proc/$pid/fd" in probe_command(n)
    assert "sudo -n -u kafka -- tail -n 15" in log_tail_command(n)
    assert shlex.split(start_command(n)) == [
        "sudo",
        "-n",
        "-u",
        "kafka",
        "--",
        "env",
        "KAFKA_HEAP_OPTS=-Xmx1g",
        "/opt/kafka/current/bin/kafka-server-start.sh",
        "-daemon",
        "/etc/kafka/server.properties",
    ]


def test_a_node_may_override_the_privilege_settings() -> None:
    n = inventory({"sudo": True, "kafka_user": "kafka"}, privilege={"sudo": False}).nodes[0]
    assert not n.access.sudo
    assert "sudo" not in backup_command(n, "/b")


def test_the_kafka_user_that_is_the_login_needs_no_sudo_for_kafka_work() -> None:
    n = inventory({"sudo": True, "kafka_user": "ops"}).nodes[0]
    assert not n.access.separate_kafka_user
    assert "sudo -n -u" not in probe_command(n)


def test_systemd_commands_are_exact() -> None:
    n = prod_node(service={"kind": "systemd", "unit": "kafka.service"})
    assert start_command(n) == "sudo -n -- systemctl start kafka.service"
    assert stop_command(n) == "sudo -n -- systemctl stop --no-block kafka.service"
    assert status_command(n) == "systemctl is-active --quiet kafka.service"


def test_command_templates_fill_placeholders_as_single_quoted_words() -> None:
    n = prod_node(
        service={
            "kind": "command",
            "start": f"{WRAPPER} start {{id}} {{config}}",
            "stop": "supervisorctl stop 'kafka-{id}'",
            "status": f"{WRAPPER} status --user={{kafka_user}}",
        },
        config_path="/etc/kafka x/server.properties; rm -rf ~",
    )
    assert shlex.split(start_command(n)) == [
        "sudo",
        "-n",
        "--",
        WRAPPER,
        "start",
        "1",
        "/etc/kafka x/server.properties; rm -rf ~",
    ]
    assert stop_command(n) == "sudo -n -- supervisorctl stop kafka-1"
    assert status_command(n) == f"sudo -n -- {WRAPPER} status --user=kafka"


def test_render_template_keeps_a_value_inside_its_word() -> None:
    assert render_template("run {host}", {"host": "a b;c"}) == ["run", "a b;c"]


@pytest.mark.parametrize(
    ("service", "words"),
    [
        ({"kind": "command", "start": "s", "stop": "t"}, "service.status is empty"),
        ({"kind": "command", "start": "s {port}", "stop": "t", "status": "u"}, "{port}"),
        ({"kind": "command", "start": "s 'x", "stop": "t", "status": "u"}, "service.start"),
        ({"kind": "command", "start": "bin/s", "stop": "t", "status": "u"}, "absolute path"),
        ({"kind": "scripts", "start": "s"}, "are for service.kind 'command'"),
    ],
)
def test_bad_templates_are_refused_naming_the_field(service: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        inventory(service=service)
    assert words in str(err.value)


def test_grants_and_the_dropin_name_one_program_per_line() -> None:
    n = prod_node(
        service={
            "kind": "command",
            "start": f"{WRAPPER} start",
            "stop": f"{WRAPPER} stop",
            "status": f"{WRAPPER} status",
        }  # fmt: skip
    )
    needed = node_grants(n)
    text = sudoers_dropin("ops", needed)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert "ops ALL=(root) NOPASSWD: /usr/bin/cp" in lines
    assert f"ops ALL=(root) NOPASSWD: {WRAPPER}" in lines
    assert "ops ALL=(kafka) NOPASSWD: /usr/bin/ls" in lines
    assert len(lines) == len(set(lines)) == len({(g.runas, g.program) for g in needed})
    assert node_grants(inventory().nodes[0]) == []


def test_refused_grants_reads_the_check_and_counts_a_silent_one_as_refused() -> None:
    needed = [Grant("root", "cp", "x"), Grant("root", "ln", "y"), Grant("kafka", "ls", "z")]
    out = "grant=0 ok\ngrant=1 no /bin/ln\n"
    assert refused_grants(needed, out) == [(needed[1], "/bin/ln"), (needed[2], "")]


def test_access_problems_name_the_node_action_and_sudoers_line() -> None:
    n = prod_node()
    needed = node_grants(n)
    out = "\n".join(
        f"grant={i} " + ("no /usr/bin/ln" if g.program == "ln" else "ok")
        for i, g in enumerate(needed)
    )
    out += "\nconfig-dir=ok\ninstall-dir=no\npid=9 jar=\n"
    said = access_problems(n, out, "`kafka-upgrade sudoers`")
    assert said[0].startswith("sudo -n refuses ln as root for ops, needed for switching")
    assert "add `ops ALL=(root) NOPASSWD: /usr/bin/ln` to /etc/sudoers.d/kafka-upgrade" in said[0]
    assert said[1].startswith("/opt/kafka is not writable by root (sudo)")
    assert "pid 9" in said[2] and "kafka_user" in said[2]
    assert len(said) == 3


def test_access_check_command_runs_the_status_template_and_the_probe() -> None:
    n = prod_node(
        service={"kind": "command", "start": "a", "stop": "b", "status": f"{WRAPPER} st {{id}}"}
    )
    cmd = access_check_command(n)
    assert f"sudo -n -- {WRAPPER} st 1 >/dev/null 2>&1; echo status=$?" in cmd
    assert "sudo -n -l -u root -- cp" in cmd
    assert "pgrep -f" in cmd


def test_write_config_keeps_owner_group_and_mode(tmp_path: Path) -> None:
    config = tmp_path / "server.properties"
    config.write_text("a=1\n")
    os.chmod(config, 0o640)
    before = config.stat()
    n = inventory(config_path=str(config)).nodes[0]
    text = "a=2\nquote='x' $(touch pwned)\n"
    subprocess.run(["sh", "-c", write_config_command(n, text)], check=True, cwd=tmp_path)
    after = config.stat()
    assert config.read_text() == text
    assert (after.st_mode, after.st_uid, after.st_gid) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
    )
    assert not (tmp_path / "pwned").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.properties"]


def test_a_bad_kafka_user_is_refused() -> None:
    with pytest.raises(ValueError, match="kafka_user"):
        inventory({"sudo": True, "kafka_user": "-rf"})


def test_a_status_that_fails_while_kafka_runs_is_named_by_kind() -> None:
    wrapped = prod_node(service={"kind": "command", "start": "a", "stop": "b", "status": "c"})
    systemd = prod_node(service={"kind": "systemd", "unit": "kafka.service"})
    grants_ok = lambda n: "".join(f"grant={i} ok\n" for i in range(len(node_grants(n))))  # noqa: E731
    out = "status=3\npid=9 jar=kafka_2.13-4.0.0.jar\n"
    assert access_problems(wrapped, grants_ok(wrapped) + out) == [
        "service.status exited 3 while Kafka runs (pid 9): fix the template so it exits 0 for "
        "a running node (a refusal by sudo shows as a non-zero exit too)"
    ]
    said = access_problems(systemd, grants_ok(systemd) + out)
    assert len(said) == 1 and said[0].startswith("systemctl is-active kafka.service says")
    assert access_problems(wrapped, grants_ok(wrapped) + "status=3\n") == []  # not running
