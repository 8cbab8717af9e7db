"""Version rules: which upgrades this tool will attempt, checked before anything is touched.

Rules (``check_upgrade_path``, one function each, asked in the order of the tables
``_ALONE``, ``_REFUSALS`` and ``_NOTES``; each refusal is a ``Reason``):

1. Both versions are release versions MAJOR.MINOR.PATCH ("invalid-version").
2. The target differs from the current version ("nothing-to-do").
3. The target is newer: downgrades are refused ("downgrade-refused"). After the
   last phase (IBP or metadata.version raised) Kafka itself cannot go back.
4. At most one major version per upgrade ("major-jump-too-large"): go to the
   last release of the next major first (e.g. 2.x -> 3.9 -> 4.x).
5. ZooKeeper mode cannot reach 4.x: Kafka 4.0 removed ZooKeeper
   ("zookeeper-removed-in-4"). Migrate the cluster to KRaft on 3.9 first.
6. KRaft from 3.x to 4.x needs 3.3 or newer and a finalized metadata.version
   of at least 3.3-IV0 ("metadata-version-too-old"). When the caller does not
   pass the finalized metadata.version, a note asks to check it.

Version strings: ``parse_version`` takes release versions only ("3.8.1");
``release_of`` maps a release, an IBP or a metadata.version string to the
release it belongs to ("3.8.1", "3.8", "3.8-IV0" -> "3.8"), the form written
to inter.broker.protocol.version and passed to ``kafka-features.sh upgrade``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kafka_upgrade.core.health import Reason, Verdict
from kafka_upgrade.core.modes import Mode, mode_of

Version = tuple[int, int, int]

# The first release whose metadata.version 4.x brokers accept (3.3-IV0).
KRAFT_MIN_FOR_4 = (3, 3)
# The release to migrate ZooKeeper clusters to KRaft on before 4.x.
LAST_ZK_RELEASE = "3.9"

_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_RELEASE_LIKE = re.compile(r"^(\d+)\.(\d+)(?:\.\d+|-IV\d+)?$")


def parse_version(text: str) -> Version:
    """``"3.8.1"`` -> ``(3, 8, 1)``; anything else is a ValueError that says what is expected."""
    m = _RELEASE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(
            f"{text!r} is not a Kafka release version: write MAJOR.MINOR.PATCH, e.g. 3.8.1"
        )
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


def release_of(text: str) -> str:
    """The MAJOR.MINOR release of a version, IBP or metadata.version string.

    ``"3.8.1"``, ``"3.8"`` and ``"3.8-IV0"`` all give ``"3.8"``.
    """
    m = _RELEASE_LIKE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a Kafka version: expected e.g. 3.8.1, 3.8 or 3.8-IV0")
    return f"{int(m.group(1))}.{int(m.group(2))}"


def _release_tuple(text: str) -> tuple[int, int]:
    major, minor = release_of(text).split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class _Path:
    """One requested upgrade, both versions well formed."""

    current: str
    target: str
    mode: Mode
    metadata_version: str | None  # the finalized metadata.version, when known (KRaft)

    @property
    def cur(self) -> Version:
        return parse_version(self.current)

    @property
    def tgt(self) -> Version:
        return parse_version(self.target)

    @property
    def into_4(self) -> bool:
        """From 3.x (or older) to 4.x."""
        return self.cur[0] < 4 <= self.tgt[0]


Rule = Callable[[_Path], Reason | None]


def _nothing_to_do(p: _Path) -> Reason | None:
    if p.cur == p.tgt:
        return Reason(
            "nothing-to-do",
            f"current and target are both {p.current}: nothing to upgrade. If some nodes "
            "still run an older version, set the current version to that one.",
            (p.current,),
        )
    return None


def _downgrade_refused(p: _Path) -> Reason | None:
    if p.tgt < p.cur:
        return Reason(
            "downgrade-refused",
            f"target {p.target} is older than the current {p.current}: this tool only "
            "upgrades. A downgrade is a manual procedure, possible only before the "
            "protocol (IBP) or metadata.version was raised.",
            (p.target,),
        )
    return None


def _major_jump_too_large(p: _Path) -> Reason | None:
    cur, tgt = p.cur, p.tgt
    if tgt[0] - cur[0] > 1:
        return Reason(
            "major-jump-too-large",
            f"{p.current} -> {p.target} crosses {tgt[0] - cur[0]} major versions: upgrade to "
            f"the last {cur[0] + 1}.x release first, then to {p.target}.",
            (p.target,),
        )
    return None


def _zookeeper_removed_in_4(p: _Path) -> Reason | None:
    if p.mode.uses_zookeeper and p.tgt[0] >= 4:
        return Reason(
            "zookeeper-removed-in-4",
            f"{p.target} has no ZooKeeper mode (removed in 4.0). Upgrade to "
            f"{LAST_ZK_RELEASE}, migrate the cluster to KRaft there, then upgrade to "
            f"{p.target} in KRaft mode.",
            (p.target,),
        )
    return None


def _kraft_into_4(p: _Path) -> bool:
    return p.mode.controller_role and p.into_4


def _metadata_version_too_old(p: _Path) -> Reason | None:
    """KRaft into 4.x: a release from 3.3, and the finalized metadata.version (when known)
    from 3.3-IV0."""
    if not _kraft_into_4(p):
        return None
    if p.cur[:2] < KRAFT_MIN_FOR_4:
        return Reason(
            "metadata-version-too-old",
            f"{p.target} needs metadata.version 3.3-IV0 or newer and the cluster runs "
            f"{p.current}. Upgrade to {LAST_ZK_RELEASE} first and finalize its "
            "metadata.version, then upgrade to 4.x.",
            (p.current,),
        )
    if p.metadata_version is None or _metadata_version_enough(p.metadata_version):
        return None
    return Reason(
        "metadata-version-too-old",
        f"the finalized metadata.version is {p.metadata_version}; {p.target} needs "
        "3.3-IV0 or newer. Finalize it first: kafka-features.sh upgrade "
        f"--metadata {release_of(p.current)}.",
        (p.metadata_version,),
    )


def _metadata_version_enough(metadata_version: str) -> bool:
    try:
        return _release_tuple(metadata_version) >= KRAFT_MIN_FOR_4
    except ValueError:
        return False


def _check_metadata_version(p: _Path) -> Reason | None:
    """A note when the finalized metadata.version was not given (the refusal above judges
    it when it was, and a release before 3.3 needs no look)."""
    if _kraft_into_4(p) and p.cur[:2] >= KRAFT_MIN_FOR_4 and p.metadata_version is None:
        return Reason(
            "check-metadata-version",
            f"{p.target} needs a finalized metadata.version of 3.3-IV0 or newer: check "
            "kafka-features.sh describe before the roll.",
            (p.target,),
        )
    return None


def _kafka_4_removals(p: _Path) -> Reason | None:
    if p.into_4:
        return Reason(
            "kafka-4-removals",
            "4.x needs Java 17 on brokers, removes configs such as "
            "log.message.format.version and inter.broker.protocol.version, and rejects "
            "clients older than 2.1 (KIP-896): find them first with the "
            "DeprecatedRequestsPerSec metric.",
            (p.target,),
        )
    return None


# The rules in the order they are asked. The first of _ALONE that applies is the only
# reason given (nothing else matters then); every refusal and note that applies is listed.
_ALONE: tuple[Rule, ...] = (_nothing_to_do, _downgrade_refused)
_REFUSALS: tuple[Rule, ...] = (
    _major_jump_too_large,
    _zookeeper_removed_in_4,
    _metadata_version_too_old,
)
_NOTES: tuple[Rule, ...] = (_check_metadata_version, _kafka_4_removals)


def _invalid_versions(current: str, target: str) -> list[Reason]:
    bad: list[Reason] = []
    for label, text in (("current", current), ("target", target)):
        try:
            parse_version(text)
        except ValueError as exc:
            bad.append(Reason("invalid-version", f"{label} version: {exc}", (label,)))
    return bad


def check_upgrade_path(
    current: str, target: str, mode: Mode | str, *, metadata_version: str | None = None
) -> Verdict:
    """May this tool upgrade a ``mode`` cluster from ``current`` to ``target``?

    ``metadata_version`` is the finalized metadata.version of a KRaft cluster
    (``kafka-features.sh describe``), e.g. ``"3.9-IV0"``; pass it when known.
    """
    mode = mode_of(mode)
    bad = _invalid_versions(current, target)
    if bad:
        return Verdict.no(*bad)
    path = _Path(current, target, mode, metadata_version)
    for rule in _ALONE:
        reason = rule(path)
        if reason is not None:
            return Verdict.no(reason)
    reasons = [r for r in (rule(path) for rule in _REFUSALS) if r is not None]
    notes = [n for n in (rule(path) for rule in _NOTES) if n is not None]
    return Verdict.of(reasons, notes)


__all__ = [
    "KRAFT_MIN_FOR_4",
    "LAST_ZK_RELEASE",
    "Mode",
    "Version",
    "check_upgrade_path",
    "format_version",
    "parse_version",
    "release_of",
]
