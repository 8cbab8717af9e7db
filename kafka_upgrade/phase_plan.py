"""What the next phase will do, in words for the person who approves it.

The approval form, the run's log and its report show the same plan: the nodes
in roll order with the config change on each (ZooKeeper: the protocol version
from -> to), or, for a KRaft finalize, every feature the release raises, from
-> to, and which of those cannot be undone. Pure: the flow observes (configs,
``kafka-features.sh describe`` and ``version-mapping``) and passes values in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kafka_upgrade.kafka_cli import FeatureLevel, ParseError
from kafka_upgrade.upgrade_path import release_of

# What raising each feature changes, and whether it can be lowered again.
# Sources: Kafka docs and KIPs (FIELD-NOTES section 1). A feature not listed
# here is shown as a one-way change: we do not promise a downgrade we have not seen.
FEATURE_EFFECTS: Mapping[str, tuple[str, bool]] = {
    "metadata.version": (
        "the metadata format; Kafka refuses a downgrade that loses metadata",
        False,
    ),
    "kraft.version": (
        "turns the static controller quorum into a dynamic one (KIP-853); never downgradable",
        False,
    ),
    "group.version": ("enables the KIP-848 consumer group protocol for clients that ask", False),
    "transaction.version": ("enables KIP-890 transactions (server-side defence)", False),
    "eligible.leader.replicas.version": (
        "enables eligible leader replicas (KIP-966); set min.insync.replicas at cluster level "
        "first",
        False,
    ),
}


@dataclass(frozen=True)
class ConfigChange:
    key: str
    before: str | None
    after: str

    def __str__(self) -> str:
        return f"{self.key}: {self.before or '(unset)'} -> {self.after}"


@dataclass(frozen=True)
class NodeStep:
    label: str  # "broker-3", "controller-1"
    binary: str
    changes: tuple[ConfigChange, ...] = ()


@dataclass(frozen=True)
class FeatureChange:
    name: str
    before: str | None
    after: str
    effect: str
    reversible: bool

    def __str__(self) -> str:
        undo = "can be undone" if self.reversible else "CANNOT be undone"
        return f"{self.name}: {self.before or '0 (off)'} -> {self.after} ({undo})"


@dataclass(frozen=True)
class PhasePlan:
    """The next phase as the approver sees it."""

    phase: str
    cluster: str
    summary: str
    nodes: tuple[NodeStep, ...] = ()
    features: tuple[FeatureChange, ...] = ()

    @property
    def one_way(self) -> tuple[FeatureChange, ...]:
        return tuple(f for f in self.features if not f.reversible)

    def lines(self) -> list[str]:
        """Plain lines for logs and the terminal."""
        out = [f"{self.phase} on {self.cluster}: {self.summary}"]
        for i, step in enumerate(self.nodes, 1):
            change = "; ".join(str(c) for c in step.changes) or "no config change"
            out.append(f"  {i}. {step.label}: restart on {step.binary}; {change}")
        for f in self.features:
            out.append(f"  - {f}")
        return out

    def markdown(self) -> str:
        """The approval form's description (the Prefect UI renders markdown)."""
        parts = [f"Approve to start **{self.phase}** on `{self.cluster}`: {self.summary}\n"]
        if self.nodes:
            parts.append("| # | node | binary | config change |\n|---|---|---|---|")
            for i, step in enumerate(self.nodes, 1):
                change = "<br>".join(f"`{c}`" for c in step.changes) or "none"
                parts.append(f"| {i} | {step.label} | {step.binary} | {change} |")
            parts.append("")
        if self.features:
            parts.append("| feature | from | to | undo | what it changes |\n|---|---|---|---|---|")
            for f in self.features:
                undo = "yes" if f.reversible else "**no**"
                parts.append(
                    f"| {f.name} | {f.before or '0 (off)'} | {f.after} | {undo} | {f.effect} |"
                )
            parts.append("")
        if self.one_way:
            names = ", ".join(f.name for f in self.one_way)
            parts.append(f"**Cannot be undone once approved:** {names}.\n")
        parts.append(
            "Switch *approve* on and name yourself to go ahead; leave it off to stop here."
        )
        return "\n".join(parts)


def roll_plan(
    phase: str,
    cluster: str,
    order: Sequence[str],
    binary: str,
    wanted: Mapping[str, Mapping[str, str]],
    current: Mapping[str, Mapping[str, str]],
) -> PhasePlan:
    """A rolling phase: ``order`` lists node labels; ``wanted``/``current`` map label -> config."""
    steps = []
    for label in order:
        have = current.get(label, {})
        changes = tuple(
            ConfigChange(key, have.get(key), value)
            for key, value in sorted(wanted.get(label, {}).items())
            if have.get(key) != value
        )
        steps.append(NodeStep(label, binary, changes))
    changed = sorted({str(c) for s in steps for c in s.changes})
    what = "; ".join(changed) if changed else "no config change"
    summary = f"{len(steps)} nodes restarted one at a time on {binary} ({what})"
    return PhasePlan(phase, cluster, summary, tuple(steps))


_MAPPING = re.compile(r"^([a-z][a-z0-9_.]*)=(\d+)(?:\s+\((.+)\))?\s*$")


def parse_version_mapping(text: str) -> dict[str, tuple[int, str | None]]:
    """``kafka-features.sh version-mapping`` -> {feature: (level, release label or None)}.

    Lines that are not ``name=level`` (client warnings on stderr) are ignored.
    """
    out: dict[str, tuple[int, str | None]] = {}
    for line in text.splitlines():
        m = _MAPPING.match(line.strip())
        if m:
            out[m.group(1)] = (int(m.group(2)), m.group(3))
    if "metadata.version" not in out:
        raise ParseError(
            "no metadata.version line in kafka-features.sh version-mapping", text[:200]
        )
    return out


def _level_of(feature: FeatureLevel | None) -> int:
    if feature is None or feature.finalized is None:
        return 0
    try:
        return int(feature.finalized)
    except ValueError:
        return -1  # a named level (metadata.version), compared by release below


def finalize_plan(
    cluster: str,
    target_release: str,
    current: Mapping[str, FeatureLevel],
    mapping: Mapping[str, tuple[int, str | None]],
) -> PhasePlan:
    """What ``kafka-features.sh upgrade --release-version`` will raise, feature by feature."""
    changes = []
    for name, (level, label) in sorted(mapping.items()):
        have = current.get(name)
        if name == "metadata.version":
            before = have.finalized if have else None
            raises = before is None or release_of(before) != release_of(label or target_release)
            after = f"{label or target_release}" + (f" (level {level})" if level >= 0 else "")
        else:
            raises = level > _level_of(have)
            before = have.finalized if have else None
            after = str(level)
        if not raises:
            continue
        effect, reversible = FEATURE_EFFECTS.get(name, ("behaviour change", False))
        changes.append(FeatureChange(name, before, after, effect, reversible))
    if changes:
        summary = (
            f"finalize the release {target_release}: {len(changes)} feature(s) raised, "
            f"{sum(1 for c in changes if not c.reversible)} of them one-way; no restart"
        )
    else:
        summary = f"every feature is already at the release {target_release}; nothing changes"
    return PhasePlan("finalize-metadata-version", cluster, summary, features=tuple(changes))
