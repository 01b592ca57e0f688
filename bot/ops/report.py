"""One account of what the rules made of an event, for every place that shows it.

``ticketbot dry-run``, ``ticketbot why``, ``ticketbot replay`` and Slack's ``/ticketbot why`` and
``/ticketbot dry-run`` all show the same thing: per rule, whether it acted, the checks it made (observed
against expected), its notes, its error, and what became of each effect. A :class:`RuleAccount` holds that,
made from a live :class:`~bot.pipeline.ProcessReport` (:func:`from_report`) or from stored traces
(:func:`from_trace`); :func:`rule_lines` and :func:`timeline_lines` turn accounts into plain text lines.
The lines carry no markup: the terminal prints them as they are (``markup=False``, so a value holding
``[/]`` is shown, not read as rich markup) and Slack sends them as mrkdwn text, where values are
shown as ``repr`` and so cannot open a link or a mention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.executor import HELD, SKIPPED
from bot.pipeline import ProcessReport, RuleReport
from bot.store import TraceRow

#: Observed and expected values longer than this are cut with "…" (a ticket description can be long).
VALUE_LIMIT = 200


@dataclass(frozen=True)
class EffectLine:
    outcome: str  # applied, would-apply, skipped, rejected, failed …
    what: str
    detail: str = ""
    #: Where people can see what was made (a Slack message's permalink), as the executor recorded it.
    url: str = ""

    @property
    def link(self) -> str:
        """:attr:`url` when it may be offered as a link (an ``https://`` address with nothing a browser would
        strip or read otherwise), else empty. A trace is data: a value like ``javascript:…`` written into one
        must never become something a click runs."""
        url = self.url
        if url.startswith("https://") and len(url) > len("https://") and all(c > " " and c != "\x7f" for c in url):
            return url
        return ""


@dataclass(frozen=True)
class RuleAccount:
    """What one rule made of one event."""

    rule_id: str
    head: str  # "fired", "would act", "no action", "matched", "not matched", "ERROR", "error"
    verdicts: tuple[Mapping[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    effects: tuple[EffectLine, ...] = ()
    error: str = ""


def from_report(report: ProcessReport, *, dry_run: bool = False) -> list[RuleAccount]:
    """The accounts of a report just made (``dry_run``: its effects were only described)."""
    return [_account(rule, dry_run) for rule in report.rules]


def _account(rule: RuleReport, dry_run: bool) -> RuleAccount:
    evaluation = rule.result.evaluation
    head = "ERROR" if rule.result.error else ("would act" if dry_run else "fired") if evaluation.effects \
        else "no action"
    return RuleAccount(rule.rule_id, head, tuple(v.as_dict() for v in evaluation.verdicts),
                       tuple(str(n) for n in evaluation.notes),
                       tuple(EffectLine(o.status, o.effect.describe(), o.detail or "", o.url) for o in rule.outcomes),
                       rule.result.error or "")


def from_trace(trace: TraceRow) -> RuleAccount:
    """The account a stored trace keeps."""
    head = "error" if trace.error else ("matched" if trace.matched else "not matched")
    return RuleAccount(trace.rule_id, head, tuple(trace.verdicts or ()), tuple(str(n) for n in trace.notes or ()),
                       tuple(EffectLine(str(e.get("outcome")), str(e.get("summary")), str(e.get("detail") or ""),
                                        str(e.get("url") or "")) for e in trace.effects or ()),
                       trace.error or "")


def rule_lines(account: RuleAccount, *, indent: str = "    ", heading: str | None = "• `{rule}`: {head}",
               full_error: bool = False) -> list[str]:
    """An account as lines: a heading (``None``: none), then its checks, notes, error and effects, indented.

    ``full_error``: the whole error text (a traceback's last lines are enough in Slack)."""
    lines = [heading.format(rule=account.rule_id, head=account.head)] if heading is not None else []
    lines += [f"{indent}{verdict_line(v)}" for v in account.verdicts]
    lines += [f"{indent}note: {note}" for note in account.notes]
    if account.error:
        error = account.error.strip()
        lines.append(f"{indent}{error if full_error else error.splitlines()[-1]}")
    lines += [f"{indent}→ {e.outcome}: {e.what}" + (f" — {e.detail}" if e.detail else "") for e in account.effects]
    return lines


def verdict_line(verdict: Mapping[str, Any]) -> str:
    """``✓ project: observed 'SS', expected 'SS'`` (a failed check is ``✗``)."""
    mark = "✓" if verdict.get("passed") else "✗"
    note = f" ({verdict['note']})" if verdict.get("note") else ""
    return f"{mark} {verdict.get('name')}: observed {value_text(verdict.get('observed'))}, " \
           f"expected {value_text(verdict.get('expected'))}{note}"


def timeline_lines(accounts: Sequence[RuleAccount], skipped: object = None) -> list[str]:
    """One event in a replay's timeline: each effect and error, or why nothing happened."""
    acting = [a for a in accounts if a.effects or a.error]
    if not acting:
        quiet = ", ".join(f"{a.rule_id}: {first_failed(a)}" for a in accounts) or skipped
        return [f"  no action ({quiet})"]
    lines = []
    for account in acting:
        for e in account.effects:
            lines.append(f"  {account.rule_id} → {e.outcome}: {e.what}")
            if e.outcome in (HELD, SKIPPED) and e.detail:  # why a message waits, or was dropped
                lines.append(f"      ({e.detail})")
        if account.error:
            lines.append(f"  {account.rule_id} → error: {account.error}")
    return lines


def first_failed(account: RuleAccount) -> str:
    """Why a rule did nothing, in a few words: its first failed check, else its first note."""
    failed = next((v for v in account.verdicts if not v.get("passed")), None)
    if failed is None:
        return account.notes[0] if account.notes else "nothing to do"
    return f"{failed.get('name')} was {failed.get('observed')!r}"


def applied_count(accounts: Iterable[RuleAccount]) -> int:
    return sum(1 for a in accounts for e in a.effects if e.outcome == "applied")


def value_text(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= VALUE_LIMIT else text[:VALUE_LIMIT - 1] + "…"
