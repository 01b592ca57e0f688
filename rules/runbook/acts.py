"""What a stage or an alarm does: effects with stable keys (Acts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

from bot.calendar import BusinessCalendar
from bot.effects import (
    ChangeLabels,
    CreateTicket,
    Effect,
    InternalComment,
    LinkTickets,
    PublicReply,
    SetField,
    SlackMessage,
    Transition,
)
from rules.runbook.checks import Facts
from rules.runbook.config import Person


# actions ---------------------------------------------------------------------------------------------
class _Keyed(TypedDict):
    """What names an effect: its rule, its ticket and its step."""

    rule_id: str
    ticket_key: str
    step: str


class Acts:
    """Builds the effects of one action group (a stage entry, an alarm) with unique, stable steps.

    Every effect's step is ``<prefix>:<name>``; ``on(key)`` gives the same builder for another
    ticket (a child task). Messages to people go to Slack; comments are always internal.

    ``hours``: the runbook's calendar; messages to people and channels then wait for working hours
    (quiet hours, see :class:`bot.effects.SlackMessage`). ``stages``, ``unless``: where a reminder is
    still true (its deadline's stages, the record of the deadline met); one held overnight is dropped if
    the runbook has moved on by the morning.
    """

    def __init__(self, rule_id: str, ticket_key: str, prefix: str, *, hours: BusinessCalendar | None = None,
                 stages: tuple[str, ...] = (), unless: str = "") -> None:
        self.rule_id, self.ticket_key, self.prefix = rule_id, ticket_key, prefix
        self.hours, self.stages, self.unless = hours, stages, unless

    def on(self, ticket_key: str) -> Acts:
        return Acts(self.rule_id, ticket_key, self.prefix, hours=self.hours, stages=self.stages, unless=self.unless)

    def _kw(self, name: str) -> _Keyed:
        return {"rule_id": self.rule_id, "ticket_key": self.ticket_key, "step": f"{self.prefix}:{name}"}

    def comment(self, name: str, body: str, mentions: Iterable[str] = ()) -> Effect:
        return InternalComment(**self._kw(name), body=body, mentions=tuple(m for m in mentions if m))

    def reply(self, name: str, body: str) -> Effect:
        """A public reply to the requester: posted only when the block says ``customer_replies: true``."""
        return PublicReply(**self._kw(name), body=body)

    def slack(self, name: str, text: str, *, to: Person | None = None, email: str = "", channel: str = "",
              alert: bool = False) -> Effect:
        """To a person (``to`` or ``email``), a channel, or (``alert``, or nobody given) the admin channel."""
        email = to.email if to else email
        slack_user = (to.slack_user or "") if to else ""
        alert = alert or not (email or slack_user or channel)
        return SlackMessage(**self._kw(name), text=text, user_email=email, slack_user=slack_user, channel=channel,
                            alert=alert, hours=None if alert else self.hours, only_at_stages=self.stages,
                            unless_recorded=self.unless)

    def create(self, name: str, *, project: str, issue_type: str, summary: str, description: str = "",
               fields: Mapping[str, Any] | None = None) -> Effect:
        return CreateTicket(**self._kw(name), project=project, issue_type=issue_type, summary=summary,
                            description=description, field_values=dict(fields or {}))

    def transition(self, name: str, status: str, resolution: str = "") -> Effect:
        return Transition(**self._kw(name), status=status, resolution=resolution)

    def set_field(self, name: str, field_name: str, value: Any) -> Effect:
        return SetField(**self._kw(name), field=field_name, value=value)

    def labels(self, name: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Effect:
        """Put labels on the ticket and take others off (Zendesk: tags). A label in both would never be
        true at once (every event would write it again): that is a mistake in the runbook, said at once."""
        adding, removing = tuple(dict.fromkeys(add)), tuple(dict.fromkeys(remove))
        both = sorted(set(adding) & set(removing))
        if both or not (adding or removing):
            raise ValueError(f"labels {name!r}: " + (f"{', '.join(both)} both added and removed" if both
                                                     else "give labels to add or to remove"))
        return ChangeLabels(**self._kw(name), add=adding, remove=removing)

    def link(self, name: str, link_type: str, inward_key: str, outward_key: str) -> Effect:
        return LinkTickets(**self._kw(name), link_type=link_type, inward_key=inward_key, outward_key=outward_key)


#: A stage's entry actions: (facts, acts) -> effects.
EntryActions = Callable[[Facts, Acts], list[Effect]]
