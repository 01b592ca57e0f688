"""The Sharespine onboarding project (seed 001) on the virtual clock: the demo end to end, then variants."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from bot.settings import ConfigurationError
from bot.trackers.site import Site
from rules import load_rules
from rules.sharespine_onboarding import TEXTS, Config
from tests.rules.scenario import CONFIG, EXAMPLES, run
from tests.rules.webhooks import Issue, JiraWebhooks

RULE = "sharespine_onboarding"
SALES, BOT = "sales@sharespine.example", "ticketbot@sharespine.example"
PM, ENGINEER, LEAD = "erik.lind@sharespine.example", "sara.holm@sharespine.example", "johan.berg@sharespine.example"
STEPS = Config().steps
GATE = Config().step3_gate


def test_demo_runs_the_four_steps_to_the_handover(tmp_path):
    result = run("sharespine", tmp_path)
    assert result.errors() == []
    assert result.stages(RULE, "SP-1") == ["step1", "step2", "step3_waiting", "step3", "step4", "handover"]
    project = result.ticket("SP-1")
    assert (project.status, project.resolution) == ("Done", "Done")
    # One task per step, each carrying the project's key and its step, linked to the project.
    for n, key in enumerate(("SP-2", "SP-3", "SP-4", "SP-5"), 1):
        task = result.ticket(key)
        assert task.field("Onboarding project") == "SP-1" and task.field("Onboarding step") == f"Step {n}"
        assert "* " + getattr(STEPS, f"step{n}").checklist[0] in task.description
    assert {link.outward_key for link in project.links} == {"SP-2", "SP-3", "SP-4", "SP-5"}
    assert result.state(RULE, "SP-1").data["child:step3"] == "SP-4"
    # Step 3 started by ticketbot once the settlement data was in.
    assert "SP-4: status To Do -> In Progress" in result.player.tracker.log
    # The project manager: 2 questionnaire reminders, the data request, 2 data reminders, "step 3 can start".
    to_pm = result.slack_to(PM)
    assert [("questionnaire" in t, "settlement data" in t or "Transaction data" in t) for t in to_pm] == [
        (True, False), (True, False), (False, True), (False, True), (False, True), (False, True)]
    assert "reminder 2" in to_pm[1] and "step 3 (Transaction data & settlement) can start" in to_pm[5]
    assert result.slack_to(LEAD) == [] and result.alerts == []
    handover = result.slack_to("#support")
    assert len(handover) == 1 and "Nordic Outdoor AB (SP-1) finished onboarding after 42 days" in handover[0]
    # Step 2's task was closed with an open item: one comment on it listing that item.
    assert result.comments("SP-3") == [
        ("ticketbot: this step is marked done but these checklist items are open:\n"
        "* Test order and invoice approved\nThe onboarding moves on when they are ticked.")]
    assert any("questionnaire answered; reminders stopped" in c for c in result.comments("SP-1"))
    assert {t.name: t.status for t in result.timers("SP-1")} == {"questionnaire": "cancelled",
                                                                   "settlement_data": "cancelled"}


class Project:
    """A scenario on the Sharespine demo site: the project and its step tasks as ticketbot numbers them."""

    def __init__(self, start: datetime, manager: str | None = PM) -> None:
        site = Site.load(EXAMPLES / "sharespine" / "site.yaml")
        self.hooks = JiraWebhooks(site, site.base_url)
        self.start = start
        self.parent = Issue(self.hooks, "SP-1", summary="Onboarding: Fjäll Sport AB", issue_type="Onboarding project",
                            status="To Do", created=start)
        self.manager = manager

    def create(self) -> list[dict]:
        fields = {"Customer": "Fjäll Sport AB", **({"Project manager": self.manager} if self.manager else {})}
        return [self.parent.create(SALES, fields=fields)]

    def task(self, n: int, created: datetime) -> Issue:
        step = getattr(STEPS, f"step{n}")
        return Issue(self.hooks, f"SP-{n + 1}", summary=f"Fjäll Sport AB: {step.option} – {step.title}",
                     issue_type="Task", status="To Do", created=created)

    def complete(self, n: int, at: datetime, *, items: list[str] | None = None) -> list[dict]:
        task = self.task(n, at)
        items = getattr(STEPS, f"step{n}").checklist if items is None else items
        return [task.change(at, ENGINEER, {"Checklist": (None, items)}), task.move(at + timedelta(minutes=5),
                                                                                  ENGINEER, "Done")]


MONDAY = datetime(2026, 11, 2, 9, tzinfo=UTC)  # 10:00 in Stockholm


def test_questionnaire_reminders_repeat_three_times_then_escalate(tmp_path):
    p = Project(MONDAY)
    result = run("sharespine", tmp_path, p.create(), until=MONDAY + timedelta(days=30))
    reminders = [t for t in result.slack_to(PM) if "questionnaire" in t]
    # The first after 3 business days, then max_reminders = 3 more.
    assert [t.split(": ")[1] for t in reminders] == ["reminder 1", "reminder 2", "reminder 3", "reminder 4"]
    fired = [s.event.occurred_at for s in result.steps if s.event.kind == "timer.fired"]
    # 3 business days apart (Stockholm working days), then the escalation 15 business days after the start.
    assert fired == [datetime(2026, 11, 5, 9, tzinfo=UTC), datetime(2026, 11, 10, 9, tzinfo=UTC),
                     datetime(2026, 11, 13, 9, tzinfo=UTC), datetime(2026, 11, 18, 9, tzinfo=UTC),
                     datetime(2026, 11, 23, 9, tzinfo=UTC)]
    assert len(result.slack_to(LEAD)) == 1 and "after 15 business days" in result.slack_to(LEAD)[0]


def test_without_a_project_manager_the_lead_is_reminded(tmp_path):
    p = Project(MONDAY, manager=None)
    result = run("sharespine", tmp_path, p.create(), until=MONDAY + timedelta(days=4))
    assert len([t for t in result.slack_to(LEAD) if "reminder 1" in t]) == 1


def test_a_step_closed_with_open_items_does_not_advance_until_ticked(tmp_path):
    p = Project(MONDAY)
    first = STEPS.step1.checklist
    records = [*p.create(), *p.complete(1, MONDAY + timedelta(hours=2), items=first[:-1])]
    result = run("sharespine", tmp_path, records)
    assert result.state(RULE, "SP-1").stage == "step1"
    assert "SP-3" not in result.player.tracker.tickets
    assert "* System requirements checked" in result.comments("SP-2")[0]
    # The last item ticked on the closed task: the project moves on.
    (tmp_path / "ticked").mkdir()
    tick = p.task(1, MONDAY).change(MONDAY + timedelta(days=1), ENGINEER, {"Checklist": (first[:-1], first)})
    result = run("sharespine", tmp_path / "ticked", [*records, tick])
    assert result.state(RULE, "SP-1").stage == "step2" and "SP-3" in result.player.tracker.tickets


@pytest.mark.parametrize(("ticked", "started"), [(GATE[:3], False), (GATE, True)])
def test_step_3_is_gated_on_the_settlement_data(tmp_path, ticked, started):
    p = Project(MONDAY)
    t = MONDAY + timedelta(hours=1)
    records = [*p.create(), *p.complete(1, t), *p.complete(2, t + timedelta(hours=1)),
               p.task(3, t).change(t + timedelta(hours=3), PM, {"Checklist": (None, ticked)})]
    result = run("sharespine", tmp_path, records)
    assert result.state(RULE, "SP-1").stage == ("step3" if started else "step3_waiting")
    assert result.ticket("SP-4").status == ("In Progress" if started else "To Do")
    assert any("the settlement data is in" in text for text in result.slack_to(PM)) is started
    timer = {t.name: t.status for t in result.timers("SP-1")}["settlement_data"]
    assert timer == ("cancelled" if started else "pending")


def test_the_bots_own_task_creation_event_adopts_the_task_once(tmp_path):
    p = Project(MONDAY)
    created = p.task(1, MONDAY).create(BOT, fields={"Onboarding project": "SP-1", "Onboarding step": "Step 1"})
    result = run("sharespine", tmp_path, [*p.create(), created, created | {"timestamp": created["timestamp"] + 1}])
    assert result.state(RULE, "SP-1").data["child:step1"] == "SP-2"
    assert [link.outward_key for link in result.ticket("SP-1").links] == ["SP-2"]
    assert len([c for c in result.applied(RULE) if c.startswith("link")]) == 1


# words: English as shipped, Swedish with `language: sv`, a block's own wording ---------------------------
def _config(tmp_path, *lines: str):
    """The shipped rules, the Sharespine block's language line replaced by ``lines``."""
    text = CONFIG.read_text(encoding="utf-8")
    shipped = next(x for x in text.splitlines() if x.startswith("    language: en ") and "sv:" in x)
    path = tmp_path / "ticketbot.yaml"
    path.write_text(text.replace(shipped, "\n".join(lines)), encoding="utf-8")
    return path


def _everything_said(result) -> list[str]:
    """Every text ticketbot wrote: Slack messages and alerts, comments, the tasks it created."""
    tickets = [result.ticket(key) for key in sorted(result.player.tracker.tickets)]
    return [m.text for m in result.slack] + result.alerts + [c.body for t in tickets for c in t.comments] + [
        text for t in tickets if t.creator and t.creator.email == BOT for text in (t.summary, t.description)]


def _fragments(language: str) -> set[str]:
    """The fixed words of every template in ``language`` (pieces of 12 characters or more)."""
    return {literal.strip() for t in TEXTS.templates.values()
            for literal, *_ in string.Formatter().parse(t.texts[language]) if len(literal.strip()) >= 12}


def test_every_text_ticketbot_writes_comes_from_a_template(tmp_path):
    """Each template reworded by the block as "[its name] {its values}": everything written says which it was."""
    marked = {name: f"[{name}] " + " ".join(f"{{{v}}}" for v in t.values) for name, t in TEXTS.templates.items()}
    config = tmp_path / "marked.yaml"
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["rules"]["sharespine_onboarding"]["templates"] = marked
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run("sharespine", tmp_path, config=config)
    said = _everything_said(result)
    assert len(said) > 20
    assert [text for text in said if not text.startswith("[")] == []
    used = {text[1:text.index("]")] for text in said}
    assert used == set(TEXTS.templates) - {"admin_channel", "escalation_slack", "escalation_note", "settlement_data",
                                           "questionnaire"}  # the demo escalates nothing; two are inside others
    assert "[reminder_slack] Nordic Outdoor AB SP-1 1 [questionnaire] " in result.slack_to(PM)[0]


def test_in_swedish_the_whole_onboarding_is_written_in_swedish(tmp_path):
    result = run("sharespine", tmp_path, config=_config(tmp_path, "    language: sv"))
    assert result.errors() == []
    assert result.stages(RULE, "SP-1")[-1] == "handover"
    to_pm = result.slack_to(PM)
    assert to_pm[0] == ("Nordic Outdoor AB (SP-1): påminnelse 1: kunden har inte skickat frågeformuläret än. Påminn "
                        "kunden: ju snabbare vi får det, desto snabbare kan vi börja.")
    assert to_pm[2].startswith("Nordic Outdoor AB (SP-1): steg 2 är klart. Be kunden om Transaction data received, ")
    assert to_pm[5] == ("Nordic Outdoor AB (SP-1): underlaget för avstämningen har kommit in; steg 3 "
                        "(Transaction data & settlement) kan börja.")
    assert result.slack_to("#support") == [
        "Överlämning: Nordic Outdoor AB (SP-1) har slutfört onboardingen efter 42 dagar och får nu stöd av "
        "Support & Service."]
    assert result.ticket("SP-2").description.startswith(
        "Step 1 i onboardingprojektet SP-1: Customer preparation.\n\nChecklista (bocka av varje punkt i 'Checklist'):"
        "\n* Login details to the integration platform\n")
    assert result.comments("SP-3") == [
        "ticketbot: steget är markerat som klart men de här punkterna i checklistan är inte avbockade:\n"
        "* Test order and invoice approved\nOnboardingen går vidare när de är avbockade."]
    assert "ticketbot: frågeformuläret är besvarat; påminnelserna har stoppats." in result.comments("SP-1")
    # Nothing English is left: no fixed piece of an English template in anything it wrote.
    english = _fragments("en") - _fragments("sv")
    assert [(f, s) for s in _everything_said(result) for f in english if f in s] == []


def test_in_swedish_the_escalation_counts_swedish_business_days(tmp_path):
    p = Project(MONDAY)
    result = run("sharespine", tmp_path, p.create(), until=MONDAY + timedelta(days=30),
                 config=_config(tmp_path, "    language: sv"))
    assert result.slack_to(LEAD) == [
        "Fjäll Sport AB (SP-1): väntar fortfarande på frågeformuläret efter 15 arbetsdagar."]
    assert "ticketbot: väntar fortfarande på frågeformuläret; eskalerat till johan.berg@sharespine.example." in \
        result.comments("SP-1")


def test_a_blocks_own_wording_is_what_is_sent(tmp_path):
    config = _config(tmp_path, "    language: sv", "    templates:",
                     '      handover_slack: "{customer} är klar ({key}, {days} dagar). Välkommen till supporten!"')
    result = run("sharespine", tmp_path, config=config)
    assert result.slack_to("#support") == ["Nordic Outdoor AB är klar (SP-1, 42 dagar). Välkommen till supporten!"]
    assert result.slack_to(PM)[0].startswith("Nordic Outdoor AB (SP-1): påminnelse 1:")  # the others as shipped


def test_a_block_override_naming_a_value_the_template_lacks_is_refused(tmp_path):
    config = _config(tmp_path, "    templates:", '      handover_slack: "{customer} {consultant}"')
    with pytest.raises(ConfigurationError, match=r"rules\.sharespine_onboarding.*templates\.handover_slack: "
                                                 r"unknown value\(s\) \{consultant\}"):
        load_rules(config)


@pytest.mark.parametrize("language", ["en", "sv"])
def test_every_template_renders_in_both_languages(language):
    assert TEXTS.languages() == {"en", "sv"}
    say = Config(language=language).words
    for t in TEXTS.templates.values():
        assert set(t.texts) == {"en", "sv"}, t.name
        text = say(t.name, **{v: f"<{v}>" for v in t.values})
        assert text == t.texts[language].format_map({v: f"<{v}>" for v in t.values})
