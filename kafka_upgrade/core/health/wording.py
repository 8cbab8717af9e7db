"""How health messages name brokers, partitions and groups, capped for large clusters.

A message names at most ``NAMED_LIMIT`` partitions or groups and ``ID_LIMIT``
broker ids (runs of consecutive ids count as one: "4-1000") and says how many
more there are ("and 997 more"); ``Reason.subjects`` keeps the full list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

_T = TypeVar("_T")

# How many partitions or groups a message names before it says "and N more".
NAMED_LIMIT = 5
# How many broker ids (or runs of consecutive ids, "4-1000") a message names.
ID_LIMIT = 10


def capped(names: Sequence[str], limit: int = NAMED_LIMIT, sep: str = ", ") -> str:
    if len(names) <= limit:
        return sep.join(names)
    return sep.join(names[:limit]) + f" and {len(names) - limit} more"


def capped_as(items: Sequence[_T], say: Callable[[_T], str], limit: int = NAMED_LIMIT) -> str:
    """``capped`` that words only the items it names (there may be 100k of them)."""
    named = ", ".join(say(i) for i in items[:limit])
    return named if len(items) <= limit else f"{named} and {len(items) - limit} more"


def id_list(ids: Iterable[int], limit: int = ID_LIMIT) -> str:
    """'3', '1, 2 and 3'; past ``limit`` ids, runs ('1-2, 4-1000') capped at ``limit`` runs."""
    ordered = sorted(set(ids))
    if not ordered:
        return "none"
    if len(ordered) == 1:
        return str(ordered[0])
    if len(ordered) <= limit:
        return ", ".join(str(i) for i in ordered[:-1]) + f" and {ordered[-1]}"
    runs: list[list[int]] = []
    for i in ordered:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:limit])
    rest = sum(b - a + 1 for a, b in runs[limit:])
    return text + (f" and {rest} more" if rest else "")


def broker_list(ids: Iterable[int]) -> str:
    """'broker 3', 'brokers 1 and 2'."""
    ordered = sorted(set(ids))
    return ("broker " if len(ordered) == 1 else "brokers ") + id_list(ordered)


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """'1 partition', '3 partitions'."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def pick(n: int, one: str, many: str) -> str:
    """The word that agrees with ``n`` things: ``pick(n, "it", "them")``."""
    return one if n == 1 else many


def isr_text(isr: Iterable[int]) -> str:
    """'[1,2]', as kafka-topics.sh prints an ISR."""
    return "[" + ",".join(str(b) for b in isr) + "]"
