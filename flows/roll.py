"""The rolling restart every phase shares, driven by the roll plan's tables.

1. Look at every node first (``observe-<node>``) and decide
   (``kafka_upgrade.core.roll_plan``): a node a dead run left stopped is started
   first, on the version its ``current`` link points to, and waited healthy;
   a node stopped for reasons nothing explains, or one that cannot be probed,
   stops the run before anything is touched.
2. Then, one node at a time in the order ``kafka_upgrade.core.order.roll_order``
   decides (ZooKeeper: brokers by id, the active controller last; KRaft:
   controllers first with the quorum leader last, then brokers), observe it
   (one SSH look: ``observe-<node>``) and act on the decision:

   - done: skip (so a re-run resumes where a stopped run left off);
   - recovering: wait until it is back, then decide again;
   - needs restart: check the phase's binary is staged; wait for the restart
     gate (``roll_plan.restart_gate``: partitions and quorum stay available);
     back up server.properties (once per node, phase and target); apply the
     phase's settings; controlled stop; point ``current`` at the binary; start;
     watch the start (``watch-start``): a process that exits or a broker that
     does not register fails the step at once, quoting the node's logs, and the
     node is reverted (previous config and binary, started, waited healthy)
     unless the request opted out; then wait until it runs the binary, is back
     in every ISR and the cluster is healthy. Then, side by side, nothing of
     which touches a process: watch that this holds (``stable_checks`` polls
     over ``stable_s``); (brokers, on by default) elect it leader of its
     preferred partitions and wait until it leads them, so the cluster ends
     balanced; read the consumer lag; look at the next node. The next node's
     gate comes after all of them.

3. With ``max_parallel`` N > 1 (inventory or run request), the order is cut
   into batches (``kafka_upgrade.core.batches.plan_batches``: up to N brokers that
   share no partition, one rack first; controllers and the active controller
   always alone). A batch of one is step 2 exactly. A bigger batch: every
   member is observed and decided as in step 2 (done members are skipped);
   the members that need a restart pass one restart gate together
   (``roll_plan.batch_restart_gate``: every partition keeps min.insync.replicas
   with all of them down), each is backed up and configured, then all are
   stopped at once, switched, started at once and watched; a failed start
   reverts the failed members (as in step 2) and stops the run; then one wait
   until every member is back and the cluster healthy, then each member's
   preferred leaders.

Rules never broken: one node at a time unless ``max_parallel`` allows a batch
of brokers sharing no partition; nothing is touched while anything is
unhealthy; the first failure stops the phase (and so the run), leaving the
cluster at full strength where it can.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prefect import get_run_logger
from prefect.futures import PrefectFuture

from flows.common import each_node
from kafka_upgrade.adapters.kafka_admin import LagReading
from kafka_upgrade.core.batches import Batch, plan_batches
from kafka_upgrade.core.errors import StepFailed
from kafka_upgrade.core.health import lag_report
from kafka_upgrade.core.order import NodeRef, roll_order
from kafka_upgrade.core.roll_plan import Action, Decision, NodeObservation, Want, decide
from tasks.context import StepRecord, UpgradeContext, node_label
from tasks.node import (
    backup_config,
    node_logs,
    observe_node,
    read_config,
    require_staged,
    restore_config,
    set_config,
    start_node,
    stop_node,
    switch_binary,
)
from tasks.progress import Progress
from tasks.sensors import (
    hold_stable,
    read_quorum,
    record_lag,
    restore_leadership,
    wait_batch_recovered,
    wait_recovered,
    wait_safe_to_restart,
    wait_safe_to_restart_batch,
    watch_start,
)

WantedConfig = Callable[[Mapping[str, str]], Mapping[str, str | None]]
_MAX_DECISIONS = 4  # per node: e.g. recovering -> needs restart -> done
_LAG_REUSE_S = 30.0  # a lag reading this fresh also serves as the next node's "before"


def active_controller(ctx: UpgradeContext) -> int | None:
    """ZooKeeper: the controller broker. KRaft: the metadata quorum leader."""
    if ctx.inventory.mode == "zk":
        # During a ZooKeeper -> KRaft migration the controller is a new KRaft controller,
        # not one of the brokers: then no broker needs to go last.
        controller = ctx.reader.snapshot().controller_id
        return controller if controller in ctx.inventory.broker_ids else None
    return read_quorum(ctx).leader_id


def plan_roll(ctx: UpgradeContext, racks: Mapping[int, str | None] | None = None) -> list[Batch]:
    """The roll order cut into batches of up to ``max_parallel`` (one node each at 1).

    ``racks`` (broker id -> broker.rack) is read from each broker's server.properties
    when not given.
    """
    inv = ctx.inventory
    active = active_controller(ctx)
    refs = [NodeRef(n.id, frozenset(n.roles)) for n in inv.nodes]
    order = roll_order(refs, inv.mode, active)
    if inv.max_parallel <= 1:
        return [Batch((node_id,)) for node_id in order]
    alone = {n.id for n in inv.nodes if n.is_controller} | ({active} - {None})
    if racks is None:
        racks = {
            n.id: read_config(ctx, n.id).get("broker.rack") for n in inv.nodes if n.id not in alone
        }
    replicas = [p.replicas for p in ctx.reader.full_snapshot().partitions]
    return plan_batches(order, alone, replicas, racks, inv.max_parallel)


class _Roll:
    """One phase's roll over the cluster: observe, decide, act."""

    def __init__(
        self,
        ctx: UpgradeContext,
        phase: str,
        binary: str,
        wanted_config: WantedConfig,
        revert_failed_start: bool,
    ) -> None:
        self.ctx = ctx
        self.phase = phase
        self.binary = binary
        self.wanted_config = wanted_config
        self.revert_failed_start = revert_failed_start
        self.logger = get_run_logger()
        self._last_lag: tuple[float, LagReading] | None = None  # (time.monotonic(), reading)
        # Looks at the next node taken while the previous one's stability was watched.
        self._ahead: dict[int, PrefectFuture[NodeObservation]] = {}
        # Backups of server.properties taken in the same spare time, for a next node the
        # look said needs a restart (a copy: it touches no process).
        self._backups: dict[int, PrefectFuture[str]] = {}
        # broker.rack of every node, from the looks at the phase's start (for the batches).
        self.racks: dict[int, str | None] = {}
        ctx.lags().warm()  # the first lag read runs beside the first gate: start its child now

    def observe(self, node_id: int) -> tuple[NodeObservation, Want, Decision]:
        """Look at the node (one SSH round trip) and decide. A look taken ahead, while the
        previous node's stability was watched, serves the first decision; any later one
        (after a wait or a start) looks again."""
        label = node_label(self.ctx.node(node_id))
        ahead = self._ahead.pop(node_id, None)
        if ahead is not None:
            ahead.wait()
        if ahead is not None and ahead.state.is_completed():
            obs = ahead.result()
        else:  # none taken, or it failed: look now (a failure here is the step's)
            obs = observe_node(self.ctx, node_id, label, self.binary)
        want = Want(self.binary, self.wanted_config(obs.config))
        decision = decide(obs, want)
        self.logger.info("%s: %s", self.phase, decision)
        return obs, want, decision

    # -- step 1: nodes a dead run left down -------------------------------------

    def bring_back_stopped(self) -> list[StepRecord]:
        """Start first what an earlier run left stopped; refuse a stop nothing explains.

        Every node is looked at at once (one SSH round trip each); a node without a
        process is decided here. A running node is decided when its turn comes (its look
        is kept for that, see ``keep_look_at``).
        """
        nodes = self.ctx.inventory.nodes
        looks = {
            node.id: observe_node.submit(self.ctx, node.id, node_label(node), self.binary)
            for node in nodes
        }
        records = []
        for node in nodes:
            look = looks[node.id]
            look.wait()
            if look.state.is_completed():
                self.racks[node.id] = look.result().config.get("broker.rack")
            if look.state.is_completed() and look.result().running:
                self._ahead[node.id] = look
                continue
            # Not running, or the look failed: decide on a fresh look (a failure is final).
            obs, _, decision = self.observe(node.id)
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

    def _resume(self, obs: NodeObservation) -> StepRecord:
        ctx, label = self.ctx, obs.label
        started = time.time()
        version = obs.link or self.binary
        self.logger.warning(
            "%s: %s was left stopped by an earlier run; starting it on %s first",
            self.phase,
            label,
            version,
        )
        start_node(ctx, obs.node_id, label)
        outcome = watch_start(ctx, obs.node_id, label)
        if not outcome.ok:
            raise StepFailed(
                f"{label} was left stopped by an earlier run and did not start again on {version}: "
                f"{outcome.detail}.\n{node_logs(ctx, obs.node_id)}\nFix it and re-run."
            )
        wait_recovered(ctx, obs.node_id, label, version)
        return ctx.record(
            StepRecord(
                self.phase,
                obs.node_id,
                "started",
                "left stopped by an earlier run",
                started,
                version_before=None,
                version_after=version,
                label=label,
            )
        )

    # -- step 2: the roll ----------------------------------------------------------

    def node(self, node_id: int, upcoming: int | None = None) -> StepRecord:
        """Settle and (if needed) restart one node; ``upcoming`` is looked at meanwhile."""
        settled = self._settle(node_id)
        return settled if isinstance(settled, StepRecord) else self._restart(*settled, upcoming)

    def _settle(self, node_id: int) -> StepRecord | tuple[NodeObservation, Want, Decision]:
        """Observe and act until the node is done (its record) or needs a restart."""
        for _ in range(_MAX_DECISIONS):
            obs, want, decision = self.observe(node_id)
            if decision.action is Action.SKIP:
                return self.ctx.record(
                    StepRecord(
                        self.phase,
                        node_id,
                        "skipped",
                        "already done",
                        time.time(),
                        0,
                        self.binary,
                        self.binary,
                        label=obs.label,
                    )
                )
            if decision.action is Action.STOP_RUN:
                raise StepFailed(decision.reason.message)
            if decision.action is Action.WAIT:
                wait_recovered(self.ctx, node_id, obs.label, obs.binary or self.binary)
                continue
            if decision.action is Action.START:
                self._resume(obs)
                continue
            return obs, want, decision
        raise StepFailed(f"{node_label(self.ctx.node(node_id))}: no decision settled; see the log")

    def _restart(
        self, obs: NodeObservation, want: Want, decision: Decision, upcoming: int | None = None
    ) -> StepRecord:
        ctx, node_id, label = self.ctx, obs.node_id, obs.label
        started = time.time()
        if obs.link != self.binary:
            # Checked before the stop, so a missing install never leaves a node down.
            require_staged(ctx.node(node_id), label, self.binary, bool(obs.staged))
        lag_before = self._lag_before(label)  # read beside the gate, in its own child
        backup = self._backup(node_id, label)  # copied beside the gate, or already
        wait_safe_to_restart(ctx, node_id, label)
        backup = backup()
        changes = dict(want.config)  # None: the key is removed
        if changes:
            set_config(ctx, node_id, label, changes)
        before = lag_before()
        stop_node(ctx, node_id, label)
        if obs.link != self.binary:
            switch_binary(ctx, node_id, label, self.binary)
        start_node(ctx, node_id, label)
        outcome = watch_start(ctx, node_id, label)
        if not outcome.ok:
            self._failed_start(obs, backup, outcome.detail)
        wait_recovered(ctx, node_id, label, self.binary, stable=False)  # back in every ISR
        lag_after = self._after_recovery({node_id: self.binary}, label, upcoming)
        self._say_lag(label, before, lag_after)
        record = ctx.record(
            StepRecord(
                self.phase,
                node_id,
                "restarted",
                decision.reason.message,
                started,
                version_before=obs.binary,
                version_after=self.binary,
                lag_before=_total(before),
                lag_after=_total(lag_after),
                label=label,
            )
        )
        self.logger.info("%s: %s done in %.1f s", self.phase, label, record.seconds)
        return record

    # -- step 3: a batch of brokers -----------------------------------------------

    def batch(self, members: tuple[int, ...], upcoming: int | None = None) -> list[StepRecord]:
        records: list[StepRecord] = []
        restarts: list[tuple[NodeObservation, Want, Decision]] = []
        for node_id in members:
            settled = self._settle(node_id)
            if isinstance(settled, StepRecord):
                records.append(settled)
            else:
                restarts.append(settled)
        if len(restarts) == 1:
            records.append(self._restart(*restarts[0], upcoming))
        elif restarts:
            records.extend(self._restart_together(restarts, upcoming))
        return records

    def _restart_together(
        self, restarts: list[tuple[NodeObservation, Want, Decision]], upcoming: int | None = None
    ) -> list[StepRecord]:
        ctx = self.ctx
        members = [obs for obs, _, _ in restarts]
        pairs = [(obs.node_id, obs.label) for obs in members]
        label = " + ".join(obs.label for obs in members)
        started = time.time()
        for obs in members:  # before any stop, so a missing install never leaves a node down
            if obs.link != self.binary:
                require_staged(ctx.node(obs.node_id), obs.label, self.binary, bool(obs.staged))
        lag_before = self._lag_before(label)
        copies = {obs.node_id: self._backup(obs.node_id, obs.label) for obs in members}
        wait_safe_to_restart_batch(ctx, [obs.node_id for obs in members], label)
        backups = {node_id: copy() for node_id, copy in copies.items()}
        for obs, want, _ in restarts:
            changes = dict(want.config)  # None: the key is removed
            if changes:
                set_config(ctx, obs.node_id, obs.label, changes)
        before = lag_before()
        self.logger.info("%s: restarting %s together", self.phase, label)
        each_node(True, stop_node, ctx, pairs)
        for obs in members:
            if obs.link != self.binary:
                switch_binary(ctx, obs.node_id, obs.label, self.binary)
        each_node(True, start_node, ctx, pairs)
        outcomes = each_node(True, watch_start, ctx, pairs)
        failed = {
            obs.node_id: o.detail for obs, o in zip(members, outcomes, strict=True) if not o.ok
        }
        if failed:
            self._failed_batch_start(members, backups, failed)
        versions = {obs.node_id: self.binary for obs in members}
        wait_batch_recovered(ctx, versions, label, stable=False)  # back in every ISR
        lag_after = self._after_recovery(versions, label, upcoming)
        self._say_lag(label, before, lag_after)
        records = [
            ctx.record(
                StepRecord(
                    self.phase,
                    obs.node_id,
                    "restarted",
                    f"{decision.reason.message} (in batch {label})",
                    started,
                    version_before=obs.binary,
                    version_after=self.binary,
                    lag_before=_total(before),
                    lag_after=_total(lag_after),
                    label=obs.label,
                )
            )
            for obs, _, decision in restarts
        ]
        self.logger.info("%s: %s done in %.1f s", self.phase, label, records[-1].seconds)
        return records

    def _failed_batch_start(
        self, members: list[NodeObservation], backups: dict[int, str], failed: dict[int, str]
    ) -> None:
        """Members whose new start failed: say so with their own words, revert them (unless
        opted out), wait until the whole batch is back, and stop the run."""
        ctx = self.ctx
        bad = [obs for obs in members if obs.node_id in failed]
        said = "".join(
            f"{obs.label} did not start on {self.binary}: {failed[obs.node_id]}. Its last log "
            f"lines:\n{node_logs(ctx, obs.node_id)}\n"
            for obs in bad
        )
        self.logger.error("%s", said)
        fix = ", ".join(
            f"{ctx.node(o.node_id).version_dir(self.binary)} on {ctx.node(o.node_id).host}"
            for o in bad
        )
        previous = {obs.node_id: obs.binary or obs.link for obs in bad}
        if not self.revert_failed_start or None in previous.values():
            raise StepFailed(
                said + f"{', '.join(o.label for o in bad)} left down (revert_on_failed_start is "
                f"off). Nodes after this batch were not touched. Fix {fix}, then re-run: the "
                "roll starts them first."
            )
        reverted = time.time()
        for obs in bad:
            version = str(previous[obs.node_id])
            self.logger.warning(
                "%s: reverting to %s with its previous server.properties", obs.label, version
            )
            restore_config(ctx, obs.node_id, obs.label, backups[obs.node_id])
            switch_binary(ctx, obs.node_id, obs.label, version)
        pairs = [(obs.node_id, obs.label) for obs in bad]
        each_node(True, start_node, ctx, pairs)
        again = each_node(True, watch_start, ctx, pairs)
        down = [f"{obs.label} ({o.detail})" for obs, o in zip(bad, again, strict=True) if not o.ok]
        if down:
            raise StepFailed(
                said + f"The revert did not start either: {', '.join(down)} DOWN. Look at them now."
            )
        versions = {obs.node_id: previous.get(obs.node_id) or self.binary for obs in members}
        wait_batch_recovered(ctx, versions, " + ".join(obs.label for obs in members))
        raise StepFailed(
            said
            + f"Reverted in {time.time() - reverted:.0f} s: "
            + ", ".join(f"{o.label} runs {previous[o.node_id]} again" for o in bad)
            + " with its previous server.properties, and the cluster is healthy. Nodes after "
            f"this batch were not touched. Fix {fix}, then re-run: done nodes are skipped."
        )

    def _lag_before(self, label: str) -> Callable[[], LagReading]:
        """The lag before a restart, to be taken (``()``) before the stop: the reading taken
        right after the previous node, when it is this fresh (one read fewer per node), else
        a new one, read beside the restart gate."""
        last = self._last_lag
        if last is not None and time.monotonic() - last[0] < _LAG_REUSE_S:
            return lambda: last[1]
        return record_lag.submit(self.ctx, label).result

    def _backup(self, node_id: int, label: str) -> Callable[[], str]:
        """The node's backup of server.properties, to be taken (``()``) before its config
        is changed or it is stopped: the one copied ahead, else one copied from now on."""
        ahead = self._backups.pop(node_id, None)
        future = ahead or backup_config.submit(self.ctx, node_id, label, self.phase, self.binary)
        return future.result

    def _after_recovery(
        self, versions: dict[int, str], label: str, upcoming: int | None
    ) -> LagReading:
        """Once the restarted node(s) are back in every ISR: watch the cluster stay stably
        healthy (``hold_stable``) and, at the same time, do what touches no process: elect
        the preferred leaders back, read the lag, look at the next node. The next node's
        gate comes only after all of it; returns the lag reading."""
        ctx = self.ctx
        hold = hold_stable.submit(ctx, versions, label, back_at=time.monotonic())
        leads = []
        if ctx.inventory.health.preferred_leaders:
            leads = [
                restore_leadership.submit(ctx, n, node_label(ctx.node(n)))
                for n in versions
                if ctx.node(n).is_broker
            ]
        # After the elections: they move group coordinators, which the lag read trips on.
        lag = record_lag.submit(ctx, label, wait_for=leads)
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
        label = node_label(self.ctx.node(node_id))
        look = observe_node.submit(self.ctx, node_id, label, self.binary)
        self._ahead[node_id] = look
        look.wait()
        if not look.state.is_completed():
            return  # looked at again when its turn comes; that failure is the step's
        obs = look.result()
        if decide(obs, Want(self.binary, self.wanted_config(obs.config))).action is Action.RESTART:
            self._backups[node_id] = backup_config.submit(
                self.ctx, node_id, label, self.phase, self.binary
            )

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

    def _failed_start(self, obs: NodeObservation, backup: str, detail: str) -> None:
        """The new start failed: say so with the node's own words, revert unless opted out."""
        ctx, node_id, label = self.ctx, obs.node_id, obs.label
        logs = node_logs(ctx, node_id)
        node = ctx.node(node_id)
        said = f"{label} did not start on {self.binary}: {detail}. Its last log lines:\n{logs}\n"
        self.logger.error("%s", said)
        previous = obs.binary or obs.link
        if not self.revert_failed_start or previous is None:
            raise StepFailed(
                said + f"{label} is left down (revert_on_failed_start is off). Nodes after it "
                f"were not touched. Fix {node.version_dir(self.binary)} on {node.host}, then "
                "re-run: the roll starts it first."
            )
        self.logger.warning(
            "%s: reverting to %s with its previous server.properties", label, previous
        )
        reverted = time.time()
        restore_config(ctx, node_id, label, backup)
        switch_binary(ctx, node_id, label, previous)
        start_node(ctx, node_id, label)
        again = watch_start(ctx, node_id, label)
        if not again.ok:
            raise StepFailed(
                said + f"The revert to {previous} did not start either ({again.detail}): "
                f"{label} is DOWN. Look at it now.\n{node_logs(ctx, node_id)}"
            )
        wait_recovered(ctx, node_id, label, previous)
        raise StepFailed(
            said + f"Reverted in {time.time() - reverted:.0f} s: {label} runs {previous} again "
            "with its previous server.properties, and the cluster is healthy. Nodes after it "
            f"were not touched. Fix {node.version_dir(self.binary)} on {node.host}, then re-run: "
            "done nodes are skipped."
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
) -> list[StepRecord]:
    """Restart every node that is not yet what ``phase`` wants: one at a time, or in batches
    of brokers (``max_parallel``)."""
    logger = get_run_logger()
    run = _Roll(ctx, phase, binary, wanted_config, revert_failed_start)
    records = run.bring_back_stopped()
    every_rack_seen = len(run.racks) == len(ctx.inventory.nodes)
    batches = plan_roll(ctx, run.racks if every_rack_seen else None)
    run.keep_look_at(batches[0].members[0] if batches else None)
    name = _namer(ctx)
    logger.info(
        "%s: roll order %s (%s)",
        phase,
        " -> ".join(b.describe(name) for b in batches),
        "active controller last"
        if ctx.inventory.mode == "zk"
        else "controllers first, leader last",
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
    for i, batch in enumerate(batches):
        label = batch.label(name)
        upcoming = batches[i + 1].members[0] if i + 1 < len(batches) else None
        if progress is not None:
            progress.at(f"{phase}: {label}")
        try:
            if len(batch.members) == 1:
                done = [run.node(batch.members[0], upcoming)]
            else:
                done = run.batch(batch.members, upcoming)
            records.extend(done)
            if progress is not None:
                for record in done:
                    progress.finished(record)
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
    return records


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
