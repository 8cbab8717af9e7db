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


def kafka_command(node: Node, argv: Iterable[str | Path], env: Mapping[str, str]) -> str:
    """One of Kafka's scripts or tools, run as the Kafka user when that is another user
    (``sudo -n -u <kafka_user> -- env K=V ...``), else as the login with ``env``."""
    if node.access.separate_kafka_user:
        settings = [f"{k}={v}" for k, v in env.items()]
        return quote_command([*node.access.kafka(), "env", *settings, *argv])
    return quote_command(argv, env=env)
