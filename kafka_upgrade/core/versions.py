"""The Kafka versions this project is built and tested against, written in one place.

Each pair is (old, new): the sandbox starts on ``old`` and ``make demo`` /
the evidence tests upgrade it to ``new``. All four were verified to resolve
from Maven Central (see README, "Versions").
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka_upgrade.core.modes import KRAFT, ZOOKEEPER, Mode, mode_of


@dataclass(frozen=True)
class VersionPair:
    old: str
    new: str


# The procedure's own example: a ZooKeeper-mode cluster from 3.7 to 3.8.
ZK_PAIR = VersionPair(old="3.7.2", new="3.8.1")
# The path most KRaft clusters face now: the last 3.x line onto 4.x.
KRAFT_PAIR = VersionPair(old="3.9.1", new="4.1.1")

PAIRS: dict[str, VersionPair] = {ZOOKEEPER.name: ZK_PAIR, KRAFT.name: KRAFT_PAIR}


@dataclass(frozen=True)
class Journey:
    """A ZooKeeper cluster carried to KRaft on 4.x: upgraded in ZooKeeper mode to the
    release the migration runs on, migrated there, then upgraded in KRaft mode."""

    start: str
    migrate_on: str
    end: str


# make demo MODE=journey: from the ZooKeeper pair's old version onto 3.9 (the KRaft
# pair's old), the migration, then the KRaft pair's upgrade onto 4.x.
JOURNEY = Journey(start=ZK_PAIR.old, migrate_on=KRAFT_PAIR.old, end=KRAFT_PAIR.new)


def pair_for(mode: Mode | str) -> VersionPair:
    return PAIRS[mode_of(mode).name]
