"""One upgrade per cluster: a strict Prefect global concurrency limit named after it.

A run takes the limit ``upgrade-<cluster>`` (one slot, created on first use)
before it touches anything and keeps it for its whole life, approval pauses
included: the lease is renewed by a thread of the flow process, which lives
through ``pause_flow_run``. If that process dies, the lease expires on its own
after ``LEASE_S`` seconds.

Prefect's API does not say who holds a slot, so the holder writes itself into
the Prefect variable ``upgrade-holder-<cluster>``; a second run reads it to say
in its log which run it waits for. Phases started by ``rolling-upgrade`` are
handed its hold (``flows/scope.py``) and never ask for the limit themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.context import get_run_context
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.variables import Variable

from kafka_upgrade.core.errors import ClusterBusy

LEASE_S = 300.0  # a crashed holder's slot frees itself after this long
_SLICE_S = 10.0  # how often a waiting run says again whom it waits for


def limit_name(cluster: str) -> str:
    return f"upgrade-{cluster}"


def holder_variable(cluster: str) -> str:
    return f"upgrade-holder-{cluster}"


def ensure_limit(cluster: str) -> None:
    """Create the cluster's one-slot limit if it does not exist yet (races are fine)."""
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )

    name = limit_name(cluster)
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
            except ObjectAlreadyExists:
                pass
            return
        if existing.limit != 1 or not existing.active:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=1, active=True)
            )


def _me() -> dict[str, str]:
    run = getattr(get_run_context(), "flow_run", None)
    return {
        "flow_run_id": str(getattr(run, "id", "")),
        "flow_run_name": str(getattr(run, "name", "")),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe_holder(cluster: str) -> str:
    value = Variable.get(holder_variable(cluster), default=None)
    if not isinstance(value, dict) or not value.get("flow_run_id"):
        return "another run (its id was not recorded)"
    ticket = f", ticket {value['ticket']}" if value.get("ticket") else ""
    return (
        f"flow run {value.get('flow_run_name') or '?'} ({value['flow_run_id']}{ticket}), "
        f"holding it since {value.get('since', '?')}"
    )


@contextmanager
def hold_cluster(cluster: str, wait_s: float, ticket: str | None = None) -> Iterator[None]:
    """Hold the cluster for the body; wait up to ``wait_s`` for another holder, then fail."""
    logger = get_run_logger()
    ensure_limit(cluster)
    name = limit_name(cluster)
    deadline = time.monotonic() + wait_s
    with ExitStack() as stack:
        first = True
        last_said = ""
        while True:
            remaining = deadline - time.monotonic()
            try:
                stack.enter_context(
                    concurrency(
                        name,
                        occupy=1,
                        strict=True,
                        lease_duration=LEASE_S,
                        timeout_seconds=1.0 if first else max(1.0, min(_SLICE_S, remaining)),
                    )
                )
                break
            except TimeoutError:
                first = False
                holder = describe_holder(cluster)
                if time.monotonic() >= deadline:
                    raise ClusterBusy(
                        f"cluster {cluster} is busy: {holder}. Waited {wait_s:.0f} s "
                        "(cluster_wait_s); nothing was touched. Re-run once it has finished, "
                        f"or release a dead holder by hand (README: 'One upgrade per cluster')."
                    ) from None
                if holder != last_said:
                    logger.warning(
                        "cluster %s is held by %s; waiting (up to %.0f s more) before touching "
                        "anything",
                        cluster,
                        holder,
                        max(0.0, deadline - time.monotonic()),
                    )
                    last_said = holder
        me = {**_me(), "ticket": ticket or ""}
        Variable.set(holder_variable(cluster), me, overwrite=True)
        logger.info("holding cluster %s (global concurrency limit %s)", cluster, name)
        try:
            yield
        finally:
            try:
                if Variable.get(holder_variable(cluster), default=None) == me:
                    Variable.unset(holder_variable(cluster))
            except Exception:  # noqa: BLE001 - a stale note is harmless; the slot is what counts
                pass
