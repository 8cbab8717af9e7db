"""Writes the inventory's reference (docs/inventory.md, docs/inventory.schema.json) from its
models; ``--check`` writes nothing and exits 1 when a file differs from what they generate.

    python -m kafka_upgrade.app.inventory_reference [--check]    # or: make reference
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kafka_upgrade.core.inventory_reference import reference_files

ROOT = Path(__file__).resolve().parents[2]


def stale_files(root: Path) -> list[str]:
    """The generated files under ``root`` that are missing or differ from the models."""
    return [
        name
        for name, text in reference_files().items()
        if not (root / name).is_file() or (root / name).read_text() != text
    ]


def stale_message(names: list[str]) -> str:
    return "; ".join(f"{name} is stale: run `make reference`" for name in names)


def write_files(root: Path) -> list[str]:
    """Writes every generated file under ``root``; returns those whose text changed."""
    changed = stale_files(root)
    for name, text in reference_files().items():
        if name in changed:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
    return changed


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description="Write or check the inventory reference.")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(root)
        if stale:
            print(stale_message(stale), file=sys.stderr)
            return 1
        return 0
    changed = write_files(root)
    print(f"wrote {', '.join(changed)}" if changed else "the inventory reference is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
