"""The roll order, and which nodes a (re-)run still has to restart.

Rules:

1. A fixed order (``roll_order``; ``batches.plan_batches`` may then let brokers that
   share no partition restart together, ``max_parallel``):
   - ZooKeeper mode: brokers in id order, the active controller broker last
     (it is restarted once, not once per controller move; Strimzi and
     cp-ansible do the same).
   - KRaft mode: every node with the controller role first, in id order with
     the quorum leader last among them, then broker-only nodes in id order.
     Controllers go first because the controller must understand every
     broker's registration and the feature levels the new brokers offer;
     Strimzi, Confluent for Kubernetes and Kafka's own system tests use this
     order. Combined nodes (broker and controller in one process) count as
     controllers: they are rolled in the controller group, and both gates apply
     to them (``health.can_restart_controller`` *and* ``health.can_restart``).
   What differs by mode is carried by the mode object (``modes.py``).
2. A node is skipped when it already runs the target binary, its ``current``
   link points to the target and every wanted config value is in place
   (``node_needs_restart``). That makes a re-run resume where a stopped run
   left off, without restarting nodes that are done. Anything unknown (no
   process, version unreadable) counts as "needs a restart": a restart under
   the health gate is safe, skipping a node that is not done is not.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from kafka_upgrade.core.errors import BadInput
from kafka_upgrade.core.health import Reason
from kafka_upgrade.core.modes import Mode, mode_of

ROLES = frozenset({"broker", "controller"})

# Kafka maps "3.8.1" to the same IBP as "3.8" (MetadataVersion.fromVersionString uses
# MAJOR.MINOR), so for these keys the patch part is ignored when comparing.
_RELEASE_VALUED = frozenset({"inter.broker.protocol.version", "log.message.format.version"})
_WITH_PATCH = re.compile(r"^(\d+\.\d+)\.\d+$")


@dataclass(frozen=True)
class NodeRef:
    id: int
    roles: frozenset[str]  # subset of {"broker", "controller"}

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(self.roles))
        if not self.roles:
            raise BadInput(f"node {self.id} has no role: give it 'broker', 'controller' or both")
        unknown = sorted(self.roles - ROLES)
        if unknown:
            raise BadInput(
                f"node {self.id} has unknown role {unknown[0]!r}: roles are 'broker' and "
                "'controller'"
            )

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles

    @property
    def is_broker(self) -> bool:
        return "broker" in self.roles


def roll_order(
    nodes: Sequence[NodeRef], mode: Mode | str, active_controller: int | None
) -> list[int]:
    """Node ids in the order they are restarted (rule 1).

    ``active_controller`` is the ZK controller broker, or the KRaft quorum
    leader; None when unknown (then plain id order within each group).
    """
    ids = [n.id for n in nodes]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise BadInput(f"node {dupes[0]} appears more than once; node ids must be unique")
    mode = mode_of(mode)
    if not mode.controller_role:
        controllers_by_role = sorted(n.id for n in nodes if n.is_controller)
        if controllers_by_role:
            raise BadInput(
                f"node {controllers_by_role[0]} has the controller role, but ZooKeeper-mode "
                "nodes are brokers only (the controller is elected among them)"
            )
        return _last(sorted(ids), active_controller, "broker")
    controllers = sorted(n.id for n in nodes if n.is_controller)
    brokers = sorted(n.id for n in nodes if not n.is_controller)
    if not controllers and nodes:
        raise BadInput("KRaft mode but no node has the controller role: check the roles")
    return _last(controllers, active_controller, "controller") + brokers


def zookeeper_active_controller(controller_id: int | None, brokers: Collection[int]) -> int | None:
    """The broker that goes last in ZooKeeper mode: the controller, when it is a broker.
    During a ZooKeeper -> KRaft migration the controller is a new KRaft controller, not
    a broker: then none of the brokers goes last."""
    return controller_id if controller_id in brokers else None


def _last(ids: list[int], active: int | None, kind: str) -> list[int]:
    if active is None:
        return ids
    if active not in ids:
        raise BadInput(
            f"the active controller {active} is not among the {kind}s {ids}: the inventory "
            "misses a node or names it with another role"
        )
    return [i for i in ids if i != active] + [active]


@dataclass(frozen=True)
class NodeObservation:
    """What a probe saw on one node (a task fills it in from ``node_commands``)."""

    node_id: int
    running: bool
    binary_version: str | None  # version of the jar the running process loaded
    current_link_version: str | None  # where the ``current`` link points; None = not checked
    config_pins: Mapping[str, str] = field(default_factory=dict)  # from server.properties


def node_needs_restart(
    obs: NodeObservation,
    target_binary: str,
    wanted_config: Mapping[str, str | None],
    label: str | None = None,
) -> Reason | None:
    """None when the node is done (skip it); otherwise the first reason it is not (rule 2).

    ``wanted_config`` maps a server.properties key to the value wanted, or to
    None when the key must be absent (e.g. ``log.message.format.version``
    before 4.0).
    """
    node = label or f"node {obs.node_id}"
    if not obs.running:
        return Reason(
            "not-running",
            f"{node} is not running: it will be started on {target_binary} (after the health "
            "gate).",
            (node,),
        )
    if obs.binary_version is None:
        return Reason(
            "version-unknown",
            f"{node} is running but its version could not be read: it will be restarted on "
            f"{target_binary} to be sure.",
            (node,),
        )
    if obs.binary_version != target_binary:
        return Reason(
            "wrong-binary",
            f"{node} runs {obs.binary_version}, target {target_binary}.",
            (node,),
        )
    if obs.current_link_version is not None and obs.current_link_version != target_binary:
        return Reason(
            "link-mismatch",
            f"{node} runs {target_binary} but its 'current' link points to "
            f"{obs.current_link_version}: a later restart would start the old version. It "
            "will be switched and restarted.",
            (node,),
        )
    wrong = [
        _describe_pin(key, obs.config_pins.get(key), wanted)
        for key, wanted in sorted(wanted_config.items())
        if not _pin_matches(key, obs.config_pins.get(key), wanted)
    ]
    if wrong:
        return Reason(
            "config-mismatch",
            f"{node} runs {target_binary} but " + "; ".join(wrong) + ".",
            (node,),
        )
    return None


def _pin_matches(key: str, actual: str | None, wanted: str | None) -> bool:
    if wanted is None or actual is None:
        return wanted is None and actual is None
    return _normal(key, actual) == _normal(key, wanted)


def _normal(key: str, value: str) -> str:
    value = value.strip()
    if key in _RELEASE_VALUED:
        m = _WITH_PATCH.match(value)
        if m:
            return m.group(1)
    return value


def _describe_pin(key: str, actual: str | None, wanted: str | None) -> str:
    if wanted is None:
        return f"{key} is {actual}, wanted unset"
    if actual is None:
        return f"{key} is not set, wanted {wanted}"
    return f"{key} is {actual}, wanted {wanted}"


__all__ = [
    "ROLES",
    "Mode",
    "NodeObservation",
    "NodeRef",
    "node_needs_restart",
    "roll_order",
]
