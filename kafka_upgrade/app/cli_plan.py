"""``kafka-upgrade plan``: the whole upgrade as it would run, touching nothing."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kafka_upgrade.app.cli_options import InventoryOption, TargetOption

console = Console(stderr=True, soft_wrap=True)


def plan(
    inventory: InventoryOption,
    to: TargetOption = None,
    accept_unavailable: Annotated[
        list[str] | None,  # noqa: UP007
        typer.Option(help="A topic accepted to be unavailable while its brokers restart."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the path verdict, preflight findings, roll order, config diff per node and (KRaft)
    the finalize plan; changes nothing. Exit 0 when the upgrade may run, 1 when refused."""
    from flows.upgrade_plan import observe_plan
    from kafka_upgrade.core.inventory import InventoryError, load_inventory

    try:
        inv = load_inventory(inventory)
    except InventoryError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(code=2) from None
    target = to or inv.target_version
    if not target:
        console.print("[bold red]error:[/] no target version: pass --to or set target_version")
        raise typer.Exit(code=2)
    result = observe_plan(
        inv.model_copy(update={"target_version": target}), accept_unavailable or ()
    )
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        for line in result.lines():
            typer.echo(line)
    raise typer.Exit(code=0 if result.ok else 1)
