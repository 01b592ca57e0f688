"""Approve / Reject buttons (block_actions ``ticketbot_approve`` / ``ticketbot_reject``).

The ack is immediate; the lazy listener authorizes the clicker exactly like the slash command,
records the decision through the services, then replaces the original message with its text,
no buttons, and a line saying who decided (so it cannot be clicked twice). A refusal or a
failure is an ephemeral reply and leaves the buttons in place.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack.auth import Gate
from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION, context, section, without_actions
from bot.slack.parsing import parse_ticket_key
from bot.slack.services import ServiceError, Services
from bot.slack.text import clip, escape, mention

log = logging.getLogger(__name__)

VERBS = {APPROVE_ACTION: "approve", REJECT_ACTION: "reject"}
_DONE = {"approve": ":white_check_mark: Approved", "reject": ":x: Rejected"}


def register(app: App, services: Services, admins: Collection[str] = ()) -> None:
    """Attach the decision-button listeners to ``app``."""
    gate = Gate(services, admins)

    def run_ticketbot_decision(body: dict[str, Any], respond: Respond) -> None:
        respond(**answer_decision(body, services, gate))

    for action_id in VERBS:
        app.action(action_id)(ack=acknowledge_button, lazy=[run_ticketbot_decision])


def acknowledge_button(ack: Ack) -> None:
    """Clicks are acknowledged at once; the answer comes through the response_url."""
    ack()


def answer_decision(body: dict[str, Any], services: Services, gate: Gate) -> dict[str, Any]:
    """The ``respond`` arguments for one click (pure apart from the services, for tests)."""
    action = (body.get("actions") or [{}])[0]
    verb = VERBS.get(action.get("action_id", ""))
    key = parse_ticket_key(str(action.get("value", "")))
    user = str((body.get("user") or {}).get("id", ""))
    if verb is None or key is None:
        return _ephemeral("That button does not carry a ticket I understand; nothing was recorded.")
    refusal = gate.check(verb, user, key=key)
    if refusal is not None:
        return _ephemeral(gate.refuse(user, f"{verb} {key} (button)", refusal))
    try:
        result = _decide(services, verb, key, user)
    except ServiceError as exc:
        return _ephemeral(escape(str(exc)))
    except Exception:  # a broken service must not lose the click silently; the log has it
        log.exception("Slack button %s %s failed", verb, key)
        return _ephemeral(f"Sorry, recording `{verb} {key}` failed on my side. Nothing was recorded; "
                          "try again or use `/ticketbot " + verb + " " + key + "`.")
    return _decided(body, verb, user, result)


def _decide(services: Services, verb: str, key: str, user: str) -> str:
    if verb == "approve":
        return services.approve(key, user, via="button")
    return services.reject(key, user, "", via="button")


def _decided(body: dict[str, Any], verb: str, user: str, result: str) -> dict[str, Any]:
    """Replace the message: its own blocks minus the buttons, plus who decided and what was recorded."""
    message = body.get("message") or {}
    note = f"{_DONE[verb]} by {mention(user)}. {escape(result)}"
    blocks = without_actions(list(message.get("blocks") or [])) or [section(escape(result))]
    text = clip(f"{message.get('text', '')}\n{note}".strip(), 3000)
    return {"replace_original": True, "text": text, "blocks": [*blocks, context(note)]}


def _ephemeral(text: str) -> dict[str, Any]:
    return {"text": text, "response_type": "ephemeral", "replace_original": False}
