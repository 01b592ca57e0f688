"""Effects: what a rule wants to be true, with a stable key.

Effects are *desired state*. The executor compares them with the ticket's current
state (and with its own record of applied keys) before it writes, which is what
makes a webhook delivered five times produce one change.

Every comment ticketbot writes is internal (:class:`InternalComment`), with one guarded exception:
:class:`PublicReply`, a reply the requester sees. The engine drops it unless the rule's config block
says ``customer_replies: true`` (:class:`bot.engine.Engine`), so a runbook that says "customers are
not copied" cannot be broken by a rule whose block does not opt in.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from bot.calendar import BusinessCalendar


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes (a timer's due time) as ISO 8601, a message's working hours in one line."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value.summary if isinstance(value, BusinessCalendar) else value


@dataclass(frozen=True, kw_only=True)
class Effect:
    rule_id: str
    ticket_key: str
    step: str
    kind: ClassVar[str] = "effect"
    #: Field effects of one plan are merged into a single edit call by the executor.
    is_field_change: ClassVar[bool] = False
    #: Bookkeeping in the bot's own database (state, timers): applied after the plan's writes succeeded.
    is_local: ClassVar[bool] = False

    @property
    def key(self) -> str:
        """Stable identity: the same rule, ticket and step always give the same key."""
        return f"{self.rule_id}:{self.ticket_key}:{self.step}"

    @property
    def marker(self) -> str:
        """An id that what this effect writes carries where nobody reads it (a created ticket's label
        or external id, a Slack message's block id), so the executor can find the write again: a crash
        between the write and its record must not repeat it. Derived from the key, so every retry of
        the plan looks for the same one."""
        return "tb-" + hashlib.sha256(self.key.encode()).hexdigest()[:20]

    def describe(self) -> str:
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        # The instance's __dict__ holds its fields, in order (tests/test_effects.py checks it against
        # dataclasses.fields): copying it is a fifth of the cost of reading each field.
        data = vars(self).copy()
        for name, value in data.items():
            if isinstance(value, datetime | BusinessCalendar):
                data[name] = _plain(value)
        data["kind"] = self.kind
        data["key"] = self.key
        data["summary"] = self.describe()
        return data


@dataclass(frozen=True, kw_only=True)
class SetField(Effect):
    """Set a field by its display name; select fields take the option's value."""

    field: str
    value: Any
    kind: ClassVar[str] = "set_field"
    is_field_change: ClassVar[bool] = True

    def describe(self) -> str:
        return f"set {self.field!r} = {self.value!r}"


@dataclass(frozen=True, kw_only=True)
class SetReporter(Effect):
    email: str
    kind: ClassVar[str] = "set_reporter"
    is_field_change: ClassVar[bool] = True

    def describe(self) -> str:
        return f"set reporter = {self.email}"


@dataclass(frozen=True, kw_only=True)
class SetOrganization(Effect):
    """Service Management organization by name; created and added to the desk when missing."""

    name: str
    kind: ClassVar[str] = "set_organization"
    is_field_change: ClassVar[bool] = True

    def describe(self) -> str:
        return f"set organization = {self.name!r}"


@dataclass(frozen=True, kw_only=True)
class SetRequestType(Effect):
    name: str
    kind: ClassVar[str] = "set_request_type"
    is_field_change: ClassVar[bool] = True

    def describe(self) -> str:
        return f"set request type = {self.name!r}"


@dataclass(frozen=True, kw_only=True)
class AddWatcher(Effect):
    email: str
    kind: ClassVar[str] = "add_watcher"

    def describe(self) -> str:
        return f"add watcher {self.email}"


@dataclass(frozen=True, kw_only=True)
class ChangeLabels(Effect):
    """Add labels to a ticket and take others off (Jira labels, Zendesk tags), in one change.

    Desired state, like the others: it is already true when every label of ``add`` is on the ticket and
    none of ``remove`` is, whoever put them there. A label is one word (:func:`label_problem`). A label in
    both lists is taken off (the trackers remove after they add), and the effect is then never already true:
    the builders (``Acts.labels``, an automation's ``labels:``) refuse that."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    kind: ClassVar[str] = "change_labels"

    def describe(self) -> str:
        parts = [f"{verb} label{'s' if len(labels) > 1 else ''} {', '.join(labels)}"
                 for verb, labels in (("add", self.add), ("remove", self.remove)) if labels]
        return "; ".join(parts) or "change no labels"


@dataclass(frozen=True, kw_only=True)
class RemoveParticipant(Effect):
    """Make sure a person is *not* a request participant (no customer copies)."""

    email: str
    kind: ClassVar[str] = "remove_participant"

    def describe(self) -> str:
        return f"ensure {self.email} is not a request participant"


@dataclass(frozen=True, kw_only=True)
class InternalComment(Effect):
    """An internal comment (agents only). ``mentions`` are e-mails the tracker turns into @-mentions
    placed before the body, so the people are notified without being made participants."""

    body: str
    mentions: tuple[str, ...] = ()
    kind: ClassVar[str] = "internal_comment"

    def describe(self) -> str:
        first = self.body.strip().splitlines()[0] if self.body.strip() else ""
        return f"internal comment: {first[:90]}"


@dataclass(frozen=True, kw_only=True)
class PublicReply(Effect):
    """A public reply the requester (the customer) sees: the one customer-visible write.

    The engine lets it through only for a rule whose config block has ``customer_replies: true``;
    otherwise it is dropped and the rule's evaluation says why (:class:`bot.engine.Engine`)."""

    body: str
    kind: ClassVar[str] = "public_reply"

    def describe(self) -> str:
        first = self.body.strip().splitlines()[0] if self.body.strip() else ""
        return f"public reply to the requester: {first[:80]}"


@dataclass(frozen=True, kw_only=True)
class Transition(Effect):
    """Move the ticket to the status named (the transition is found by its target)."""

    status: str
    resolution: str = ""  # set on the transition screen when the target closes the ticket
    kind: ClassVar[str] = "transition"

    def describe(self) -> str:
        suffix = f" (resolution {self.resolution!r})" if self.resolution else ""
        return f"transition to {self.status!r}{suffix}"


@dataclass(frozen=True, kw_only=True)
class LinkTickets(Effect):
    link_type: str
    inward_key: str
    outward_key: str
    kind: ClassVar[str] = "link"

    def describe(self) -> str:
        return f"link {self.inward_key} -[{self.link_type}]-> {self.outward_key}"


@dataclass(frozen=True, kw_only=True)
class CreateTicket(Effect):
    project: str
    issue_type: str
    summary: str
    description: str = ""
    field_values: dict[str, Any] = field(default_factory=dict, hash=False)
    kind: ClassVar[str] = "create_ticket"

    def describe(self) -> str:
        return f"create {self.issue_type} in {self.project}: {self.summary!r}"


@dataclass(frozen=True, kw_only=True)
class SlackMessage(Effect):
    """A Slack message to a person (by Slack id, else looked up by e-mail) or to a channel.

    ``actions`` adds Approve / Reject buttons whose value is the ticket key.

    Quiet hours: with ``hours`` (the runbook's calendar), a message to a person or a team channel is
    delivered only inside working hours: the person's own time zone from Slack when it is known, else
    the calendar's. Outside them the executor holds it in a durable timer until the next working
    moment (:mod:`bot.executor`). ``only_at_stages``, ``unless_recorded``: a held message (a reminder) is
    dropped at delivery when the rule's record of the ticket is no longer at one of those stages, or holds
    the ``unless_recorded`` key (a deadline met): the runbook moved on while it waited.
    An alert to the admin channel is operational and goes at once.
    """

    text: str
    user_email: str = ""
    slack_user: str = ""
    channel: str = ""
    actions: tuple[str, ...] = ()  # e.g. ("approve", "reject")
    alert: bool = False  # to the operators' admin channel (TICKETBOT_SLACK__ADMIN_CHANNEL) instead
    hours: BusinessCalendar | None = field(default=None, compare=False)
    only_at_stages: tuple[str, ...] = ()
    unless_recorded: str = ""
    kind: ClassVar[str] = "slack_message"

    @property
    def to_person(self) -> bool:
        return not self.alert and not self.channel

    def describe(self) -> str:
        to = "admin channel" if self.alert else (self.channel or self.slack_user or self.user_email)
        return f"slack to {to}: {self.text.splitlines()[0][:80]}"


@dataclass(frozen=True, kw_only=True)
class SetState(Effect):
    """Record the runbook's stage for ``ticket_key`` and merge ``data`` into its record."""

    stage: str = ""  # empty keeps the current stage
    data: dict[str, Any] = field(default_factory=dict, hash=False)
    kind: ClassVar[str] = "set_state"
    is_local: ClassVar[bool] = True

    def describe(self) -> str:
        parts = [f"stage = {self.stage!r}"] if self.stage else []
        parts += [f"{k} = {v!r}" for k, v in self.data.items()]
        return "state: " + ", ".join(parts or ["unchanged"])


@dataclass(frozen=True, kw_only=True)
class _TimerEffect(Effect):
    name: str
    is_local: ClassVar[bool] = True

    @property
    def timer_id(self) -> str:
        """The timer's explicit id: ``<rule>:<ticket>:<name>``."""
        return f"{self.rule_id}:{self.ticket_key}:{self.name}"


@dataclass(frozen=True, kw_only=True)
class StartTimer(_TimerEffect):
    """Arm the durable timer ``<rule>:<ticket>:<name>`` for ``due_at`` (re-arms it if it exists)."""

    due_at: datetime
    data: dict[str, Any] = field(default_factory=dict, hash=False)
    kind: ClassVar[str] = "start_timer"

    def describe(self) -> str:
        return f"start timer {self.timer_id} due {self.due_at.isoformat()}"


@dataclass(frozen=True, kw_only=True)
class CancelTimer(_TimerEffect):
    kind: ClassVar[str] = "cancel_timer"

    def describe(self) -> str:
        return f"cancel timer {self.timer_id}"


# vendors' bounds ------------------------------------------------------------------------------------
#: The longest values the vendors accept, in characters, all in one place. The executor checks them
#: before a call (:func:`out_of_bounds`): a value over its bound is not sent, and one internal comment
#: on the ticket says which value was not used and why.
#:
#: - ``jsm_organization``: a Service Management organization name "must contain 1-200 characters"
#:   (JSM REST API, OrganizationCreateDTO.name).
#: - ``jira_summary``: an issue summary (Jira answers 400 above 255).
#: - ``jira_comment``: a comment body (internal comment or public reply); Jira Cloud's text fields hold
#:   32,767 characters.
#: - ``zendesk_comment``: a ticket comment body (internal note or public reply); Zendesk caps a comment
#:   at "~65,000" characters depending on encoding (Zendesk developer support), so 64,000 to stay clear of it.
#: - ``jira_label``: one label of an issue; Jira refuses a label over 255 characters (and any with a space).
#: - ``slack_text``: chat.postMessage ``text``; Slack truncates beyond 40,000 characters. A Slack text is
#:   not refused but clipped visibly with "…" (a person reading a long message expects it cut, not
#:   dropped); section blocks (3,000) are clipped where they are built, in bot/slack/blocks.py.
BOUNDS: dict[str, int] = {
    "jsm_organization": 200,
    "jira_summary": 255,
    "jira_comment": 32_767,
    "zendesk_comment": 64_000,
    "slack_text": 40_000,
    "jira_label": 255,
}


def out_of_bounds(effect: Effect, system: str) -> str | None:
    """Why ``effect`` must not be sent to ``system`` (``jira``, ``zendesk``, ``memory``…), or None when it fits."""
    match effect:
        case SetOrganization(name=name) if system != "zendesk":
            return _bound(name, "the organization name", "jsm_organization", "Jira Service Management", least=1)
        case InternalComment(body=body) | PublicReply(body=body):
            bound = "zendesk_comment" if system == "zendesk" else "jira_comment"
            return _bound(body, "the comment", bound, "Zendesk" if system == "zendesk" else "Jira")
        case CreateTicket(summary=summary) if system != "zendesk":
            return _bound(summary, "the summary", "jira_summary", "Jira", least=1)
        case ChangeLabels(add=add, remove=remove):
            return next(filter(None, (label_problem(label, system) for label in (*add, *remove))), None)
    return None


def label_problem(label: str, system: str) -> str | None:
    """Why ``label`` cannot be written as a label of ``system`` (``zendesk``: a tag), or None when it can.

    Both systems keep a label as one word: Jira refuses a label with a space (HTTP 400), Zendesk splits it
    into several tags, so either way the ticket would not carry what was asked. Jira also bounds a label's
    length (:data:`BOUNDS`). Zendesk lower-cases tags; that is not a problem, the writers lower-case them
    first (:func:`zendesk_tag`)."""
    what = "a Zendesk tag" if system == "zendesk" else "a Jira label"
    if not label.strip():
        return f"{what} cannot be empty"
    if any(c.isspace() for c in label):
        split = " (Zendesk would split it into several tags)" if system == "zendesk" else ""
        return f"{label!r} has a space: {what} is one word{split}; write it with - or _ instead"
    if system != "zendesk" and len(label) > BOUNDS["jira_label"]:
        return f"{what} has at most {BOUNDS['jira_label']} characters; {label[:40]!r}… has {len(label)}"
    return None


def zendesk_tag(label: str) -> str:
    """A label as Zendesk stores it as a tag: lower case (Zendesk lower-cases every tag it is given)."""
    return label.lower()


def _bound(value: str, what: str, bound: str, vendor: str, *, least: int = 0) -> str | None:
    limit, size = BOUNDS[bound], len(value.strip()) if least else len(value)
    if least <= size <= limit:
        return None
    accepts = f"{least}-{limit}" if least else f"at most {limit}"
    return f"{what} has {size} characters; {vendor} accepts {accepts}"


def clip_slack_text(message: SlackMessage) -> SlackMessage:
    """``message`` with its text cut to Slack's bound, ending in "…" where it was cut (see :data:`BOUNDS`)."""
    limit = BOUNDS["slack_text"]
    if len(message.text) <= limit:
        return message
    return dataclasses.replace(message, text=message.text[: limit - 1] + "…")
