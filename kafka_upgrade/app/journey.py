"""`make demo MODE=journey`: a ZooKeeper 3.7 cluster carried to KRaft on 4.1 in one run,
with clients running throughout.

1. A ZooKeeper sandbox on 3.7.2, with 3.9.1 and 4.1.1 staged on every node and
   three KRaft controllers laid out (not started); traffic starts.
2. On one Prefect server, the steps in order, stopping at the first that fails:
   a. ``rolling-upgrade`` to 3.9.1 (ZooKeeper mode: binaries, then the protocol);
   b. the inventory's ``current_version`` set to 3.9.1, as an operator would edit
      it (the previous file is kept beside it);
   c. ``migrate-to-kraft``, which writes ``inventory.kraft.yaml``;
   d. ``rolling-upgrade`` of the KRaft inventory to 4.1.1 (binaries, finalize).
   Approvals come from the terminal or the UI, or unattended with AUTO_APPROVE=1.
3. The traffic stops and is audited; the per-phase table, the message counts;
   teardown. Exit 0 only when every step succeeded and nothing was lost or failed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from kafka_upgrade.app.cli import print_nodes, print_upgrade
from kafka_upgrade.app.showcase import (
    auto_approve,
    console,
    finish_traffic,
    print_traffic,
    sandbox_up,
    say,
    start_traffic,
)
from kafka_upgrade.core.inventory import InventoryError, load_inventory
from kafka_upgrade.core.migration import kraft_inventory_path
from kafka_upgrade.core.records import StepRecord
from kafka_upgrade.core.versions import JOURNEY
from kafka_upgrade.sandbox import cluster

NAME = "demo-journey"
# What a step's wall time holds beyond the phases its flow timed.
REST = "other: checks, approvals, reports"


@dataclass(frozen=True)
class StepResult:
    """One step of the journey: its outcome and where its time went."""

    name: str
    state: str  # COMPLETED, FAILED, CANCELLED, CRASHED
    message: str
    seconds: float
    phase_seconds: dict[str, float] = field(default_factory=dict)
    records: list[StepRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED"


@dataclass(frozen=True)
class PhaseRow:
    step: str
    phase: str
    seconds: float
    total: bool = False  # the step's own wall time


def phase_rows(steps: Sequence[StepResult]) -> list[PhaseRow]:
    """Each step's phases with their times, what the step spent outside them, and the
    step's wall time with its outcome."""
    rows = []
    for step in steps:
        rows += [PhaseRow(step.name, phase, s) for phase, s in step.phase_seconds.items()]
        rest = step.seconds - sum(step.phase_seconds.values())
        if step.phase_seconds and rest >= 0.5:
            rows.append(PhaseRow(step.name, REST, rest))
        rows.append(PhaseRow(step.name, f"step total: {step.state}", step.seconds, total=True))
    return rows


def journey_ok(steps: Sequence[StepResult], planned: int, lost: int, failed: int) -> bool:
    """Every planned step ran and succeeded, and the clients lost and failed nothing."""
    return len(steps) == planned and all(s.ok for s in steps) and lost == 0 and failed == 0


def set_current_version(path: Path, version: str) -> tuple[str, Path]:
    """Write ``version`` as the inventory's current_version, as an operator would after an
    upgrade; the previous file is kept beside it. Returns the previous version and the copy."""
    inventory = load_inventory(path)
    before = inventory.current_version
    kept = path.with_name(f"{path.name}.before-{version}")
    shutil.copy2(path, kept)
    updated = inventory.model_copy(update={"current_version": version})
    path.write_text(
        f"# current_version set to {version} after the upgrade from {before} "
        f"(the previous file: {kept.name}).\n" + updated.to_yaml()
    )
    return before, kept


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def print_phases(steps: Sequence[StepResult], total: float) -> None:
    table = Table(title="journey, phase by phase")
    for column in ("step", "phase", "wall time"):
        table.add_column(column)
    for row in phase_rows(steps):
        table.add_row(
            escape(row.step), escape(row.phase), _clock(row.seconds), end_section=row.total
        )
    table.add_row("journey", "total, sandbox up to audit", _clock(total))
    console.print(table)


@dataclass(frozen=True)
class Outcome:
    """What a step that is not a flow run (the inventory edit) reports, as a RunOutcome does."""

    state: str
    message: str
    phase_seconds: dict[str, float] = field(default_factory=dict)
    records: list[StepRecord] = field(default_factory=list)


def _timed(name: str, run: Callable[[], Any]) -> StepResult:
    """Run one step; ``run`` returns a RunOutcome or an Outcome."""
    started = time.monotonic()
    outcome = run()
    return StepResult(
        name,
        outcome.state,
        outcome.message,
        time.monotonic() - started,
        dict(outcome.phase_seconds),
        list(outcome.records),
    )


def _edit_inventory(path: Path, version: str) -> Outcome:
    try:
        before, kept = set_current_version(path, version)
    except (InventoryError, OSError) as exc:
        return Outcome("FAILED", str(exc))
    return Outcome(
        "COMPLETED",
        f"the inventory's current_version set {before} -> {version} for the migration, as an "
        f"operator would (the previous file kept as {kept.name})",
    )


def main() -> int:
    from kafka_upgrade.app.local_run import run_migration, run_upgrade
    from kafka_upgrade.app.local_server import ServerError, server_for_run

    auto = auto_approve()
    start, on, end = JOURNEY.start, JOURNEY.migrate_on, JOURNEY.end
    zk_path = cluster.sandbox_dir(NAME) / "inventory.yaml"
    kraft_path = kraft_inventory_path(zk_path)
    began = time.monotonic()
    inventory = sandbox_up(NAME, "zk", version=start, stage=[on, end], kraft_controllers=3)
    if inventory is None:
        return 1
    steps: list[StepResult] = []
    try:
        traffic = start_traffic(NAME, inventory)
        with server_for_run() as server:
            say(f"Prefect UI: {server.ui_url}")

            def upgrade(path: Path, version: str) -> Callable[[], Any]:
                def run() -> Any:
                    if not path.exists():
                        return Outcome("FAILED", f"no inventory at {path}")
                    return run_upgrade(server, str(path), version, auto_approve=auto, say=say)

                return run

            plan: list[tuple[str, Callable[[], Any]]] = [
                (f"upgrade-to-{on}", upgrade(zk_path, on)),
                (f"inventory-current-{on}", lambda: _edit_inventory(zk_path, on)),
                (
                    "migrate-to-kraft",
                    lambda: run_migration(server, str(zk_path), auto_approve=auto, say=say),
                ),
                (f"upgrade-to-{end}", upgrade(kraft_path, end)),
            ]
            for number, (name, run) in enumerate(plan, 1):
                result = _timed(name, run)
                steps.append(result)
                style = "green" if result.ok else "red"
                console.print(
                    f"[{style}]step {number}/{len(plan)} {escape(name)}: "
                    f"{escape(f'{result.state} in {_clock(result.seconds)}: {result.message}')}[/]"
                )
                if not result.ok:
                    left = ", ".join(n for n, _ in plan[number:]) or "none"
                    console.print(f"[red]stopped at {escape(name)}; not run: {escape(left)}[/]")
                    break
        report = finish_traffic(traffic)
        total = time.monotonic() - began
        print_upgrade([r for s in steps for r in s.records])
        print_nodes(cluster.status(NAME))
        print_phases(steps, total)
        print_traffic(report)
        ok = journey_ok(steps, len(plan), report.lost, report.failed)
        if ok:
            console.print(f"[green]ZooKeeper {start} -> KRaft {end}: done, nothing lost[/]")
        else:
            console.print("[red]the journey did not finish cleanly (see above)[/]")
        return 0 if ok else 1
    except ServerError as exc:  # the temporary Prefect server did not start (a loaded machine)
        console.print(f"[red]{escape(str(exc))}[/]")
        return 1
    finally:
        cluster.down(NAME, log=say)
