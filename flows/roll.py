"""The rolling restart every phase shares: one loop, driven by the roll plan's tables.

A node is a batch of one. For every batch, in the order
``kafka_upgrade.core.order.roll_order`` decides (ZooKeeper: brokers by id, the
active controller last; KRaft: controllers first with the quorum leader last,
then brokers), cut into batches by ``kafka_upgrade.core.batches.plan_batches``
(``max_parallel`` > 1: brokers that share no partition; controllers and the active
controller always alone):

1. **Observe** each member (one SSH look, ``observe-<node>``): the process, the
   binary, the ``current`` link, the config, this upgrade's backup, the
   registration. A look that fails is an observation too (``probed=False``).
2. **Decide** (``kafka_upgrade.core.roll_plan.decide``, pure): the node's state and
   the action, with the reason in words.
3. **Act**, one executor per action, then observe again:

   =============  ==========================================================
   action         executor
   =============  ==========================================================
   skip           record it (a re-run resumes where a stopped run left off)
   wait           wait until it is back (registered, in every ISR)
   start          a node a dead run left down: start it on the version its
                  link points to, wait until it is back
   stop the run   raise, naming the node and the reason; nothing else is
                  touched
   restart        the members that need it, together: the phase's binary
                  staged (checked before any stop); the restart gate
                  (``roll_plan.restart_gate``: partitions, and for a KRaft
                  controller the quorum, stay available); back up
                  server.properties (once per node, phase and target); apply
                  the phase's settings; controlled stop; point ``current`` at
                  the binary; start and watch the start. A start that fails
                  is observed as such (``started_by_roll``) and decided again:
   revert         back to the previous config and binary, started, waited
                  healthy, and the run stops; or (opted out, nothing to
                  revert to) the run stops with the node left down
   =============  ==========================================================

   After a restart: wait until the node(s) are back in every ISR and the
   cluster healthy; then, side by side, nothing of which touches a process:
   watch that this holds for the stability window (``stable_checks`` polls over
   ``stable_s``), elect the node(s) leader of their preferred partitions,
   read the consumer lag, look at the next node (and copy its config aside when
   it needs a restart). The next batch's gate comes after all of them.

Before the first batch, every node is looked at: a node a dead run left stopped
is started first; a node stopped for reasons nothing explains, or one that
cannot be looked at, stops the run before anything is touched.

Rules never broken: one node at a time unless ``max_parallel`` allows a batch of
brokers sharing no partition; nothing is touched while anything is unhealthy;
the first failure stops the phase (and so the run), leaving the cluster at full
strength where it can.

The engine drives two objects: ``nodes`` (what it does to nodes) and ``sensors``
(what it watches). In production they submit the Prefect tasks
(``tasks/roll_steps.py``); the unit tests pass fakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prefect import get_run_logger

from kafka_upgrade.adapters.kafka_admin import LagReading
from kafka_upgrade.core.batches import Batch, plan_batches
from kafka_upgrade.core.errors import StepFailed
from kafka_upgrade.core.health import lag_report
from kafka_upgrade.core.order import NodeRef, roll_order
from kafka_upgrade.core.records import StepAction, StepRecord
from kafka_upgrade.core.roll_plan import (
    Action,
    Decision,
    NodeObservation,
    StartOutcome,
    Want,
    failed_start,
)
from kafka_upgrade.core.roll_plan import decide as decide_node
from tasks.context import UpgradeContext, node_label
from tasks.node import require_staged
from tasks.progress import Progress
from tasks.roll_steps import TaskNodes, TaskSensors

WantedConfig = Callable[[Mapping[str, str]], Mapping[str, str | None]]
_MAX_DECISIONS = 4  # per node: e.g. recovering -> needs restart -> done
_LAG_REUSE_S = 30.0  # a lag reading this fresh also serves as the next node's "before"


class Later(Protocol):
    """A value being worked out beside the roll (a Prefect future in production)."""

    def result(self) -> Any: ...


class Nodes(Protocol):
    def look(self, node_id: int) -> Later: ...
    def backup(self, node_id: int) -> Later: ...
    def set_config(self, node_id: int, changes: dict[str, str | None]) -> None: ...
    def restore(self, node_id: int, backup: str) -> None: ...
    def stop(self, node_ids: Sequence[int]) -> None: ...
    def switch(self, node_id: int, version: str) -> None: ...
    def start(self, node_ids: Sequence[int]) -> list[StartOutcome]: ...
    def logs(self, node_id: int) -> str: ...


class Sensors(Protocol):
    def active_controller(self) -> int | None: ...
    def replicas(self) -> list[tuple[int, ...]]: ...
    def safe_to_restart(self, node_ids: list[int], label: str) -> None: ...
    def recovered(self, versions: dict[int, str], label: str, stable: bool = True) -> None: ...
    def hold(self, versions: dict[int, str], label: str, back_at: float) -> Later: ...
    def leadership(self, node_id: int) -> Later: ...
    def lag(self, label: str, after: Sequence[Later] = ()) -> Later: ...
    def warm(self) -> None: ...


@dataclass(frozen=True)
class _Planned:
    """A member that needs a restart: what was seen, and why."""

    obs: NodeObservation
    want: Want
    decision: Decision


def plan_roll(
    ctx: UpgradeContext,
    racks: Mapping[int, str | None] | None = None,
    sensors: Sensors | None = None,
) -> list[Batch]:
    """The roll order cut into batches of up to ``max_parallel`` (one node each at 1).

    ``racks`` (broker id -> broker.rack) is read from each broker's server.properties
    when not given.
    """
    from tasks.node import read_config

    inv = ctx.inventory
    sensors = sensors or TaskSensors(ctx)
    active = sensors.active_controller()
    refs = [NodeRef(n.id, frozenset(n.roles)) for n in inv.nodes]
    order = roll_order(refs, inv.mode, active)
    if inv.max_parallel <= 1:
        return [Batch((node_id,)) for node_id in order]
    alone = {n.id for n in inv.nodes if n.is_controller} | ({active} - {None})
    if racks is None:
        racks = {
            n.id: read_config(ctx, n.id).get("broker.rack") for n in inv.nodes if n.id not in alone
        }
    return plan_batches(order, alone, sensors.replicas(), racks, inv.max_parallel)


class Roll:
    """One phase's roll over the cluster: observe, decide, act, for every batch."""

    def __init__(
        self,
        ctx: UpgradeContext,
        phase: str,
        binary: str,
        want: Callable[[Mapping[str, str]], Want],
        nodes: Nodes,
        sensors: Sensors,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.ctx, self.phase, self.want = ctx, phase, want
        self.nodes, self.sensors, self.logger = nodes, sensors, logger
        self.binary = binary  # the version the phase puts every node on
        self._last_lag: tuple[float, LagReading] | None = None  # (time.monotonic(), reading)
        # Looks at the next node taken while the previous one's stability was watched.
        self._ahead: dict[int, Later] = {}
        # Backups of server.properties taken in the same spare time, for a next node the
        # look said needs a restart (a copy: it touches no process).
        self._backups: dict[int, Later] = {}
        # broker.rack of every node, from the looks at the phase's start (for the batches).
        self.racks: dict[int, str | None] = {}
        sensors.warm()  # the first lag read runs beside the first gate: start its child now

    def label(self, node_id: int) -> str:
        return node_label(self.ctx.node(node_id))

    # -- observe and decide -------------------------------------------------------

    def _seen(self, node_id: int, look: Later) -> NodeObservation:
        """What a look saw; a look that failed is seen as a node that cannot be probed."""
        try:
            return look.result()
        except Exception as exc:  # noqa: BLE001 - a failed look is an observation: UNKNOWN
            node = self.ctx.node(node_id)
            return NodeObservation(node_id, frozenset(node.roles), probed=False, problem=str(exc))

    def observe(self, node_id: int) -> NodeObservation:
        """Look at the node (one SSH round trip). A look taken ahead, while the previous
        node's stability was watched, serves the first decision unless it failed; any later
        one (after a wait or a start) looks again."""
        ahead = self._ahead.pop(node_id, None)
        if ahead is not None:
            obs = self._seen(node_id, ahead)
            if obs.probed:
                return obs
        return self._seen(node_id, self.nodes.look(node_id))

    def decide(self, obs: NodeObservation, say: bool = True) -> tuple[Want, Decision]:
        want = self.want(obs.config)
        decision = decide_node(obs, want)
        if say:
            self.logger.info("%s: %s", self.phase, decision)
        return want, decision

    # -- before the first batch: nodes a dead run left down -------------------------

    def bring_back_stopped(self) -> list[StepRecord]:
        """Start first what an earlier run left stopped; refuse a stop nothing explains.

        Every node is looked at at once (one SSH round trip each); a node without a
        process is decided here. A running node is decided when its turn comes (its look
        is kept for that, see ``keep_look_at``).
        """
        looks = {node.id: self.nodes.look(node.id) for node in self.ctx.inventory.nodes}
        records = []
        for node_id, look in looks.items():
            obs = self._seen(node_id, look)
            if obs.probed:
                self.racks[node_id] = obs.config.get("broker.rack")
            if obs.probed and obs.running:
                self._ahead[node_id] = look
                continue
            # Not running, or the look failed: decide on a fresh look.
            obs = self._seen(node_id, self.nodes.look(node_id))
            _, decision = self.decide(obs)
            if decision.action is Action.STOP_RUN:
                raise StepFailed(
                    f"{self.phase} refused; nothing was touched: {decision.reason.message}"
                )
            if decision.action is Action.START:
                records.append(self._resume(obs))
        return records

    def keep_look_at(self, node_id: int | None) -> None:
        """Keep the look taken at the start only for the node restarted first: any other
        is looked at again when its turn comes (by then this one is old)."""
        self._ahead = {n: f for n, f in self._ahead.items() if n == node_id}

    # -- the loop -------------------------------------------------------------------

    def batch(self, members: Sequence[int], upcoming: int | None = None) -> list[StepRecord]:
        """Settle every member (observe, decide, act until done or needing a restart), then
        restart together the members that need it; ``upcoming`` is looked at meanwhile."""
        records: list[StepRecord] = []
        restarts: list[_Planned] = []
        for node_id in members:
            settled = self._settle(node_id)
            if isinstance(settled, StepRecord):
                records.append(settled)
            else:
                restarts.append(settled)
        if restarts:
            records.extend(self._restart(restarts, upcoming))
        return records

    def _settle(self, node_id: int) -> StepRecord | _Planned:
        for _ in range(_MAX_DECISIONS):
            obs = self.observe(node_id)
            want, decision = self.decide(obs)
            action = decision.action
            if action is Action.SKIP:
                return self._record(
                    obs, StepAction.SKIPPED, "already done", time.time(), before=self.binary
                )
            if action is Action.WAIT:
                self.sensors.recovered({node_id: obs.binary or self.binary}, obs.label)
            elif action is Action.START:
                self._resume(obs)
            elif action is Action.RESTART:
                return _Planned(obs, want, decision)
            else:  # stop the run (a revert is only decided after the roll's own start)
                raise StepFailed(decision.reason.message)
        raise StepFailed(f"{self.label(node_id)}: no decision settled; see the log")

    # -- executors --------------------------------------------------------------------

    def _resume(self, obs: NodeObservation) -> StepRecord:
        """START: a node a dead run left stopped, on the version its link points to."""
        started = time.time()
        version = obs.link or self.binary
        self.logger.warning(
            "%s: %s was left stopped by an earlier run; starting it on %s first",
            self.phase,
            obs.label,
            version,
        )
        (outcome,) = self.nodes.start([obs.node_id])
        if not outcome.ok:
            raise StepFailed(
                f"{obs.label} was left stopped by an earlier run and did not start again on "
                f"{version}: {outcome.detail}.\n{self.nodes.logs(obs.node_id)}\nFix it and re-run."
            )
        self.sensors.recovered({obs.node_id: version}, obs.label)
        return self._record(
            obs,
            StepAction.STARTED,
            "left stopped by an earlier run",
            started,
            before=None,
            after=version,
        )

    def _restart(self, restarts: list[_Planned], upcoming: int | None) -> list[StepRecord]:
        """RESTART: the members together (a batch of one is the plain step)."""
        ids = [p.obs.node_id for p in restarts]
        label = " + ".join(p.obs.label for p in restarts)
        started = time.time()
        for p in restarts:  # before any stop, so a missing install never leaves a node down
            if p.want.switches(p.obs):
                node = self.ctx.node(p.obs.node_id)
                require_staged(node, p.obs.label, self.binary, bool(p.obs.staged))
        lag_before = self._lag_before(label)  # read beside the gate
        copies = {n: self._backup(n) for n in ids}  # copied beside the gate, or already
        self.sensors.safe_to_restart(ids, label)
        backups = {n: copy() for n, copy in copies.items()}
        for p in restarts:
            if p.want.config:
                self.nodes.set_config(p.obs.node_id, dict(p.want.config))  # None: key removed
        before = lag_before()
        if len(ids) > 1:
            self.logger.info("%s: restarting %s together", self.phase, label)
        self.nodes.stop(ids)
        for p in restarts:
            if p.want.switches(p.obs):
                self.nodes.switch(p.obs.node_id, self.binary)
        outcomes = self.nodes.start(ids)
        self._start_failures(restarts, outcomes, backups)
        versions = dict.fromkeys(ids, self.binary)
        self.sensors.recovered(versions, label, stable=False)  # back in every ISR
        after = self._after_recovery(versions, label, upcoming)
        self._say_lag(label, before, after)
        suffix = f" (in batch {label})" if len(ids) > 1 else ""
        records = [
            self._record(
                p.obs,
                StepAction.RESTARTED,
                p.decision.reason.message + suffix,
                started,
                before=p.obs.binary,
                lags=(before, after),
            )
            for p in restarts
        ]
        self.logger.info("%s: %s done in %.1f s", self.phase, label, records[-1].seconds)
        return records

    def _start_failures(
        self,
        restarts: list[_Planned],
        outcomes: Sequence[StartOutcome],
        backups: Mapping[int, str],
    ) -> None:
        """Members whose new start failed are observed as such and decided again: REVERT
        (back to the previous config and binary) or STOP_RUN (left down). Either way the
        run stops here, in the words of the nodes' own logs."""
        failed = [
            failed_start(p.obs, self.binary, outcome.detail)
            for p, outcome in zip(restarts, outcomes, strict=True)
            if not outcome.ok
        ]
        if not failed:
            return
        decisions = [self.decide(obs)[1] for obs in failed]
        said = "".join(
            f"{obs.label} did not start on {self.binary}: {obs.problem}. Its last log lines:\n"
            f"{self.nodes.logs(obs.node_id)}\n"
            for obs in failed
        )
        self.logger.error("%s", said)
        after = "it" if len(restarts) == 1 else "this batch"
        fix = ", ".join(self._install_of(o.node_id) for o in failed)
        if any(d.action is not Action.REVERT for d in decisions):
            raise StepFailed(
                said
                + "; ".join(d.reason.message for d in decisions)
                + f". Nodes after {after} were not touched. Fix {fix}, then re-run: the roll "
                "starts the node(s) left down first."
            )
        seconds = self._revert(failed, backups, [p.obs.node_id for p in restarts], said)
        raise StepFailed(
            said
            + f"Reverted in {seconds:.0f} s: "
            + ", ".join(f"{o.label} runs {o.version_before} again" for o in failed)
            + " with its previous server.properties, and the cluster is healthy. Nodes after "
            f"{after} were not touched. Fix {fix}, then re-run: done nodes are skipped."
        )

    def _install_of(self, node_id: int) -> str:
        node = self.ctx.node(node_id)
        return f"{node.version_dir(self.binary)} on {node.host}"

    def _revert(
        self,
        failed: list[NodeObservation],
        backups: Mapping[int, str],
        members: list[int],
        said: str,
    ) -> float:
        """REVERT: each failed node back onto its previous config and binary, started and
        watched; then the whole batch waited healthy. Returns the seconds it took."""
        began = time.monotonic()
        for obs in failed:
            previous = str(obs.version_before)
            self.logger.warning(
                "%s: reverting to %s with its previous server.properties", obs.label, previous
            )
            self.nodes.restore(obs.node_id, backups[obs.node_id])
            self.nodes.switch(obs.node_id, previous)
        again = self.nodes.start([obs.node_id for obs in failed])
        down = [
            f"{obs.label} on {obs.version_before} ({o.detail})"
            for obs, o in zip(failed, again, strict=True)
            if not o.ok
        ]
        if down:
            logs = "\n".join(self.nodes.logs(obs.node_id) for obs in failed)
            raise StepFailed(
                said + f"The revert did not start either: {', '.join(down)}: DOWN. Look at "
                f"{'it' if len(down) == 1 else 'them'} now.\n{logs}"
            )
        previous = {obs.node_id: str(obs.version_before) for obs in failed}
        versions = {n: previous.get(n, self.binary) for n in members}
        self.sensors.recovered(versions, " + ".join(self.label(n) for n in members))
        return time.monotonic() - began

    # -- beside the gates -------------------------------------------------------------

    def _lag_before(self, label: str) -> Callable[[], LagReading]:
        """The lag before a restart, to be taken (``()``) before the stop: the reading taken
        right after the previous node, when it is this fresh (one read fewer per node), else
        a new one, read beside the restart gate."""
        last = self._last_lag
        if last is not None and time.monotonic() - last[0] < _LAG_REUSE_S:
            return lambda: last[1]
        return self.sensors.lag(label).result

    def _backup(self, node_id: int) -> Callable[[], str]:
        """The node's backup of server.properties, to be taken (``()``) before its config
        is changed or it is stopped: the one copied ahead, else one copied from now on."""
        ahead = self._backups.pop(node_id, None)
        return (ahead or self.nodes.backup(node_id)).result

    def _after_recovery(
        self, versions: dict[int, str], label: str, upcoming: int | None
    ) -> LagReading:
        """Once the restarted node(s) are back in every ISR: watch the cluster stay stably
        healthy and, at the same time, do what touches no process: elect the preferred
        leaders back, read the lag, look at the next node. The next node's gate comes only
        after all of it; returns the lag reading."""
        hold = self.sensors.hold(versions, label, back_at=time.monotonic())
        leads = []
        if self.ctx.inventory.health.preferred_leaders:
            leads = [self.sensors.leadership(n) for n in versions if self.ctx.node(n).is_broker]
        # After the elections: they move group coordinators, which the lag read trips on.
        lag = self.sensors.lag(label, after=leads)
        if upcoming is not None:
            self._look_ahead(upcoming)
        hold.result()  # not stable in time: the run stops here
        for lead in leads:
            lead.result()
        reading = lag.result()
        self._last_lag = (time.monotonic(), reading)
        return reading

    def _look_ahead(self, node_id: int) -> None:
        """Look at the next node while the previous one's stability is watched and, when it
        needs a restart, back up its server.properties (copies touch no process)."""
        look = self.nodes.look(node_id)
        self._ahead[node_id] = look
        obs = self._seen(node_id, look)
        if obs.probed and self.decide(obs, say=False)[1].action is Action.RESTART:
            self._backups[node_id] = self.nodes.backup(node_id)

    def _say_lag(self, label: str, before: LagReading, after: LagReading) -> None:
        """Consumer lag across the restart: informational, a warning when it grew a lot.
        Groups either reading missed are said to be unread, not new or gone."""
        lag = lag_report(
            before.lags,
            after.lags,
            self.ctx.inventory.health.lag_growth_warn,
            unread={*before.unread, *after.unread},
        )
        (self.logger.info if lag.ok else self.logger.warning)("%s: %s", label, lag)

    def _record(
        self,
        obs: NodeObservation,
        action: StepAction,
        reason: str,
        started: float,
        before: str | None,
        after: str | None = None,
        lags: tuple[LagReading, LagReading] | None = None,
    ) -> StepRecord:
        lag_before, lag_after = (_total(lags[0]), _total(lags[1])) if lags else (None, None)
        return self.ctx.record(
            StepRecord(
                self.phase,
                obs.node_id,
                action,
                reason,
                started,
                0,
                version_before=before,
                version_after=after or self.binary,
                lag_before=lag_before,
                lag_after=lag_after,
                label=obs.label,
            )
        )


def _total(reading: LagReading) -> int | None:
    return sum(reading.lags.values()) if reading.lags else None


def roll(
    ctx: UpgradeContext,
    phase: str,
    binary: str,
    wanted_config: WantedConfig,
    progress: Progress | None = None,
    revert_failed_start: bool = True,
    nodes: Nodes | None = None,
    sensors: Sensors | None = None,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> list[StepRecord]:
    """Restart every node that is not yet what ``phase`` wants: one at a time, or in batches
    of brokers (``max_parallel``)."""
    logger = logger or get_run_logger()
    sensors = sensors or TaskSensors(ctx)
    run = Roll(
        ctx,
        phase,
        binary,
        lambda config: Want(binary, wanted_config(config), revert_failed_start),
        nodes or TaskNodes(ctx, phase, binary),
        sensors,
        logger,
    )
    records = run.bring_back_stopped()
    every_rack_seen = len(run.racks) == len(ctx.inventory.nodes)
    batches = plan_roll(ctx, run.racks if every_rack_seen else None, sensors)
    run.keep_look_at(batches[0].members[0] if batches else None)
    _say_order(ctx, phase, batches, logger)
    for i, batch in enumerate(batches):
        label = batch.label(run.label)
        upcoming = batches[i + 1].members[0] if i + 1 < len(batches) else None
        if progress is not None:
            progress.at(f"{phase}: {label}")
        try:
            done = run.batch(batch.members, upcoming)
        except BaseException as exc:
            finished = ", ".join(f"{r.label} {r.action}" for r in records)
            logger.error(
                "%s stopped at %s: %s. Done before it: %s. No other node was touched; "
                "fix the cause and re-run: done nodes are skipped.",
                phase,
                label,
                exc,
                finished or "none",
            )
            raise
        records.extend(done)
        if progress is not None:
            for record in done:
                progress.finished(record)
    return records


def _say_order(
    ctx: UpgradeContext,
    phase: str,
    batches: list[Batch],
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    name = _namer(ctx)
    logger.info(
        "%s: roll order %s (%s)",
        phase,
        " -> ".join(b.describe(name) for b in batches),
        ctx.inventory.mode.order_words,
    )
    if any(len(b.members) > 1 for b in batches):
        logger.info(
            "%s: max_parallel %d: %d batches for %d nodes (brokers in a batch share no "
            "partition; controllers alone)",
            phase,
            ctx.inventory.max_parallel,
            len(batches),
            sum(len(b.members) for b in batches),
        )


def batch_view(ctx: UpgradeContext, batches: list[Batch]) -> tuple[list[str], list[str]]:
    """(node labels in roll order, batch descriptions when any batch has more than one node:
    what the plan and the approval form show)."""
    name = _namer(ctx)
    labels = [name(m) for b in batches for m in b.members]
    if all(len(b.members) == 1 for b in batches):
        return labels, []
    return labels, [b.describe(name) for b in batches]


def _namer(ctx: UpgradeContext) -> Callable[[int], str]:
    return lambda node_id: node_label(ctx.node(node_id))
