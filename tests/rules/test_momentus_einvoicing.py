"""Momentus E-Invoicing (seed 000) on the virtual clock: the demo end to end, then its variants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from bot.settings import ConfigurationError
from bot.trackers.site import Site
from rules import load_rules
from rules.momentus_einvoicing import TEXTS, Config
from tests.rules.scenario import CONFIG, EXAMPLES, run
from tests.rules.webhooks import Issue, JiraWebhooks

RULE = "momentus_einvoicing"
AGENT, CONNECT = "priya.natarajan@momentus.example", "connect@momentus.example"
AM, LEAD = "marcus.hale@momentus.example", "olivia.grant@momentus.example"
BOT = "ticketbot@momentus.example"
START = datetime(2026, 11, 9, 15, tzinfo=UTC)
H = timedelta(hours=1)


def test_demo_runs_the_runbook_end_to_end(tmp_path):
    result = run("momentus", tmp_path)
    assert result.errors() == []
    assert result.stages(RULE, "EINV-1") == ["requested", "approved", "form_submitted", "validating", "validated",
                                            "ready"]
    # Setup form of an Enterprise customer's first Connect app: the API-user task, tied to its request.
    task = result.ticket("EINV-2")
    assert (task.issue_type, task.summary) == ("Task", "Set up the Connect API user for Harbor Hall Events")
    assert task.field("E-Invoicing request") == "EINV-1" and "Due on November 16, 2026." in task.description
    assert [(link.type, link.inward_key, link.outward_key) for link in result.ticket("EINV-1").links] == [
        ("Relates", "EINV-1", "EINV-2")]
    assert result.state(RULE, "EINV-1").data["child:api_user"] == "EINV-2"
    assert (task.status, task.assignee.email) == ("Done", AGENT)
    # Due Monday 09:00 in Chicago (2 business days after Veterans Day): its assignee was reminded, once.
    assert result.slack_to(AGENT) == [
        "Reminder 1: EINV-2 (set up the Connect API user for Harbor Hall Events, EINV-1) was due on November 16, "
        "2026 and is not done yet. E-Invoicing cannot be ready until it is."]
    # Validated and configured on Monday afternoon, but ready only when EINV-2 was done, and the trace said why.
    waiting = next(s for s in result.steps if s.event.occurred_at == datetime(2026, 11, 16, 20, tzinfo=UTC))
    [verdict] = [v for r in waiting.report.rules if r.rule_id == RULE for v in r.result.evaluation.verdicts
                 if not v.passed]
    assert (verdict.name, verdict.observed, verdict.expected) == (
        "next stage 'ready to use': API-user task EINV-2 status", "To Do", ["Done"])
    assert result.state(RULE, "EINV-1").entered("ready") == datetime(2026, 11, 16, 21, tzinfo=UTC)
    # Approval: the account manager is told (gap 1); ready: told the customer heard it on the ticket (gap 2).
    to_am = result.slack_to(AM)
    assert len(to_am) == 2
    assert "is approved" in to_am[0] and "About E-Invoicing in Enterprise" in to_am[0]
    assert "ready to use" in to_am[1] and "events@harborhall.example was told on the ticket" in to_am[1]
    # The shipped block closes the second gap itself: one public reply to the requester, from the template.
    assert result.public_comments("EINV-1") == [
        "Your E-Invoicing integration is ready to use: the legal entity is validated and the integration is "
        "configured. Instructions: About E-Invoicing in Enterprise."]
    # Support Ops: the form (held over Veterans Day, Wed 11 Nov, to Thursday 09:00 in Chicago), then a
    # Storecove check once a business day; Storecove's 48 h run out on a Saturday: the lead hears Monday.
    ops = result.slack_to("#support-ops")
    assert len(ops) == 2 and "Setup form submitted" in ops[0] and "after 24 hours" in ops[1]
    assert len(result.slack_to(LEAD)) == 1 and "after 48 hours" in result.slack_to(LEAD)[0]
    held = {t.name: (t.due_at, t.status) for t in result.timers("EINV-1") if t.name.startswith("deliver:")}
    assert held == {
        "deliver:enter:approved:account-manager": (datetime(2026, 11, 10, 15, tzinfo=UTC), "fired"),  # Tue 09:00
        "deliver:enter:form_submitted:support-ops": (datetime(2026, 11, 12, 15, tzinfo=UTC), "fired"),  # Thu
        "deliver:storecove:escalate:lead": (datetime(2026, 11, 16, 15, tzinfo=UTC), "fired"),  # Mon 09:00
    }
    assert result.alerts == []
    comments = result.comments("EINV-1")  # all internal (asserted by comments())
    assert len(comments) == 4
    # Values typed on the ticket are escaped in comments (bot.text.untrusted): "@" cannot mention anyone.
    assert r"Connect e-mails the requester (events\@harborhall.example)" in comments[0]
    assert "escalated to olivia.grant@momentus.example" in comments[1]
    assert "the requester was told in a public reply" in comments[2]
    assert comments[3] == "ticketbot: the Connect API user is set up (EINV-2 is Done)."
    assert {t.name: t.status for t in result.timers("EINV-1") if not t.name.startswith("deliver:")} == {
        "storecove": "fired", "api_user": "cancelled"}


# variants, built from what people do ------------------------------------------------------------------
def _scenario(*, edition="Enterprise", first_app="Yes", account_manager=AM, validated_after=timedelta(hours=30),
              redeliver_approval=False):
    site = Site.load(EXAMPLES / "momentus" / "site.yaml")
    hooks = JiraWebhooks(site, site.base_url)
    req = Issue(hooks, "EINV-1", summary="E-Invoicing: Lakeside Arena", issue_type="E-Invoicing request",
                status="Awaiting sale", created=START)
    fields = {"Customer": "Lakeside Arena", "Edition": edition, "Requester email": "it@lakeside.example",
              "First Connect app": first_app, "Account manager": account_manager}
    pending_at = START + 72 * H
    records = [req.create(AGENT, fields={k: v for k, v in fields.items() if v})]
    approval = req.move(START + 24 * H, AGENT, "Approved")
    records += [approval, approval] if redeliver_approval else [approval]
    records += [req.change(START + 48 * H, CONNECT, {"Setup form": (None, "Submitted")})]
    if (edition, first_app) == ("Enterprise", "Yes"):  # the API-user task: ticketbot's, done on Thursday
        task = Issue(hooks, "EINV-2", summary="Set up the Connect API user for Lakeside Arena", issue_type="Task",
                     status="To Do", created=START + 48 * H)
        records += [task.create(BOT, fields={"E-Invoicing request": "EINV-1"}), task.move(pending_at + H, AGENT,
                                                                                         "Done")]
    records += [req.change(pending_at, AGENT, {"Storecove validation": (None, "Pending")}),
                req.change(pending_at + validated_after, AGENT, {"Storecove validation": ("Pending", "Validated")}),
                req.change(pending_at + validated_after + H, AGENT, {"Connect configuration": (None, "Complete")})]
    return records


def test_validation_within_48_hours_is_checked_but_not_escalated(tmp_path):
    result = run("momentus", tmp_path, _scenario(validated_after=timedelta(hours=30)),
                 until=START + timedelta(days=10))
    checks = [t for t in result.slack_to("#support-ops") if "still pending" in t]
    assert len(checks) == 1 and "after 24 h" in checks[0]  # one business day; validated before the 48 h
    assert result.slack_to(LEAD) == []
    assert [t.status for t in result.timers("EINV-1") if t.name == "storecove"] == ["cancelled"]
    assert result.stages(RULE, "EINV-1")[-1] == "ready"


def test_validation_early_on_a_friday_morning_needs_no_check(tmp_path):
    """Pending Thursday 09:00 in Chicago, validated Friday 05:00 there: before the business day was over."""
    result = run("momentus", tmp_path, _scenario(validated_after=timedelta(hours=20)),
                 until=START + timedelta(days=10))
    assert [t for t in result.slack_to("#support-ops") if "still pending" in t] == []
    assert result.slack_to(LEAD) == []


def test_elite_needs_no_api_user_task(tmp_path):
    result = run("momentus", tmp_path, _scenario(edition="Elite"))
    assert "EINV-2" not in result.player.tracker.tickets
    assert any("feature flag is enabled automatically" in c for c in result.comments("EINV-1"))
    assert "About E-Invoicing in Elite" in result.slack_to(AM)[0]


def test_existing_connect_customer_needs_no_api_user_task(tmp_path):
    result = run("momentus", tmp_path, _scenario(first_app="No"))
    assert "EINV-2" not in result.player.tracker.tickets
    assert not any("feature flag" in c for c in result.comments("EINV-1"))
    assert ("ticketbot: not Lakeside Arena's first Connect app, so its Connect API user exists already; no "
            "API-user task needed.") in result.comments("EINV-1")


def test_without_an_account_manager_support_ops_is_asked_to_pass_it_on(tmp_path):
    result = run("momentus", tmp_path, _scenario(account_manager=None))
    missing = [t for t in result.slack_to("#support-ops") if "No account manager on EINV-1" in t]
    assert len(missing) == 2 and "is approved" in missing[0] and "ready to use" in missing[1]
    assert result.slack_to(AM) == []


def test_a_redelivered_approval_tells_the_account_manager_once(tmp_path):
    result = run("momentus", tmp_path, _scenario(redeliver_approval=True))
    assert len([t for t in result.slack_to(AM) if "is approved" in t]) == 1
    assert len([c for c in result.comments("EINV-1") if "approved" in c]) == 1


@pytest.mark.parametrize("issue_type", ["Task", "Bug"])
def test_other_issue_types_in_the_project_are_left_alone(tmp_path, issue_type):
    site = Site.load(EXAMPLES / "momentus" / "site.yaml")
    other = Issue(JiraWebhooks(site, site.base_url), "EINV-9", summary="Printer", issue_type=issue_type,
                  status="To Do", created=START)
    result = run("momentus", tmp_path, [other.create(AGENT), other.move(START + H, AGENT, "Approved")])
    assert result.applied(RULE) == [] and result.state(RULE, "EINV-9") is None


def test_without_customer_replies_the_account_manager_passes_the_message_on(tmp_path):
    """A block that does not say customer_replies: true gets no public comment, whatever the rule asks."""
    text = CONFIG.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.strip().startswith("customer_replies: true"))
    config = tmp_path / "ticketbot.yaml"
    config.write_text(text.replace(line + "\n", ""), encoding="utf-8")
    result = run("momentus", tmp_path, config=config)
    assert result.public_comments("EINV-1") == []
    assert "Please tell events@harborhall.example" in result.slack_to(AM)[1]
    assert any(r"asked to send events\@harborhall.example this message" in c for c in result.comments("EINV-1"))


# words: every text a named template (English), a block's own wording ------------------------------------
def _config(tmp_path, **block):
    """The shipped rules with keys of the Momentus block replaced (``templates``, ``api_user_task`` …)."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["rules"][RULE].update(block)
    path = tmp_path / "ticketbot.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _everything_said(result) -> list[str]:
    """Every text ticketbot wrote: Slack messages and alerts, comments (public too), the tasks it created."""
    tickets = [result.ticket(key) for key in sorted(result.player.tracker.tickets)]
    return [m.text for m in result.slack] + result.alerts + [c.body for t in tickets for c in t.comments] + [
        text for t in tickets if t.creator and t.creator.email == BOT for text in (t.summary, t.description)]


def test_every_text_ticketbot_writes_comes_from_a_template(tmp_path):
    """Each template reworded by the block as "[its name] {its values}": everything written says which it was."""
    marked = {name: f"[{name}] " + " ".join(f"{{{v}}}" for v in t.values) for name, t in TEXTS.templates.items()}
    result = run("momentus", tmp_path, config=_config(tmp_path, templates=marked))
    said = _everything_said(result)
    assert len(said) > 10
    assert [text for text in said if not text.startswith("[")] == []
    assert {text[1:text.index("]")] for text in said} == {
        "approved_note", "approved_slack", "form_submitted_slack", "api_user_task_summary",
        "api_user_task_description", "storecove_check_slack", "storecove_escalation_slack",
        "storecove_escalation_note", "api_user_overdue", "api_user_done_note", "customer_ready", "ready_note",
        "ready_slack"}
    # Values are rendered by Words (dates, delays), and ticket values escaped in comments as before.
    assert result.slack_to(LEAD) == ["[storecove_escalation_slack] Harbor Hall Events EINV-1 48 hours"]
    assert result.ticket("EINV-2").description == \
        "[api_user_task_description] Harbor Hall Events EINV-1 November 16, 2026 Done"
    assert r"[approved_note] Harbor Hall Events events\@harborhall.example About E-Invoicing in Enterprise" in \
        result.comments("EINV-1")


def test_a_blocks_own_wording_is_what_is_sent(tmp_path):
    config = _config(tmp_path, templates={"api_user_task_summary": "Connect API user: {customer}",
                                          "api_user_overdue": "{task} for {customer} is late (due {due})."})
    result = run("momentus", tmp_path, config=config)
    assert result.ticket("EINV-2").summary == "Connect API user: Harbor Hall Events"
    assert result.slack_to(AGENT) == ["EINV-2 for Harbor Hall Events is late (due November 16, 2026)."]
    assert result.public_comments("EINV-1") == [  # the others as shipped
        "Your E-Invoicing integration is ready to use: the legal entity is validated and the integration is "
        "configured. Instructions: About E-Invoicing in Enterprise."]


@pytest.mark.parametrize(("block", "expected"), [
    ({"templates": {"api_user_overdue": "{task} {assignee}"}},
     r"templates\.api_user_overdue: unknown value\(s\) \{assignee\}"),
    ({"api_user_task": {"summary": "API user for {customer}"}},
     "the task's summary is the template api_user_task_summary now"),
    ({"api_user_task": {"due": "2 buisness days"}}, r"api_user_task\.due"),
])
def test_a_bad_block_is_a_configuration_error_naming_the_key(tmp_path, block, expected):
    with pytest.raises(ConfigurationError, match=rf"rules\.{RULE}.*{expected}"):
        load_rules(_config(tmp_path, **block))


def test_every_template_renders_in_english():
    assert TEXTS.languages() == {"en"} and Config().language == "en"
    say = Config().words
    for t in TEXTS.templates.values():
        text = say(t.name, **{v: f"<{v}>" for v in t.values})
        assert text == t.texts["en"].format_map({v: f"<{v}>" for v in t.values})
    assert "customer_ready" in TEXTS.templates  # the public reply's name, which sites reword
