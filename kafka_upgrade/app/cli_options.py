"""Options more than one command takes, so each says the same in every ``--help``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

InventoryOption = Annotated[Path, typer.Option(help="Inventory file of the cluster.")]
TargetOption = Annotated[
    str | None,  # noqa: UP007
    typer.Option("--to", help="Target version (default: target_version in the inventory)."),
]
