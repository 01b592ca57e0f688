"""EverBright partner onboarding on Jira Service Management (seed 002).

The runbook, as Support wrote it:

1. An onboarding form arrives in the service desk (SS) as a ticket whose subject is always
   "EverBright Partner Onboarding"; it carries the installer name and contact e-mail.
2. Support updates the SS ticket: Organizations = installer name; the organization's account
   manager and the approver (David Ellis) as watchers; Reporter = onboarding@goeverbright.com;
   Request Type = "Company-specific Data Change"; "Needs Configuration?" = "Integrated
   Finance". The customer must not be reporter or request participant, so the automatic
   first response does not reach them.

This module automates step 2 on every such ticket. Every name, address and delay comes from
the ``rules.everbright_onboarding`` block of the rules YAML; the defaults below are the values
the seed names, so an empty block describes the runbook as written.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.conditions import Verdict, labelled_value, one_of, text_matches
from bot.config import Duration, RuleBlock
from bot.effects import (
    AddWatcher,
    Effect,
    InternalComment,
    RemoveParticipant,
    SetField,
    SetOrganization,
    SetReporter,
    SetRequestType,
)
from bot.engine import Evaluation, Rule, RuleContext
from bot.model import MANUAL, TICKET_CREATED, TICKET_UPDATED, Event, Ticket
from bot.text import untrusted


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Person(_Block):
    email: str
    slack_user: str | None = None  # Slack member id; looked up by e-mail when empty


class Statuses(_Block):
    """Workflow status names on the two projects."""

    cs_on_hold: str = "On Hold"
    cs_to_do: str = "To Do"
    cs_done: str = "Done"
    ss_waiting_for_support: str = "Waiting for support"
    ss_closed: str = "Closed"


class LinkTypes(_Block):
    config_ticket: str = "Relates"
    duplicate: str = "Duplicate"


class Config(RuleBlock):
    service_desk_project: str = "SS"
    config_project: str = "CS"
    subject: str = "EverBright Partner Onboarding"
    installer_name_label: str = "Installer name"
    installer_email_label: str = "Installer contact email"
    reporter_email: str = "onboarding@goeverbright.com"
    request_type: str = "Company-specific Data Change"
    needs_configuration_field: str = "Needs Configuration?"
    needs_configuration_value: str = "Integrated Finance"
    approver: Person = Person(email="david.ellis@goeverbright.com")
    account_managers: dict[str, str] = Field(default_factory=dict)  # organization name -> e-mail
    approval_reminder_after: Duration = timedelta(hours=24)
    statuses: Statuses = Statuses()
    link_types: LinkTypes = LinkTypes()

    @field_validator("account_managers")
    @classmethod
    def _casefold_orgs(cls, value: dict[str, str]) -> dict[str, str]:
        return {" ".join(k.split()).casefold(): v.strip() for k, v in value.items()}

    def account_manager(self, organization: str) -> str | None:
        return self.account_managers.get(" ".join(organization.split()).casefold())


#: Events on which the intake looks at a ticket: a new ticket, an edit (the form may be
#: completed later), or an admin asking (dry-run).
INTAKE_EVENTS = (TICKET_CREATED, TICKET_UPDATED, MANUAL)


class EverBrightOnboarding(Rule):
    id = "everbright_onboarding"
    title = "EverBright partner onboarding (seed 002)"
    Config = Config

    def watched_projects(self, config: Config) -> set[str]:
        return {config.service_desk_project, config.config_project}

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        cfg: Config = ctx.config  # type: ignore[assignment]
        return intake(event, ticket, cfg, self.id)


# step 2: update the SS ticket ------------------------------------------------------------
def _is_onboarding_request(event: Event, ticket: Ticket, cfg: Config) -> list[Verdict]:
    return [
        one_of("event kind", event.kind, INTAKE_EVENTS),
        text_matches("project", ticket.project, cfg.service_desk_project),
        text_matches("summary", ticket.summary, cfg.subject),
    ]


def _form_value(ticket: Ticket, label: str, other: str) -> str | None:
    """A form value from the description, else from a custom field of the same name."""
    value = labelled_value(ticket.description, label, other_labels=[other])
    if value is None and ticket.field(label):
        value = " ".join(str(ticket.field(label)).split())
    return value


def _intake_done(ticket: Ticket, cfg: Config, installer: str | None) -> Verdict:
    """Already processed: every field value of step 2 is in place."""
    observed = {
        "organization": list(ticket.organizations),
        "request type": ticket.request_type,
        cfg.needs_configuration_field: ticket.field(cfg.needs_configuration_field),
    }
    done = (bool(installer) and [o.casefold() for o in ticket.organizations] == [installer.casefold()]
            and (ticket.request_type or "").casefold() == cfg.request_type.casefold()
            and ticket.field(cfg.needs_configuration_field) == cfg.needs_configuration_value)
    return Verdict("intake not yet applied", not done, observed, "any of these not yet as the runbook says")


def intake(event: Event, ticket: Ticket, cfg: Config, rule_id: str) -> Evaluation:
    verdicts = _is_onboarding_request(event, ticket, cfg)
    if not all(v.passed for v in verdicts):
        return Evaluation.skip(verdicts)
    installer = _form_value(ticket, cfg.installer_name_label, cfg.installer_email_label)
    contact = _form_value(ticket, cfg.installer_email_label, cfg.installer_name_label)
    verdicts.append(_intake_done(ticket, cfg, installer))
    if not verdicts[-1].passed:
        return Evaluation.skip(verdicts, "intake already applied; nothing to do")

    def effect(cls: type[Effect], step: str, **kw: object) -> Effect:
        return cls(rule_id=rule_id, ticket_key=ticket.key, step=f"intake:{step}", **kw)

    values = {cfg.installer_name_label: installer, cfg.installer_email_label: contact}
    missing = [label for label, value in values.items() if not value]
    # Informational verdict: what the form gave. A gap does not stop the rule, it changes its plan.
    verdicts.append(Verdict("form values", True, values, "both present",
                            f"missing: {', '.join(missing)}" if missing else ""))
    if missing:
        # No partial change: the organization, watchers and the rest all hang on these values.
        body = (f"ticketbot could not process this {cfg.subject!r} request: the form is missing "
                f"{' and '.join(repr(m) for m in missing)}. Please add it to the description; "
                "the ticket will be processed when it is edited.")
        return Evaluation(verdicts=verdicts, effects=[effect(InternalComment, "missing-values", body=body)],
                          notes=[f"form incomplete, missing {', '.join(missing)}: internal comment only, "
                                 "no field changed"])

    effects: list[Effect] = [
        effect(SetOrganization, "organization", name=installer),
        effect(SetReporter, "reporter", email=cfg.reporter_email),
        effect(SetRequestType, "request-type", name=cfg.request_type),
        effect(SetField, "needs-configuration", field=cfg.needs_configuration_field,
               value=cfg.needs_configuration_value),
        effect(AddWatcher, "watcher-approver", email=cfg.approver.email),
        effect(RemoveParticipant, "installer-not-participant", email=contact),
    ]
    notes = [f"installer {installer!r}, contact {contact}"]
    manager = cfg.account_manager(installer)
    if manager:
        effects.insert(4, effect(AddWatcher, "watcher-account-manager", email=manager))
    else:
        notes.append(f"no account manager known for {installer!r}")
        effects.append(effect(InternalComment, "account-manager-missing", body=(
            f"ticketbot: no account manager is configured for organization {untrusted(installer)!s}, "
            "so none was added as a watcher. Please add them by hand and add the organization to "
            "rules.everbright_onboarding.account_managers.")))
    return Evaluation(verdicts=verdicts, effects=effects, notes=notes)
