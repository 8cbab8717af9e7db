"""``kafka-upgrade stage`` end to end without SSH: a fake remote runs each command through
``sh -c`` and copies the upload, so three temp directories play three nodes."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kafka_upgrade.adapters import remote as remote_module
from kafka_upgrade.adapters.remote import CommandResult
from kafka_upgrade.app.cli import app
from kafka_upgrade.core import staging
from kafka_upgrade.core.inventory import Node
from tests.unit.test_staging import V, build_tarball

ME = pwd.getpwuid(os.getuid()).pw_name


class ShellRemote:
    """Runs every command locally; ``upload`` copies the file."""

    def __init__(self, inventory: object) -> None:
        self.uploads = 0

    def run(self, node: Node, command: str, *, timeout: float | None = None) -> CommandResult:
        p = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
        return CommandResult(node.id, command, p.returncode, p.stdout, p.stderr)

    def upload(self, node: Node, local: Path, remote: str, on_bytes: Callable) -> None:
        shutil.copyfile(local, remote)
        on_bytes(local.stat().st_size, local.stat().st_size)

    def __enter__(self) -> ShellRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(inventory file, tarball) of three nodes under tmp_path."""
    monkeypatch.setattr(remote_module, "FabricRemote", ShellRemote)
    monkeypatch.setattr(staging, "upload_dir", lambda node: str(tmp_path / f"up {node.id}"))
    nodes = []
    for i in (1, 2, 3):
        (tmp_path / f"node {i}").mkdir()
        nodes.append(
            {
                "id": i,
                "host": f"k{i}",
                "roles": ["broker", "controller"],
                "install_dir": str(tmp_path / f"node {i}"),
                "config_path": "/etc/kafka/server.properties",
            }
        )
    inv = {
        "cluster": "c",
        "mode": "kraft",
        "bootstrap_servers": "k1:9092",
        "current_version": "4.0.0",
        "ssh": {"user": ME},
        "nodes": nodes,
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv))
    tgz = tmp_path / f"kafka_2.13-{V}.tgz"
    build_tarball(tgz)
    return path, tgz


def stage(inventory: Path, tgz: Path, *extra: str):  # noqa: ANN201
    args = ["stage", "--inventory", str(inventory), "--version", V, "--tarball", str(tgz)]
    return CliRunner().invoke(app, [*args, *extra])


def test_stage_then_a_second_run_only_verifies(cluster: tuple[Path, Path]) -> None:
    inventory, tgz = cluster
    first = stage(inventory, tgz)
    assert first.exit_code == 0, first.output
    assert f"node 2 (k2): staged kafka_2.13-{V} (uploaded" in first.output
    second = stage(inventory, tgz, "--json")
    assert second.exit_code == 0, second.output
    assert "node 3 (k3): already staged, verified" in second.output
    start = second.stdout.index("[")
    results = json.loads(second.stdout[start:])
    assert [r["action"] for r in results] == ["skip"] * 3


def test_one_blocked_node_fails_the_run_and_the_others_are_done(
    cluster: tuple[Path, Path],
) -> None:
    inventory, tgz = cluster
    (inventory.parent / "node 2" / f"kafka_2.13-{V}").mkdir()
    result = stage(inventory, tgz)
    assert result.exit_code == 1
    assert "node 1 (k1): staged" in result.output and "node 3 (k3): staged" in result.output
    assert "1 of 3 nodes not staged (node 2); the others are done" in result.output
    assert (inventory.parent / "node 1" / f"kafka_2.13-{V}" / staging.MARKER).is_file()


def test_a_wrong_tarball_is_refused_before_any_node_is_touched(
    cluster: tuple[Path, Path],
) -> None:
    inventory, tgz = cluster
    result = stage(inventory, tgz, "--version", "9.9.8")
    assert result.exit_code == 2
    assert "kafka_2.13-9.9.8" in result.output
    assert not (inventory.parent / "up 1").exists()
