"""Each Slack request is acted on once, however often Slack delivers it.

Slack delivers a request again when its ack was late or lost: over Socket Mode with the same
``envelope_id``, over HTTP (Events API) with ``X-Slack-Retry-Num`` and the same ``event_id``. A click
delivered twice carries the same user, action and ``action_ts``. :func:`request_keys` names a
request by those ids; :class:`Deliveries` remembers the names it has seen, and a request with a
name seen before is acknowledged without running any listener (no second reply, no second
decision queued).

:class:`MemoryDeliveries` keeps them in memory (tests, and a bolt app built without a database); a
daemon keeps them in its inbox (:class:`bot.daemon.slack.InboxDeliveries`), so they survive a restart.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class Deliveries(Protocol):
    """The Slack deliveries already acted on."""

    def first(self, key: str) -> bool:
        """Record ``key``; True the first time, False for every later delivery of it."""
        ...


class MemoryDeliveries:
    """Deliveries seen by this process (lost at restart)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


def envelope_key(envelope_id: str) -> str:
    """The name of a Socket Mode envelope."""
    return f"slack:envelope:{envelope_id}"[:300]


def request_keys(body: dict[str, Any]) -> list[str]:
    """The names of a request's content, the same on every delivery: its Events API ``event_id``, or
    per action of an interaction (user, action id, ``action_ts``; the ``trigger_id`` when there is no
    action_ts). Empty for requests Slack never redelivers over HTTP (slash commands)."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return [f"slack:event:{body['event_id']}"[:300]]
    if body.get("type") == "block_actions":
        user = str((body.get("user") or {}).get("id", ""))
        return [f"slack:action:{user}:{a.get('action_id', '')}:{a.get('action_ts') or body.get('trigger_id', '')}"[:300]
                for a in body.get("actions") or ()]
    return []
