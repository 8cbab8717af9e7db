"""The client a ticketing system (or an SRE) uses: trigger, approve, reject, status.

Plain HTTP against Prefect's REST API, the same calls the README shows as
``curl``, so what is tested here is what a ticketing system sends:

- trigger: ``POST /api/deployments/{id}/create_flow_run`` with the request as
  parameters, tags ``ticket:X`` and ``cluster:Y`` and an idempotency key made
  from both: the same ticket twice gives the same run (201 new, 200 existing);
- approve / reject: ``POST /api/flow_runs/{id}/resume`` with the approval form;
- status: the run's state, and its progress and per-node artifacts.

Self-hosted basic auth: ``PREFECT_API_AUTH_STRING`` (``user:password``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from kafka_upgrade.core.errors import ToolFailed

DEPLOYMENT = "rolling-upgrade/rolling-upgrade"


class ApiError(ToolFailed):
    """The Prefect API refused or could not be reached; the message says what to do."""


@dataclass(frozen=True)
class Api:
    api_url: str  # http://host:4200/api
    auth: str | None = None  # "user:password"

    @classmethod
    def from_env(cls, api_url: str | None = None) -> Api:
        url = api_url or os.environ.get("PREFECT_API_URL")
        if not url:
            raise ApiError(
                "no Prefect API: set PREFECT_API_URL (e.g. http://prefect-host:4200/api) "
                "or pass --api-url"
            )
        return cls(url.rstrip("/"), os.environ.get("PREFECT_API_AUTH_STRING") or None)

    @property
    def ui_url(self) -> str:
        return self.api_url[: -len("/api")] if self.api_url.endswith("/api") else self.api_url

    def run_url(self, flow_run_id: str) -> str:
        return f"{self.ui_url}/runs/flow-run/{flow_run_id}"

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        auth = tuple(self.auth.split(":", 1)) if self.auth and ":" in self.auth else None
        # A busy server (its database locked) answers 503 for a moment: try again, briefly.
        for wait in (0.5, 1.0, 2.0, 4.0, None):
            try:
                response = httpx.request(
                    method,
                    f"{self.api_url}{path}",
                    json=body,
                    auth=auth,
                    timeout=30,  # type: ignore[arg-type]
                )
            except httpx.HTTPError as exc:
                raise ApiError(f"cannot reach the Prefect API at {self.api_url}: {exc}") from None
            if response.status_code not in (502, 503, 504) or wait is None:
                break
            time.sleep(wait)
        if response.status_code == 401:
            raise ApiError("the Prefect API wants credentials: set PREFECT_API_AUTH_STRING")
        if response.status_code >= 400:
            raise ApiError(
                f"{method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response


@dataclass(frozen=True)
class Triggered:
    flow_run_id: str
    url: str
    state: str
    created: bool  # False: the ticket already had this run

    def as_json(self) -> dict[str, Any]:
        return {
            "flow_run_id": self.flow_run_id,
            "url": self.url,
            "state": self.state,
            "created": self.created,
        }


def idempotency_key(cluster_name: str, ticket: str) -> str:
    return f"kafka-upgrade:{cluster_name}:{ticket}"


def trigger_body(
    cluster: str,
    cluster_name: str,
    ticket: str,
    to_version: str | None,
    at: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON a ticketing system posts to create_flow_run (pure; the README shows it)."""
    request: dict[str, Any] = {"cluster": cluster, "ticket": ticket, **(extra or {})}
    if to_version:
        request["to_version"] = to_version
    body: dict[str, Any] = {
        "parameters": {"request": request},
        "idempotency_key": idempotency_key(cluster_name, ticket),
        "tags": ["kafka-upgrade", f"ticket:{ticket}", f"cluster:{cluster_name}"],
    }
    if at is not None:
        body["state"] = {
            "type": "SCHEDULED",
            "name": "Scheduled",
            "state_details": {"scheduled_time": at.isoformat()},
        }
    return body


def deployment_id(api: Api, name: str = DEPLOYMENT) -> str:
    try:
        return str(api.call("GET", f"/deployments/name/{name}").json()["id"])
    except ApiError as exc:
        raise ApiError(
            f"deployment {name} not found ({exc}); register it with `kafka-upgrade deploy`"
        ) from None


def trigger(api: Api, body: dict[str, Any], deployment: str = DEPLOYMENT) -> Triggered:
    response = api.call(
        "POST", f"/deployments/{deployment_id(api, deployment)}/create_flow_run", body
    )
    run = response.json()
    return Triggered(
        flow_run_id=str(run["id"]),
        url=api.run_url(run["id"]),
        state=(run.get("state") or {}).get("name") or "?",
        created=response.status_code == 201,
    )


def decide(api: Api, flow_run_id: str, approve: bool, approver: str, comment: str = "") -> str:
    """Answer the paused run's approval form; returns the run's state name afterwards."""
    run_input = {"approve": approve, "approver": approver, "comment": comment}
    answer = api.call("POST", f"/flow_runs/{flow_run_id}/resume", {"run_input": run_input}).json()
    if answer.get("status") != "ACCEPT":
        details = answer.get("details") or {}
        reason = details.get("reason") if isinstance(details, dict) else details
        raise ApiError(
            f"flow run {flow_run_id} did not take the answer ({answer.get('status')}: {reason}); "
            "is it paused for approval?"
        )
    state = api.call("GET", f"/flow_runs/{flow_run_id}").json().get("state") or {}
    return str(state.get("name") or "?")


@dataclass
class RunStatus:
    flow_run_id: str
    name: str
    state: str
    message: str
    url: str
    tags: list[str]
    now: str = ""  # "phase-1-binaries: broker-2 (2 of 6 steps done)"
    progress: float | None = None
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def status(api: Api, flow_run_id: str) -> RunStatus:
    run = api.call("GET", f"/flow_runs/{flow_run_id}").json()
    state = run.get("state") or {}
    result = RunStatus(
        flow_run_id=str(run["id"]),
        name=run.get("name", ""),
        state=str(state.get("name") or "?"),
        message=str(state.get("message") or ""),
        url=api.run_url(run["id"]),
        tags=list(run.get("tags") or []),
    )
    artifacts = api.call(
        "POST",
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "CREATED_DESC"},
    ).json()
    progress = next((a for a in artifacts if a.get("type") == "progress"), None)
    if progress is not None:
        result.progress = float(progress.get("data") or 0)
        result.now = str(progress.get("description") or "")
    table = next(
        (
            a
            for a in artifacts
            if a.get("type") == "table" and str(a.get("key") or "").startswith("nodes-")
        ),
        None,
    )
    if table is not None:
        data = table.get("data")
        result.nodes = json.loads(data) if isinstance(data, str) else list(data or [])
    return result
