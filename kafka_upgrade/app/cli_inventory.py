"""``kafka-upgrade inventory import``: an inventory written from another tool's.

The mapping is pure (``core/ansible_import``); this reads the file, writes the
result and turns a refusal into one ``error:`` line and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from kafka_upgrade.app.cli_output import console
from kafka_upgrade.app.cli_output import refuse as _refuse

inventory_app = typer.Typer(no_args_is_help=True, help="Inventory files: import from other tools.")


@inventory_app.command("import")
def import_(
    ansible: Annotated[
        Path, typer.Option("--ansible", help="A cp-ansible inventory (hosts.yml) to import.")
    ],
    out: Annotated[
        Path | None,  # noqa: UP007
        typer.Option("--out", help="Write the inventory here (default: print it)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    cluster: Annotated[
        str | None,  # noqa: UP007
        typer.Option("--cluster", help="Cluster name (default: from the file name)."),
    ] = None,
    current_version: Annotated[
        str | None,  # noqa: UP007
        typer.Option("--current-version", help="The Apache Kafka version the nodes run."),
    ] = None,
) -> None:
    """Write a kafka-upgrade inventory from a cp-ansible hosts.yml; assumed values carry a
    '# assumed' comment, and what cannot be mapped is refused with its line."""
    from kafka_upgrade.core.ansible_import import import_cp_ansible
    from kafka_upgrade.core.ansible_inventory import AnsibleImportError

    if out is not None and out.exists() and not force:
        _refuse(f"{out} exists: pass --force to overwrite it, or choose another --out")
    try:
        text = ansible.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        _refuse(f"cannot read {ansible}: {getattr(exc, 'strerror', None) or exc}")
    try:
        imported = import_cp_ansible(
            text, source=ansible.name, cluster=cluster, current_version=current_version
        )
    except AnsibleImportError as exc:
        _refuse(str(exc))
    if out is None:
        typer.echo(imported.to_yaml(), nl=False)
        return
    out.write_text(imported.to_yaml())
    assumed = len(imported.notes)
    console.print(
        escape(f"wrote {out}: {len(imported.data['nodes'])} nodes; {assumed} notes to review")
    )
