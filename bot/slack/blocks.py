"""Block Kit that ticketbot sends, and the action ids its listeners answer.

The notifier renders the buttons and :mod:`bot.slack.actions` handles the clicks; both
take the ids from here so they cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from bot.slack.text import SECTION_LIMIT, clip

APPROVE_ACTION = "ticketbot_approve"
REJECT_ACTION = "ticketbot_reject"
DECISION_BLOCK = "ticketbot_decision"
TEXT_BLOCK = "ticketbot_text"

_BUTTONS: dict[str, dict[str, str]] = {
    "approve": {"action_id": APPROVE_ACTION, "label": "Approve", "style": "primary"},
    "reject": {"action_id": REJECT_ACTION, "label": "Reject", "style": "danger"},
}
#: The values ``SlackMessage.actions`` may hold.


def section(mrkdwn: str, block_id: str = TEXT_BLOCK) -> dict[str, Any]:
    """A section block; ``mrkdwn`` must already be escaped."""
    return {"type": "section", "block_id": block_id,
            "text": {"type": "mrkdwn", "text": clip(mrkdwn, SECTION_LIMIT)}}


def context(mrkdwn: str) -> dict[str, Any]:
    """A small grey line under a message (who decided, when)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(mrkdwn, SECTION_LIMIT)}]}


def button(action: str, ticket_key: str) -> dict[str, Any]:
    """One decision button; its value is the ticket key the decision is about."""
    spec = _BUTTONS[action]
    return {"type": "button", "action_id": spec["action_id"], "style": spec["style"],
            "text": {"type": "plain_text", "text": spec["label"]}, "value": ticket_key}


def marked_block_id(marker: str) -> str:
    """The text section's block id for a message that carries an effect's marker (see :func:`sent_marker`)."""
    return f"{TEXT_BLOCK}:{marker}" if marker else TEXT_BLOCK


def sent_marker(message: dict[str, Any]) -> str:
    """The effect marker a message from conversations.history carries ("" for none)."""
    for block in message.get("blocks") or ():
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(f"{TEXT_BLOCK}:"):
            return block_id.split(":", 1)[1]
    return ""


def text_message(escaped_text: str, marker: str = "") -> list[dict[str, Any]]:
    """The text as one section whose block id carries ``marker`` (invisible to people)."""
    return [section(escaped_text, marked_block_id(marker))]


def decision_message(escaped_text: str, ticket_key: str, actions: tuple[str, ...],
                     marker: str = "") -> list[dict[str, Any]]:
    """The text as a section (its block id carrying ``marker``), then one button per action (in the order given).

    Raises ValueError for an action ticketbot has no listener for: a button nobody answers
    would look like a working approval.
    """
    unknown = [a for a in actions if a not in _BUTTONS]
    if unknown:
        raise ValueError(f"unknown Slack actions {unknown}; known: {sorted(_BUTTONS)}")
    return [*text_message(escaped_text, marker),
            {"type": "actions", "block_id": DECISION_BLOCK,
             "elements": [button(a, ticket_key) for a in actions]}]


def without_actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks of a message minus its buttons (so a decision cannot be clicked twice)."""
    return [b for b in blocks if b.get("type") != "actions"]
