"""The rolling restart every phase shares, driven by the roll plan's tables.

1. Look at every node first (``observe-<node>``) and decide
   (``kafka_upgrade.roll_plan``): a node a dead run left stopped is started
   first, on the version its ``current`` link points to, and waited healthy;
   a node stopped for reasons nothing explains, or one that cannot be probed,
   stops the run before anything is touched.
2. Then, one node at a time in the order ``kafka_upgrade.order.roll_order``
   decides (ZooKeeper: brokers by id, the active controller last; KRaft:
   controllers first with the quorum leader last, then brokers), observe it
   again and act on the decision:

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
     in every ISR and the cluster is healthy, ``stable_checks`` polls in a row;
     then (brokers, on by default) elect it leader of its preferred partitions
     and wait until it leads them, so the cluster ends balanced.

Rules never broken: one node at a time; nothing is touched while anything is
unhealthy; the first failure stops the phase (and so the run), leaving the
cluster at full strength where it can.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prefect import get_run_logger

from kafka_upgrade.errors import StepFailed
from kafka_upgrade.health import lag_report
from kafka_upgrade.order import NodeRef, roll_order
from kafka_upgrade.roll_plan import Action, Decision, NodeObservation, Want, decide
from tasks.context import StepRecord, UpgradeContext, node_label
from tasks.node import (
    backup_config,
    check_staged,
    node_logs,
    observe_node,
    read_config,
    restore_config,
    set_config,
    start_node,
    stop_node,
    switch_binary,
)
from tasks.progress import Progress
from tasks.sensors import (
    read_quorum,
    record_lag,
    restore_leadership,
    wait_recovered,
    wait_safe_to_restart,
    watch_start,
)

WantedConfig = Callable[[Mapping[str, str]], Mapping[str, str | None]]
_MAX_DECISIONS = 4  # per node: e.g. recovering -> needs restart -> done


def active_controller(ctx: UpgradeContext) -> int | None:
    """ZooKeeper: the controller broker. KRaft: the metadata quorum leader."""
    if ctx.inventory.mode == "zk":
        # During a ZooKeeper -> KRaft migration the controller is a new KRaft controller,
        # not one of the brokers: then no broker needs to go last.
        controller = ctx.reader.snapshot().controller_id
        return controller if controller in ctx.inventory.broker_ids else None
    return read_quorum(ctx).leader_id


def plan_order(ctx: UpgradeContext) -> list[int]:
    refs = [NodeRef(n.id, frozenset(n.roles)) for n in ctx.inventory.nodes]
    return roll_order(refs, ctx.inventory.mode, active_controller(ctx))


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

    def want(self, node_id: int) -> Want:
        return Want(self.binary, self.wanted_config(read_config(self.ctx, node_id)))

    def observe(self, node_id: int) -> tuple[NodeObservation, Want, Decision]:
        want = self.want(node_id)
        label = node_label(self.ctx.node(node_id))
        obs = observe_node(self.ctx, node_id, label, sorted(want.config), self.binary)
        decision = decide(obs, want)
        self.logger.info("%s: %s", self.phase, decision)
        return obs, want, decision

    # -- step 1: nodes a dead run left down -------------------------------------

    def bring_back_stopped(self) -> list[StepRecord]:
        records = []
        for node in self.ctx.inventory.nodes:
            obs, _, decision = self.observe(node.id)
            if decision.action is Action.STOP_RUN:
                raise StepFailed(
                    f"{self.phase} refused; nothing was touched: {decision.reason.message}"
                )
            if decision.action is Action.START:
                records.append(self._resume(obs))
        return records

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

    def node(self, node_id: int) -> StepRecord:
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
            return self._restart(obs, want, decision)
        raise StepFailed(f"{node_label(self.ctx.node(node_id))}: no decision settled; see the log")

    def _restart(self, obs: NodeObservation, want: Want, decision: Decision) -> StepRecord:
        ctx, node_id, label = self.ctx, obs.node_id, obs.label
        started = time.time()
        if obs.link != self.binary:
            # Checked before the stop, so a missing install never leaves a node down.
            check_staged(ctx, node_id, label, self.binary)
        wait_safe_to_restart(ctx, node_id, label)
        lag_before = record_lag(ctx, label)
        backup = backup_config(ctx, node_id, label, self.phase, self.binary)
        changes = dict(want.config)  # None: the key is removed
        if changes:
            set_config(ctx, node_id, label, changes)
        stop_node(ctx, node_id, label)
        if obs.link != self.binary:
            switch_binary(ctx, node_id, label, self.binary)
        start_node(ctx, node_id, label)
        outcome = watch_start(ctx, node_id, label)
        if not outcome.ok:
            self._failed_start(obs, backup, outcome.detail)
        wait_recovered(ctx, node_id, label, self.binary)
        if ctx.node(node_id).is_broker and ctx.inventory.health.preferred_leaders:
            restore_leadership(ctx, node_id, label)
        lag_after = record_lag(ctx, label)
        lag = lag_report(lag_before, lag_after, ctx.inventory.health.lag_growth_warn)
        (self.logger.info if lag.ok else self.logger.warning)("%s: consumer lag %s", label, lag)
        record = ctx.record(
            StepRecord(
                self.phase,
                node_id,
                "restarted",
                decision.reason.message,
                started,
                version_before=obs.binary,
                version_after=self.binary,
                lag_before=sum(lag_before.values()) if lag_before else None,
                lag_after=sum(lag_after.values()) if lag_after else None,
                label=label,
            )
        )
        self.logger.info("%s: %s done in %.1f s", self.phase, label, record.seconds)
        return record

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


def roll(
    ctx: UpgradeContext,
    phase: str,
    binary: str,
    wanted_config: WantedConfig,
    progress: Progress | None = None,
    revert_failed_start: bool = True,
) -> list[StepRecord]:
    """Restart every node that is not yet what ``phase`` wants, one at a time."""
    logger = get_run_logger()
    run = _Roll(ctx, phase, binary, wanted_config, revert_failed_start)
    records = run.bring_back_stopped()
    order = plan_order(ctx)
    logger.info(
        "%s: roll order %s (%s)",
        phase,
        " -> ".join(node_label(ctx.node(i)) for i in order),
        "active controller last"
        if ctx.inventory.mode == "zk"
        else "controllers first, leader last",
    )
    for node_id in order:
        if progress is not None:
            progress.at(f"{phase}: {node_label(ctx.node(node_id))}")
        try:
            records.append(run.node(node_id))
            if progress is not None:
                progress.finished(records[-1])
        except BaseException as exc:
            done = ", ".join(f"{r.label} {r.action}" for r in records)
            logger.error(
                "%s stopped at %s: %s. Done before it: %s. No other node was touched; "
                "fix the cause and re-run: done nodes are skipped.",
                phase,
                node_label(ctx.node(node_id)),
                exc,
                done or "none",
            )
            raise
    return records
