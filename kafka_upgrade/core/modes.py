"""How a cluster keeps its metadata, as objects that carry what differs.

============================  ==========================  ==========================
                              ZooKeeper (``zk``)          KRaft (``kraft``)
============================  ==========================  ==========================
nodes                         brokers only; one of them   brokers, controllers, or
                              is elected controller       both (combined)
roll order                    brokers by id, the active   controllers first (quorum
                              controller last             leader last), then brokers
active controller read from   the cluster's metadata      the metadata quorum
                              (a broker; during a         (``describeQuorum``)
                              migration a KRaft
                              controller: none goes last)
phase 1 wants of a config     protocol pinned to the      nothing
                              current release
gates beyond partitions       none                        a controller needs a
                                                          caught-up voter majority
after phase 1 (approval)      phase-2-protocol: raise     finalize-metadata-version:
                              the protocol, roll again    ``kafka-features upgrade``
============================  ==========================  ==========================

The ZooKeeper -> KRaft migration (``core/migration.py``) moves a cluster from one
to the other through states of its own (``migration.ClusterPhase``); its rolls are
ZooKeeper-mode rolls with the migration's configs, and ``MIGRATED`` names the mode
the cluster is in once it is finalized.

Every other module asks the mode object; none compares a mode with a string.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from kafka_upgrade.core.errors import BadInput

ModeName = Literal["zk", "kraft"]


@dataclass(frozen=True, repr=False)
class Mode:
    name: ModeName
    title: str  # in words: "ZooKeeper", "KRaft"
    controller_role: bool  # nodes carry the controller role (KRaft); else brokers elect one
    pins_protocol: bool  # phase 1 pins inter.broker.protocol.version; phase 2 raises it
    after_phase_1: str  # the phase the approval unleashes
    order_words: str  # the roll order, as the log says it

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Mode({self.name!r})"

    @property
    def uses_zookeeper(self) -> bool:
        """The metadata lives in ZooKeeper (brokers only, one elected controller)."""
        return not self.controller_role

    def gates_quorum_of(self, roles: Collection[str]) -> bool:
        """Does a node with these roles pass the quorum's gates (KRaft controllers)?"""
        return self.controller_role and "controller" in roles

    def total_steps(self, nodes: int) -> int:
        """Steps of a whole upgrade, for the progress bar (ZK: two rolls; KRaft: one roll and
        the finalize)."""
        return 2 * nodes if self.pins_protocol else nodes + 1


ZOOKEEPER = Mode(
    name="zk",
    title="ZooKeeper",
    controller_role=False,
    pins_protocol=True,
    after_phase_1="phase-2-protocol",
    order_words="active controller last",
)
KRAFT = Mode(
    name="kraft",
    title="KRaft",
    controller_role=True,
    pins_protocol=False,
    after_phase_1="finalize-metadata-version",
    order_words="controllers first, leader last",
)
MODES: Mapping[str, Mode] = {m.name: m for m in (ZOOKEEPER, KRAFT)}
# The mode a migrated cluster is in (the migration writes its KRaft inventory with it).
MIGRATED = KRAFT


class UnknownMode(BadInput, ValueError):
    """A mode name that is neither 'zk' nor 'kraft'."""


def mode_of(value: Mode | str) -> Mode:
    """The mode object for a name ('zk', 'kraft') or a mode; UnknownMode otherwise."""
    if isinstance(value, Mode):
        return value
    try:
        return MODES[value]
    except (KeyError, TypeError):
        raise UnknownMode(f"mode must be 'zk' or 'kraft', got {value!r}") from None


def _field(value: object) -> Mode:
    try:
        return mode_of(value)  # type: ignore[arg-type]
    except UnknownMode:
        raise PydanticCustomError("literal_error", "Input should be 'zk' or 'kraft'") from None


# A model's field: written as 'zk' or 'kraft', held as the object, dumped as the name.
ModeField = Annotated[
    Mode,
    BeforeValidator(_field),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "enum": list(MODES)}),
]
