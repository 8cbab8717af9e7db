"""Evidence: an upgrade on hosts shaped like production, from nothing staged to done.

``sandbox up --layout prod --stage none`` (KRaft, 3 nodes) builds hosts where the
SSH login is an unprivileged user with a sudoers drop-in, Kafka runs as its own
user, the install and config sit in root-owned directories (server.properties
``root:<kafka> 0640``) and a site wrapper starts and stops the nodes
(``service.kind: command``, through sudo). Then, through the command line:

1. ``kafka-upgrade stage`` puts the new version on every node (a second run only
   verifies);
2. with one sudoers line removed, ``kafka-upgrade run`` is refused before any
   restart, naming the line;
3. with the line back, ``kafka-upgrade run --auto-approve`` upgrades under an
   idempotent producer: every node on the new version, the JVMs still run as the
   Kafka user, the configs keep their owner, group and mode, nothing lost;
4. ``sandbox down`` removes the users and the sudoers file it added.
"""

from __future__ import annotations

import os
import pwd
import shutil
import time
from pathlib import Path

import pytest

from kafka_upgrade.core.inventory import load_inventory
from kafka_upgrade.core.versions import pair_for
from kafka_upgrade.sandbox.traffic import ContinuousTraffic
from tests.integration.conftest import cli, require_tools, sandbox_status

pytestmark = pytest.mark.integration

NAME = "prod-hosts"


def _jvm_owners(config_paths: list[str]) -> dict[str, str]:
    """Which user runs the JVM started with each config (read from /proc)."""
    owners = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            uid = entry.stat().st_uid
        except OSError:
            continue
        for path in config_paths:
            if path.encode() in args and b"kafka.Kafka" in args:
                owners[path] = pwd.getpwuid(uid).pw_name
    return owners


def _file_modes(paths: list[str]) -> dict[str, tuple[int, int, int]]:
    return {p: (os.stat(p).st_uid, os.stat(p).st_gid, os.stat(p).st_mode) for p in paths}


def test_stage_and_upgrade_on_production_shaped_hosts() -> None:
    require_tools()
    missing = [t for t in ("sudo", "visudo", "useradd", "runuser") if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        pytest.fail(
            f"the prod-layout sandbox needs root and {', '.join(missing) or 'sudo'} "
            "(scripts/bootstrap.sh test installs sudo)",
            pytrace=False,
        )
    pair = pair_for("kraft")
    cli("sandbox", "up", "--name", NAME, "--layout", "prod", "--stage", "none")
    try:
        _stage_refuse_and_upgrade(pair.old, pair.new)
    finally:
        status = sandbox_status(NAME)
        cli("sandbox", "down", "--name", NAME)
    users = [status["login_user"], status["kafka_user"]]
    leftover = [u for u in users if u in {p.pw_name for p in pwd.getpwall()}]
    assert not leftover, f"sandbox down left users {leftover}"
    assert not Path(status["sudoers_file"]).exists()


def _stage_refuse_and_upgrade(old: str, new: str) -> None:
    status = sandbox_status(NAME)
    assert status["layout"] == "prod"
    login, kafka, sudoers = status["login_user"], status["kafka_user"], status["sudoers_file"]
    assert login != "root" and kafka != login and Path(sudoers).is_file()
    inventory_path = status["inventory"]
    inventory = load_inventory(inventory_path)
    configs = [str(n.config_path) for n in inventory.nodes]
    assert set(_jvm_owners(configs).values()) == {kafka}
    modes_before = _file_modes(configs)
    assert all(not (mode & 0o004) for _, _, mode in modes_before.values()), "config world-readable"

    # 1. Nothing staged: the run is refused, naming the stage command.
    refused = cli("run", "--inventory", inventory_path, "--to", new, "--auto-approve", check=False)
    assert refused.returncode == 2, refused.stderr
    assert f"kafka-upgrade stage --inventory <file> --version {new}" in refused.stderr

    started = time.monotonic()
    staged = cli("stage", "--inventory", inventory_path, "--version", new)
    stage_s = time.monotonic() - started
    assert staged.stderr.count(f"staged kafka_2.13-{new}") == 3, staged.stderr
    again = cli("stage", "--inventory", inventory_path, "--version", new)
    assert again.stderr.count("already staged, verified") == 3, again.stderr
    for node in inventory.nodes:
        assert pwd.getpwuid(node.version_dir(new).stat().st_uid).pw_name == kafka

    # 2. One sudoers line gone: refused before any restart, naming the line.
    pids_before = [n["pid"] for n in sandbox_status(NAME)["nodes"]]
    full = Path(sudoers).read_text()
    line = f"{login} ALL=(root) NOPASSWD: /usr/bin/ln"
    assert line in full.splitlines()
    Path(sudoers).write_text("".join(f"{x}\n" for x in full.splitlines() if x != line))
    try:
        refused = cli(
            "run", "--inventory", inventory_path, "--to", new, "--auto-approve", check=False
        )
    finally:
        Path(sudoers).write_text(full)
    assert refused.returncode == 2, refused.stderr
    assert f"add `{line}`" in refused.stderr, refused.stderr
    assert "switching the current link" in refused.stderr
    assert [n["pid"] for n in sandbox_status(NAME)["nodes"]] == pids_before

    # 3. The upgrade, under an idempotent producer and a consumer group.
    traffic = ContinuousTraffic(inventory.bootstrap_servers, rate=200)
    traffic.start()
    started = time.monotonic()
    try:
        cli("run", "--inventory", inventory_path, "--to", new, "--auto-approve")
    finally:
        roll_s = time.monotonic() - started
        time.sleep(3)
        traffic.stop()
    report = traffic.audit()
    print(f"\n[prod layout] stage {stage_s:.1f} s for 3 nodes; {old} -> {new} run {roll_s:.0f} s")
    print("\n".join(report.lines()))
    after = sandbox_status(NAME)
    assert [n["version"] for n in after["nodes"]] == [new] * 3
    assert set(_jvm_owners(configs).values()) == {kafka}
    assert _file_modes(configs) == modes_before
    assert report.lost == 0 and report.failed == 0, report.lines()
    assert report.delivered > 0
