"""Editing server.properties without disturbing anything else in it.

Only the keys asked for change; comments, order and every other line stay as
they were, so a diff of the backup against the new file shows exactly the
upgrade's edits. Applying the same edits twice changes nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_KEY = re.compile(r"^\s*([^#!\s=:][^=:\s]*)\s*[=:\s]\s*(.*?)\s*$")


def read_properties(text: str) -> dict[str, str]:
    """The effective key/value pairs (the last occurrence of a key wins, as in Java)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#!":
            continue
        match = _KEY.match(line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def apply_properties(text: str, updates: Mapping[str, str | None]) -> str:
    """Set (or, with ``None``, remove) keys; untouched lines are kept byte for byte."""
    remaining = dict(updates)
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        match = _KEY.match(line) if stripped and stripped[0] not in "#!" else None
        if match and match.group(1) in updates:
            key = match.group(1)
            value = updates[key]
            if value is not None and key in remaining:
                out.append(f"{key}={value}")
            remaining.pop(key, None)
            continue
        out.append(line)
    additions = [f"{k}={v}" for k, v in remaining.items() if v is not None]
    if additions:
        out.append("# Set by kafka-upgrade")
        out.extend(additions)
    return "\n".join(out) + "\n"
