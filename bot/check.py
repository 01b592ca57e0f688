"""``ticketbot check``: does every name in the rules YAML exist on the live sites?

A rule config names things on a tracker by their display names: fields and their options,
statuses, transition targets, request types, link types, organizations, people by e-mail, and
Slack users. A rename on the site ("Needs Configuration?" -> "Needs configuration") breaks the
runbook silently until the first ticket fails. This module lists what each enabled rule needs
(:class:`Requirement`), resolves every item against the trackers and Slack with read-only
calls, and reports what is missing together with the closest names the site does have.

Where requirements come from: each rule defines ``requirements(config) -> list[Requirement]``
(the runbook rules through :class:`rules.runbook.Declarations`). This module knows no rule: a
rule that declares nothing is named in the report as not checked.

It also looks for trigger cycles. A rule may declare ``writes(config)`` (what it changes:
fields, statuses, labels, comments… per project) and ``triggers(config)`` (what it reacts to,
with the ``guard`` that stops it acting twice). Every pair of rules, a rule with itself
included, where one's writes can wake the other is reported, and whether the pair lies on a
cycle and what guard breaks it.

Systems: ``jira`` and ``zendesk`` are trackers, ``slack`` is Slack. With
``TICKETBOT_TRACKER=memory:<site.yaml>`` the in-memory site stands in for every tracker.
A tracker that is needed but not configured fails the check (its rules cannot run); Slack
that is not configured leaves its rows *not checked* (``--strict`` makes that a failure).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot import effects as fx
from bot.engine import BoundRule
from bot.trackers.base import Catalog, NotFound, TrackerError

SYSTEMS = ("jira", "zendesk", "slack")
TRACKER_SYSTEMS = ("jira", "zendesk")

#: What a requirement can name, and how the report says it.
KINDS = {
    "field": "field",
    "option": "option",
    "status": "status",
    "transition": "transition to",
    "request_type": "request type",
    "link_type": "link type",
    "organization": "organization",
    "issue_type": "issue type",
    "user": "user",
    "slack_user": "Slack user",
}
#: How the names of each kind are listed from a tracker's :class:`Catalog` (``user`` is looked up one by one).
_LISTERS: dict[str, Callable[[Catalog, Requirement], list[str] | None]] = {
    "field": lambda c, r: c.field_names(),
    "option": lambda c, r: c.field_options(_parent(r), _project(r)),
    "status": lambda c, r: c.statuses(_project(r)),
    "transition": lambda c, r: c.transition_targets(_project(r)),
    "request_type": lambda c, r: c.request_types(_project(r)),
    "link_type": lambda c, r: c.link_types(),
    "organization": lambda c, r: c.organizations(r.project),
    "issue_type": lambda c, r: c.issue_types(_project(r)),
}
_PROJECT_SCOPED = {"status", "transition", "request_type", "option", "issue_type"}

RESOLVED = "resolved"
MISSING = "missing"
UNCHECKED = "not checked"
FAILED = "failed"


# what rules need -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Requirement:
    """One name a rule's config uses on a system, to be found there.

    ``kind``: one of :data:`KINDS`. ``project``: where it must exist (statuses, request types,
    transitions and options are per project). ``parent``: for an ``option``, the field it belongs to.
    ``required=False``: a miss is reported but does not fail the check (e.g. an organization the rule
    creates when first needed). ``source``: the config key that names it, for the report.
    ``free_text_ok`` (an ``option``): the field may be a text field, which takes any value; the option is
    looked for only when the field offers options (an automation's ``set: {Priority: High}``).
    """

    kind: str
    name: str
    project: str | None = None
    system: str = "jira"
    parent: str | None = None
    required: bool = True
    source: str = ""
    note: str = ""
    free_text_ok: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown requirement kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        if self.system not in SYSTEMS:
            raise ValueError(f"unknown system {self.system!r}; systems: {', '.join(SYSTEMS)}")
        if not str(self.name).strip():
            raise ValueError(f"a {self.kind} requirement needs a name" + (f" ({self.source})" if self.source else ""))
        if self.kind == "option" and not self.parent:
            raise ValueError(f"option {self.name!r} needs its field as parent")
        if self.kind in _PROJECT_SCOPED and self.system in TRACKER_SYSTEMS and not self.project:
            raise ValueError(f"a {self.kind} requirement needs a project ({self.name!r})")

    @property
    def what(self) -> str:
        label = f"option of {self.parent!r}" if self.kind == "option" else KINDS[self.kind]
        return f"{label} in {self.project}" if self.project else label


@dataclass(frozen=True)
class Resolution:
    """What a system answered for one requirement of one rule."""

    rule_id: str
    requirement: Requirement
    outcome: str  # RESOLVED | MISSING | UNCHECKED | FAILED
    detail: str = ""
    closest: tuple[str, ...] = ()

    @property
    def fails(self) -> bool:
        """A miss that stops the rule from working (or a system that could not be asked)."""
        return self.outcome == FAILED or (self.outcome == MISSING and self.requirement.required)


# what rules write and react to ------------------------------------------------------------------------
#: Kinds of touch: a field (by display name; Organizations, Reporter and Request Type are fields),
#: status, label, comment, watcher, participant, link, ``ticket`` (a ticket created) and, for
#: triggers only, ``any`` (any change to an existing ticket).
TOUCH_KINDS = ("field", "status", "label", "comment", "watcher", "participant", "link", "ticket", "any")


@dataclass(frozen=True)
class Touch:
    """Something a rule changes (in ``writes``) or reacts to (in ``triggers``).

    ``name=None`` / ``project=None``: any. ``guard`` (triggers): the condition that keeps the rule
    from acting again on what it, or another rule, just wrote.
    """

    kind: str
    name: str | None = None
    project: str | None = None
    system: str = "jira"
    guard: str = ""

    def __post_init__(self) -> None:
        if self.kind not in TOUCH_KINDS:
            raise ValueError(f"unknown touch kind {self.kind!r}; kinds: {', '.join(TOUCH_KINDS)}")

    def __str__(self) -> str:
        what = {"any": "any change", "ticket": "ticket created"}.get(self.kind, self.kind)
        name = f" {self.name!r}" if self.name else ""
        return f"{what}{name}" + (f" in {self.project}" if self.project else "")

    def wakes(self, trigger: Touch) -> bool:
        """Whether this write can fire ``trigger``."""
        if self.system != trigger.system or not _same(self.project, trigger.project):
            return False
        if trigger.kind == "any":
            return self.kind != "ticket"  # a new ticket is a created event, not a change
        return self.kind == trigger.kind and _same(self.name, trigger.name)


def _same(a: str | None, b: str | None) -> bool:
    return a is None or b is None or _norm(a) == _norm(b)


@dataclass(frozen=True)
class TriggerEdge:
    """``writer``'s write can wake ``reader`` through ``trigger``."""

    writer: str
    reader: str
    write: Touch
    trigger: Touch
    in_cycle: bool

    @property
    def guarded(self) -> bool:
        return bool(self.trigger.guard)


# the report ------------------------------------------------------------------------------------------
@dataclass
class CheckReport:
    resolutions: list[Resolution] = field(default_factory=list)
    edges: list[TriggerEdge] = field(default_factory=list)
    #: Rules that declare nothing for a part of the check, with what is missing.
    undeclared: list[str] = field(default_factory=list)
    #: Systems that could not be asked, with why.
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> list[Resolution]:
        return [r for r in self.resolutions if r.fails]

    @property
    def unchecked(self) -> list[Resolution]:
        return [r for r in self.resolutions if r.outcome == UNCHECKED]

    @property
    def unguarded_cycles(self) -> list[TriggerEdge]:
        return [e for e in self.edges if e.in_cycle and not e.guarded]

    def exit_code(self, *, strict: bool = False) -> int:
        """1 on any failing requirement; with ``strict`` also on unchecked rows and unguarded cycles."""
        if self.failures or (strict and (self.unchecked or self.unguarded_cycles)):
            return 1
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failures,
            "requirements": [
                {"rule": r.rule_id, "kind": r.requirement.kind, "what": r.requirement.what,
                 "name": r.requirement.name, "project": r.requirement.project, "system": r.requirement.system,
                 "required": r.requirement.required, "source": r.requirement.source, "outcome": r.outcome,
                 "detail": r.detail, "closest": list(r.closest)}
                for r in self.resolutions],
            "trigger_edges": [
                {"writer": e.writer, "reader": e.reader, "write": str(e.write), "trigger": str(e.trigger),
                 "in_cycle": e.in_cycle, "guard": e.trigger.guard}
                for e in self.edges],
            "undeclared": self.undeclared,
            "unavailable": self.unavailable,
        }


# resolving names -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    outcome: str
    detail: str = ""
    closest: tuple[str, ...] = ()


class Resolver(Protocol):
    """Finds requirements of one system."""

    label: str

    def resolve(self, requirement: Requirement) -> Answer: ...


class TrackerResolver:
    """Resolves names through a tracker's read-only catalog methods (``statuses(project)``, …).

    Each listing is read once per (kind, project, parent). A name matches case-insensitively with
    runs of white space counted as one space, as the adapters match names.
    """

    def __init__(self, tracker: Catalog, label: str = "") -> None:
        self.tracker = tracker
        self.label = label or tracker.name
        self._listings: dict[tuple[str, str | None, str | None], list[str] | None] = {}

    def resolve(self, requirement: Requirement) -> Answer:
        if requirement.kind != "user" and requirement.kind not in _LISTERS:
            return Answer(FAILED, f"the {self.label} tracker has no {KINDS[requirement.kind]}s")
        try:
            if requirement.kind == "user":
                return self._user(requirement.name)
            return self._named(requirement)
        except NotFound as exc:
            return Answer(MISSING, str(exc))
        except TrackerError as exc:
            return Answer(FAILED, f"could not check: {exc}")

    def _user(self, email: str) -> Answer:
        user = self.tracker.find_user(email)
        if user is None:
            return Answer(MISSING, f"{self.label} has no user with this e-mail")
        return Answer(RESOLVED, user.display_name or user.account_id)

    def _named(self, requirement: Requirement) -> Answer:
        names = self._listing(requirement)
        if names is None:
            return Answer(RESOLVED, f"{self.label} accepts any {KINDS[requirement.kind]} name")
        match = _find(requirement.name, names)
        if match is not None:
            return Answer(RESOLVED, "" if match == requirement.name else f"as {match!r}")
        if not names and requirement.kind == "option" and requirement.free_text_ok:
            return Answer(RESOLVED, f"field {requirement.parent!r} offers no options: it takes any value")
        closest = closest_names(requirement.name, names)
        if closest:
            detail = "not found"
        elif names:
            detail = f"not found; {len(names)} known, e.g. {', '.join(repr(n) for n in names[:5])}"
        else:
            detail = "not found; there are none" if requirement.kind != "option" else \
                f"field {requirement.parent!r} offers no options"
        return Answer(MISSING, detail, closest)

    def _listing(self, requirement: Requirement) -> list[str] | None:
        key = (requirement.kind, requirement.project, requirement.parent)
        if key not in self._listings:
            found = _LISTERS[requirement.kind](self.tracker, requirement)
            self._listings[key] = None if found is None else [str(n) for n in found]
        return self._listings[key]


class SlackResolver:
    """Slack users by e-mail (``users.lookupByEmail``) or by member id (``users.info``)."""

    label = "Slack"

    def __init__(self, notifier: Any) -> None:
        self.notifier = notifier  # bot.slack.sender.SlackNotifier

    def resolve(self, requirement: Requirement) -> Answer:
        from bot.slack.notifier import NotifyError

        if requirement.kind != "slack_user":
            return Answer(FAILED, f"Slack has no {KINDS[requirement.kind]}s")
        name = requirement.name.strip()
        try:
            if "@" in name:
                user_id = self.notifier.slack_id_for(name)
                if user_id is None:
                    return Answer(MISSING, "no Slack user has this e-mail (users.lookupByEmail)")
                return Answer(RESOLVED, user_id)
            return self._member(name)
        except NotifyError as exc:
            return Answer(FAILED, f"could not check: {exc}")

    def _member(self, user_id: str) -> Answer:
        from slack_sdk.errors import SlackApiError

        from bot.slack.notifier import NotifyError

        try:
            response = self.notifier.client.users_info(user=user_id)
        except SlackApiError as exc:
            code = str(exc.response.get("error", "")) if exc.response is not None else ""
            if code == "user_not_found":
                return Answer(MISSING, "no Slack member has this id (users.info)")
            raise NotifyError(f"Slack users.info failed: {code or 'no response'}", code=code) from None
        user = response["user"]
        if user.get("deleted"):
            return Answer(MISSING, "this Slack member is deactivated")
        return Answer(RESOLVED, str(user.get("real_name") or user.get("name") or ""))


class Unavailable:
    """A system that cannot be asked; ``fatal``: its requirements fail rather than go unchecked."""

    def __init__(self, label: str, reason: str, *, fatal: bool) -> None:
        self.label = label
        self.reason = reason
        self.fatal = fatal

    def resolve(self, requirement: Requirement) -> Answer:
        return Answer(FAILED if self.fatal else UNCHECKED, self.reason)


def _project(requirement: Requirement) -> str:
    """The project of a project-scoped requirement (a :class:`Requirement` of a tracker always has one)."""
    if not requirement.project:
        raise TrackerError(f"a {requirement.kind} needs a project to be looked up ({requirement.name!r})")
    return requirement.project


def _parent(requirement: Requirement) -> str:
    """The field an ``option`` requirement belongs to (always set, see :class:`Requirement`)."""
    if not requirement.parent:
        raise TrackerError(f"option {requirement.name!r} needs its field")
    return requirement.parent


def _norm(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def _find(name: str, names: Iterable[str]) -> str | None:
    wanted = _norm(name)
    return next((n for n in names if _norm(n) == wanted), None)


def closest_names(name: str, names: Sequence[str], limit: int = 3) -> tuple[str, ...]:
    """The site's names most like ``name`` (difflib, case-insensitive), best first."""
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(_norm(n), n)
    hits = difflib.get_close_matches(_norm(name), list(by_norm), n=limit, cutoff=0.6)
    return tuple(by_norm[h] for h in hits)


# rule declarations -----------------------------------------------------------------------------------
def _declared(bound: BoundRule, method: str) -> list[Any] | None:
    """The rule's own ``method(config)``, or None when the rule declares nothing."""
    own = getattr(bound.rule, method, None)
    return list(own(bound.config)) if callable(own) else None


def rule_requirements(bound: BoundRule) -> list[Requirement] | None:
    return _declared(bound, "requirements")


# the check -------------------------------------------------------------------------------------------
Connect = Callable[[set[str]], Mapping[str, Resolver]]


def run_check(rules: Sequence[BoundRule], connect: Connect) -> CheckReport:
    """Resolve every requirement of the enabled ``rules``; ``connect(systems)`` gives the resolvers."""
    report = CheckReport()
    enabled = [b for b in rules if b.config.enabled]
    wanted: list[tuple[str, Requirement]] = []
    for bound in enabled:
        reqs = rule_requirements(bound)
        if reqs is None:
            report.undeclared.append(f"{bound.id}: declares no requirements(config); its names were not checked")
            continue
        wanted += [(bound.id, r) for r in reqs]
    resolvers = connect({r.system for _, r in wanted}) if wanted else {}
    for system, resolver in resolvers.items():
        if isinstance(resolver, Unavailable):
            report.unavailable[system] = resolver.reason
    seen: dict[Requirement, Answer] = {}
    for rule_id, req in wanted:
        identity = Requirement(req.kind, req.name, req.project, req.system, req.parent, free_text_ok=req.free_text_ok)
        if identity not in seen:
            found = resolvers.get(req.system)
            seen[identity] = found.resolve(req) if found else Answer(FAILED, f"no {req.system} connection")
        answer = seen[identity]
        report.resolutions.append(Resolution(rule_id, req, answer.outcome, answer.detail, answer.closest))
    report.edges = trigger_edges(enabled, report.undeclared)
    return report


def trigger_edges(rules: Sequence[BoundRule], undeclared: list[str] | None = None) -> list[TriggerEdge]:
    """Every (writer, reader) pair, self included, where a write of one can fire a trigger of the other."""
    writes: dict[str, list[Touch]] = {}
    triggers: dict[str, list[Touch]] = {}
    for bound in rules:
        w = _declared(bound, "writes")
        t = _declared(bound, "triggers")
        if (w is None or t is None) and undeclared is not None:
            missing = " and ".join(m for m, v in (("writes(config)", w), ("triggers(config)", t)) if v is None)
            undeclared.append(f"{bound.id}: declares no {missing}; trigger cycles through it were not checked")
        writes[bound.id], triggers[bound.id] = w or [], t or []
    pairs: list[tuple[str, str, Touch, Touch]] = []
    for writer, written in writes.items():
        for reader, reacts in triggers.items():
            hit = next(((w, t) for t in reacts for w in written if w.wakes(t)), None)
            if hit is not None:
                pairs.append((writer, reader, *hit))
    graph = {(a, b) for a, b, _, _ in pairs}
    return [TriggerEdge(a, b, w, t, in_cycle=a == b or _reaches(graph, b, a)) for a, b, w, t in pairs]


def _reaches(graph: set[tuple[str, str]], start: str, goal: str) -> bool:
    todo, seen = [start], {start}
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for a, b in graph:
            if a == node and b not in seen:
                seen.add(b)
                todo.append(b)
    return False


# connecting from settings ----------------------------------------------------------------------------
def connect_from_settings(settings: Any) -> Connect:
    """The resolvers ``ticketbot check`` uses: trackers and Slack from the process settings."""
    from bot.settings import ConfigurationError, require_zendesk

    def connect(systems: set[str]) -> dict[str, Resolver]:
        resolvers: dict[str, Resolver] = {}
        if settings.tracker.startswith("memory:"):
            tracker, label = _memory_tracker(settings.tracker)
            resolvers.update(dict.fromkeys(TRACKER_SYSTEMS, TrackerResolver(tracker, label)))
        else:
            for system, make in (("jira", _jira), ("zendesk", _zendesk)):
                if system in systems:
                    try:
                        resolvers[system] = TrackerResolver(make(settings, require_zendesk), system)
                    except ConfigurationError as exc:
                        resolvers[system] = Unavailable(system, str(exc), fatal=True)
        if "slack" in systems:
            token = settings.slack.bot_token
            if token is None or not token.get_secret_value():
                resolvers["slack"] = Unavailable("Slack", "Slack is not configured (TICKETBOT_SLACK__BOT_TOKEN)",
                                                 fatal=False)
            else:
                from bot.slack.sender import SlackNotifier

                resolvers["slack"] = SlackResolver(SlackNotifier.from_settings(settings.slack))
        return resolvers

    return connect


def _memory_tracker(setting: str) -> tuple[Catalog, str]:
    """The in-memory site of ``TICKETBOT_TRACKER=memory:…``: its live state when the daemon has one,
    else the site file as written (nothing is created beside it)."""
    from bot.settings import ConfigurationError
    from bot.trackers.memory import MemoryTracker
    from bot.trackers.shared_memory import SharedMemoryTracker, parse_tracker_setting
    from bot.trackers.site import Site

    site_path, state = parse_tracker_setting(setting)
    if not site_path.is_file():
        raise ConfigurationError(f"TICKETBOT_TRACKER: site file not found: {site_path}")
    try:
        site = Site.load(site_path)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"TICKETBOT_TRACKER: {site_path} is not a valid site description: "
                                 f"{str(exc).splitlines()[0]}") from None
    label = f"memory site {site_path.name}"
    if state.is_file():
        return SharedMemoryTracker(site, state), label
    return MemoryTracker(site), label


def _jira(settings: Any, _: Any) -> Catalog:
    from bot.trackers.jira.adapter import JiraTracker

    jira = settings.require_jira()
    return JiraTracker(url=str(jira.url), email=jira.email, api_token=jira.api_token.get_secret_value(),
                       max_retries=jira.max_retries)


def _zendesk(settings: Any, require_zendesk: Callable[[Any], Any]) -> Catalog:
    from bot.trackers.zendesk.adapter import ZendeskTracker

    zendesk = require_zendesk(settings)
    return ZendeskTracker(zendesk.url, zendesk.email, zendesk.api_token.get_secret_value())


# a write refused at run time -----------------------------------------------------------------------
@dataclass(frozen=True)
class Rejection:
    """What a rejected write of a rule names, found again the way the check finds names.

    ``kind``: a :data:`KINDS` key, or ``""`` when the write names nothing the check knows (a comment).
    ``found``: the name exists on the site (so it was refused *here*: not on the project's screens,
    not allowed from the ticket's status…). ``source``: the config key that names it, when the rule
    declares it in ``requirements(config)``.
    """

    rule_id: str
    effect_key: str
    effect_kind: str
    ticket_key: str
    what: str  # the effect, described
    kind: str
    name: str
    project: str | None
    closest: tuple[str, ...] = ()
    found: bool = False
    source: str = ""



def rejected_name(effect: fx.Effect, detail: str, name: str = "") -> tuple[str, str, str | None, str | None]:
    """``(kind, name, project, parent)`` of what a rejected ``effect`` names; ``name``: the one the system
    gave, if it gave one. A field edit refused over an option names the option."""
    project = _project_of(effect.ticket_key)
    match effect:
        case fx.SetField(field=field_name, value=value):
            if "option" in detail.casefold() and isinstance(value, str) and value:
                return "option", name or value, project, field_name
            return "field", name or field_name, project, None
        case fx.SetOrganization(name=org):
            return "organization", name or org, None, None
        case fx.SetRequestType(name=request_type):
            return "request_type", name or request_type, project, None
        case fx.SetReporter(email=email) | fx.AddWatcher(email=email) | fx.RemoveParticipant(email=email):
            return "user", name or email, None, None
        case fx.Transition(status=status):
            return "transition", name or status, project, None
        case fx.LinkTickets(link_type=link_type):
            return "link_type", name or link_type, None, None
        case fx.CreateTicket(project=target, issue_type=issue_type):
            return "issue_type", name or issue_type, target, None
        case fx.SlackMessage(slack_user=slack_user, user_email=email, channel=channel):
            return "slack_user", name or slack_user or email or channel, None, None
    return "", name, project, None


def rejection_identity(rule_id: str, effect: fx.Effect, detail: str, name: str = "") -> str:
    """What a rejection is reported once for: (rule, effect kind, missing name). Asks no system."""
    return f"{rule_id}:{effect.kind}:{_norm(rejected_name(effect, detail, name)[1])}"


def explain_rejection(bound: BoundRule | None, effect: fx.Effect, detail: str, tracker: object,
                      name: str = "") -> Rejection:
    """Name what the rejected write needs, with the closest names the site has (the check's resolver)
    and the config key the rule reads it from. A ``tracker`` that is no :class:`Catalog` offers no names."""
    kind, missing, project, parent = rejected_name(effect, detail, name)
    closest: tuple[str, ...] = ()
    found = False
    system = "slack" if kind == "slack_user" else "jira"
    if kind and kind != "slack_user" and missing and isinstance(tracker, Catalog):
        try:
            requirement = Requirement(kind, missing, project, system=system, parent=parent)
        except ValueError:  # e.g. a project-scoped name on a ticket whose key names no project
            requirement = None
        if requirement is not None:
            answer = TrackerResolver(tracker).resolve(requirement)
            found, closest = answer.outcome == RESOLVED, answer.closest
    source = ""
    if bound is not None and kind:
        declared = rule_requirements(bound) or []
        kinds = {kind, "status"} if kind == "transition" else {kind}
        same = [r for r in declared if r.kind in kinds and _norm(r.name) == _norm(missing) and r.source]
        source = next((r.source for r in sorted(same, key=lambda r: not r.required)), "")
    return Rejection(rule_id=bound.id if bound is not None else effect.rule_id, effect_key=effect.key,
                     effect_kind=effect.kind, ticket_key=effect.ticket_key, what=effect.describe(), kind=kind,
                     name=missing, project=project, closest=closest, found=found, source=source)


def rejection_alert(r: Rejection, detail: str) -> str:
    """The admin-channel message: rule, ticket, effect, the exact name, the closest match, what to do."""
    label = KINDS.get(r.kind, "value")
    where = f" in {r.project}" if r.project else ""
    head = (f"ticketbot: rule {r.rule_id} could not {r.what} on {r.ticket_key}: refused for good "
            f"({_clip(detail, 300)}).")
    if not r.kind:
        todo = f"Please make this change on {r.ticket_key} by hand."
    elif r.found:
        fix = {"field": f"add the field {r.name} to the {r.project} project's screens",
               "option": f"offer the option {r.name} in that field for {r.project}",
               "transition": f"let {r.project}'s workflow move tickets to {r.name} from where {r.ticket_key} is",
               }.get(r.kind, f"make {r.name} usable{where}")
        todo = (f"The {label} {r.name!r} exists, but not for {r.ticket_key}{where}: {fix}, "
                + (f"or set {r.source} in config." if r.source else "or change the rule's config."))
    else:
        hint = f" (closest: {', '.join(repr(c) for c in r.closest)})" if r.closest else ""
        fix = f"set {r.source} in config to the right name" if r.source else "fix the name in the rule's config"
        todo = f"There is no {label} {r.name!r}{where}{hint}: create it, or {fix}."
    return (f"{head} {todo} The rest of the runbook went on; make this change on {r.ticket_key} by hand. "
            "(Reported once; later refusals of the same name are only traced.)")


def miss_line(r: Resolution) -> str:
    """One line for a name the start-up check did not find: rule, what, name, closest, config key."""
    req = r.requirement
    what = f"option {req.name!r} of field {req.parent!r}" if req.kind == "option" else f"{KINDS[req.kind]} {req.name!r}"
    where = f" in {req.project}" if req.project else ""
    hint = f"; closest: {', '.join(repr(c) for c in r.closest)}" if r.closest else ""
    source = f" ({req.source})" if req.source else ""
    return f"{r.rule_id}: {what}{where} not found on {req.system}{hint}{source}"


def _project_of(ticket_key: str) -> str | None:
    """The project of a Jira key (``CS-201`` -> ``CS``); None for a Zendesk ticket id."""
    project, dash, number = ticket_key.rpartition("-")
    return project if dash and number.isdigit() else None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
