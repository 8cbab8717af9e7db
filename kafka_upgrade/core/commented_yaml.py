"""YAML text with a comment on the lines an importer had to assume.

PyYAML writes no comments, so the block layout is written here and every value
through ``yaml.safe_dump`` (quoting stays PyYAML's): the text loads back with
``yaml.safe_load`` to exactly the data it was made from. A note's path names a
value (``("nodes", 0, "id")``); a note on a list item goes on a line above it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

Path = tuple[str | int, ...]


def render(data: Mapping[str, Any], notes: Mapping[Path, str], header: Sequence[str] = ()) -> str:
    """``data`` as block YAML, ``header`` as comment lines on top, ``notes`` as comments."""
    lines = [f"# {_one_line(line)}".rstrip() for line in header]
    lines.extend(_mapping(data, (), 0, notes))
    return "\n".join(lines) + "\n"


def _mapping(data: Mapping[str, Any], path: Path, indent: int, notes: Mapping[Path, str]):
    pad = " " * indent
    for key, value in data.items():
        here = (*path, key)
        comment = _comment(notes.get(here))
        if isinstance(value, Mapping) and value:
            yield f"{pad}{_flow(key)}:{comment}"
            yield from _mapping(value, here, indent + 2, notes)
        elif _is_block_list(value):
            yield f"{pad}{_flow(key)}:{comment}"
            yield from _items(value, here, indent + 2, notes)
        else:
            yield f"{pad}{_flow(key)}: {_flow(value)}{comment}"


def _items(items: Sequence[Mapping[str, Any]], path: Path, indent: int, notes):
    pad = " " * indent
    for index, item in enumerate(items):
        note = notes.get((*path, index))
        if note:
            yield f"{pad}# {_one_line(note)}"
        body = list(_mapping(item, (*path, index), indent + 2, notes))
        yield f"{pad}- {body[0].lstrip()}"
        yield from body[1:]


def _is_block_list(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) and v for v in value)
    )


def _flow(value: Any) -> str:
    """One value on one line, as PyYAML writes it (quoted when it must be)."""
    text = yaml.safe_dump([value], default_flow_style=True, width=1_000_000)
    return text.strip()[1:-1]


def _comment(note: str | None) -> str:
    return f"  # {_one_line(note)}" if note else ""


def _one_line(note: str) -> str:
    return " ".join(note.split())
