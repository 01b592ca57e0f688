"""The rule API: everything a rule package needs, from one module, and nothing else is promised.

A plugin (an installed package registering rules under the entry-point group ``ticketbot.rules``, see
:mod:`rules.registry` and the README's "Writing a runbook") imports only from here::

    from bot.api import Acts, Alarms, Deadline, FieldIs, RunbookConfig, RunbookRule, Stage, template

:data:`API_VERSION` is this API's version: the minor number grows when names are added, the major one when
a name is removed or changes meaning; a plugin may check ``bot.api.API_VERSION.startswith("1.")``. Built-in
rules use the same classes. Names not listed in ``__all__`` (and modules imported directly) may change in
any release.
"""

from __future__ import annotations

from bot.calendar import BusinessCalendar, BusinessDuration, Delay
from bot.config import RuleBlock
from bot.effects import (
    AddWatcher,
    ChangeLabels,
    CreateTicket,
    Effect,
    InternalComment,
    LinkTickets,
    PublicReply,
    RemoveParticipant,
    SetField,
    SetOrganization,
    SetReporter,
    SetRequestType,
    SlackMessage,
    Transition,
)
from bot.engine import BoundRule, Evaluation, Rule, RuleContext, Verdict
from bot.model import (
    APPROVAL_GIVEN,
    APPROVAL_REJECTED,
    COMMENT_CREATED,
    MANUAL,
    TICKET_CREATED,
    TICKET_UPDATED,
    TIMER_FIRED,
    Comment,
    Event,
    Link,
    Ticket,
    User,
)
from bot.text import untrusted
from rules.runbook.acts import Acts
from rules.runbook.checks import (
    Always,
    Check,
    Checklist,
    Child,
    Commented,
    Facts,
    FieldFilled,
    FieldIs,
    Labelled,
    StatusIn,
    all_of,
    any_of,
    email_of,
    items_of,
    kind_is,
    normalize_text,
    ticket_kind,
)
from rules.runbook.config import Alarms, Block, Person, RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import Alarm, Children, Deadline, Runbook, Stage, days_left, one_line, per_config
from rules.runbook.rule import RunbookRule
from rules.runbook.words import Catalogue, Template, Words, template

#: The rule API's version (see the module docstring).
API_VERSION = "1.1"  # 1.1: ChangeLabels, Acts.labels

__all__ = [
    "API_VERSION",
    # rules and their configuration
    "Rule", "RunbookRule", "RuleBlock", "RunbookConfig", "Block", "Person", "Alarms", "BoundRule", "RuleContext",
    "Evaluation", "Verdict", "Declarations",
    # stages, deadlines, conditions
    "Runbook", "Stage", "Deadline", "Alarm", "Children", "per_config", "Facts", "Check", "Always", "StatusIn",
    "FieldIs", "FieldFilled", "Checklist", "Labelled", "Commented", "Child", "all_of", "any_of", "kind_is",
    "ticket_kind", "email_of", "items_of", "normalize_text",
    # what rules do
    "Acts", "Effect", "SetField", "SetReporter", "SetOrganization", "SetRequestType", "AddWatcher",
    "RemoveParticipant", "InternalComment", "PublicReply", "Transition", "LinkTickets", "CreateTicket",
    "SlackMessage", "ChangeLabels",
    # words, time, tickets
    "template", "Template", "Catalogue", "Words", "untrusted", "one_line", "days_left", "BusinessCalendar",
    "BusinessDuration", "Delay", "Ticket", "Event", "User", "Comment", "Link", "TICKET_CREATED", "TICKET_UPDATED",
    "COMMENT_CREATED", "TIMER_FIRED", "MANUAL", "APPROVAL_GIVEN", "APPROVAL_REJECTED",
]
