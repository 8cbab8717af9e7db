"""What each phase wants every node to look like, and the gates between phases.

Phases (the procedure in shared/seed, as the flows run it):

1. ``phase-1-binaries``: every node onto the new binary. ZooKeeper mode pins
   ``inter.broker.protocol.version`` (and ``log.message.format.version``
   where it is set) to the *current* release first, so the new binary speaks
   the old protocol. A pin that is already set is kept as it is: it is never
   raised here (a half-done phase 2 must not be undone by a re-run of phase 1).
2. ``phase-2-protocol`` (ZooKeeper mode): only when every broker runs the new
   binary (checked live); raises the pins to the *target* release, second roll.
3. ``finalize-metadata-version`` (KRaft): only when every node runs the new
   binary and supports the target metadata.version; no restart.

Every function here is pure; the flows observe, ask, then act.
"""

from __future__ import annotations

from collections.abc import Mapping

from kafka_upgrade.core.health import Reason, Verdict
from kafka_upgrade.core.kafka_cli import FeatureLevel
from kafka_upgrade.core.modes import Mode, mode_of
from kafka_upgrade.core.upgrade_path import release_of

IBP = "inter.broker.protocol.version"
LMF = "log.message.format.version"


def _release_key(text: str) -> tuple[int, int]:
    major, minor = release_of(text).split(".")
    return int(major), int(minor)


def phase1_config(mode: Mode | str, current: str, props: Mapping[str, str]) -> dict[str, str]:
    """server.properties values a node must have before it restarts onto the new binary."""
    if not mode_of(mode).pins_protocol:
        return {}
    wanted = {IBP: props.get(IBP) or release_of(current)}
    if LMF in props:
        wanted[LMF] = props[LMF]
    return wanted


def phase2_config(mode: Mode | str, target: str, props: Mapping[str, str]) -> dict[str, str]:
    """server.properties values once the protocol is raised to the target release."""
    if not mode_of(mode).pins_protocol:
        return {}
    wanted = {IBP: release_of(target)}
    if LMF in props:
        wanted[LMF] = release_of(target)
    return wanted


def pin_conflicts(node_id: int, current: str, target: str, props: Mapping[str, str]) -> Verdict:
    """A pin above the target (or unreadable) means the inventory or the node is not what
    the operator thinks; refuse before touching anything."""
    reasons = []
    for key in (IBP, LMF):
        value = props.get(key)
        if value is None:
            continue
        try:
            level = _release_key(value)
        except ValueError:
            reasons.append(
                Reason(
                    "unreadable-pin",
                    f"node {node_id}: {key}={value} is not a release this tool understands; "
                    "fix server.properties",
                )
            )
            continue
        if level > _release_key(target):
            reasons.append(
                Reason(
                    "pin-above-target",
                    f"node {node_id}: {key}={value} is newer than the target {target}; "
                    "check current_version/target_version in the inventory",
                )
            )
    return Verdict.of(reasons)


def all_on_binary(running: Mapping[int, str | None], version: str, what: str) -> Verdict:
    """Every node runs ``version`` right now (the gate before phase 2 and the finalize)."""
    reasons = []
    for node_id, reported in sorted(running.items()):
        if reported != version:
            seen = "is not running" if reported is None else f"runs {reported}"
            reasons.append(
                Reason(
                    "not-on-new-binary",
                    f"node {node_id} {seen}, not {version}: {what} needs every node on "
                    f"{version}; finish (or re-run) phase 1 first",
                )
            )
    return Verdict.of(reasons)


def protocol_still_pinned(configs: Mapping[int, Mapping[str, str]], current: str) -> Verdict:
    """Rollback gate (ZooKeeper mode): no node's protocol was raised above ``current``."""
    reasons = []
    for node_id, props in sorted(configs.items()):
        value = props.get(IBP)
        if value is None:
            reasons.append(
                Reason(
                    "protocol-not-pinned",
                    f"node {node_id} has no {IBP} pin: with the new binary it already speaks "
                    "the new protocol; a binary rollback is unsafe",
                )
            )
        elif _release_key(value) > _release_key(current):
            reasons.append(
                Reason(
                    "protocol-raised",
                    f"node {node_id} has {IBP}={value}, above {release_of(current)}: phase 2 "
                    "started, so the old binary cannot join any more",
                )
            )
    return Verdict.of(reasons)


def metadata_target(target: str) -> str:
    """The release string given to kafka-features.sh upgrade for a target version."""
    return release_of(target)


def finalize_args(target: str) -> list[str]:
    """kafka-features.sh arguments that finalize metadata.version at the target release."""
    release = metadata_target(target)
    if _release_key(target) >= (4, 0):
        return ["upgrade", "--release-version", release]
    return ["upgrade", "--metadata", release]


def can_finalize(supported: Mapping[int, FeatureLevel | None], target: str) -> Verdict:
    """Every node supports metadata.version at the target release."""
    reasons = []
    wanted = _release_key(target)
    for node_id, feature in sorted(supported.items()):
        if feature is None:
            reasons.append(
                Reason(
                    "feature-unknown",
                    f"node {node_id} did not report metadata.version support; is it up?",
                )
            )
        elif _release_key(feature.supported_max) < wanted:
            reasons.append(
                Reason(
                    "metadata-unsupported",
                    f"node {node_id} supports metadata.version up to {feature.supported_max}, "
                    f"below {release_of(target)}: it still runs an older binary",
                )
            )
    return Verdict.of(reasons)


def finalized_at(feature: FeatureLevel | None, target: str) -> Verdict:
    """metadata.version is finalized at (or above) the target release."""
    if feature is None or feature.finalized is None:
        return Verdict.of([Reason("not-finalized", "metadata.version is not finalized")])
    if _release_key(feature.finalized) < _release_key(target):
        return Verdict.of(
            [
                Reason(
                    "not-finalized",
                    f"metadata.version is {feature.finalized}, below {release_of(target)}",
                )
            ]
        )
    return Verdict.of([])
