"""What can go wrong during an upgrade, grouped by what happens next.

::

    UpgradeError
    ├── Transient           retry the task: SSH dropped, a request timed out
    │   ├── TransientRemoteError    adapters/remote.py       SSH failed, dropped or timed out
    │   ├── KafkaUnavailable        adapters/kafka_admin.py  an admin request went unanswered
    │   │   ├── AdminProcessDied    adapters/isolated_admin.py
    │   │   └── AdminChildDied      adapters/admin_worker.py
    │   └── QuorumWireError         adapters/quorum_wire.py  no broker answered DescribeQuorum
    ├── UnsafeNow           the cluster did not become safe in time: stop, touch nothing else
    │   └── ClusterBusy             core/errors.py           another run holds the cluster
    ├── Fatal               stop the run: retrying won't fix it
    │   ├── StepFailed              core/errors.py           a step failed (the usual one)
    │   ├── HostKeyError            adapters/remote.py       host key unknown or changed
    │   ├── LoginError              adapters/remote.py       SSH login refused, key unreadable
    │   ├── UploadError             adapters/remote.py       an SFTP upload refused (space, rights)
    │   ├── ParseError              core/kafka_cli.py        a Kafka tool's output unreadable
    │   └── SnapshotIncomplete      core/health/snapshot.py  a summary asked for what it lacks
    ├── BadInput            refuse before anything on the cluster is touched
    │   ├── InventoryError          core/inventory.py        the inventory file
    │   ├── AnsibleImportError      core/ansible_inventory.py  a cp-ansible hosts.yml to import
    │   ├── ClusterNotFound         core/requests.py         the request's cluster
    │   ├── UnknownMode             core/modes.py            a mode neither zk nor kraft
    │   ├── SandboxSpecError        sandbox/layout.py        a sandbox request's options
    │   └── TarballRefused          adapters/stage_source.py a --tarball not of the version
    └── ToolFailed          the tooling around the upgrade failed: that command stops,
        │                   no cluster is touched; the message says what to fix
        ├── SandboxError            sandbox/cluster.py       sandbox up, status or down
        ├── SshdError               sandbox/sshd.py          the sandbox's sshd
        ├── ProdLayoutError         sandbox/prod_hosts.py    a prod-layout sandbox here
        ├── DistError               sandbox/dist.py          fetching a Kafka distribution
        ├── TrafficError            sandbox/traffic.py       the sandbox's test traffic
        ├── ServerError             app/local_server.py      a local Prefect server or worker
        ├── ApiError                deployments/tickets.py   the Prefect API (ticket triggers)
        └── ApprovalError           deployments/approval.py  approving or rejecting a run

Tasks retry ``Transient`` only (``tasks.context.retry_transient_only``). Foreign
errors are translated where they enter (``raise Mapped(msg) from exc``): SSH in
``adapters.remote``, the AdminClient in ``adapters.kafka_admin``. A phase that
fails keeps its class (``in_phase``); only a foreign error becomes ``StepFailed``.
``adapters.remote.RemoteError`` is not a class but the tuple of the transport's
three, for ``except``: they go different ways next.

Every message names the node, the rule or step, and what the operator can do.
"""

from __future__ import annotations


class UpgradeError(Exception):
    """Base of every error the upgrade reports."""


class Transient(UpgradeError):
    """A fault that may pass (a dropped connection, an unanswered request): retry the task."""


class Fatal(UpgradeError):
    """Retrying will not fix this; the run stops here and touches nothing else."""


class ToolFailed(UpgradeError):
    """The tooling around the upgrade (sandbox, local server, Prefect API) failed."""


class BadInput(UpgradeError):
    """The request or inventory is wrong; nothing was touched."""


class UnsafeNow(UpgradeError):
    """The cluster did not reach a safe state within the allowed time."""


class StepFailed(Fatal):
    """A step failed in a way that retrying will not fix; the run stops here."""


class ClusterBusy(UnsafeNow):
    """Another run holds the cluster; this one gave up waiting and touched nothing."""


GROUPS: tuple[type[UpgradeError], ...] = (Transient, UnsafeNow, Fatal, BadInput, ToolFailed)


def in_phase(exc: Exception, phase: str, cluster: str) -> UpgradeError:
    """``exc`` as phase ``phase``'s failure on ``cluster``: same class (what happens next
    does not change), message ``"<phase> failed on <cluster>: <exc>"``; a foreign error
    becomes ``StepFailed``. Raise it ``from exc``."""
    message = f"{phase} failed on {cluster}: {exc}"
    if not isinstance(exc, UpgradeError):
        return StepFailed(message)
    kept = type(exc).__new__(type(exc), message)  # not __init__: it may take other arguments
    kept.__dict__.update(exc.__dict__)
    return kept
