"""The service commands of the CLI: serve, deploy, trigger, approve, reject, status.

They talk to a Prefect server (``PREFECT_API_URL``); ``trigger``, ``approve``,
``reject`` and ``status`` use plain HTTP, the same calls a ticketing system makes.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kafka_upgrade.app.cli_output import fail as _fail
from kafka_upgrade.app.cli_output import refuse as _refuse
from kafka_upgrade.app.cli_output import say as _say


def _api(api_url: str | None):  # -> deployments.tickets.Api
    from deployments.tickets import Api, ApiError

    try:
        return Api.from_env(api_url)
    except ApiError as exc:
        _fail(str(exc))


ApiUrl = Annotated[
    str | None,  # noqa: UP007
    typer.Option("--api-url", help="Prefect API (default: $PREFECT_API_URL)."),
]


def register_commands(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("deploy")(deploy)
    app.command("trigger")(trigger)
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("status")(status)
    from kafka_upgrade.app.cli_plan import plan

    app.command("plan")(plan)


def serve(
    home: Annotated[
        Path | None,  # noqa: UP007
        typer.Option(
            help="State directory (Prefect database, logs); default $KAFKA_UPGRADE_HOME or "
            "~/.local/share/kafka-upgrade."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address the Prefect server listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the Prefect server (UI and API).")] = 4200,
    database: Annotated[
        str | None,  # noqa: UP007
        typer.Option(help="postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB (default: SQLite)."),
    ] = None,
    notify_webhook: Annotated[
        str | None,  # noqa: UP007
        typer.Option(
            help="URL told when a run waits for approval, fails, crashes or is cancelled "
            "(default: $KAFKA_UPGRADE_NOTIFY_WEBHOOK)."
        ),
    ] = None,
    worker_name: Annotated[
        str | None,  # noqa: UP007
        typer.Option(help="Name of the worker (default: kafka-upgrade-<hostname>)."),
    ] = None,
) -> None:
    """Run the Prefect service in the foreground: server, deployments, alerts, a worker."""
    from deployments.service import WEBHOOK_ENV, ServeOptions, default_home, serve
    from kafka_upgrade.app.local_server import ServerError

    opts = ServeOptions(
        home=(home or default_home()).expanduser().resolve(),
        host=host,
        port=port,
        database_url=database or os.environ.get("KAFKA_UPGRADE_DATABASE_URL") or None,
        webhook_url=notify_webhook or os.environ.get(WEBHOOK_ENV) or None,
        worker_name=worker_name,
    )
    try:
        code = serve(opts, say=lambda m: print(m, flush=True))
    except ServerError as exc:
        _fail(str(exc))
    raise typer.Exit(code=code)


def deploy(
    notify_webhook: Annotated[
        str | None,  # noqa: UP007
        typer.Option(help="Alert webhook URL (default: $KAFKA_UPGRADE_NOTIFY_WEBHOOK)."),
    ] = None,
) -> None:
    """Register the work pool, every deployment and the alerts on $PREFECT_API_URL."""
    from deployments.service import WEBHOOK_ENV, ServeOptions, default_home, setup
    from kafka_upgrade.app.local_server import PrefectServer, _healthy

    api_url = (os.environ.get("PREFECT_API_URL") or "").rstrip("/")
    if not api_url:
        _refuse("deploy needs PREFECT_API_URL (e.g. http://prefect-host:4200/api)")
    if not _healthy(api_url):
        _fail(f"PREFECT_API_URL={api_url} does not answer; start the server first")
    ui_url = api_url[: -len("/api")] if api_url.endswith("/api") else api_url
    opts = ServeOptions(
        home=default_home(), webhook_url=notify_webhook or os.environ.get(WEBHOOK_ENV) or None
    )
    setup(PrefectServer(api_url=api_url, ui_url=ui_url), opts, _say)


def _cluster_and_name(inventory: Path | None, cluster: str | None, to: str) -> tuple[str, str]:
    """(the request's cluster value, the cluster's name for tags), checked locally.

    An inventory given here is checked as ``run`` checks it, except for what
    only the worker can see (its files, its network).
    """
    from kafka_upgrade.adapters.early_probes import check_local
    from kafka_upgrade.core.early_checks import summarize
    from kafka_upgrade.core.inventory import InventoryError, load_inventory
    from kafka_upgrade.core.requests import looks_like_path

    if (inventory is None) == (cluster is None):
        _refuse("give exactly one of --inventory PATH or --cluster NAME")
    if inventory is not None:
        try:
            loaded = load_inventory(inventory)
        except InventoryError as exc:
            _refuse(str(exc))
        _, problems = check_local(loaded, to, "upgrade", files=False)
        if problems:
            _refuse(summarize(problems))
        return str(inventory.resolve()), loaded.cluster
    assert cluster is not None
    if looks_like_path(cluster):
        _refuse("--cluster takes a cluster name; use --inventory for a file")
    return cluster, cluster


def trigger(
    to: Annotated[str, typer.Option("--to", help="Target Kafka version, e.g. 4.1.1.")],
    ticket: Annotated[str, typer.Option(help="Change ticket id, e.g. CHG-123.")],
    inventory: Annotated[
        Path | None,  # noqa: UP007
        typer.Option(help="Inventory file (a path the worker can read too)."),
    ] = None,
    cluster: Annotated[
        str | None,  # noqa: UP007
        typer.Option(help="Cluster name, resolved in the worker's $KAFKA_UPGRADE_INVENTORIES."),
    ] = None,
    at: Annotated[
        str | None,  # noqa: UP007
        typer.Option(help="Start at this time (ISO 8601, e.g. 2026-12-01T02:00:00Z)."),
    ] = None,
    cluster_wait_s: Annotated[
        float | None,  # noqa: UP007
        typer.Option(help="Wait this long for another run holding the cluster (default 1800)."),
    ] = None,
    approval_timeout_s: Annotated[
        int | None,  # noqa: UP007
        typer.Option(help="How long the approval may wait (default: the inventory's)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    api_url: ApiUrl = None,
) -> None:
    """Create a run of rolling-upgrade for a ticket (the same ticket twice: the same run)."""
    from deployments.tickets import ApiError, trigger_body
    from deployments.tickets import trigger as create
    from kafka_upgrade.core.upgrade_path import parse_version

    try:
        parse_version(to)
    except ValueError as exc:
        _refuse(f"--to: {exc}")
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            _refuse(f"--at {at!r} is not an ISO 8601 time; write e.g. 2026-12-01T02:00:00Z")
        if when.tzinfo is None:
            _refuse(f"--at {at!r} has no time zone; add Z for UTC or an offset like +01:00")
        when = when.astimezone(UTC)
    value, name = _cluster_and_name(inventory, cluster, to)
    extra: dict = {}
    if cluster_wait_s is not None:
        extra["cluster_wait_s"] = cluster_wait_s
    if approval_timeout_s is not None:
        extra["approval_timeout_s"] = approval_timeout_s
    api = _api(api_url)
    try:
        result = create(api, trigger_body(value, name, ticket, to, when, extra))
    except ApiError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    verb = "created" if result.created else "already existed for this ticket"
    _say(f"flow run {result.flow_run_id} {verb} ({result.state}): {result.url}")


def _decide(run_id: str, approve: bool, approver: str, comment: str, api_url: str | None) -> None:
    from deployments.tickets import ApiError, decide

    api = _api(api_url)
    try:
        state = decide(api, run_id, approve, approver, comment)
    except ApiError as exc:
        _fail(str(exc))
    _say(f"{'approved' if approve else 'rejected'} by {approver}; the run is {state}")


def approve(
    run_id: Annotated[str, typer.Argument(help="The paused flow run's id.")],
    approver: Annotated[str, typer.Option(help="Who approves.")],
    comment: Annotated[str, typer.Option(help="Why; kept in the report.")] = "",
    api_url: ApiUrl = None,
) -> None:
    """Approve the next phase of a paused upgrade."""
    _decide(run_id, True, approver, comment, api_url)


def reject(
    run_id: Annotated[str, typer.Argument(help="The paused flow run's id.")],
    approver: Annotated[str, typer.Option(help="Who rejects.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
    api_url: ApiUrl = None,
) -> None:
    """Reject the next phase: the run stops (Cancelled) before it."""
    _decide(run_id, False, approver, comment, api_url)


def status(
    run_id: Annotated[str, typer.Argument(help="The flow run's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    api_url: ApiUrl = None,
) -> None:
    """State, current phase and node, and the per-node table of a run."""
    from deployments.tickets import ApiError
    from deployments.tickets import status as read_status

    api = _api(api_url)
    try:
        st = read_status(api, run_id)
    except ApiError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(st.as_json()))
        return
    _say(f"{st.name} ({st.flow_run_id}): {st.state}" + (f": {st.message}" if st.message else ""))
    if st.now:
        _say(f"now: {st.now}" + (f", {st.progress:.0f}%" if st.progress is not None else ""))
    _say(st.url)
    if st.nodes:
        table = Table(title="nodes")
        columns = list(st.nodes[0].keys())
        for column in columns:
            table.add_column(column)
        for row in st.nodes:
            table.add_row(*(escape(str(row.get(c, ""))) for c in columns))
        Console(width=160).print(table)
