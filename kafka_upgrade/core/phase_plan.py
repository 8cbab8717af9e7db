"""What the next phase will do, in words for the person who approves it.

The approval form, the run's log and its report show the same plan: the nodes
in roll order with the config change on each (ZooKeeper: the protocol version
from -> to), or, for a KRaft finalize, every feature the release raises, from
-> to, and which of those cannot be undone. Pure: the flow observes (configs,
``kafka-features.sh describe`` and ``version-mapping``) and passes values in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kafka_upgrade.core.kafka_cli import FeatureLevel, ParseError
from kafka_upgrade.core.modes import Mode
from kafka_upgrade.core.upgrade_path import release_of

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


# Raised only when the operator names them: they change the quorum or clients in
# ways an operator must choose, and cannot be undone.
HELD_BY_DEFAULT = frozenset({"kraft.version"})


@dataclass(frozen=True)
class FeatureChange:
    name: str
    before: str | None
    after: str
    effect: str
    reversible: bool
    level: int = -1  # the numeric level to pass to --feature (-1: a named metadata release)
    chosen: bool = True  # False: the release implies it, but it is not raised in this run

    def __str__(self) -> str:
        undo = "can be undone" if self.reversible else "CANNOT be undone"
        if not self.chosen:
            return f"{self.name}: {self.before or '0 (off)'} -> {self.after} NOT raised ({undo})"
        return f"{self.name}: {self.before or '0 (off)'} -> {self.after} ({undo})"

    @property
    def feature_arg(self) -> str:
        """``--feature`` value for kafka-features.sh upgrade."""
        return f"{self.name}={self.level}"


def default_features(implied: Iterable[str]) -> list[str]:
    """Features the finalize raises when nobody chose: all but the held ones."""
    return sorted(set(implied) - HELD_BY_DEFAULT)


@dataclass(frozen=True)
class PhasePlan:
    """The next phase as the approver sees it."""

    phase: str
    cluster: str
    summary: str
    nodes: tuple[NodeStep, ...] = ()
    features: tuple[FeatureChange, ...] = ()
    batches: tuple[str, ...] = ()  # with max_parallel > 1: 'broker-4 + broker-7 (rack a)'

    @property
    def one_way(self) -> tuple[FeatureChange, ...]:
        return tuple(f for f in self.features if not f.reversible and f.chosen)

    @property
    def raised(self) -> tuple[FeatureChange, ...]:
        return tuple(f for f in self.features if f.chosen)

    @property
    def held(self) -> tuple[FeatureChange, ...]:
        return tuple(f for f in self.features if not f.chosen)

    def lines(self) -> list[str]:
        """Plain lines for logs and the terminal."""
        out = [f"{self.phase} on {self.cluster}: {self.summary}"]
        for i, step in enumerate(self.nodes, 1):
            change = "; ".join(str(c) for c in step.changes) or "no config change"
            out.append(f"  {i}. {step.label}: restart on {step.binary}; {change}")
        for i, batch in enumerate(self.batches, 1):
            out.append(f"  batch {i}: {batch}")
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
        if self.batches:
            parts.append("Restarted together, batch by batch (brokers sharing no partition):\n")
            parts.extend(f"{i}. {batch}" for i, batch in enumerate(self.batches, 1))
            parts.append("")
        if self.features:
            parts.append(
                "| feature | from | to | raised | undo | what it changes |\n"
                "|---|---|---|---|---|---|"
            )
            for f in self.features:
                undo = "yes" if f.reversible else "**no**"
                raised = "yes" if f.chosen else "**not raised**"
                parts.append(
                    f"| {f.name} | {f.before or '0 (off)'} | {f.after} | {raised} | {undo} "
                    f"| {f.effect} |"
                )
            parts.append("")
        if self.one_way:
            names = ", ".join(f.name for f in self.one_way)
            parts.append(f"**Cannot be undone once approved:** {names}.\n")
        if self.held:
            names = ", ".join(f"{f.name} ({f.feature_arg})" for f in self.held)
            parts.append(
                f"**Not raised in this run:** {names}. Raise later with `kafka-features.sh "
                "--bootstrap-server ... upgrade --feature NAME=LEVEL`, or list it in "
                "`finalize_features`.\n"
            )
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
    batches: Sequence[str] = (),
) -> PhasePlan:
    """A rolling phase: ``order`` lists node labels; ``wanted``/``current`` map label -> config;
    ``batches`` describes the batches when nodes restart together (``max_parallel``)."""
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
    pace = f"in {len(batches)} batches" if batches else "one at a time"
    summary = f"{len(steps)} nodes restarted {pace} on {binary} ({what})"
    return PhasePlan(phase, cluster, summary, tuple(steps), batches=tuple(batches))


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
    chosen: Iterable[str] | None = None,
) -> PhasePlan:
    """What the finalize raises, feature by feature, toward ``version-mapping`` of the target
    release: ``chosen`` features (default: all but ``HELD_BY_DEFAULT``) move, the rest of what
    the release implies is listed as not raised."""
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
        changes.append(FeatureChange(name, before, after, effect, reversible, level))
    wanted = set(default_features(c.name for c in changes) if chosen is None else chosen)
    changes = [
        FeatureChange(c.name, c.before, c.after, c.effect, c.reversible, c.level, c.name in wanted)
        for c in sorted(changes, key=lambda c: (c.name != "metadata.version", c.name))
    ]
    raised = [c for c in changes if c.chosen]
    if changes:
        summary = (
            f"finalize the release {target_release}: {len(raised)} feature(s) raised one by one, "
            f"{sum(1 for c in raised if not c.reversible)} of them one-way; "
            f"{len(changes) - len(raised)} not raised; no restart"
        )
    else:
        summary = f"every feature is already at the release {target_release}; nothing changes"
    return PhasePlan("finalize-metadata-version", cluster, summary, features=tuple(changes))


@dataclass(frozen=True)
class UpgradePlan:
    """The whole upgrade as ``kafka-upgrade plan`` prints it and a run's first artifact shows
    it: the path verdict, preflight findings, and every phase's plan."""

    cluster: str
    mode: Mode | str
    current: str
    target: str
    path: str  # the path verdict in words ("ok" or the refusal)
    path_ok: bool
    findings: tuple[str, ...] = ()  # preflight findings, in words
    blocking: tuple[str, ...] = ()  # the findings that refuse the upgrade
    phases: tuple[PhasePlan, ...] = ()

    @property
    def ok(self) -> bool:
        return self.path_ok and not self.blocking

    def lines(self) -> list[str]:
        out = [
            f"upgrade of {self.cluster} ({self.mode}): {self.current} -> {self.target}",
            f"path: {self.path}",
        ]
        if self.findings or self.blocking:
            out.append("preflight:")
            out.extend(f"  REFUSED: {f}" for f in self.blocking)
            out.extend(f"  note: {f}" for f in self.findings)
        else:
            out.append("preflight: no findings")
        for phase in self.phases:
            out.extend(phase.lines())
        out.append("verdict: " + ("ready to run" if self.ok else "refused: fix the above first"))
        return out

    def markdown(self) -> str:
        parts = [
            f"# Plan: `{self.cluster}` ({self.mode}) {self.current} -> {self.target}\n",
            f"Path: {self.path}\n",
        ]
        for f in self.blocking:
            parts.append(f"- **refused:** {f}")
        for f in self.findings:
            parts.append(f"- note: {f}")
        parts.append("")
        for phase in self.phases:
            parts.append(f"## {phase.phase}\n")
            parts.append(
                phase.markdown().split("\n", 1)[1]
                if phase.nodes or phase.features
                else phase.summary
            )
            parts.append("")
        return "\n".join(parts)

    def as_json(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "mode": str(self.mode),
            "current": self.current,
            "target": self.target,
            "path": {"ok": self.path_ok, "verdict": self.path},
            "preflight": {"blocking": list(self.blocking), "notes": list(self.findings)},
            "phases": [
                {
                    "phase": p.phase,
                    "summary": p.summary,
                    "nodes": [
                        {
                            "node": s.label,
                            "binary": s.binary,
                            "changes": [
                                {"key": c.key, "from": c.before, "to": c.after} for c in s.changes
                            ],
                        }
                        for s in p.nodes
                    ],
                    "batches": list(p.batches),
                    "features": [
                        {
                            "feature": f.name,
                            "from": f.before,
                            "to": f.after,
                            "raised": f.chosen,
                            "reversible": f.reversible,
                            "effect": f.effect,
                        }
                        for f in p.features
                    ],
                }
                for p in self.phases
            ],
            "ok": self.ok,
        }
