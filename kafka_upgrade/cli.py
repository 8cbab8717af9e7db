"""The ``kafka-upgrade`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kafka_upgrade import __version__

app = typer.Typer(no_args_is_help=True, help="Zero-downtime rolling upgrades of Apache Kafka.")
dist_app = typer.Typer(no_args_is_help=True, help="Kafka distributions in the local cache.")
sandbox_app = typer.Typer(
    no_args_is_help=True, help="A local, real Kafka cluster reached over SSH."
)
app.add_typer(dist_app, name="dist")
app.add_typer(sandbox_app, name="sandbox")

console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kafka-upgrade {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,  # noqa: UP007 - typer needs Optional here
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Zero-downtime rolling upgrades of Apache Kafka clusters, orchestrated by Prefect."""


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=1)


@dist_app.command("fetch")
def dist_fetch(
    version: Annotated[str, typer.Argument(help="Kafka release, e.g. 3.9.1")],
    cache: Annotated[
        Path | None,  # noqa: UP007
        typer.Option(help="Cache directory (default: $KAFKA_UPGRADE_DIST_CACHE or ~/.cache/...)"),
    ] = None,
) -> None:
    """Put a runnable Kafka VERSION into the local cache (instant when already there)."""
    from kafka_upgrade import dist

    try:
        path = dist.fetch(version, cache=cache, log=lambda m: console.print(m))
    except dist.DistError as exc:
        _fail(str(exc))
    typer.echo(str(path))


@sandbox_app.command("up")
def sandbox_up(
    name: Annotated[str, typer.Option(help="Sandbox name (lowercase, dashes).")],
    mode: Annotated[str, typer.Option(help="zk or kraft")] = "kraft",
    version: Annotated[
        str | None,  # noqa: UP007
        typer.Option(
            help="Kafka version to start on (default: the old version of the mode's pair)"
        ),
    ] = None,
    nodes: Annotated[int, typer.Option(help="Number of brokers (combined nodes in KRaft).")] = 3,
    controllers: Annotated[
        int, typer.Option(help="KRaft: separate controllers (0 = combined nodes).")
    ] = 0,
    stage: Annotated[
        list[str] | None,  # noqa: UP007
        typer.Option(help="Extra versions to pre-stage on every node (default: the pair's new)."),
    ] = None,
) -> None:
    """Start a local cluster whose nodes look like production hosts."""
    from kafka_upgrade.dist import DistError
    from kafka_upgrade.sandbox import cluster
    from kafka_upgrade.sandbox.layout import SandboxSpecError
    from kafka_upgrade.sandbox.sshd import SshdError

    if mode not in ("zk", "kraft"):
        _fail(f"--mode {mode!r}: choose 'zk' or 'kraft'")
    try:
        inventory = cluster.up(
            name,
            mode,  # type: ignore[arg-type]
            version=version,
            nodes=nodes,
            controllers=controllers,
            stage=stage,
            log=lambda m: console.print(m),
        )
    except (cluster.SandboxError, SandboxSpecError, SshdError, DistError) as exc:
        _fail(str(exc))
    typer.echo(str(cluster.sandbox_dir(name) / "inventory.yaml"))
    console.print(f"bootstrap servers: {inventory.bootstrap_servers}")


@sandbox_app.command("status")
def sandbox_status(
    name: Annotated[str, typer.Option(help="Sandbox name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the sandbox's nodes as the running processes report them."""
    from kafka_upgrade.sandbox import cluster

    try:
        info = cluster.status(name)
    except cluster.SandboxError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    print_nodes(info)


def print_nodes(info: dict) -> None:
    table = Table(title=f"sandbox {info['name']} ({info['mode']}): {info['bootstrap_servers']}")
    for column in ("id", "host", "roles", "version", "running", "pid", "current"):
        table.add_column(column)
    for n in info["nodes"]:
        table.add_row(
            str(n["id"]),
            n["host"],
            ",".join(n["roles"]),
            n["version"] or "-",
            "yes" if n["running"] else "NO",
            str(n["pid"] or "-"),
            n["current_link"] or "-",
        )
    _wide().print(table)


@sandbox_app.command("down")
def sandbox_down(
    name: Annotated[str, typer.Option(help="Sandbox name.")],
    keep_files: Annotated[bool, typer.Option(help="Keep data and logs on disk.")] = False,
) -> None:
    """Stop every node, ZooKeeper and sshd of the sandbox; leave no process behind."""
    from kafka_upgrade.sandbox import cluster

    try:
        cluster.down(name, keep_files=keep_files, log=lambda m: console.print(m))
    except cluster.SandboxError as exc:
        _fail(str(exc))


@app.command("run")
def run(
    inventory: Annotated[Path, typer.Option(help="Inventory file of the cluster.")],
    to: Annotated[
        str | None,  # noqa: UP007
        typer.Option("--to", help="Target version (default: target_version in the inventory)."),
    ] = None,
    auto_approve: Annotated[
        bool, typer.Option(help="Start each next phase without waiting for a human.")
    ] = False,
) -> None:
    """Run the full upgrade on a temporary Prefect server; non-zero exit on failure or reject."""
    from deployments.local_run import run_upgrade
    from deployments.local_server import ServerError, server_for_run
    from kafka_upgrade.inventory import InventoryError, load_inventory

    try:
        load_inventory(inventory)
    except InventoryError as exc:
        _fail(str(exc))
    try:
        with server_for_run() as server:
            console.print(f"Prefect UI: {server.ui_url}")
            outcome = run_upgrade(
                server, str(inventory.resolve()), to, auto_approve, say=lambda m: console.print(m)
            )
    except ServerError as exc:
        _fail(str(exc))
    print_upgrade(outcome.records)
    style = "green" if outcome.exit_code == 0 else "red"
    console.print(f"[{style}]{outcome.state}[/]: {outcome.message}")
    if outcome.phase_seconds:
        console.print(
            "phase times: " + ", ".join(f"{k} {v:.0f} s" for k, v in outcome.phase_seconds.items())
        )
    raise typer.Exit(code=outcome.exit_code)


def print_upgrade(records: list[dict]) -> None:
    table = Table(title="upgrade, node by node")
    for column in ("phase", "node", "action", "before", "after", "seconds", "lag b/a", "why"):
        table.add_column(column)
    for r in records:
        lag = "/".join("-" if r.get(k) is None else str(r[k]) for k in ("lag_before", "lag_after"))
        table.add_row(
            r["phase"],
            r.get("label") or str(r["node_id"]),
            r["action"],
            r.get("version_before") or "-",
            r.get("version_after") or "-",
            f"{r['seconds']:.1f}",
            lag,
            r["reason"],
        )
    _wide().print(table)


def _wide() -> Console:
    # Rich assumes 80 columns when output is not a terminal (CI logs, pipes).
    return Console() if sys.stdout.isatty() else Console(width=160)


def _register_service_commands() -> None:
    from kafka_upgrade.cli_service import register_commands

    register_commands(app)


_register_service_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
