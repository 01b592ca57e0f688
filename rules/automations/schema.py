"""What an admin writes under ``automations:`` in the rules YAML, validated.

Every key is checked when the rules are loaded; a mistake is one line naming the file and the key
(``automations[1].actions[0].set.Priority: …``), as a rule block's are. The shapes:

* ``trigger``: ``created`` | ``updated`` | ``commented`` (``{commented: {public: true}}``) |
  ``{field_changed: {field, from?, to?}}`` | ``{status_changed: {from?, to?}}`` |
  ``{schedule: {every: "1 business day"}}`` | ``{schedule: {cron: "0 9 * * mon-fri"}}``;
* ``conditions``: a list, all must hold; each is one of ``kind``, ``status``, ``field`` (with ``equals``,
  ``in`` or ``empty``), ``text`` (with ``contains`` or ``regex``, case-insensitive), ``actor`` (e-mails,
  ``not_email``, ``not_bot``), ``any`` / ``all`` (lists of conditions) and ``not`` (a condition);
* ``actions``: a list; each is one of ``set`` (fields), ``comment`` (internal, a template), ``watch``,
  ``transition``, ``link``, ``labels`` / ``tags`` (``{add: [..], remove: [..]}``, the same action by its
  Jira and its Zendesk name), ``slack`` (a person or a channel, a template), with an optional ``delay`` and
  ``while`` (conditions that must still hold when the delay ends).

The models only say what is well formed; :mod:`rules.automations.rule` gives them meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bot.calendar import BusinessCalendar, BusinessDuration, Delay
from bot.config import RuleBlock
from bot.effects import BOUNDS
from bot.trackers.keys import is_key
from rules.automations.text import Template, parse_template


class Problem(ValueError):
    """A mistake under the model being validated, at ``key`` (a key, an index, or a path of them): the
    loader adds ``key`` to the error's location, so the line names the exact key."""

    def __init__(self, key: str | int | tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.key: tuple[str | int, ...] = key if isinstance(key, tuple) else (key,)
        self.message = message

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ROLES = ("assignee", "reporter", "actor")
#: Ticket attributes that conditions, texts and ``set`` know by these names (case-insensitive), not fields.
ATTRIBUTES = ("summary", "subject", "description", "comment", "status", "assignee", "reporter", "requester",
              "labels", "tags", "resolution", "request type", "form", "organization", "organizations", "kind")
#: Attributes ``set`` writes, and the effect each becomes.
SETTABLE = {"reporter": "reporter", "requester": "reporter", "request type": "request type", "form": "request type",
            "organization": "organization", "organizations": "organization"}
_NOT_SETTABLE = {
    "status": "the status changes through a transition: write `transition: NAME` as an action",
    "resolution": "a resolution is set with a transition: `transition: {to: Done, resolution: Fixed}`",
    "comment": "write `comment: TEXT` as an action",
    "kind": "ticketbot does not change a ticket's kind",
    "labels": "labels are added and removed by their own action: `labels: {add: [NAME], remove: [NAME]}`",
    "tags": "tags are added and removed by their own action: `tags: {add: [NAME], remove: [NAME]}`",
}
#: The shortest schedule: a schedule ticks once per ticket, so a tick a minute would flood a project.
MIN_EVERY = timedelta(hours=1)
MAX_ACTIONS = 20
#: What a condition is about: exactly one of these keys.
SUBJECTS = ("kind", "status", "field", "text", "actor", "any", "all", "not")

# pieces --------------------------------------------------------------------------------------------
def _texts(value: Any) -> Any:
    """One name or a list of names -> a tuple of non-empty strings (numbers are written as text)."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError("give at least one value")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"{item!r} is not a name (text or a number)")  # noqa: TRY004 - pydantic reports ValueErrors
        text = str(item).strip()
        if not text:
            raise ValueError("an empty name")
        out.append(text)
    return tuple(out)

Texts = Annotated[tuple[str, ...], BeforeValidator(_texts)]

def _name(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a name is needed (text)")
    if len(value) > 100:
        raise ValueError("a name of at most 100 characters")
    return " ".join(value.split())

FieldName = Annotated[str, BeforeValidator(_name)]

def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return tuple(value)
    shape = "a mapping" if isinstance(value, dict) else f"a {type(value).__name__}"
    raise ValueError(f"a field value is text, a number, true/false, a list of those, or null (to clear it); "
                     f"got {shape}")

FieldValue = Annotated[Any, BeforeValidator(_scalar)]

def _template(value: Any) -> Template:
    if isinstance(value, Template):
        return value
    if not isinstance(value, str):
        raise ValueError("a text is needed")  # noqa: TRY004
    return parse_template(value)

Text = Annotated[Template, BeforeValidator(_template)]

def _given(model: BaseModel, keys: Iterable[str]) -> list[str]:
    """Which of ``keys`` (by alias) the YAML gave."""
    fields = type(model).model_fields
    return [k for k in keys if next((n for n, f in fields.items() if (f.alias or n) == k), k) in model.model_fields_set]

def _one_of(model: BaseModel, keys: tuple[str, ...], what: str) -> str:
    given = _given(model, keys)
    if len(given) != 1:
        found = f" (found {', '.join(given)})" if given else ""
        raise ValueError(f"{what} is exactly one of {', '.join(keys)}{found}")
    return given[0]

class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

# triggers ------------------------------------------------------------------------------------------
class Empty(Block):
    pass

class Commented(Block):
    """``public: true``: only a public comment (the customer's reply); ``false``: only an internal one."""

    public: bool | None = None

class Changed(Block):
    """A field (or the status) changed, optionally from one of ``from`` and to one of ``to``."""

    field: FieldName = "status"
    from_: Texts | None = Field(default=None, alias="from")
    to: Texts | None = None

class StatusChanged(Block):
    from_: Texts | None = Field(default=None, alias="from")
    to: Texts | None = None

class Schedule(Block):
    """Per ticket: ``every`` (business or clock time from the first event that meets the conditions) or
    ``cron`` (five fields, in the automation's calendar's time zone; at most hourly)."""

    every: Delay | None = None
    cron: str | None = None

    @field_validator("every")
    @classmethod
    def _often_enough(cls, value: timedelta | BusinessDuration | None) -> timedelta | BusinessDuration | None:
        if value is None:
            return value
        if isinstance(value, BusinessDuration):
            if value.days == 0 and value.time < MIN_EVERY:
                raise ValueError("at least 1 business hour (a schedule ticks on every ticket it watches)")
        elif value < MIN_EVERY:
            raise ValueError("at least 1 hour (a schedule ticks on every ticket it watches)")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        text = " ".join(value.split())
        parts = text.split(" ")
        if len(parts) != 5:
            raise ValueError(f"{value!r}: a cron expression has five fields (minute hour day month weekday), "
                             "e.g. \"0 9 * * mon-fri\"")
        if not parts[0].isdigit():
            raise ValueError(f"{value!r}: the minute must be one number (a schedule ticks at most hourly on "
                             "every ticket it watches)")
        try:
            CronTrigger.from_crontab(text, timezone=UTC)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a cron expression: {exc}") from None
        return text

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        _one_of(self, ("every", "cron"), "a schedule")
        return self

    def next_tick(self, after: datetime, calendar: BusinessCalendar) -> datetime:
        """The first tick after ``after``."""
        if self.every is not None:
            return calendar.due(after, self.every)
        assert self.cron is not None
        trigger = CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(calendar.time_zone))
        found = trigger.get_next_fire_time(after, after)
        assert found is not None  # a valid five-field expression always has a next time
        return found.astimezone(UTC)

TRIGGERS = ("created", "updated", "commented", "field_changed", "status_changed", "schedule")
_BARE = ("created", "updated", "commented")

class Trigger(Block):
    created: Empty | None = None
    updated: Empty | None = None
    commented: Commented | None = None
    field_changed: Changed | None = None
    status_changed: StatusChanged | None = None
    schedule: Schedule | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data not in _BARE:
                raise ValueError(f"unknown trigger {data!r}: {', '.join(_BARE)}, or one of {', '.join(TRIGGERS[3:])} "
                                 "with its settings")
            return {data: {}}
        if isinstance(data, dict):
            return {k: ({} if v is None and k in _BARE else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        _one_of(self, TRIGGERS, "a trigger")
        return self

    @property
    def kind(self) -> str:
        return next(t for t in TRIGGERS if getattr(self, t) is not None)

# conditions ----------------------------------------------------------------------------------------
class Actor(Block):
    """Who did what triggered it: ``email`` (one of), ``not_email`` (none of), ``reporter`` (``true``: the
    ticket's reporter, the customer on a service desk; ``false``: anyone else), ``not_bot: true``."""

    email: Texts | None = None
    not_email: Texts | None = None
    reporter: bool | None = None
    not_bot: Literal[True] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"email": data} if isinstance(data, str | list) else data

    @model_validator(mode="after")
    def _one(self) -> Actor:
        _one_of(self, ("email", "not_email", "reporter", "not_bot"), "actor")
        return self

class Condition(Block):
    kind: Texts | None = None
    status: Texts | None = None
    field: FieldName | None = None
    equals: FieldValue = None
    in_: tuple[FieldValue, ...] | None = Field(default=None, alias="in")
    empty: bool | None = None
    text: FieldName | None = None
    contains: Texts | None = None
    regex: str | None = None
    actor: Actor | None = None
    any: tuple[Condition, ...] | None = None
    all: tuple[Condition, ...] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        subject = _one_of(self, SUBJECTS, "a condition")
        operators = {"field": ("equals", "in", "empty"), "text": ("contains", "regex")}
        for owner, keys in operators.items():
            for key in _given(self, keys):
                if owner != subject:
                    raise Problem(key, f"{key!r} goes with `{owner}:`, not with `{subject}:`")
        if subject in operators:
            _one_of(self, operators[subject], f"a {subject} condition's test")
        if subject in ("any", "all") and not getattr(self, subject):
            raise Problem(subject, "give at least one condition")
        if self.in_ is not None and not self.in_:
            raise Problem("in", "give at least one value")
        if self.regex is not None:
            try:
                re.compile(self.regex, re.IGNORECASE)
            except re.error as exc:
                raise Problem("regex", f"not a regular expression: {exc}") from None
        return self

    @property
    def subject(self) -> str:
        return next(s for s in SUBJECTS if s in _given(self, SUBJECTS))

    def nested(self) -> tuple[Condition, ...]:
        return (*(self.any or ()), *(self.all or ()), *((self.not_,) if self.not_ else ()))

    def says_not_bot(self) -> bool:
        return bool(self.actor and self.actor.not_bot) or any(c.says_not_bot() for c in self.nested())

    def about_the_event(self) -> bool:
        """Whether it looks at the event (who acted, the comment), which a delay's end cannot see again."""
        if self.actor is not None or (self.text or "").casefold() == "comment":
            return True
        return any(c.about_the_event() for c in self.nested())

# actions -------------------------------------------------------------------------------------------
class PersonRef(Block):
    """A person: ``email`` (and ``slack_user``), a ``role`` of the ticket, or the person in a ``field``."""

    email: str | None = None
    slack_user: str | None = None
    role: Literal["assignee", "reporter", "actor"] | None = None
    field: FieldName | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            text = data.strip()
            if "@" in text and " " not in text:
                return {"email": text}
            if text.casefold() in ROLES:
                return {"role": text.casefold()}
            raise ValueError(f"{data!r} is neither an e-mail address nor one of {', '.join(ROLES)} "
                             "(or {field: NAME} for the person in a field)")
        return data

    @model_validator(mode="after")
    def _one(self) -> PersonRef:
        who = [k for k in ("email", "role", "field") if getattr(self, k)]
        if self.slack_user and not who:
            return self
        if len(who) != 1 or (self.slack_user and who != ["email"]):
            raise ValueError("a person is an e-mail (with an optional slack_user), a role (assignee, reporter, actor) "
                             "or {field: NAME}")
        if self.email is not None and ("@" not in self.email or " " in self.email.strip()):
            raise Problem("email", f"{self.email!r} is not an e-mail address")
        return self

    @property
    def fixed(self) -> bool:
        """Named in the YAML (``ticketbot check`` can look them up), not found on the ticket."""
        return self.role is None and self.field is None

    def __str__(self) -> str:
        if self.role:
            return f"the {self.role}"
        if self.field:
            return f"the person in {self.field!r}"
        return self.email or self.slack_user or ""

def _people(value: Any) -> Any:
    return value if isinstance(value, list | tuple) else [value]

class CommentAction(Block):
    text: Text
    mention: tuple[PersonRef, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"text": data}
        if isinstance(data, dict) and "public" in data:
            raise Problem("public", "an automation's comments are internal; it never writes to the customer")
        if isinstance(data, dict) and "mention" in data:
            return {**data, "mention": _people(data["mention"])}
        return data

class TransitionAction(Block):
    to: FieldName
    resolution: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"to": data} if isinstance(data, str) else data

class LinkAction(Block):
    """Link the ticket (the inward side; ``reverse: true``: outward) to ``to`` (a key) or the key in ``to_field``."""

    type: FieldName
    to: str | None = None
    to_field: FieldName | None = None
    reverse: bool = False

    @model_validator(mode="after")
    def _one(self) -> LinkAction:
        _one_of(self, ("to", "to_field"), "a link's other ticket")
        return self

class SlackAction(Block):
    """A message to a person (``to``) or a ``channel``; ``quiet_hours: false`` sends it at any hour (on-call)."""

    to: PersonRef | None = None
    channel: str | None = None
    text: Text
    quiet_hours: bool = True

    @model_validator(mode="after")
    def _one(self) -> SlackAction:
        _one_of(self, ("to", "channel"), "a Slack message's recipient")
        if self.channel is not None and not self.channel.strip():
            raise Problem("channel", "a channel name (#support) or id is needed")
        return self

def _labels(value: Any) -> Any:
    """A list of labels (or one): each a non-empty text, kept as written (checked one by one in LabelsAction)."""
    items = value if isinstance(value, list | tuple) else [value]
    for n, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise Problem(n, f"{item!r} is not a label (text)")
    return tuple(str(item) for item in items)

Labels = Annotated[tuple[str, ...], BeforeValidator(_labels)]

class LabelsAction(Block):
    """Labels to put on the ticket and to take off (Zendesk: tags). ``labels: [a, b]`` is ``{add: [a, b]}``.

    Each label is one word, written as given: no placeholders (a filled-in value could hold a space, which
    neither Jira nor Zendesk keeps as one label)."""

    add: Labels = ()
    remove: Labels = ()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"add": data} if isinstance(data, str | list) else data

    @model_validator(mode="after")
    def _shape(self) -> LabelsAction:
        for key in ("add", "remove"):
            if key in self.model_fields_set and not getattr(self, key):
                raise Problem(key, "give at least one label (or leave the key out)")
            for n, label in enumerate(getattr(self, key)):
                if not label.strip():
                    raise Problem((key, n), "an empty label")
                if any(c.isspace() for c in label):
                    raise Problem((key, n), f"{label!r} has a space: a label is one word (Jira refuses it, Zendesk "
                                            "splits it into several tags); write it with - or _ instead")
                if "{" in label and "}" in label:
                    raise Problem((key, n), f"{label!r}: labels are written as given, placeholders are not filled in")
        if not self.add and not self.remove:
            raise ValueError("give labels to `add`, to `remove`, or both")
        both = [label for label in self.add if label.casefold() in {r.casefold() for r in self.remove}]
        if both:
            raise Problem("remove", f"{both[0]!r} is also added: a label is either added or removed")
        return self

ACTIONS = ("set", "comment", "watch", "transition", "link", "labels", "tags", "slack")

class Action(Block):
    set: dict[FieldName, FieldValue] | None = None
    comment: CommentAction | None = None
    watch: tuple[PersonRef, ...] | None = None
    transition: TransitionAction | None = None
    link: LinkAction | None = None
    labels: LabelsAction | None = None
    tags: LabelsAction | None = None  # the same action, by Zendesk's name
    slack: SlackAction | None = None
    delay: Delay | None = None
    while_: tuple[Condition, ...] | None = Field(default=None, alias="while")

    @model_validator(mode="before")
    @classmethod
    def _people(cls, data: Any) -> Any:
        if isinstance(data, dict) and "watch" in data and data["watch"] is not None:
            return {**data, "watch": _people(data["watch"])}
        return data

    @model_validator(mode="after")
    def _shape(self) -> Action:
        _one_of(self, ACTIONS, "an action")
        if self.set is not None:
            if not self.set:
                raise Problem("set", "name at least one field")
            for name in self.set:
                why = _NOT_SETTABLE.get(name.casefold())
                if why is None and name.casefold() in ATTRIBUTES and name.casefold() not in SETTABLE:
                    why = f"ticketbot does not set the {name.casefold()} (no such action)"
                if why:
                    raise Problem(("set", name), why)
                if SETTABLE.get(name.casefold()) and not isinstance(self.set[name], str):
                    raise Problem(("set", name), "a name is needed (text)")
        if self.watch is not None and not self.watch:
            raise Problem("watch", "name at least one person")
        if self.delay is not None and (self.delay.is_zero if isinstance(self.delay, BusinessDuration)
                                       else self.delay <= timedelta(0)):
            raise Problem("delay", "a delay must be longer than zero")
        if self.while_ is not None:
            if self.delay is None and self.slack is None:
                raise Problem("while", "`while` is checked when a delay ends (or before a message held for "
                                       "working hours goes out): give the action a `delay`")
            for n, condition in enumerate(self.while_):
                if condition.about_the_event():
                    raise Problem(("while", n), "a `while` condition is checked again later, when no one acts: "
                                                "it cannot look at the actor or the triggering comment")
        return self

    @property
    def kind(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    @property
    def label_change(self) -> LabelsAction | None:
        """``labels`` or ``tags``: the same action."""
        return self.labels or self.tags

# the automation ------------------------------------------------------------------------------------
class Automation(RuleBlock):
    """One item of ``automations:``: a rule's block, so it is bound, enabled and guarded as any rule."""

    name: str
    title: str = ""
    tracker: Literal["jira", "zendesk"] = "jira"
    project: Texts
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    #: Let ticketbot's own changes (another automation's, a runbook's) trigger it; the write caps still apply.
    handles_own_events: bool = False
    trigger: Trigger
    conditions: tuple[Condition, ...] = ()
    actions: tuple[Action, ...]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError(f"{value!r}: a name is 1-64 lower-case letters, digits, '-' and '_' (it is part of the "
                             "rule id automation:NAME)")
        return value

    @field_validator("customer_replies")
    @classmethod
    def _no_public_replies(cls, value: bool) -> bool:
        raise ValueError("an automation never writes to the customer: its comments are internal (remove this key)")

    @field_validator("actions")
    @classmethod
    def _some(cls, value: tuple[Action, ...]) -> tuple[Action, ...]:
        if not value:
            raise ValueError("give at least one action")
        if len(value) > MAX_ACTIONS:
            raise ValueError(f"at most {MAX_ACTIONS} actions")
        return value

    @model_validator(mode="after")
    def _together(self) -> Automation:
        for n, condition in enumerate(self.conditions):
            if self.handles_own_events and condition.says_not_bot():
                raise Problem(("conditions", n), "`actor: {not_bot: true}` contradicts `handles_own_events: true` "
                                                 "(which lets ticketbot's own changes trigger it): drop one of them")
        for n, action in enumerate(self.actions):
            if self.trigger.schedule is not None and action.delay is not None:
                raise Problem(("actions", n, "delay"), "a scheduled automation acts at its ticks: drop the delay, or "
                                                       "change the schedule")
            if action.link is not None and action.link.to is not None and not is_key(action.link.to, self.tracker):
                raise Problem(("actions", n, "link", "to"), f"{action.link.to!r} is not a {self.tracker} ticket key")
            change = action.label_change
            for key in ("add", "remove"):
                for i, label in enumerate(getattr(change, key) if change else ()):
                    if self.tracker == "jira" and len(label) > BOUNDS["jira_label"]:
                        raise Problem(("actions", n, action.kind, key, i), f"a Jira label has at most "
                                                                           f"{BOUNDS['jira_label']} characters")
        return self

    @property
    def rule_id(self) -> str:
        return f"automation:{self.name}"

    @property
    def projects(self) -> tuple[str, ...]:
        return self.project
