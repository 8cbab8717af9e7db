"""The project's Prefect automations, defined in code: tell a webhook when an upgrade
waits for approval or ends badly.

``apply_automations(url)`` saves a ``Webhook`` block holding the URL and creates or
updates (by name) three automations whose ``CallWebhook`` action POSTs one JSON body
per event; ``apply_automations(None)`` removes them and the block again::

    kafka-upgrade: approval needed          Paused / Suspended, any of our five flows
    kafka-upgrade: upgrade did not complete Failed / TimedOut / Crashed / Cancelled,
                                            rolling-upgrade
    kafka-upgrade: phase did not complete   the same, for a phase flow (or
                                            rollback-binaries) started on its own from
                                            its deployment

Why by flow name and not by the ``kafka-upgrade`` tag: Prefect 3.8.8 does not give a
subflow its parent's tags (its events carry only the flow and the parent task run),
and a run started from Python (``kafka-upgrade run``) has no deployment tags either.
The flow is a related resource of every flow-run event, whoever started the run.

One notification per failure: a phase run by ``rolling-upgrade`` fails first, then its
parent fails with ``<its class>: <phase> failed on <cluster>: ...``. A Prefect trigger
cannot tie the two events together: the only label they share is the state message,
and using that as ``for_each`` key would put an unbounded string in the unique index
of ``automation_bucket`` (PostgreSQL limits a btree row to about 2.7 kB). So only the
top-level run notifies: every ``rolling-upgrade`` run, and a phase flow only when it
was started from its deployment (a subflow has no deployment). The body's ``phase``
is the pause key's phase for approvals, the phase the message names for a failed
``rolling-upgrade`` ("<phase> failed on", "stopped before <phase>"), else the flow's
name.

The body is rendered by Prefect's sandboxed Jinja on the server; every value goes
through ``tojson``, so quotes and newlines in a state message stay valid JSON (``'``,
``<``, ``>`` and ``&`` come out as ``\\u0027`` etc., which JSON parsers decode).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import ExitStack
from urllib.parse import urlsplit
from uuid import UUID

from prefect.automations import AutomationCore, CallWebhook, EventTrigger, Posture
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.sorting import AutomationSort
from prefect.events.schemas.automations import Automation
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

TOP_FLOW = "rolling-upgrade"
PHASE_FLOWS = (
    "phase-1-binaries",
    "phase-2-protocol",
    "finalize-metadata-version",
    "rollback-binaries",
)
FLOWS = (TOP_FLOW, *PHASE_FLOWS)

APPROVAL_EVENTS = ("prefect.flow-run.Paused", "prefect.flow-run.Suspended")
END_EVENTS = (
    "prefect.flow-run.Failed",
    "prefect.flow-run.TimedOut",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.Cancelled",
)

NAME_PREFIX = "kafka-upgrade: "
APPROVAL_AUTOMATION = NAME_PREFIX + "approval needed"
UPGRADE_AUTOMATION = NAME_PREFIX + "upgrade did not complete"
PHASE_AUTOMATION = NAME_PREFIX + "phase did not complete"
CURRENT_NAMES = (APPROVAL_AUTOMATION, UPGRADE_AUTOMATION, PHASE_AUTOMATION)
AUTOMATION_TAG = "managed-by:kafka-upgrade"  # marks the automations this module owns
WEBHOOK_BLOCK = "kafka-upgrade-notify"
PAUSE_KEY_PREFIX = "approve-"
CLUSTER_TAG_PREFIX = "cluster:"

_FLOW_RUN_ID_PREFIX = "prefect.flow-run."
_TAG_ID_PREFIX = "prefect.tag."
_PAGE = 100


# --------------------------------------------------------------------------
# the definitions (pure)
# --------------------------------------------------------------------------


def default_ui_url(api_url: str | None) -> str:
    """The UI's base URL: PREFECT_UI_URL when set, else the API URL without ``/api``."""
    configured = PREFECT_UI_URL.value()
    if configured:
        return str(configured).rstrip("/")
    api = (api_url or PREFECT_API_URL.value() or "").rstrip("/")
    if not api:
        raise ValueError("no Prefect API URL: pass api_url or set PREFECT_API_URL")
    return api[: -len("/api")] if api.endswith("/api") else api


def run_link_prefix(ui_url: str) -> str:
    """``<ui_url>/runs/flow-run/``; refuses what would not be a plain http(s) URL."""
    base = ui_url.rstrip("/")
    if not base.startswith(("http://", "https://")) or any(c in base for c in "\"'\\{}%<> \n"):
        raise ValueError(f"ui_url must be a plain http(s) URL, got {ui_url!r}")
    return f"{base}/runs/flow-run/"


def _jinja_str(value: str) -> str:
    # A JSON string without backslashes or quotes inside is also a Jinja string literal.
    return json.dumps(value)


def payload_template(kind: str, ui_url: str) -> str:
    """The CallWebhook payload: a Jinja template rendering to one JSON object.

    It reads the triggering event (always there) first and the flow run from the API
    (``flow_run``: tags, parameters, pause keys) second; a value it cannot find is null.
    """
    phases = ", ".join(_jinja_str(p) for p in PHASE_FLOWS if p != "rollback-binaries")
    cluster_tag = _TAG_ID_PREFIX + CLUSTER_TAG_PREFIX
    preamble = f"""\
{{%- set ns = namespace(cluster=none, phase=none, pause_key=none) -%}}
{{%- set state_name = event.resource.get("prefect.state-name") or "" -%}}
{{%- set message = event.resource.get("prefect.state-message") or "" -%}}
{{%- set flow_name = event.resource_in_role.get("flow").name or "" -%}}
{{%- set request = flow_run.parameters.request -%}}
{{%- for tag in (flow_run.tags or []) -%}}
  {{%- if ns.cluster is none and tag.startswith({_jinja_str(CLUSTER_TAG_PREFIX)}) -%}}
    {{%- set ns.cluster = tag[{len(CLUSTER_TAG_PREFIX)}:] -%}}
  {{%- endif -%}}
{{%- endfor -%}}
{{%- for r in event.related -%}}
  {{%- if ns.cluster is none and r.role == "tag" and r.id.startswith({_jinja_str(cluster_tag)}) -%}}
    {{%- set ns.cluster = r.id[{len(cluster_tag)}:] -%}}
  {{%- endif -%}}
{{%- endfor -%}}
{{%- if ns.cluster is none -%}}
  {{%- set ns.cluster = request.cluster or flow_run.parameters.inventory_path or none -%}}
{{%- endif -%}}
{{%- if state_name in ("Paused", "Suspended") -%}}
  {{%- set keys = (flow_run.empirical_policy.pause_keys or []) | list | sort -%}}
  {{%- for key in keys -%}}
    {{%- if ns.pause_key is none or key.startswith({_jinja_str(PAUSE_KEY_PREFIX)}) -%}}
      {{%- set ns.pause_key = key -%}}
    {{%- endif -%}}
  {{%- endfor -%}}
  {{%- if ns.pause_key and ns.pause_key.startswith({_jinja_str(PAUSE_KEY_PREFIX)}) -%}}
    {{%- set ns.phase = ns.pause_key[{len(PAUSE_KEY_PREFIX)}:] -%}}
  {{%- endif -%}}
{{%- elif flow_name == {_jinja_str(TOP_FLOW)} -%}}
  {{%- for p in [{phases}] -%}}
    {{%- if ns.phase is none and ((p ~ " failed on ") in message
          or ("stopped before " ~ p) in message) -%}}
      {{%- set ns.phase = p -%}}
    {{%- endif -%}}
  {{%- endfor -%}}
{{%- endif -%}}
{{%- set run_id = event.resource.id[{len(_FLOW_RUN_ID_PREFIX)}:] -%}}
"""
    fields = {
        "kind": _jinja_str(kind),
        "cluster": "ns.cluster",
        "phase": "ns.phase or flow_name",
        "pause_key": "ns.pause_key",
        "state": "state_name",
        "state_type": 'event.resource.get("prefect.state-type")',
        "message": "message",
        "flow_name": "flow_name",
        "flow_run_name": "event.resource.name",
        "flow_run_id": "run_id",
        "url": f"{_jinja_str(run_link_prefix(ui_url))} ~ run_id",
        "to_version": "request.to_version | default(none)",
        "ticket": "request.ticket | default(none)",
        "occurred": "event.occurred.isoformat()",
        "automation": "automation.name",
    }
    body = ",\n".join(
        f"  {json.dumps(name)}: {{{{ ({expr}) | default(none) | tojson }}}}"
        for name, expr in fields.items()
    )
    return preamble + "{\n" + body + "\n}\n"


Related = dict[str, str | list[str]]  # a related resource to match: label -> value(s)


def _flows(names: Sequence[str]) -> Related:
    return {"prefect.resource.role": "flow", "prefect.resource.name": list(names)}


def _flow_run_trigger(events: Sequence[str], related: Related | list[Related]) -> EventTrigger:
    """Each time a flow run emits one of ``events``, when its related resources match."""
    return EventTrigger(
        expect=set(events),
        match={"prefect.resource.id": _FLOW_RUN_ID_PREFIX + "*"},
        match_related=related,
        posture=Posture.Reactive,
        threshold=1,
        within=0,
    )


def approval_trigger() -> EventTrigger:
    """Any of our flow runs pausing or suspending (the approval between phases)."""
    return _flow_run_trigger(APPROVAL_EVENTS, _flows(FLOWS))


def upgrade_trigger() -> EventTrigger:
    """A ``rolling-upgrade`` run failing, timing out, crashing or being cancelled."""
    return _flow_run_trigger(END_EVENTS, _flows([TOP_FLOW]))


def phase_trigger() -> EventTrigger:
    """A phase flow started from its deployment (not as a subflow) ending badly."""
    return _flow_run_trigger(
        END_EVENTS, [_flows(PHASE_FLOWS), {"prefect.resource.role": "deployment"}]
    )


def automation_definitions(block_document_id: UUID, ui_url: str) -> list[AutomationCore]:
    """The project's automations, all calling the webhook block ``block_document_id``."""

    def automation(name: str, description: str, trigger: EventTrigger, kind: str) -> AutomationCore:
        return AutomationCore(
            name=name,
            description=description,
            enabled=True,
            tags=[AUTOMATION_TAG],
            trigger=trigger,
            actions=[
                CallWebhook(
                    block_document_id=block_document_id,
                    payload=payload_template(kind, ui_url),
                )
            ],
            actions_on_trigger=[],
            actions_on_resolve=[],
        )

    return [
        automation(
            APPROVAL_AUTOMATION,
            "A kafka-upgrade run waits for approval (Paused or Suspended): POST to the "
            "webhook with the cluster, the phase to approve and the run's link.",
            approval_trigger(),
            "approval",
        ),
        automation(
            UPGRADE_AUTOMATION,
            "A rolling-upgrade run failed, timed out, crashed or was cancelled: POST to "
            "the webhook. Its phases' own failures are reported here, by the parent.",
            upgrade_trigger(),
            "ended",
        ),
        automation(
            PHASE_AUTOMATION,
            "A phase flow (or rollback-binaries) started on its own from its deployment "
            "failed, timed out, crashed or was cancelled: POST to the webhook.",
            phase_trigger(),
            "ended",
        ),
    ]


def is_ours(automation: AutomationCore) -> bool:
    """An automation this module made: tagged by it (any version), or by a current name."""
    return AUTOMATION_TAG in automation.tags or automation.name in CURRENT_NAMES


def describe(verb: str, automation: AutomationCore) -> str:
    """One human line: what was done to the automation and what it watches."""
    trigger = automation.trigger
    if not isinstance(trigger, EventTrigger):
        return f"{verb} {automation.name!r}"
    events = ", ".join(sorted(e.removeprefix("prefect.flow-run.") for e in trigger.expect))
    specs = trigger.match_related
    specs = specs if isinstance(specs, list) else [specs]
    flows = next(
        (s.get("prefect.resource.name") for s in specs if s.get("prefect.resource.role")),
        None,
    )
    on_deployment = any(s.get("prefect.resource.role") == ["deployment"] for s in specs)
    return f"{verb} {automation.name!r}: {events} of {', '.join(flows or ['any flow'])}" + (
        " (started from a deployment)" if on_deployment else ""
    )


# --------------------------------------------------------------------------
# applying them
# --------------------------------------------------------------------------


def _all_automations(client: SyncPrefectClient) -> list[Automation]:
    # Prefect 3.8.8's read_automations() sends limit/sort as null, which the server
    # rejects (422): pass both, and page.
    found: list[Automation] = []
    while True:
        page = client.read_automations(sort=AutomationSort.NAME_ASC, limit=_PAGE, offset=len(found))
        found.extend(page)
        if len(page) < _PAGE:
            return found


def _save_webhook_block(webhook_url: str) -> UUID:
    block = Webhook(
        method="POST",
        url=webhook_url,
        headers={"Content-Type": "application/json"},
    )
    return block.save(WEBHOOK_BLOCK, overwrite=True)


def _delete_webhook_block() -> bool:
    try:
        Webhook.delete(WEBHOOK_BLOCK)
    except Exception:  # noqa: BLE001 - not there (ValueError / ObjectNotFound): nothing to do
        return False
    return True


def apply_automations(
    webhook_url: str | None,
    *,
    api_url: str | None = None,
    ui_url: str | None = None,
) -> list[str]:
    """Create or update (by name) the project's automations that POST to ``webhook_url``
    when a kafka-upgrade run waits for approval, fails, crashes or is cancelled.

    ``api_url`` is the Prefect server (default: PREFECT_API_URL); ``ui_url`` the base of
    the run links in the body (default: PREFECT_UI_URL, else ``api_url`` without
    ``/api``). With ``webhook_url`` None: remove the project's automations and webhook
    block and apply nothing. Automations of ours not in the current definitions (an
    older name) are removed too. Returns one human line per thing done.
    """
    lines: list[str] = []
    with ExitStack() as stack:
        if api_url:
            stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api_url}))
        with get_client(sync_client=True) as client:
            existing = [a for a in _all_automations(client) if is_ours(a)]
            if webhook_url is None:
                for old in existing:
                    client.delete_automation(old.id)
                    lines.append(f"removed {old.name!r}")
                if _delete_webhook_block():
                    lines.append(f"removed webhook block {WEBHOOK_BLOCK!r}")
                return lines
            base = ui_url or default_ui_url(api_url)
            link = run_link_prefix(base)  # refuse a bad ui_url before changing anything
            block_id = _save_webhook_block(webhook_url)
            lines.append(f"webhook block {WEBHOOK_BLOCK!r} -> POST {_redacted(webhook_url)}")
            wanted = automation_definitions(block_id, base)
            by_name: dict[str, Automation] = {}
            for old in existing:
                if old.name in by_name or old.name not in {w.name for w in wanted}:
                    client.delete_automation(old.id)  # a duplicate, or a name we dropped
                    lines.append(f"removed {old.name!r}")
                else:
                    by_name[old.name] = old
            for automation in wanted:
                old = by_name.get(automation.name)
                if old is None:
                    client.create_automation(automation)
                    lines.append(describe("created", automation))
                else:
                    client.update_automation(old.id, automation)
                    lines.append(describe("updated", automation))
            lines.append(f"run links in the body: {link}<flow run id>")
    return lines


def _redacted(url: str) -> str:
    """Scheme, host and port only: a webhook URL's path is often its secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.path not in ("", "/") else url
