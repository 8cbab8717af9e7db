"""What every task of one upgrade run shares: the inventory, the SSH transport,
the admin client, and the report being written."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from prefect.exceptions import UnfinishedRun
from pydantic import SecretStr

from kafka_upgrade.adapters.admin_worker import AdminWorker
from kafka_upgrade.adapters.kafka_admin import client_config
from kafka_upgrade.adapters.remote import FabricRemote, Remote
from kafka_upgrade.core.errors import Transient
from kafka_upgrade.core.health import SeenStable
from kafka_upgrade.core.inventory import Inventory, Node
from kafka_upgrade.core.records import StepRecord


@dataclass
class UpgradeContext:
    inventory: Inventory
    remote: Remote
    reader: AdminWorker  # snapshot() and consumer_lag(), in a child process
    records: list[StepRecord] = field(default_factory=list)
    # When (time.monotonic()) a sensor last saw the cluster stably healthy, and after
    # what; cleared when anything is seen unhealthy or a node is about to restart.
    # The next restart gate then needs one healthy poll, not a second stability watch.
    stable_seen: SeenStable | None = None
    unhealthy_seen: float | None = None  # time.monotonic() a sensor last saw anything unhealthy
    # Consumer lag in a child of its own: a slow read never holds up a health poll.
    lag_reader: AdminWorker | None = None

    @classmethod
    def open(cls, inventory: Inventory) -> UpgradeContext:
        inventory = with_block_secrets(inventory)
        reader = AdminWorker(client_config(inventory))
        reader.warm()  # the child imports and connects while the flow does other things
        return cls(inventory=inventory, remote=FabricRemote(inventory), reader=reader)

    def lags(self) -> AdminWorker:
        if self.lag_reader is None:
            self.lag_reader = AdminWorker(client_config(self.inventory))
        return self.lag_reader

    def close(self) -> None:
        self.reader.close()
        if self.lag_reader is not None:
            self.lag_reader.close()
        close = getattr(self.remote, "close", None)
        if close is not None:
            close()

    def node(self, node_id: int) -> Node:
        return self.inventory.node(node_id)

    def expected_brokers(self) -> list[int]:
        return self.inventory.broker_ids

    def record(self, record: StepRecord) -> StepRecord:
        """The record, its seconds counted until now, kept in the run's report."""
        record = replace(record, seconds=round(time.time() - record.started_at, 1))
        self.records.append(record)
        return record


@contextmanager
def opened(inventory: Inventory) -> Iterator[UpgradeContext]:
    """A context for the body, closed at its end (the admin children, the SSH connections)."""
    ctx = UpgradeContext.open(inventory)
    try:
        yield ctx
    finally:
        ctx.close()


def with_block_secrets(inventory: Inventory) -> Inventory:
    """Fill the SASL password from a Prefect Secret block when the inventory names one."""
    kafka = inventory.kafka
    if kafka.sasl_password is not None or not kafka.sasl_password_block:
        return inventory
    from prefect.blocks.system import Secret

    value = Secret.load(kafka.sasl_password_block).get()
    return inventory.model_copy(
        update={"kafka": kafka.model_copy(update={"sasl_password": SecretStr(str(value))})}
    )


def node_label(node: Node) -> str:
    """'broker-3' for brokers (and combined nodes), 'controller-1' for controller-only nodes."""
    return f"broker-{node.id}" if node.is_broker else f"controller-{node.id}"


# The tree's Transient group; and a timeout or dropped connection that reached a task
# untranslated is transient too.
TRANSIENT_ERRORS = (Transient, TimeoutError, ConnectionError)


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry SSH drops and timeouts, never logic failures."""
    try:
        state.result()
    except TRANSIENT_ERRORS:
        return True
    except UnfinishedRun:
        return False
    except Exception:  # noqa: BLE001 - any other failure is final
        return False
    return False


def each_node(
    in_flow: bool,
    task: Any,
    ctx: UpgradeContext,
    nodes: Sequence[tuple[int, str]],
) -> list[Any]:
    """``task(ctx, node_id, label)`` for every node, concurrently inside a flow."""
    if not in_flow:
        return [task.fn(ctx, node_id, label) for node_id, label in nodes]
    futures = [task.submit(ctx, node_id, label) for node_id, label in nodes]
    for f in futures:  # every one finished before any failure is raised
        f.wait()
    return [f.result() for f in futures]
