"""The automations' definitions, checked offline with Prefect's own matcher and renderer."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from prefect.events.actions import CallWebhook
from prefect.server.events.actions import CallWebhook as ServerCallWebhook
from prefect.server.events.schemas.automations import EventTrigger as ServerEventTrigger
from prefect.server.events.schemas.events import ReceivedEvent
from prefect.server.schemas.responses import FlowRunResponse
from prefect.server.utilities.user_templates import render_user_template_sync
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.automations import (
    APPROVAL_AUTOMATION,
    APPROVAL_EVENTS,
    END_EVENTS,
    FLOWS,
    NAME_PREFIX,
    PHASE_AUTOMATION,
    UPGRADE_AUTOMATION,
    approval_trigger,
    automation_definitions,
    default_ui_url,
    describe,
    is_ours,
    payload_template,
    phase_trigger,
    run_link_prefix,
    upgrade_trigger,
)

UI = "http://prefect.example:4200"
BLOCK = UUID("00000000-0000-0000-0000-0000000000b1")
STATE_TYPES = {
    "Paused": "PAUSED",
    "Suspended": "PAUSED",
    "Crashed": "CRASHED",
    "Cancelled": "CANCELLED",
    "Completed": "COMPLETED",
}
NASTY = 'broker 2 said "no" (it\'s <down> & {{ out }})\nsecond line\\n\ttab'


def event(
    name: str,
    flow: str,
    *,
    message: str = "",
    tags: tuple[str, ...] = (),
    subflow: bool = False,
    deployment: bool = False,
    run_id: UUID | None = None,
) -> ReceivedEvent:
    """A flow-run state-change event shaped like the server's (models/events.py)."""
    related: list[dict[str, str]] = [
        {
            "prefect.resource.id": f"prefect.flow.{uuid4()}",
            "prefect.resource.role": "flow",
            "prefect.resource.name": flow,
        }
    ]
    if deployment:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{uuid4()}",
                "prefect.resource.role": "deployment",
                "prefect.resource.name": flow,
            }
        )
    if subflow:
        related.append(
            {
                "prefect.resource.id": f"prefect.task-run.{uuid4()}",
                "prefect.resource.role": "task-run",
                "prefect.resource.name": f"{flow}-0",
            }
        )
    related += [
        {"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"} for t in tags
    ]
    state_type = STATE_TYPES.get(name, "FAILED")
    return ReceivedEvent.model_validate(
        {
            "occurred": "2026-01-02T03:04:05Z",
            "event": f"prefect.flow-run.{name}",
            "resource": {
                "prefect.resource.id": f"prefect.flow-run.{run_id or uuid4()}",
                "prefect.resource.name": "brave-duck",
                "prefect.state-message": message,
                "prefect.state-name": name,
                "prefect.state-type": state_type,
                "prefect.state-timestamp": "2026-01-02T03:04:05Z",
            },
            "related": related,
            "id": str(uuid4()),
        }
    )


def flow_run(
    run_id: UUID, *, tags: list[str] | None = None, parameters: Any = None, pause_keys=()
) -> FlowRunResponse:
    return FlowRunResponse.model_validate(
        {
            "id": str(run_id),
            "name": "brave-duck",
            "flow_id": str(uuid4()),
            "tags": tags or [],
            "parameters": parameters or {},
            "empirical_policy": {"pause_keys": list(pause_keys)},
        }
    )


class _Automation:
    name = APPROVAL_AUTOMATION


def render(kind: str, ev: ReceivedEvent, run: FlowRunResponse | None) -> dict[str, Any]:
    text = render_user_template_sync(
        payload_template(kind, UI), {"event": ev, "flow_run": run, "automation": _Automation()}
    )
    return json.loads(text)


def server_trigger(trigger: Any) -> ServerEventTrigger:
    return ServerEventTrigger.model_validate(trigger.model_dump(mode="json"))


# ---------------------------------------------------------------- definitions


def test_three_named_tagged_automations_each_calling_the_webhook_block() -> None:
    automations = automation_definitions(BLOCK, UI)
    assert [a.name for a in automations] == [
        APPROVAL_AUTOMATION,
        UPGRADE_AUTOMATION,
        PHASE_AUTOMATION,
    ]
    for automation in automations:
        assert automation.name.startswith(NAME_PREFIX)
        assert is_ours(automation)
        assert automation.enabled
        [action] = automation.actions
        assert isinstance(action, CallWebhook)
        assert action.block_document_id == BLOCK
        # the server accepts the template (validates it in its own sandbox)
        ServerCallWebhook(block_document_id=BLOCK, payload=action.payload)


def test_event_names() -> None:
    assert approval_trigger().expect == {
        "prefect.flow-run.Paused",
        "prefect.flow-run.Suspended",
    }
    assert set(APPROVAL_EVENTS) == approval_trigger().expect
    assert upgrade_trigger().expect == phase_trigger().expect == set(END_EVENTS)
    assert set(END_EVENTS) == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.TimedOut",
        "prefect.flow-run.Crashed",
        "prefect.flow-run.Cancelled",
    }


@pytest.mark.parametrize(
    ("trigger", "ev", "covered"),
    [
        # approvals: any of our flows, however started
        (approval_trigger, event("Paused", "rolling-upgrade"), True),
        (approval_trigger, event("Suspended", "rolling-upgrade", deployment=True), True),
        (approval_trigger, event("Paused", "someone-elses-flow"), False),
        (approval_trigger, event("Failed", "rolling-upgrade"), False),
        # rolling-upgrade ending badly, with or without tags or deployment
        (upgrade_trigger, event("Failed", "rolling-upgrade"), True),
        (upgrade_trigger, event("Crashed", "rolling-upgrade", deployment=True), True),
        (upgrade_trigger, event("Cancelled", "rolling-upgrade"), True),
        (upgrade_trigger, event("TimedOut", "rolling-upgrade"), True),
        (upgrade_trigger, event("Failed", "phase-2-protocol", subflow=True), False),
        (upgrade_trigger, event("Completed", "rolling-upgrade"), False),
        # phases: only when started from their deployment, never as a subflow
        (phase_trigger, event("Failed", "phase-2-protocol", deployment=True), True),
        (phase_trigger, event("Cancelled", "rollback-binaries", deployment=True), True),
        (phase_trigger, event("Failed", "phase-2-protocol", subflow=True), False),
        (phase_trigger, event("Failed", "rolling-upgrade", deployment=True), False),
        (phase_trigger, event("Failed", "other-flow", deployment=True), False),
    ],
)
def test_triggers_cover_what_prefect_would_match(trigger, ev, covered) -> None:
    assert server_trigger(trigger()).covers(ev) is covered


def test_every_flow_is_watched_for_approval() -> None:
    spec = approval_trigger().match_related
    assert sorted(spec["prefect.resource.name"]) == sorted(FLOWS)


def test_describe_says_what_is_watched() -> None:
    line = describe("created", automation_definitions(BLOCK, UI)[2])
    assert line.startswith(f"created {PHASE_AUTOMATION!r}: Cancelled, Crashed, Failed, TimedOut")
    assert "(started from a deployment)" in line


def test_ui_url_must_be_plain() -> None:
    assert run_link_prefix(UI + "/") == f"{UI}/runs/flow-run/"
    for bad in ("prefect.example", 'http://x/"', "http://x/{{ y }}"):
        with pytest.raises(ValueError):
            run_link_prefix(bad)


# ---------------------------------------------------------------- the rendered body


def test_failure_body_is_valid_json_with_quotes_and_newlines() -> None:
    run_id = uuid4()
    message = (
        f"Flow run encountered an exception: StepFailed: phase-2-protocol failed on demo: {NASTY}"
    )
    body = render(
        "ended",
        event("Failed", "rolling-upgrade", message=message, tags=("cluster:demo",), run_id=run_id),
        flow_run(run_id, parameters={"request": {"cluster": "x", "to_version": "4.1.1"}}),
    )
    assert body["message"] == message
    assert body["state"] == "Failed"
    assert body["cluster"] == "demo"  # the tag wins over the parameter
    assert body["phase"] == "phase-2-protocol"  # named by the parent's message
    assert body["flow_name"] == "rolling-upgrade"
    assert body["flow_run_id"] == str(run_id)
    assert body["flow_run_name"] == "brave-duck"
    assert body["url"] == f"{UI}/runs/flow-run/{run_id}"
    assert body["to_version"] == "4.1.1"
    assert body["pause_key"] is None
    assert body["kind"] == "ended"


def test_approval_body_names_the_phase_from_the_pause_key() -> None:
    run_id = uuid4()
    body = render(
        "approval",
        event("Paused", "rolling-upgrade", run_id=run_id),
        flow_run(
            run_id,
            tags=["kafka-upgrade", "cluster:prod-eu-1"],
            pause_keys=["approve-phase-2-protocol"],
            parameters={"request": {"cluster": "prod-eu-1", "ticket": "CHG-1"}},
        ),
    )
    assert body["phase"] == "phase-2-protocol"
    assert body["pause_key"] == "approve-phase-2-protocol"
    assert body["cluster"] == "prod-eu-1"
    assert body["ticket"] == "CHG-1"
    assert body["message"] == ""


def test_cluster_falls_back_to_the_request_then_null() -> None:
    run_id = uuid4()
    ev = event("Crashed", "rolling-upgrade", message="worker died", run_id=run_id)
    request = {"request": {"cluster": "/etc/kafka-upgrade/prod.yaml"}}
    assert render("ended", ev, flow_run(run_id, parameters=request))["cluster"] == (
        "/etc/kafka-upgrade/prod.yaml"
    )
    # the flow run could not be read from the API: still a valid body from the event
    body = render("ended", ev, None)
    assert body["cluster"] is None
    assert body["flow_run_id"] == str(run_id)
    assert body["phase"] == "rolling-upgrade"


@pytest.mark.parametrize(
    ("flow", "message", "phase"),
    [
        (
            "rolling-upgrade",
            "ValueError: preflight refused; nothing was touched",
            "rolling-upgrade",
        ),
        (
            "rolling-upgrade",
            "stopped before finalize-metadata-version: rejected",
            "finalize-metadata-version",
        ),
        ("phase-1-binaries", "StepFailed: phase-2-protocol failed on demo: x", "phase-1-binaries"),
    ],
)
def test_phase_of_a_failure(flow: str, message: str, phase: str) -> None:
    run_id = uuid4()
    body = render("ended", event("Failed", flow, message=message, run_id=run_id), flow_run(run_id))
    assert body["phase"] == phase


def test_only_our_automations_are_ours() -> None:
    [ours, *_] = automation_definitions(BLOCK, UI)
    assert is_ours(ours)
    theirs = ours.model_copy(update={"name": f"{NAME_PREFIX}someone else's", "tags": []})
    assert not is_ours(theirs)
    renamed = ours.model_copy(update={"name": "an older name of ours"})
    assert is_ours(renamed)  # still carries our tag: apply removes it


def test_default_ui_url_follows_the_api_url() -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://prefect.example:4200/api"}):
        assert default_ui_url(None) == "http://prefect.example:4200"
