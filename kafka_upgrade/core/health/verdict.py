"""Reason and Verdict: the values every health rule returns.

A ``Reason`` says why something is refused, or worth knowing, in words an
operator can act on: which broker or partition, which rule, what to do. A
``Verdict`` is a yes or a no with its reasons, plus notes that never change the
answer. Every rule in this package is pure: it looks at values a task fetched
(a ``ClusterSnapshot``, a ``QuorumStatus``) and returns a ``Verdict`` a task acts on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """Why something is refused, or worth knowing, in words an operator can act on.

    ``rule`` is a short kebab-case id (stable: tests, alerts and artifacts key on
    it); ``message`` names the broker/partition, what is wrong and what to do;
    ``subjects`` is the full list of things concerned (the message caps it).
    """

    rule: str
    message: str
    subjects: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass(frozen=True)
class Verdict:
    """A yes or a no, with the reasons for a no and notes worth logging either way.

    ``ok`` is true exactly when ``reasons`` is empty: a refusal always says why.
    ``notes`` never change the answer. ``bool(verdict)`` is ``verdict.ok``.
    """

    ok: bool
    reasons: tuple[Reason, ...] = ()
    notes: tuple[Reason, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.ok and self.reasons:
            raise ValueError("a verdict cannot be ok and carry refusal reasons; use notes")
        if not self.ok and not self.reasons:
            raise ValueError("a refusal must carry at least one reason")

    @classmethod
    def yes(cls, *notes: Reason) -> Verdict:
        return cls(True, (), notes)

    @classmethod
    def no(cls, *reasons: Reason, notes: Iterable[Reason] = ()) -> Verdict:
        return cls(False, reasons, tuple(notes))

    @classmethod
    def of(cls, reasons: Iterable[Reason], notes: Iterable[Reason] = ()) -> Verdict:
        """Ok when there are no reasons."""
        reasons = tuple(reasons)
        return cls(not reasons, reasons, tuple(notes))

    @classmethod
    def all_of(cls, *verdicts: Verdict) -> Verdict:
        """Ok when every verdict is ok; reasons and notes are concatenated."""
        return cls.of(
            (r for v in verdicts for r in v.reasons),
            (n for v in verdicts for n in v.notes),
        )

    @property
    def rules(self) -> tuple[str, ...]:
        """Rule ids of the refusal reasons, in order."""
        return tuple(r.rule for r in self.reasons)

    @property
    def note_rules(self) -> tuple[str, ...]:
        return tuple(n.rule for n in self.notes)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        # Messages end with a full stop, so a space is separator enough.
        head = "ok" if self.ok else "refused: " + " ".join(str(r) for r in self.reasons)
        if self.notes:
            head += " (notes: " + " ".join(str(n) for n in self.notes) + ")"
        return head
