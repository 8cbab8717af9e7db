"""What an operator asks for when starting a run: the flows' typed parameters.

Every deployment takes one of these models as its ``request`` parameter, so the
Prefect UI's "Custom run" form shows each field with its description, and a
ticketing system sends the same fields as JSON.

The cluster is an inventory path on the worker, or a cluster name looked up
in the inventories directory the worker is configured with
(``KAFKA_UPGRADE_INVENTORIES``): ``NAME.yaml``, ``NAME.yml`` or
``NAME/inventory.yaml`` there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kafka_upgrade.core.errors import BadInput

INVENTORIES_ENV = "KAFKA_UPGRADE_INVENTORIES"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_VERSION = r"^\d+\.\d+\.\d+$"

CLUSTER_HELP = (
    "The cluster: an inventory file path on the worker (e.g. /etc/kafka-upgrade/prod-eu-1.yaml), "
    f"or a cluster name found in the worker's inventories directory (${INVENTORIES_ENV})."
)


class ClusterNotFound(BadInput):
    """The request names a cluster the worker cannot find; the message says where it looked."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster: str = Field(description=CLUSTER_HELP, min_length=1)
    ticket: str | None = Field(
        None,
        description="Change ticket this run belongs to (e.g. CHG-123); shown in logs and report.",
    )
    cluster_wait_s: float = Field(
        1800.0,
        ge=0,
        description="Another run holding this cluster: wait this long for it, then fail "
        "without touching anything.",
    )
    revert_on_failed_start: bool = Field(
        True,
        description="A node that does not start on the new binary is put back on its previous "
        "binary and config, started and waited healthy before the run stops. Off: it is left "
        "down for a human.",
    )
    max_parallel: int | None = Field(
        None,
        ge=1,
        description="Restart up to this many brokers at once, brokers that share no partition "
        "(one rack first when broker.rack is set); controllers always restart alone, and each "
        "batch passes the same health gates as one node. Default: max_parallel in the "
        "inventory, else 1 (one node at a time).",
    )


class PhaseRequest(_Request):
    """One phase on its own (phase-1-binaries, phase-2-protocol, finalize-metadata-version)."""

    to_version: str | None = Field(
        None,
        pattern=_VERSION,
        description="Target Kafka version, e.g. 4.1.1 (default: target_version in the inventory).",
    )
    finalize_features: list[str] | None = Field(
        None,
        description="KRaft: the features the finalize raises, e.g. [metadata.version, "
        "group.version] (default: the inventory's finalize_features, else every feature the "
        "release implies except kraft.version).",
    )


class UpgradeRequest(PhaseRequest):
    """The whole upgrade (rolling-upgrade)."""

    approval_timeout_s: int | None = Field(
        None,
        gt=0,
        description="How long the approval between phases may wait, in seconds "
        "(default: timeouts.approval_s in the inventory). Unanswered means the run stops.",
    )
    auto_approve: bool = Field(
        False,
        description="Start the next phase without waiting for a human. Leave off in production.",
    )
    accept_unavailable: list[str] = Field(
        default_factory=list,
        description="Topics you accept to be unavailable while their brokers restart "
        "(replication factor 1, or no more replicas than min.insync.replicas), added to the "
        "inventory's accept_unavailable; preflight refuses any other such topic.",
    )


class RollbackRequest(_Request):
    """rollback-binaries: every node back on the inventory's current version."""


def looks_like_path(cluster: str) -> bool:
    return "/" in cluster or cluster.endswith((".yaml", ".yml"))


def inventory_candidates(name: str, directory: Path) -> list[Path]:
    return [
        directory / f"{name}.yaml",
        directory / f"{name}.yml",
        directory / name / "inventory.yaml",
    ]


def resolve_cluster(cluster: str, inventories: str | Path | None = None) -> Path:
    """The inventory file a request's ``cluster`` means, or ClusterNotFound saying why."""
    cluster = cluster.strip()
    if looks_like_path(cluster):
        path = Path(cluster).expanduser()
        if not path.is_file():
            raise ClusterNotFound(f"cluster: inventory file {path} does not exist on this worker")
        return path
    if not _NAME.match(cluster):
        raise ClusterNotFound(
            f"cluster: {cluster!r} is neither an inventory path nor a cluster name "
            "(lowercase letters, digits and dashes)"
        )
    directory = inventories if inventories is not None else os.environ.get(INVENTORIES_ENV)
    if not directory:
        raise ClusterNotFound(
            f"cluster: {cluster!r} is a name, but this worker has no inventories directory; "
            f"set {INVENTORIES_ENV} on the worker, or pass an inventory path"
        )
    for path in inventory_candidates(cluster, Path(directory)):
        if path.is_file():
            return path
    raise ClusterNotFound(
        f"cluster: no inventory for {cluster!r} in {directory} "
        f"(looked for {cluster}.yaml, {cluster}.yml and {cluster}/inventory.yaml)"
    )


MIGRATION_PHASES = (
    "provision-controllers",
    "migrate-brokers",
    "brokers-to-kraft",
    "finalize-controllers",
)


class MigrationRequest(_Request):
    """ZooKeeper -> KRaft (migrate-to-kraft, and each of its phases on its own)."""

    auto_approve: bool = Field(
        False,
        description="Start each next phase without waiting for a human. Leave off in production.",
    )
    approval_timeout_s: int | None = Field(
        None,
        gt=0,
        description="How long each approval may wait, in seconds (default: timeouts.approval_s "
        "in the inventory). Unanswered means the run stops.",
    )
    stop_after: str | None = Field(
        None,
        description="Stop (completed) after this phase: " + ", ".join(MIGRATION_PHASES) + ".",
    )

    @model_validator(mode="after")
    def _known_phase(self) -> MigrationRequest:
        if self.stop_after is not None and self.stop_after not in MIGRATION_PHASES:
            raise ValueError(
                f"stop_after {self.stop_after!r}: choose one of {', '.join(MIGRATION_PHASES)}"
            )
        return self
