"""Shared fixtures for tests against real Kafka, real sshd and a real Prefect server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "kafka_upgrade.app.cli"]


def require_tools() -> None:
    """Fail (never skip) with a clear message when the machine lacks what these tests run."""
    missing = [
        what
        for what, ok in [
            ("java (Java 17)", shutil.which("java")),
            ("mvn (Maven, to fetch Kafka's jars)", shutil.which("mvn")),
            ("sshd (apt-get install openssh-server)", os.path.exists("/usr/sbin/sshd")),
            ("ssh-keygen", shutil.which("ssh-keygen")),
        ]
        if not ok
    ]
    if missing:
        pytest.fail("integration tests need: " + ", ".join(missing), pytrace=False)


def cli(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"kafka-upgrade {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session", autouse=True)
def sandbox_home() -> Iterator[Path]:
    """One sandbox directory per user, the same in every session, and every sandbox a
    test brings up (through the CLI too) belongs to this pytest process.

    A session that is killed cannot take its sandboxes down; the next one finds
    them here and takes down those whose owner is gone (sandboxes another live
    session owns are left alone).
    """
    from kafka_upgrade.sandbox import cluster

    home = Path(tempfile.gettempdir()) / f"kafka-upgrade-test-sandboxes-{os.getuid()}"
    os.environ["KAFKA_UPGRADE_SANDBOX_DIR"] = str(home)
    os.environ["KAFKA_UPGRADE_SANDBOX_OWNER_PID"] = str(os.getpid())
    cluster.reclaim_abandoned(log=lambda m: print(f"\n{m}"))
    yield home


def sandbox_status(name: str) -> dict:
    return json.loads(cli("sandbox", "status", "--name", name, "--json").stdout)
