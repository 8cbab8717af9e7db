"""The ``kafka-upgrade`` command line."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kafka_upgrade import __version__
from kafka_upgrade.app.cli_inventory import inventory_app
from kafka_upgrade.app.cli_options import InventoryOption, TargetOption
from kafka_upgrade.app.cli_output import console
from kafka_upgrade.app.cli_output import fail as _fail
from kafka_upgrade.app.cli_output import refuse as _refuse
from kafka_upgrade.app.cli_output import say as _say

if TYPE_CHECKING:
    from kafka_upgrade.app.local_server import PrefectServer
    from kafka_upgrade.core.inventory import Inventory
    from kafka_upgrade.core.records import StepRecord

app = typer.Typer(no_args_is_help=True, help="Zero-downtime rolling upgrades of Apache Kafka.")
dist_app = typer.Typer(no_args_is_help=True, help="Kafka distributions in the local cache.")
sandbox_app = typer.Typer(
    no_args_is_help=True, help="A local, real Kafka cluster reached over SSH."
)
app.add_typer(dist_app, name="dist")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(inventory_app, name="inventory")


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


def check_before_starting(
    inventory_path: Path,
    to: str | None,
    purpose: Literal["upgrade", "rollback"],
    *,
    remote: bool = True,
    files: bool = True,
    fit: Callable[[Inventory], str | None] = lambda inventory: None,
) -> tuple[Inventory, str]:
    """Refuse bad input before any Prefect server starts: (the inventory, the run's version).

    Local checks first (the inventory's schema, ``--to``, the version path, the
    SSH key and known_hosts files, the client settings), then, with ``remote``,
    every node over SSH and the bootstrap servers, each within
    ``ssh.connect_timeout_s``. Any problem: one ``error:`` message, exit 2.
    """
    from kafka_upgrade.adapters.early_probes import check_local, check_remote
    from kafka_upgrade.core.early_checks import summarize
    from kafka_upgrade.core.inventory import InventoryError, load_inventory

    try:
        inventory = load_inventory(inventory_path)
    except InventoryError as exc:
        _refuse(str(exc))
    unfit = fit(inventory)  # the command's own demand on the inventory (``migrate``)
    if unfit:
        _refuse(unfit)
    version, problems = check_local(inventory, to, purpose, files=files)
    if problems:
        _refuse(summarize(problems))
    assert version is not None
    if remote:
        problems = check_remote(inventory, version, purpose)
        if problems:
            _refuse(summarize(problems))
    return inventory, version


@dist_app.command("fetch")
def dist_fetch(
    version: Annotated[str, typer.Argument(help="Kafka release, e.g. 3.9.1")],
    cache: Annotated[
        Path | None,  # noqa: UP007
        typer.Option(help="Cache directory (default: $KAFKA_UPGRADE_DIST_CACHE or ~/.cache/...)"),
    ] = None,
) -> None:
    """Put a runnable Kafka VERSION into the local cache (instant when already there)."""
    from kafka_upgrade.sandbox import dist

    try:
        path = dist.fetch(version, cache=cache, log=_say)
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
    racks: Annotated[
        int,
        typer.Option(
            help="Set broker.rack on the brokers round-robin over N racks a, b, ... (0: none)."
        ),
    ] = 0,
    stage: Annotated[
        list[str] | None,  # noqa: UP007
        typer.Option(
            help="Extra versions to pre-stage on every node (default: the pair's new; "
            "'none': only the running version, for `kafka-upgrade stage`)."
        ),
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            help="plain: everything owned by you; prod: nodes like production hosts (an "
            "unprivileged SSH login with sudo, Kafka run by its own user, root-owned install "
            "and config, a service wrapper; needs root)."
        ),
    ] = "plain",
    kraft_controllers: Annotated[
        int,
        typer.Option(
            help="zk mode on 3.9.x (or with 3.9.x in --stage): lay out this many KRaft "
            "controllers (not started) and name them in the inventory's migration section, "
            "for `kafka-upgrade migrate`."
        ),
    ] = 0,
    owner_pid: Annotated[
        int | None,  # noqa: UP007
        typer.Option(
            envvar="KAFKA_UPGRADE_SANDBOX_OWNER_PID",
            help="Tie the sandbox to process PID (a CI job, a test session): once that "
            "process has ended, the next `sandbox up` of this name takes it down. "
            "Default: the sandbox stays until `sandbox down`.",
        ),
    ] = None,
) -> None:
    """Start a local cluster whose nodes look like production hosts.

    A sandbox of this name left by a process that died is taken down first.
    """
    from kafka_upgrade.app.process_id import observe
    from kafka_upgrade.core.modes import MODES
    from kafka_upgrade.sandbox import cluster, prod_hosts
    from kafka_upgrade.sandbox.dist import DistError
    from kafka_upgrade.sandbox.layout import SandboxSpecError
    from kafka_upgrade.sandbox.sshd import SshdError

    if mode not in MODES:
        _refuse(f"--mode {mode!r}: choose 'zk' or 'kraft'")
    owner = observe(owner_pid) if owner_pid is not None else None
    if owner_pid is not None and owner is None:
        _refuse(f"--owner-pid {owner_pid}: no such process is running")
    try:
        inventory = cluster.up(
            name,
            MODES[mode],
            version=version,
            nodes=nodes,
            controllers=controllers,
            racks=racks,
            stage=[] if stage == ["none"] else stage,
            log=_say,
            owner=owner,
            kraft_controllers=kraft_controllers,
            layout=layout,
        )
    except (
        cluster.SandboxError,
        SandboxSpecError,
        SshdError,
        DistError,
        prod_hosts.ProdLayoutError,
    ) as exc:
        _fail(str(exc))
    typer.echo(str(cluster.sandbox_dir(name) / "inventory.yaml"))
    _say(f"bootstrap servers: {inventory.bootstrap_servers}")


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
        cluster.down(name, keep_files=keep_files, log=_say)
    except cluster.SandboxError as exc:
        _fail(str(exc))


@app.command("run")
def run(
    inventory: InventoryOption,
    to: TargetOption = None,
    auto_approve: Annotated[
        bool, typer.Option(help="Start each next phase without waiting for a human.")
    ] = False,
    max_parallel: Annotated[
        int | None,  # noqa: UP007
        typer.Option(
            help="Restart up to N brokers at once that share no partition (controllers "
            "always alone); default: max_parallel in the inventory, else 1.",
        ),
    ] = None,
) -> None:
    """Run the full upgrade on a temporary Prefect server.

    Exit 0 when done, 1 when the run failed, 2 for bad input (refused before
    anything was touched), 3 when rejected or the approval timed out.
    """
    if max_parallel is not None and max_parallel < 1:
        _refuse(
            f"--max-parallel must be 1 or more (got {max_parallel}); 1 restarts one node at a time"
        )
    check_before_starting(inventory, to, "upgrade")
    from kafka_upgrade.app.local_run import run_upgrade

    _run_on_a_server(
        lambda server: run_upgrade(
            server,
            str(inventory.resolve()),
            to,
            auto_approve,
            say=_say,
            max_parallel=max_parallel,
        )
    )


@app.command("rollback")
def rollback(
    inventory: InventoryOption,
) -> None:
    """Put every node back on the inventory's current version (rollback-binaries), while that
    is still safe; the same guards, table and exit codes as `run`."""
    check_before_starting(inventory, None, "rollback")
    from kafka_upgrade.app.local_run import run_rollback

    _run_on_a_server(lambda server: run_rollback(server, str(inventory.resolve()), say=_say))


@app.command("migrate")
def migrate(
    inventory: Annotated[
        Path, typer.Option(help="ZooKeeper-mode inventory with a migration section.")
    ],
    auto_approve: Annotated[
        bool, typer.Option(help="Start each next phase without waiting for a human.")
    ] = False,
    stop_after: Annotated[
        str | None,  # noqa: UP007
        typer.Option(help="Stop after this phase (e.g. brokers-to-kraft)."),
    ] = None,
    revert: Annotated[
        bool,
        typer.Option(
            help="Undo the migration (any phase before finalize-controllers): back to ZooKeeper."
        ),
    ] = False,
) -> None:
    """Migrate a ZooKeeper cluster on 3.9 to KRaft (migrate-to-kraft), on a temporary
    Prefect server (or PREFECT_API_URL); the same guards, table and exit codes as `run`.

    Phases: provision-controllers, migrate-brokers, brokers-to-kraft, then (after an
    approval naming the point of no return) finalize-controllers.
    """
    from kafka_upgrade.core.requests import MIGRATION_PHASES

    if stop_after is not None and stop_after not in MIGRATION_PHASES:
        _refuse(f"--stop-after {stop_after!r}: choose one of {', '.join(MIGRATION_PHASES)}")

    def migratable(checked: Inventory) -> str | None:
        if checked.mode.uses_zookeeper and checked.migration is not None:
            return None
        return (
            f"inventory {inventory}: the migration needs a ZooKeeper-mode inventory with a "
            "'migration' section naming the KRaft controllers to add (see README, "
            "ZooKeeper -> KRaft migration)"
        )

    # The brokers on their current version, reachable and staged; the controllers are
    # checked by the flow's preflight (they have no config before the migration).
    check_before_starting(inventory, None, "rollback", fit=migratable)
    from kafka_upgrade.app.local_run import run_migration

    _run_on_a_server(
        lambda server: run_migration(
            server,
            str(inventory.resolve()),
            auto_approve,
            say=_say,
            stop_after=stop_after,
            revert=revert,
        )
    )


# How a flow run that raised BadInput reports itself (Prefect's state message).
_BAD_INPUT_STATE = "Flow run encountered an exception: BadInput: "


class _QuietBadInput(logging.Filter):
    """Keep a flow's BadInput off the console; the Prefect run log still has it all.

    The engines log the exception with its traceback, then "Finished in state
    Failed(... BadInput: ...)", for the flow (and a task that raised it); the CLI
    prints the message itself, once.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ == "BadInput":
            return False
        return "BadInput: " not in record.getMessage()


@contextlib.contextmanager
def _bad_input_quiet_on_console() -> Iterator[None]:
    """Filter the console handlers (Prefect's are on the root logger) for this run."""
    quiet = _QuietBadInput()
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def _run_on_a_server(start: Callable[[PrefectServer], Any]) -> None:
    """``start(server)`` (a run) on a temporary Prefect server, or PREFECT_API_URL's, with
    BadInput kept off the console; exit as the run ended."""
    from kafka_upgrade.app.local_server import ServerError, server_for_run

    try:
        with server_for_run() as server, _bad_input_quiet_on_console():
            console.print(f"Prefect UI: {server.ui_url}")
            outcome = start(server)
    except ServerError as exc:
        _fail(str(exc))
    _finish(outcome)


def _finish(outcome) -> None:  # noqa: ANN001 - kafka_upgrade.app.local_run.RunOutcome
    if outcome.state == "FAILED" and outcome.message.startswith(_BAD_INPUT_STATE):
        # Preflight refused inside the flow: bad input, nothing was touched.
        _refuse(outcome.message[len(_BAD_INPUT_STATE) :])
    print_upgrade(outcome.records)
    style = "green" if outcome.exit_code == 0 else "red"
    console.print(f"[{style}]{outcome.state}[/]: {escape(outcome.message)}")
    if outcome.phase_seconds:
        console.print(
            "phase times: " + ", ".join(f"{k} {v:.0f} s" for k, v in outcome.phase_seconds.items())
        )
    raise typer.Exit(code=outcome.exit_code)


def print_upgrade(records: Sequence[StepRecord]) -> None:
    table = Table(title="upgrade, node by node")
    for column in ("phase", "node", "action", "before", "after", "seconds", "lag b/a", "why"):
        table.add_column(column)
    for r in records:
        lag = "/".join("-" if v is None else str(v) for v in (r.lag_before, r.lag_after))
        cells = (
            r.phase,
            r.label or str(r.node_id),
            r.action,
            r.version_before or "-",
            r.version_after or "-",
            f"{r.seconds:.1f}",
            lag,
            r.reason,
        )
        table.add_row(*(escape(str(c)) for c in cells))  # "[rule-id] ..." is text
    _wide().print(table)


def _wide() -> Console:
    # Rich assumes 80 columns when output is not a terminal (CI logs, pipes).
    return Console() if sys.stdout.isatty() else Console(width=160)


def _register_service_commands() -> None:
    from kafka_upgrade.app import cli_hosts, cli_service
    from kafka_upgrade.app.cli_stage import stage

    cli_service.register_commands(app)
    cli_hosts.register_commands(app)
    app.command("stage")(stage)


_register_service_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
