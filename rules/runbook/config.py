"""The runbook block every runbook rule's config extends: people, alarms, the project."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.calendar import BusinessDuration, Delay
from bot.config import RuleBlock
from rules.runbook.words import ENGLISH, Catalogue, Words, language_tag

#: Reminders of a deadline without ``max_reminders`` and without an escalation stop here.
REMINDER_CAP = 50


# config pieces shared by runbook rules ---------------------------------------------------------------
class Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Person(Block):
    """Someone the runbook tells things: by e-mail on the tracker, by Slack id (else looked up by e-mail)."""

    email: str
    slack_user: str | None = None


class Alarms(Block):
    """When a deadline rings, counted from the moment its start stage is entered.

    ``due``: the first ring (the follow-up, the first check, the target). ``warn_before``: warnings
    that long before ``due``. ``remind_every``: rings again after ``due``,
    at most ``max_reminders`` times (repeats after the first ring; unset: until the escalation, at
    most :data:`REMINDER_CAP`), and only before ``escalate_after``. ``escalate_after``: one last ring,
    counted from the start, when it falls after ``due``. ``target``: the promise the console's charts measure each
    instance against, when it is not ``due`` (Momentus checks Storecove every business day, but Storecove's
    promise is 48 hours). Delays take business time (``5 business days``, ``16bh``) through the rule's calendar,
    or wall-clock time (``48h``, ``60d``).
    """

    due: Delay
    warn_before: list[Delay] = Field(default_factory=list)
    remind_every: Delay | None = None
    max_reminders: int | None = Field(default=None, ge=0)
    escalate_after: Delay | None = None
    target: Delay | None = None

    @property
    def promise(self) -> Delay:
        """What the instance is measured against: ``target``, else ``due``."""
        return self.target if self.target is not None else self.due

    @model_validator(mode="after")
    def _sensible(self) -> Alarms:
        for name in ("due", "remind_every", "escalate_after", "target"):
            value = getattr(self, name)
            if value is not None and _is_zero(value):
                raise ValueError(f"{name} must be longer than zero")
        if any(_is_zero(value) for value in self.warn_before):
            raise ValueError("warn_before: each warning must come some time before due (longer than zero)")
        return self


def _is_zero(value: timedelta | BusinessDuration) -> bool:
    return value.is_zero if isinstance(value, BusinessDuration) else value <= timedelta(0)


class Worded(BaseModel):
    """A block's words: ``language``, the team's language (``en``, ``pt-BR``, ``sv``, ``fi`` …); ``templates``, the
    block's own wording of any of the module's texts (:mod:`rules.runbook.words`), checked when the rules are
    loaded; :attr:`words`, the module's texts (its Config's ``texts``) rendered in both, dates in the block's
    calendar's time zone. Mixed into :class:`RunbookConfig` and into a hand-written rule's block (EverBright's)."""

    language: str = ENGLISH
    templates: dict[str, str] = Field(default_factory=dict)
    #: The rule module's texts, named; a module sets its own on its Config.
    texts: ClassVar[Catalogue] = Catalogue()

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        return language_tag(value)

    @model_validator(mode="after")
    def _templates(self) -> Self:
        type(self).texts.check(self.templates)
        return self

    @functools.cached_property
    def words(self) -> Words:
        """The module's texts in this block's language and wording, dates in its calendar's time zone."""
        calendar = getattr(self, "calendar", None)
        return Words(type(self).texts, self.language, self.templates, calendar.zone if calendar else None)


class RunbookConfig(RuleBlock, Worded):
    """What every runbook rule's block has: the tracker its project lives on, the project, its words.

    ``tracker``: ``jira`` (a project key) or ``zendesk`` (a group name); it decides where ``ticketbot
    check`` resolves the block's names and how the kinds of ticket are found (:func:`ticket_kind`).
    ``language`` and ``templates``: the block's words (:class:`Worded`).
    """

    tracker: Literal["jira", "zendesk"] = "jira"
    project: str
