"""What can go wrong during an upgrade, grouped by what happens next.

::

    UpgradeError
    ├── BadInput        refuse before anything on the cluster is touched
    ├── UnsafeNow       the cluster did not become safe in time: stop, touch nothing else
    ├── StepFailed      a step failed for a reason retrying won't fix: stop the run
    └── ClusterBusy     another run holds the cluster: give up waiting, touch nothing

Transient faults (SSH dropped, a request timed out) are raised where they
enter, as ``kafka_upgrade.adapters.remote.TransientRemoteError`` and
``kafka_upgrade.adapters.kafka_admin.KafkaUnavailable``; tasks retry only those.

Every message names the node, the rule or step, and what the operator can do.
"""

from __future__ import annotations


class UpgradeError(Exception):
    """Base of every error the upgrade reports."""


class BadInput(UpgradeError):
    """The request or inventory is wrong; nothing was touched."""


class UnsafeNow(UpgradeError):
    """The cluster did not reach a safe state within the allowed time."""


class StepFailed(UpgradeError):
    """A step failed in a way that retrying will not fix; the run stops here."""


class ClusterBusy(UpgradeError):
    """Another run holds the cluster; this one gave up waiting and touched nothing."""
