"""What operators deploy: the project's deployments, registered on a Prefect server.

``kafka-upgrade deploy`` (and ``serve``) register these from Python rather than
with ``prefect deploy --all``, which in Prefect 3.8.8 fails after the first
deployment (422 on ``workers/filter`` with ``'limit': None``). ``prefect.yaml``
lists the same deployments; ``tests/unit/test_deployments.py`` keeps the two
in step.

Each deployment runs from this checkout on a ``process`` worker of the pool
``kafka-upgrade`` (the pull step sets the working directory to the checkout),
so the worker host needs this checkout, its virtualenv, SSH to the nodes and,
for cluster names, ``KAFKA_UPGRADE_INVENTORIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

POOL = "kafka-upgrade"
CHECKOUT = Path(__file__).resolve().parent.parent
TAGS = ("kafka-upgrade",)


@dataclass(frozen=True)
class DeploymentSpec:
    name: str  # also the flow's name
    entrypoint: str
    description: str


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "rolling-upgrade",
        "flows/upgrade.py:rolling_upgrade",
        "The whole upgrade: preflight, phase 1, an approval, then phase 2 (ZooKeeper) or the "
        "metadata.version finalize (KRaft). One run per cluster at a time.",
    ),
    DeploymentSpec(
        "phase-1-binaries",
        "flows/upgrade.py:phase_1_binaries",
        "Roll every node onto the new binary (ZooKeeper: protocol pinned to the current release).",
    ),
    DeploymentSpec(
        "phase-2-protocol",
        "flows/upgrade.py:phase_2_protocol",
        "ZooKeeper mode: raise inter.broker.protocol.version and roll again (no way back after).",
    ),
    DeploymentSpec(
        "finalize-metadata-version",
        "flows/finalize.py:finalize_metadata_version",
        "KRaft: finalize metadata.version (and the release's features) once every node runs it.",
    ),
    DeploymentSpec(
        "rollback-binaries",
        "flows/upgrade.py:rollback_binaries",
        "Undo phase 1 while that is still safe: every node back on the current version.",
    ),
)


def ensure_pool(pool: str = POOL) -> bool:
    """Create the process work pool when missing; True when it was created."""
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            return False
    return True


def register(checkout: Path = CHECKOUT, pool: str = POOL) -> list[str]:
    """Create or update every deployment on the server PREFECT_API_URL names.

    Returns ``flow/deployment`` names in order.
    """
    from prefect import Flow

    ensure_pool(pool)
    names = []
    for spec in DEPLOYMENTS:
        flow = Flow.from_source(source=str(checkout), entrypoint=spec.entrypoint)
        deployment = flow.to_deployment(
            name=spec.name,
            description=spec.description,
            tags=list(TAGS),
            work_pool_name=pool,
        )
        deployment.apply(work_pool_name=pool)
        names.append(f"{flow.name}/{spec.name}")
    return names
