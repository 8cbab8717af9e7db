"""Shell command lines for the nodes, every value quoted."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path

from kafka_upgrade.core.inventory import Node


def quote_command(args: Iterable[str | Path], env: Mapping[str, str] | None = None) -> str:
    """Build a shell command line in which every value is quoted."""
    parts = [str(a) for a in args]
    if env:
        parts = ["env", *(f"{k}={v}" for k, v in env.items()), *parts]
    return shlex.join(parts)


def node_env(node: Node) -> dict[str, str]:
    """Environment for Kafka commands on a node (its own settings plus LOG_DIR)."""
    env = dict(node.env)
    if node.log_dir is not None:
        env.setdefault("LOG_DIR", str(node.log_dir))
    return env
