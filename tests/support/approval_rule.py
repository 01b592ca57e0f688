"""A small approval runbook for tests of the services, the timer sweep and Slack in the daemon.

Independent of the EverBright rule (which grows while these tests must stay stable). On a new
ticket of its project (or a dry-run of one not asked yet) it asks the approver in Slack (Approve / Reject
buttons), records the stage
``awaiting_approval`` and arms a reminder; the reminder posts one internal comment; an approval
or a rejection moves the stage, records who decided, and cancels the reminder.
"""

from __future__ import annotations

from datetime import timedelta

from bot.config import Duration, RuleBlock
from bot.effects import CancelTimer, InternalComment, SetState, SlackMessage, StartTimer
from bot.engine import BoundRule, Evaluation, Rule, RuleContext, Verdict
from bot.model import APPROVAL_GIVEN, APPROVAL_REJECTED, MANUAL, TICKET_CREATED, TIMER_FIRED, Event, Ticket
from rules.runbook.checks import equals, one_of

RULE_ID = "approval_test"
AWAITING = "awaiting_approval"


class ApprovalConfig(RuleBlock):
    project: str = "SS"
    approver_email: str = "approver@acme.test"
    approver_slack: str | None = None  # looked up by e-mail when empty
    remind_after: Duration = timedelta(hours=24)


class ApprovalRule(Rule):
    id = RULE_ID
    title = "Approval (test runbook)"
    Config = ApprovalConfig
    decision_stages = (AWAITING,)  # Slack's Approve/Reject are taken only while awaiting approval

    def watched_projects(self, config: ApprovalConfig) -> set[str]:
        return {config.project}

    def approvers(self, config: ApprovalConfig) -> list[tuple[str, str | None]]:
        return [(config.approver_email, config.approver_slack)]

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        cfg: ApprovalConfig = ctx.config  # type: ignore[assignment]
        verdicts = [equals("project", ticket.project, cfg.project),
                    one_of("event", event.kind, (TICKET_CREATED, MANUAL, TIMER_FIRED, APPROVAL_GIVEN,
                                                 APPROVAL_REJECTED))]
        if not all(v.passed for v in verdicts):
            return Evaluation.skip(verdicts)
        state = ctx.state.get(ticket.key)
        key = ticket.key

        def fx(cls: type, step: str, **kw: object):
            return cls(rule_id=self.id, ticket_key=key, step=step, **kw)

        if event.kind in (TICKET_CREATED, MANUAL):
            asked = Verdict("approval not asked yet", state is None, state.stage if state else None, None)
            if not asked.passed:
                return Evaluation.skip([*verdicts, asked])
            return Evaluation([*verdicts, asked], [
                fx(SlackMessage, "ask", text=f"Please approve {key}", user_email=cfg.approver_email,
                   slack_user=cfg.approver_slack or "", actions=("approve", "reject")),
                fx(StartTimer, "arm-reminder", name="reminder", due_at=ctx.clock.now() + cfg.remind_after),
                fx(SetState, "requested", stage=AWAITING, data={"requested_of": cfg.approver_email}),
            ])
        waiting = Verdict("awaiting approval", state is not None and state.stage == AWAITING,
                          state.stage if state else None, AWAITING)
        if not waiting.passed:
            return Evaluation.skip([*verdicts, waiting])
        payload = event.payload or {}
        if event.kind == TIMER_FIRED:
            return Evaluation([*verdicts, waiting], [
                fx(InternalComment, "reminder", body=f"Reminder: the approval of {key} is still pending."),
                fx(SetState, "reminded", data={"reminded": True}),
            ])
        approved = event.kind == APPROVAL_GIVEN
        return Evaluation([*verdicts, waiting], [
            fx(InternalComment, "decision", body=f"{'Approved' if approved else 'Rejected'} in Slack."),
            fx(CancelTimer, "disarm-reminder", name="reminder"),
            fx(SetState, "decided", stage="approved" if approved else "rejected",
               data={"decided_by": payload.get("slack_user"), "via": payload.get("via"),
                     "reason": payload.get("reason") or None}),
        ])


def approval_rules(**config: object) -> list[BoundRule]:
    return [BoundRule(ApprovalRule(), ApprovalConfig(**config))]
