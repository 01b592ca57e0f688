"""What the four runbook rules share: silence outside their projects, config blocks that are the seed's
defaults, and declarations (`requirements`, `writes`, `triggers`) that hold on their demo sites."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.check import Unavailable, run_check, trigger_edges
from bot.clock import VirtualClock
from bot.engine import RuleContext, StateView
from bot.model import TICKET_UPDATED, TIMER_FIRED, Event, Ticket
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site
from rules import REGISTRY, load_rules, momentus_einvoicing
from tests.rules.scenario import CONFIG, EXAMPLES, ZENDESK_BINDING, run

DEMOS = {"momentus_einvoicing": "momentus", "nfe_onboarding": "nfe", "sharespine_onboarding": "sharespine",
         "procountor_einvoicing": "procountor"}
#: Config keys naming people: the seeds name none, so the site's YAML does.
PEOPLE = {"support_ops_lead", "onboarding_lead", "bookkeeper", "finance_lead"}


@pytest.mark.parametrize("demo", ["everbright", *DEMOS.values()])
def test_each_demo_moves_only_its_own_rule(tmp_path, demo):
    result = run(demo, tmp_path)
    assert result.errors() == []
    acted = {r.rule_id for s in result.steps for r in s.report.rules if r.outcomes}
    owner = {v: k for k, v in DEMOS.items()}.get(demo, "everbright_onboarding")
    assert acted == {owner}


@pytest.mark.parametrize("rule_id", DEMOS)
def test_the_config_block_is_the_seeds_defaults(rule_id):
    """The seed's defaults, but for people and, on Zendesk, the keys binding the runbook to its account."""
    bound = next(b for b in load_rules(CONFIG) if b.id == rule_id)
    defaults = type(bound.rule).Config()
    # customer_replies: a site's own decision, never a default (the engine counts it only when a block says so).
    exclude = PEOPLE | {"customer_replies"} | (set(ZENDESK_BINDING) if bound.config.tracker == "zendesk" else set())
    assert bound.config.model_dump(exclude=exclude) == defaults.model_dump(exclude=exclude)


def test_the_zendesk_demos_are_bound_to_zendesk():
    bound = {b.id: b for b in load_rules(CONFIG)}
    assert {rule_id for rule_id, b in bound.items() if getattr(b.config, "tracker", "jira") == "zendesk"} == {
        "nfe_onboarding", "procountor_einvoicing"}
    for rule_id in ("nfe_onboarding", "procountor_einvoicing"):
        assert Site.load(EXAMPLES / DEMOS[rule_id] / "site.yaml").is_zendesk
    reqs = {(r.kind, r.name, r.project, r.system) for r in bound["procountor_einvoicing"].rule.requirements(
        bound["procountor_einvoicing"].config)}
    # on Zendesk the kinds of ticket are forms, the task a ticket type, "done" a status
    assert ("request_type", "Activation", "Bookkeeping", "zendesk") in reqs
    assert ("request_type", "E-invoice order", "Bookkeeping", "zendesk") in reqs
    assert ("issue_type", "Task", "Bookkeeping", "zendesk") in reqs
    assert ("transition", "solved", "Bookkeeping", "zendesk") in reqs
    assert all(system in ("zendesk", "slack") for *_, system in reqs)
    writes = {
        (t.kind, t.system) for t in bound["procountor_einvoicing"].rule.writes(bound["procountor_einvoicing"].config)
    }
    assert ("label", "zendesk") in writes  # Zendesk records a link as a tag


@pytest.mark.parametrize(("rule_id", "demo"), DEMOS.items())
def test_every_name_a_rule_needs_exists_on_its_demo_site(rule_id, demo):
    bound = next(b for b in load_rules(CONFIG) if b.id == rule_id)
    tracker = MemoryTracker(Site.load(EXAMPLES / demo / "site.yaml"))
    from bot.check import TrackerResolver

    resolvers = {"jira": TrackerResolver(tracker, demo), "zendesk": TrackerResolver(tracker, demo),
                 "slack": Unavailable("Slack", "not configured in tests", fatal=False)}
    report = run_check([bound], lambda systems: resolvers)
    assert report.undeclared == []
    assert [(r.requirement.kind, r.requirement.name, r.detail) for r in report.failures] == []
    assert len(report.resolutions) > 10


def test_a_misspelt_name_is_caught_by_the_check(tmp_path):
    config = tmp_path / "rules.yaml"
    config.write_text("rules:\n  nfe_onboarding:\n    tracker: zendesk\n    project: Onboarding\n"
                      "    stages: {layout: Montagem de layout}\n", encoding="utf-8")
    bound = load_rules(config)[0]
    from bot.check import TrackerResolver

    tracker = MemoryTracker(Site.load(EXAMPLES / "nfe" / "site.yaml"))
    report = run_check([bound], lambda systems: {"zendesk": TrackerResolver(tracker),
                                                 "slack": Unavailable("Slack", "off", fatal=False)})
    assert [(r.requirement.kind, r.requirement.name, r.closest) for r in report.failures] == [
        ("option", "Montagem de layout", ("Montagem do layout",))]


@pytest.mark.parametrize(("rule_id", "wakes_itself"), [
    ("momentus_einvoicing", True),  # it creates a ticket in the project it watches
    ("nfe_onboarding", False),  # it writes the survey and handover fields; it reacts to the stage field
    ("sharespine_onboarding", True),  # it creates and moves the step tasks it reacts to
    ("procountor_einvoicing", True),  # it creates and closes the allocation task
])
def test_every_cycle_through_a_runbook_rule_is_guarded(rule_id, wakes_itself):
    bound = next(b for b in load_rules(CONFIG) if b.id == rule_id)
    edges = trigger_edges([bound])
    assert bool(edges) is wakes_itself
    assert all(e.in_cycle and e.guarded for e in edges)
    assert bound.rule.watched_projects(bound.config)


def test_registry_order_keeps_everbright_first():
    assert list(REGISTRY)[:1] == ["everbright_onboarding"]
    assert set(DEMOS) <= set(REGISTRY)


@pytest.mark.parametrize("rule_id", ["nfe_onboarding", "procountor_einvoicing"])
def test_every_name_a_zendesk_runbook_needs_resolves_through_the_zendesk_adapter(rule_id):
    """`ticketbot check` against the Zendesk account (the fake, seeded from the demo site) finds every name."""
    from bot.check import TrackerResolver
    from bot.trackers.zendesk.adapter import ZendeskTracker
    from tests.fakes.fake_zendesk import FakeZendesk

    bound = next(b for b in load_rules(CONFIG) if b.id == rule_id)
    site = Site.load(EXAMPLES / DEMOS[rule_id] / "site.yaml")
    with FakeZendesk(site) as fake:
        tracker = ZendeskTracker(fake.url, site.bot_account.email, "token", sleep=lambda s: None)
        report = run_check([bound], lambda systems: {"zendesk": TrackerResolver(tracker, "zendesk"),
                                                     "slack": Unavailable("Slack", "off", fatal=False)})
    assert fake.violations == []
    assert [(r.requirement.kind, r.requirement.name, r.detail) for r in report.failures] == []
    assert {r.requirement.system for r in report.resolutions} == {"zendesk", "slack"}


# what a rule says about an event that is not its own ----------------------------------------------------
NOT_OURS = {"project": ("SS", "Service Request"), "kind": (None, "Bug")}  # (project, issue type); None: the rule's
NOTE = "case and whitespace ignored"
FOREIGN = ("timer belongs to this rule", False, "everbright_onboarding")
#: The verdicts of each rule on a ticket of another project, and of its project but another kind: what its
#: trace said before rejecting became a cached look-up, and must go on saying (name, passed, observed, expected).
REJECTIONS = {
    ("momentus_einvoicing", "project"): [("project", False, "SS", "EINV", NOTE),
                                         ("issue type", False, "Service Request", "E-Invoicing request", NOTE)],
    ("momentus_einvoicing", "kind"): [("project", True, "EINV", "EINV", NOTE),
                                      ("issue type", False, "Bug", "E-Invoicing request", NOTE)],
    ("nfe_onboarding", "project"): [("project", False, "SS", "Onboarding", NOTE),
                                    ("ticket form or type", False, "Service Request", "Onboarding", NOTE)],
    ("nfe_onboarding", "kind"): [("project", True, "Onboarding", "Onboarding", NOTE),
                                 ("ticket form or type", False, "Bug", "Onboarding", NOTE)],
    ("sharespine_onboarding", "project"): [("project", False, "SS", "SP", NOTE)],
    ("procountor_einvoicing", "project"): [("project", False, "SS", "Bookkeeping", NOTE)],
}


@pytest.mark.parametrize("timer", [False, True], ids=["update", "another rule's timer"])
@pytest.mark.parametrize(("rule_id", "what"), REJECTIONS)
def test_a_runbook_rule_rejects_what_is_not_its_own_with_the_verdicts_it_always_gave(rule_id, what, timer):
    bound = next(b for b in load_rules(CONFIG) if b.id == rule_id)
    project, issue_type = NOT_OURS[what]
    ticket = Ticket(key="X-1", project=project or bound.config.project, summary="x", issue_type=issue_type,
                    tracker=bound.config.tracker)
    now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    event = Event(id="e1", source="test", kind=TIMER_FIRED if timer else TICKET_UPDATED, ticket_key="X-1",
                  occurred_at=now, payload={"rule": "everbright_onboarding", "timer": "approval-reminder"})
    ctx = RuleContext(reader=MemoryTracker(Site.load(EXAMPLES / DEMOS[rule_id] / "site.yaml")),
                      clock=VirtualClock(now), config=bound.config, state=StateView(None, "test", rule_id))
    expected = REJECTIONS[(rule_id, what)] + ([(*FOREIGN, rule_id, "")] if timer else [])
    for _ in range(2):  # the second time from the caches
        evaluation = bound.rule.evaluate(event, ticket, ctx)
        assert [(v.name, v.passed, v.observed, v.expected, v.note) for v in evaluation.verdicts] == expected
        assert (evaluation.effects, evaluation.notes, evaluation.matched) == ([], [], False)


@pytest.mark.parametrize("rule_id", DEMOS)
def test_a_rules_runbooks_are_made_once_per_config_block(rule_id):
    """Made from the block once: they took a few hundred microseconds on every event."""
    bound = next(b for b in load_rules(CONFIG) if b.id == rule_id)
    first, again = (bound.rule.declarations(bound.config).runbooks for _ in range(2))
    assert len(first) == len(again) and all(a is b for a, b in zip(first, again, strict=True))


def test_a_runbook_made_from_one_block_never_answers_for_another():
    cfg = next(b for b in load_rules(CONFIG) if b.id == "momentus_einvoicing").config
    other = cfg.model_copy(update={"approved_statuses": ["Sold"]})
    assert momentus_einvoicing.runbook(cfg, "momentus_einvoicing").stages[1].when.statuses == ("Approved",)
    assert momentus_einvoicing.runbook(other, "momentus_einvoicing").stages[1].when.statuses == ("Sold",)
    assert momentus_einvoicing.runbook(cfg, "another id").rule_id == "another id"
