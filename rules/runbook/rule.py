"""RunbookRule: a rule made of runbooks, generic over its config block."""

from __future__ import annotations

from typing import TypeVar

from bot.check import Requirement, Touch
from bot.engine import Evaluation, Rule, RuleContext, Verdict, all_passed
from bot.model import TIMER_FIRED, Event, Ticket
from rules.runbook.checks import Facts, text_matches
from rules.runbook.config import RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import Runbook, foreign_timer

ConfigT = TypeVar("ConfigT", bound=RunbookConfig)


class RunbookRule(Rule[ConfigT]):
    """A rule built on runbooks, generic over its config block: ``class Nfe(RunbookRule[Config])``.

    A runbook module is then its Config, its stages (:meth:`runbook`) and its texts: the default
    :meth:`evaluate` reads the typed block, runs :meth:`checks` (its project and kind of ticket) through
    :meth:`gate`, and plays the runbook on the ticket. Its ``requirements``, ``writes``, ``triggers`` and
    watched projects all come from :meth:`declarations`.
    """

    def checks(self, cfg: ConfigT, ticket: Ticket) -> list[Verdict]:
        """What an event must meet before anything else: the block's project (and, in a subclass, kind)."""
        return [text_matches("project", ticket.project, cfg.project)]

    def runbook(self, cfg: ConfigT) -> Runbook:
        """The runbook played on the ticket by the default :meth:`evaluate`."""
        raise NotImplementedError

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        cfg = self.config(ctx)
        checks = self.checks(cfg, ticket)
        if (skip := self.gate(event, checks)) is not None:
            return skip
        return self.proceed(cfg, event, ticket, ctx, checks)

    def proceed(self, cfg: ConfigT, event: Event, ticket: Ticket, ctx: RuleContext,
                checks: list[Verdict]) -> Evaluation:
        """After the gate: play :meth:`runbook` on the ticket (a rule with child tickets does more)."""
        facts = Facts(ticket=ticket, event=event, now=ctx.clock.now(), state=ctx.state.get(ticket.key))
        return self.runbook(cfg).evaluate(facts, checks)

    def declarations(self, config: ConfigT) -> Declarations:
        raise NotImplementedError

    def watched_projects(self, config: ConfigT) -> set[str]:
        return self.declarations(config).projects()

    def requirements(self, config: ConfigT) -> list[Requirement]:
        return self.declarations(config).requirements()

    def writes(self, config: ConfigT) -> list[Touch]:
        return self.declarations(config).writes()

    def triggers(self, config: ConfigT) -> list[Touch]:
        return self.declarations(config).triggers()

    def gate(self, event: Event, checks: list[Verdict]) -> Evaluation | None:
        """The skip every runbook starts with: a check failed (its project, its kind of ticket), or the
        event is another rule's timer; None: go on."""
        if event.kind == TIMER_FIRED and (foreign := foreign_timer(event, self.id)) is not None:
            return Evaluation([*checks, foreign], [], [])
        return None if all_passed(checks) else Evaluation(list(checks), [], [])
