"""What a phase runs with, set up once: the inventory, the cluster held, the progress
tracker, an open context.

``rolling-upgrade`` and ``migrate-to-kraft`` load and validate the inventory once,
hold the cluster, start the progress tracker and hand all of it to each phase they
run (``handing``): the phase subflow runs in the parent's process and thread, and
finds what it was handed in a context variable set for that call only (no registry:
nothing is matched or found again). A phase started on its own (UI, API, CLI)
sets everything up itself (``own_scope``).

What a scope holds:

- ``inventory``: loaded and validated, the request's target and ``max_parallel``
  applied;
- ``progress``: the top-level run's tracker (None for the migration's phases);
- ``ctx``: an open ``UpgradeContext`` to use (the parent's, so the first gate of
  phase 1 carries what preflight saw), or None: the phase opens its own and closes
  it when it ends (a phase after an approval, which may have waited for hours);
- ``source``: the inventory file (the migration writes the KRaft one beside it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

from flows.cluster_lock import hold_cluster
from kafka_upgrade.core.inventory import Inventory
from tasks.context import UpgradeContext, opened
from tasks.progress import Progress, begin


@dataclass(frozen=True)
class Scope:
    inventory: Inventory
    progress: Progress | None = None
    ctx: UpgradeContext | None = None
    source: Path | None = None

    @property
    def context(self) -> UpgradeContext:
        if self.ctx is None:
            raise RuntimeError("this scope holds no open context (use phase_scope)")
        return self.ctx


_handed: ContextVar[Scope | None] = ContextVar("kafka_upgrade_handed_scope", default=None)


@contextmanager
def handing(scope: Scope) -> Iterator[Scope]:
    """Hand ``scope`` to the phases run in the body (and to nothing else)."""
    token = _handed.set(scope)
    try:
        yield scope
    finally:
        _handed.reset(token)


def handed() -> Scope | None:
    return _handed.get()


@contextmanager
def own_scope(
    inventory: Inventory,
    cluster_wait_s: float,
    ticket: str | None,
    total_steps: int | None,
    source: Path | None = None,
) -> Iterator[Scope]:
    """A run's own hold on the cluster, and (``total_steps``) its progress tracker; no
    context yet (``with_context``)."""
    with hold_cluster(inventory.cluster, cluster_wait_s, ticket):
        progress = begin(inventory.cluster, total_steps) if total_steps is not None else None
        yield Scope(inventory, progress, None, source)


@contextmanager
def with_context(scope: Scope) -> Iterator[Scope]:
    """The scope with an open context: its own when it holds one, else a new one closed at
    the end."""
    if scope.ctx is not None:
        yield scope
        return
    with opened(scope.inventory) as ctx:
        yield replace(scope, ctx=ctx)


@contextmanager
def phase_scope(
    load: Callable[[], tuple[Inventory, Path | None]],
    cluster_wait_s: float,
    ticket: str | None,
    total_steps: Callable[[Inventory], int] | None,
    check: Callable[[Inventory], None] = lambda inventory: None,
) -> Iterator[Scope]:
    """What a phase flow runs with: what its parent handed it, or its own (``load`` reads
    and validates the inventory; ``check`` refuses one the phase does not apply to, before
    anything is held)."""
    with ExitStack() as stack:
        scope = handed()
        if scope is None:
            inventory, source = load()
            check(inventory)
            steps = total_steps(inventory) if total_steps is not None else None
            scope = stack.enter_context(own_scope(inventory, cluster_wait_s, ticket, steps, source))
        else:
            check(scope.inventory)
        yield stack.enter_context(with_context(scope))
