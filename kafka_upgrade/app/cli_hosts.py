"""Commands about the hosts themselves: the sudoers drop-in the roll needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kafka_upgrade.app.cli_options import InventoryOption
from kafka_upgrade.app.cli_output import refuse as _refuse


def sudoers(
    inventory: InventoryOption,
    node: Annotated[
        int | None,  # noqa: UP007 - typer needs Optional here
        typer.Option(help="Only this node's lines (default: every node's, merged)."),
    ] = None,
) -> None:
    """Print the /etc/sudoers.d/ drop-in that lets the SSH login do what the roll needs
    (privilege.sudo: true), one program per line; install it with `visudo -cf`."""
    from kafka_upgrade.core.access_checks import node_grants
    from kafka_upgrade.core.inventory import InventoryError, load_inventory
    from kafka_upgrade.core.privilege import sudoers_dropin

    try:
        inv = load_inventory(Path(inventory))
        nodes = [inv.node(node)] if node is not None else inv.nodes
    except InventoryError as exc:
        _refuse(str(exc))
    logins = sorted({n.access.login for n in nodes})
    needed = [g for n in nodes for g in node_grants(n)]
    if not needed:
        _refuse(
            "privilege.sudo is not set for these nodes: the roll runs everything as the login "
            "and needs no sudoers lines"
        )
    for login in logins:
        mine = [g for n in nodes if n.access.login == login for g in node_grants(n)]
        typer.echo(sudoers_dropin(login, mine), nl=False)


def register_commands(app: typer.Typer) -> None:
    app.command("sudoers")(sudoers)
