"""Version rules: which upgrades this tool will attempt, checked before anything is touched.

Rules (``check_upgrade_path``; each refusal is a ``Reason``):

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


def check_upgrade_path(
    current: str, target: str, mode: Mode | str, *, metadata_version: str | None = None
) -> Verdict:
    """May this tool upgrade a ``mode`` cluster from ``current`` to ``target``?

    ``metadata_version`` is the finalized metadata.version of a KRaft cluster
    (``kafka-features.sh describe``), e.g. ``"3.9-IV0"``; pass it when known.
    """
    mode = mode_of(mode)
    bad: list[Reason] = []
    for label, text in (("current", current), ("target", target)):
        try:
            parse_version(text)
        except ValueError as exc:
            bad.append(Reason("invalid-version", f"{label} version: {exc}", (label,)))
    if bad:
        return Verdict.no(*bad)

    cur, tgt = parse_version(current), parse_version(target)
    if cur == tgt:
        return Verdict.no(
            Reason(
                "nothing-to-do",
                f"current and target are both {current}: nothing to upgrade. If some nodes "
                "still run an older version, set the current version to that one.",
                (current,),
            )
        )
    if tgt < cur:
        return Verdict.no(
            Reason(
                "downgrade-refused",
                f"target {target} is older than the current {current}: this tool only "
                "upgrades. A downgrade is a manual procedure, possible only before the "
                "protocol (IBP) or metadata.version was raised.",
                (target,),
            )
        )

    reasons: list[Reason] = []
    notes: list[Reason] = []
    if tgt[0] - cur[0] > 1:
        reasons.append(
            Reason(
                "major-jump-too-large",
                f"{current} -> {target} crosses {tgt[0] - cur[0]} major versions: upgrade to "
                f"the last {cur[0] + 1}.x release first, then to {target}.",
                (target,),
            )
        )
    if mode.uses_zookeeper and tgt[0] >= 4:
        reasons.append(
            Reason(
                "zookeeper-removed-in-4",
                f"{target} has no ZooKeeper mode (removed in 4.0). Upgrade to "
                f"{LAST_ZK_RELEASE}, migrate the cluster to KRaft there, then upgrade to "
                f"{target} in KRaft mode.",
                (target,),
            )
        )
    if mode.controller_role and cur[0] < 4 <= tgt[0]:
        if cur[:2] < KRAFT_MIN_FOR_4:
            reasons.append(
                Reason(
                    "metadata-version-too-old",
                    f"{target} needs metadata.version 3.3-IV0 or newer and the cluster runs "
                    f"{current}. Upgrade to {LAST_ZK_RELEASE} first and finalize its "
                    "metadata.version, then upgrade to 4.x.",
                    (current,),
                )
            )
        elif metadata_version is not None:
            try:
                mv_ok = _release_tuple(metadata_version) >= KRAFT_MIN_FOR_4
            except ValueError:
                mv_ok = False
            if not mv_ok:
                reasons.append(
                    Reason(
                        "metadata-version-too-old",
                        f"the finalized metadata.version is {metadata_version}; {target} needs "
                        "3.3-IV0 or newer. Finalize it first: kafka-features.sh upgrade "
                        f"--metadata {release_of(current)}.",
                        (metadata_version,),
                    )
                )
        else:
            notes.append(
                Reason(
                    "check-metadata-version",
                    f"{target} needs a finalized metadata.version of 3.3-IV0 or newer: check "
                    "kafka-features.sh describe before the roll.",
                    (target,),
                )
            )
    if cur[0] < 4 <= tgt[0]:
        notes.append(
            Reason(
                "kafka-4-removals",
                "4.x needs Java 17 on brokers, removes configs such as "
                "log.message.format.version and inter.broker.protocol.version, and rejects "
                "clients older than 2.1 (KIP-896): find them first with the "
                "DeprecatedRequestsPerSec metric.",
                (target,),
            )
        )
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
