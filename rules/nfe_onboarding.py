"""The NF-e onboarding journey (seed 004): six stages, a follow-up, the 60-day target, the handover.

The runbook, as the onboarding team wrote it (in Portuguese; the stage names below are theirs):
after the purchase the customer gets a scheduling link and the documentation; the *first contact*
(meeting, chat or e-mail) introduces the consultants; the *evaluation* (the integration meeting)
sets expectations; the customer builds the *layout*, then the *issuing flow in homologation* until
a note is authorised in *production*; *closing* hands the customer over to technical support and
sends the satisfaction survey. "If the customer buys and does not get in touch within 5 business
days, the consultant reaches out by e-mail or phone." The ideal implementation time is 60 days.

One ticket per customer in ``project`` (a Jira project, or a Zendesk group with ``tracker: zendesk``)
of kind ``issue_type`` (Jira's issue type; on Zendesk the ticket form); the consultant keeps the
select field ``stage_field`` (a dropdown on Zendesk) at the customer's stage. Its option values are the seed's stage
names (``stages``), so the field reads the way the team talks; a select field rather than the
workflow status, because it works the same on Jira and on Zendesk (whose statuses are fixed).

What ticketbot does:

* purchase (ticket created) and still no first contact after ``follow_up.due`` (5 business days
  on the Brazilian calendar: São Paulo working hours, national holidays) ⇒ the consultant is
  asked on Slack, and in an internal comment, to reach out by e-mail or phone;
* the 60-day target (``target``), counted from the purchase until closing: warnings to the
  consultant ``warn_before`` it, the onboarding lead told when it is missed, then weekly
  reminders (``remind_every``, at most ``max_reminders``);
* closing ⇒ the satisfaction survey is requested (``survey_field`` = ``survey_value``, which the
  site's survey automation sends), the ticket is handed over to technical support
  (``handover_field`` = ``handover_value``) and the technical-support channel is told, with how
  long the onboarding took against the 60-day target.

Every text is a named template (``TEXTS`` below) in English and in the team's Portuguese; the shipped block
says ``language: pt-BR``. Every name comes from ``rules.nfe_onboarding``.
"""

from __future__ import annotations

from datetime import timedelta

from bot.calendar import BusinessCalendar
from bot.effects import Effect
from bot.engine import Verdict
from bot.model import Ticket
from bot.text import untrusted
from rules.runbook.acts import Acts
from rules.runbook.checks import Always, Facts, FieldIs, email_of, kind_is
from rules.runbook.config import Alarms, Block, Person, RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import Alarm, Deadline, Runbook, Stage, days_left, one_line, per_config
from rules.runbook.rule import RunbookRule
from rules.runbook.words import Catalogue, template


class Stages(Block):
    """The options of the stage field: the seed's names for the six stages."""

    first_contact: str = "Primeiro contato"
    evaluation: str = "Avaliação"
    layout: str = "Montagem do layout"
    homologation: str = "Emissão em homologação"
    production: str = "Produção"
    closing: str = "Encerramento"


class Config(RunbookConfig):
    project: str = "ONB"
    language: str = "pt-BR"  # the onboarding team's; "en" for the English texts
    issue_type: str = "Onboarding"
    stage_field: str = "Etapa do onboarding"
    stages: Stages = Stages()
    customer_field: str = "Cliente"
    consultant_field: str = "Consultor"  # a person field (or an e-mail)
    onboarding_lead: Person | None = None  # told when the target is missed; the admin channel when empty
    #: "não entre em contato em 5 dias úteis": one follow-up after 5 business days without contact.
    follow_up: Alarms = Alarms(due="5 business days")
    #: "O nosso prazo ideal de implementação é 60 dias".
    target: Alarms = Alarms(due=timedelta(days=60), warn_before=[timedelta(days=10), timedelta(days=3)],
                            remind_every=timedelta(days=7), max_reminders=4)
    survey_field: str = "Pesquisa de satisfação"
    survey_value: str = "Solicitada"
    handover_field: str = "Equipe responsável"
    handover_value: str = "Suporte técnico"
    technical_support_channel: str = "#suporte-tecnico"
    calendar: BusinessCalendar = BusinessCalendar(time_zone="America/Sao_Paulo", country="BR", end="18:00")


class NfeOnboarding(RunbookRule[Config]):
    id = "nfe_onboarding"
    title = "NF-e onboarding journey (seed 004)"

    def checks(self, cfg: Config, ticket: Ticket) -> list[Verdict]:
        return [*super().checks(cfg, ticket), kind_is(ticket, cfg.issue_type)]

    def runbook(self, cfg: Config) -> Runbook:
        return runbook(cfg, self.id)

    def declarations(self, config: Config) -> Declarations:
        c = config
        return Declarations(
            self.id, c, [runbook(c, self.id)],
            guard="acts only when the onboarding enters a later stage (its stage is recorded) or its own timer rings",
            kinds={"issue_type": c.issue_type},
            fields={k: getattr(c, k) for k in ("customer_field", "consultant_field", "survey_field", "handover_field")},
            options={"survey_value": (c.survey_field, c.survey_value),
                     "handover_value": (c.handover_field, c.handover_value)},
            sets=(c.survey_field, c.handover_field), people={"onboarding_lead": c.onboarding_lead})


# the runbook -----------------------------------------------------------------------------------------
STAGES = ("first_contact", "evaluation", "layout", "homologation", "production", "closing")


@per_config
def runbook(cfg: Config, rule_id: str) -> Runbook:
    names = cfg.stages.model_dump()
    enter = {"closing": lambda facts, acts: closing(cfg, facts, acts)}
    stages = [Stage("purchased", Always("onboarding ticket"), title="purchase")]
    stages += [Stage(name, FieldIs(cfg.stage_field, (names[name],)), enter.get(name), title=names[name])
               for name in STAGES]
    deadlines = (
        Deadline("follow_up", starts="purchased", stops=("first_contact",), alarms=cfg.follow_up,
                 ring=lambda facts, acts, alarm: follow_up(cfg, facts, acts)),
        Deadline("target", starts="purchased", stops=("closing",), alarms=cfg.target,
                 ring=lambda facts, acts, alarm: target(cfg, facts, acts, alarm)),
    )
    return Runbook(rule_id, tuple(stages), deadlines, cfg.calendar, customer=lambda ticket: _customer(cfg, ticket))


def _customer(cfg: Config, ticket: Ticket) -> str:
    return one_line(ticket.field(cfg.customer_field) or ticket.summary)


def _consultant(cfg: Config, ticket: Ticket) -> Person | None:
    email = email_of(ticket.field(cfg.consultant_field))
    return Person(email=email) if email else None


def follow_up(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t, consultant, say = facts.ticket, _consultant(cfg, facts.ticket), cfg.words
    customer, after = _customer(cfg, t), cfg.follow_up.due
    note = say("follow_up_note" if consultant else "follow_up_note_lead", after=after)
    return [acts.slack("consultant", say("follow_up_slack", customer=customer, key=t.key, after=after),
                       to=consultant or cfg.onboarding_lead),
            acts.comment("note", note, mentions=[consultant.email] if consultant else [])]


def target(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm) -> list[Effect]:
    t, consultant, lead, say = facts.ticket, _consultant(cfg, facts.ticket), cfg.onboarding_lead, cfg.words
    values = {"customer": _customer(cfg, t), "key": t.key, "goal": cfg.target.due, "due": alarm.due.date(),
              "stage": one_line(t.field(cfg.stage_field) or say("no_stage"))}
    if alarm.kind == "warn":
        return [acts.slack("consultant", say("target_warning", days=days_left(alarm, facts.now), **values),
                           to=consultant or lead)]
    if alarm.kind == "remind":
        text = say("target_reminder", late=(facts.now - alarm.due).days, **values)
    else:
        text = say("target_missed", **values)
    out = [acts.slack("lead", text, to=lead, alert=lead is None)]
    if consultant is not None:
        out.append(acts.slack("consultant", text, to=consultant))
    if alarm.kind == "due":
        out.append(acts.comment("note", say("target_missed_note", goal=values["goal"], due=values["due"],
                                            stage=untrusted(values["stage"]),
                                            told=lead.email if lead else say("admin_channel"))))
    return out


def closing(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t, say = facts.ticket, cfg.words
    started = facts.started() or t.created or facts.now
    within = facts.now <= cfg.calendar.due(started, cfg.target.due)
    summary = say("closing_summary" if within else "closing_summary_late", days=(facts.now - started).days,
                  goal=cfg.target.due)
    return [
        acts.set_field("survey", cfg.survey_field, cfg.survey_value),
        acts.set_field("handover", cfg.handover_field, cfg.handover_value),
        acts.comment("note", say("closing_note", summary=summary, team=cfg.handover_value)),
        acts.slack("handover", say("closing_slack", customer=_customer(cfg, t), key=t.key, summary=summary,
                                   team=cfg.handover_value), channel=cfg.technical_support_channel),
    ]


# the words -------------------------------------------------------------------------------------------
#: English, and the onboarding team's Portuguese with the seed's own terms (``language: pt-BR``).
TEXTS = Catalogue(
    template("follow_up_slack", "customer key after",
             "{customer} ({key}) bought the product {after} ago and has not been in touch: please reach out by "
             "e-mail or phone to start the integration.",
             pt_BR="{customer} ({key}) comprou o produto há {after} e ainda não entrou em contato: por favor, entre "
                   "em contato por e-mail ou telefone para iniciar a integração."),
    template("follow_up_note", "after",
             "ticketbot: no first contact within {after} of the purchase; the consultant was asked to reach out by "
             "e-mail or phone.",
             pt_BR="ticketbot: sem primeiro contato em {after} após a compra; o consultor foi solicitado a entrar em "
                   "contato por e-mail ou telefone."),
    template("follow_up_note_lead", "after",
             "ticketbot: no first contact within {after} of the purchase; nobody is set as consultant, the lead was "
             "asked to reach out by e-mail or phone.",
             pt_BR="ticketbot: sem primeiro contato em {after} após a compra; nenhum consultor definido, a liderança "
                   "foi solicitada a entrar em contato por e-mail ou telefone."),
    template("target_warning", "customer key days goal due stage",
             "{customer} ({key}): {days} days left to the onboarding target of {goal} (due {due}); current stage: "
             "{stage}.",
             pt_BR="{customer} ({key}): faltam {days} dias para o prazo ideal de implementação de {goal} ({due}); "
                   "etapa atual: {stage}."),
    template("target_missed", "customer key goal due stage",
             "{customer} ({key}) missed the onboarding target of {goal} (due {due}); current stage: {stage}.",
             pt_BR="{customer} ({key}) passou do prazo ideal de implementação de {goal} ({due}); etapa atual: "
                   "{stage}."),
    template("target_reminder", "customer key late goal due stage",
             "{customer} ({key}) is still onboarding, {late} days past the target ({due}); current stage: {stage}.",
             pt_BR="{customer} ({key}) ainda está em onboarding, {late} dias além do prazo ({due}); etapa atual: "
                   "{stage}."),
    template("target_missed_note", "goal due stage told",
             "ticketbot: the onboarding target of {goal} (due {due}) was missed at stage {stage}; {told} was told.",
             pt_BR="ticketbot: o prazo ideal de implementação de {goal} ({due}) foi ultrapassado na etapa {stage}; "
                   "{told} foi avisado(a)."),
    template("no_stage", "", "purchase", pt_BR="compra"),
    template("admin_channel", "", "the admin channel", pt_BR="o canal de administração"),
    template("closing_summary", "days goal", "{days} days, within the target of {goal}",
             pt_BR="{days} dias, dentro do prazo ideal de {goal}"),
    template("closing_summary_late", "days goal", "{days} days, beyond the target of {goal}",
             pt_BR="{days} dias, além do prazo ideal de {goal}"),
    template("closing_note", "summary team",
             "ticketbot: onboarding closed ({summary}). Satisfaction survey requested; the customer is now supported "
             "by {team}.",
             pt_BR="ticketbot: onboarding encerrado ({summary}). Pesquisa de satisfação solicitada; o cliente agora é "
                   "atendido pelo {team}."),
    template("closing_slack", "customer key summary team",
             "Handover: {customer} ({key}) finished onboarding ({summary}) and is now yours ({team}).",
             pt_BR="Passagem: {customer} ({key}) concluiu o onboarding ({summary}) e agora é de vocês ({team})."),
)
Config.texts = TEXTS
