"""Rule 9: consumer lag, informational.

``lag_report`` names the groups whose lag grew by more than a tolerance during
the roll; it never stops a roll.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from kafka_upgrade.core.health.verdict import Reason, Verdict
from kafka_upgrade.core.health.wording import capped, counted


@dataclass(frozen=True)
class LagSample:
    """Total lag of one consumer group, summed over its partitions."""

    group: str
    total_lag: int


def lag_by_group(samples: Iterable[LagSample]) -> dict[str, int]:
    """Samples to a mapping; a group sampled twice is a caller bug."""
    totals: dict[str, int] = {}
    for s in samples:
        if s.group in totals:
            raise ValueError(f"consumer group {s.group!r} sampled twice in one poll")
        totals[s.group] = s.total_lag
    return totals


@dataclass(frozen=True)
class LagChange:
    group: str
    before: int | None  # None: the group had no lag sample before
    after: int | None  # None: the group has no lag sample now

    @property
    def growth(self) -> int | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class LagReport:
    """How consumer lag moved between two samples; for the run log, never a gate."""

    changes: tuple[LagChange, ...]
    tolerance: int
    unread: tuple[str, ...] = ()  # groups the last sample could not read in time

    @property
    def grown(self) -> tuple[LagChange, ...]:
        """Groups whose lag grew by more than ``tolerance`` messages, largest growth first."""
        hits = [c for c in self.changes if c.growth is not None and c.growth > self.tolerance]
        return tuple(sorted(hits, key=lambda c: (-(c.growth or 0), c.group)))

    @property
    def ok(self) -> bool:
        return not self.grown

    @property
    def reasons(self) -> tuple[Reason, ...]:
        grown = self.grown
        if not grown:
            return ()
        return (
            Reason(
                "consumer-lag-grew",
                f"consumer lag grew by more than {self.tolerance} messages for "
                f"{counted(len(grown), 'group')}: "
                + capped([f"{c.group} (+{c.growth}: {c.before} -> {c.after})" for c in grown])
                + ". The roll goes on; check that these consumers keep up "
                "(kafka-consumer-groups.sh --describe --group ...).",
                tuple(c.group for c in grown),
            ),
        )

    @property
    def notes(self) -> tuple[Reason, ...]:
        unread = set(self.unread)
        new = [c.group for c in self.changes if c.before is None and c.group not in unread]
        gone = [c.group for c in self.changes if c.after is None and c.group not in unread]
        out: list[Reason] = []
        if self.unread:
            out.append(
                Reason(
                    "consumer-lag-unread",
                    f"lag not read in time for {counted(len(self.unread), 'group')}: "
                    f"{capped(list(self.unread))}; no growth computed for "
                    f"{'it' if len(self.unread) == 1 else 'them'} this time.",
                    self.unread,
                )
            )
        if new:
            out.append(
                Reason(
                    "consumer-group-new",
                    f"no earlier lag sample for {capped(new)}: no growth computed.",
                    tuple(new),
                )
            )
        if gone:
            out.append(
                Reason(
                    "consumer-group-gone",
                    f"no lag sample any more for {capped(gone)}: the group stopped or lost "
                    "its committed offsets.",
                    tuple(gone),
                )
            )
        return tuple(out)

    def verdict(self) -> Verdict:
        return Verdict.of(self.reasons, self.notes)

    def __str__(self) -> str:
        if self.ok:
            return (
                f"consumer lag within +{self.tolerance} for {counted(len(self.changes), 'group')}"
            )
        return "; ".join(str(r) for r in self.reasons)


def lag_report(
    before: Mapping[str, int],
    after: Mapping[str, int],
    tolerance: int,
    unread: Collection[str] = (),
) -> LagReport:
    """Compare total lag per group; growth above ``tolerance`` messages is reported.

    ``unread``: groups either sample could not read within its deadline
    (``kafka_admin.LagReading.unread``); they are noted as such, not as new or gone.
    """
    if tolerance < 0:
        raise ValueError(f"lag tolerance must be >= 0 messages, got {tolerance}")
    groups = sorted(set(before) | set(after))
    changes = tuple(LagChange(g, before.get(g), after.get(g)) for g in groups)
    return LagReport(changes, tolerance, tuple(sorted(set(unread))))
