"""Rule 7: pacing the health polls, and when a healthy cluster counts as stable.

A node counts as stable after ``required`` healthy polls in a row that span at
least ``min_seconds`` (``Stability``); one bad poll resets both. A stable sight
of the cluster may be carried to the next restart gate (``carried_stability``)
while nothing unhealthy is seen; ``poll_pause`` spaces the polls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kafka_upgrade.core.health.verdict import Verdict


@dataclass(frozen=True)
class Stability:
    """Healthy polls in a row, and for how long; one bad poll resets both.

    ``Stability(required=3, min_seconds=2).observe(v1, at=t1).observe(v2, at=t2)...``;
    ``.stable`` once the last ``required`` verdicts were all ok *and* the streak has
    lasted ``min_seconds`` (from its first healthy poll to its latest). Count alone
    would let faster polls shorten the watch; time alone would let one lucky poll
    after a long wait count. ``at`` is a monotonic clock reading in seconds.
    """

    required: int
    min_seconds: float = 0.0
    streak: int = 0
    since: float | None = None  # when the streak's first healthy poll was taken
    latest: float | None = None
    last: Verdict | None = None

    def __post_init__(self) -> None:
        if self.required < 1:
            raise ValueError(
                f"required consecutive healthy polls must be >= 1, got {self.required}"
            )
        if self.min_seconds < 0:
            raise ValueError(f"min_seconds must be >= 0, got {self.min_seconds}")

    def observe(self, verdict: Verdict, at: float = 0.0) -> Stability:
        if not verdict.ok:
            return Stability(self.required, self.min_seconds, 0, None, at, verdict)
        since = self.since if self.streak else at
        return Stability(self.required, self.min_seconds, self.streak + 1, since, at, verdict)

    @property
    def lasted(self) -> float:
        """Seconds from the streak's first healthy poll to its latest (0 without a streak)."""
        if not self.streak or self.since is None or self.latest is None:
            return 0.0
        return self.latest - self.since

    @property
    def stable(self) -> bool:
        return self.streak >= self.required and self.lasted >= self.min_seconds

    def __str__(self) -> str:
        text = f"{min(self.streak, self.required)}/{self.required} healthy polls in a row"
        if self.min_seconds:
            text += f", {min(self.lasted, self.min_seconds):.1f}/{self.min_seconds:g} s"
        if self.last is not None and not self.last.ok:
            text += f"; last poll: {self.last}"
        return text


@dataclass(frozen=True)
class SeenStable:
    """When (``time.monotonic()``) a sensor last saw the cluster stably healthy, and after
    what ("after broker-3's recovery")."""

    at: float
    after: str


def carried_stability(
    seen: SeenStable | None, unhealthy_at: float | None, now: float, reuse_s: float
) -> str | None:
    """Why the next restart gate may take one healthy poll instead of a stability watch
    (the words the log gives), or None: nothing was seen stable, it is older than
    ``reuse_s``, or anything was seen unhealthy since."""
    if seen is None:
        return None
    if unhealthy_at is not None and unhealthy_at >= seen.at:
        return None
    age = now - seen.at
    if age > reuse_s:
        return None
    return (
        f"the cluster was seen stably healthy {age:.1f} s ago ({seen.after}), "
        "nothing unhealthy since"
    )


def window_clean(since: float, unhealthy_at: float | None) -> bool:
    """A stability watch that began at ``since`` counts only if no sensor running beside it
    saw anything unhealthy from then on."""
    return unhealthy_at is None or unhealthy_at < since


def poll_pause(interval: float, took: float, snapshot_s: float) -> float:
    """Seconds to wait before the next health poll: the rest of ``interval`` after a poll
    that took ``took``, but at least as long as that poll's snapshot took (``snapshot_s``),
    so a big cluster and the admin child are never polled flat out. Time spent waiting on
    an SSH probe loads neither, so it does not slow the polls."""
    return max(interval - took, snapshot_s, 0.0)


def stable(history: Sequence[Verdict], required: int) -> bool:
    """True when the last ``required`` verdicts of ``history`` are all ok."""
    state = Stability(required)
    for verdict in history:
        state = state.observe(verdict)
    return state.stable
