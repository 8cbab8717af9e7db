"""How every ``kafka-upgrade`` command speaks: one console on stderr, one ``error:`` line
per failure, and the exit codes.

Exit codes: 0 done; 1 the run (or a command) failed; 2 bad input, refused before
anything was touched; 3 the upgrade was rejected or its approval timed out.
Rich reads ``[...]`` as markup, so every message is escaped.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` once (no markup read from the message) and exit."""
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code=code)


def refuse(message: str) -> NoReturn:
    """Bad input: nothing was touched; exit 2."""
    fail(message, EXIT_BAD_INPUT)


def say(message: str) -> None:
    """Print text as it is: brackets in it (patterns, [rule-ids]) are not markup."""
    console.print(escape(message))
