"""The shape of each runbook as the console draws it: its stages in order, which of them end it, its deadlines.

A rule built on ``rules/runbook`` declares its runbooks (``rule.declarations(config).runbooks``): their
stages in order, and the last stage of each runbook is where an instance ends. A rule of another kind may
say the same with two class attributes, ``stages`` (names in order) and ``final_stages``. For a rule that
declares neither (the EverBright rule, as of this writing) the order is read from the stage histories of
its instances, and a stage named as runbooks name their end (``closed``, ``done``, ``duplicate`` …) ends
an instance.

The console reads rules only through these duck-typed attributes: ``bot`` never imports ``rules``.

A pending timer of a runbook deadline (data ``{"alarm": i, "start": …}``) is read back into its alarm with
the runbook's own calendar (:meth:`RunbookShape.deadline`), so the console shows the deadline's due moment
(the 60 days of NF-e, the 48 h of Momentus), not only when the next reminder rings.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.engine import BoundRule

log = logging.getLogger(__name__)

#: Stage names that end an instance of a rule that does not say which of its stages do.
CONVENTIONAL_FINAL = frozenset({"closed", "done", "resolved", "completed", "finished", "cancelled", "canceled",
                                "duplicate"})
#: Alarms read back from timers, remembered per shape (the calendar arithmetic is not free); then forgotten.
ALARM_CACHE = 20_000


@dataclass(frozen=True)
class StageInfo:
    name: str
    title: str
    final: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "final": self.final}


@dataclass(frozen=True)
class DeadlineAlarm:
    """What a pending deadline timer stands for: its deadline, which alarm rings next, the deadline's due moment."""

    deadline: str
    alarm: str  # warn1, due, remind2, escalate
    due: datetime


@dataclass
class RunbookShape:
    """One rule as the board groups it."""

    rule_id: str
    title: str
    stages: list[StageInfo]
    declared: bool
    #: Stages at which the rule takes a decision, and the people who may take it (e-mail addresses).
    decision_stages: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    #: What the rule says an instance waits for at a stage (``decision_waits``).
    waits: Mapping[str, str] = field(default_factory=dict)
    _deadlines: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (Deadline, calendar)
    _alarms: dict[tuple[str, int, str], DeadlineAlarm | None] = field(default_factory=dict)

    def copy_fresh(self) -> RunbookShape:
        """A copy whose stage list the caller may extend (:meth:`add_observed`); the alarm cache is shared."""
        if len(self._alarms) > ALARM_CACHE:
            self._alarms.clear()
        return dataclasses.replace(self, stages=list(self.stages))

    def position(self, stage: str) -> int:
        for index, info in enumerate(self.stages):
            if info.name == stage:
                return index
        return len(self.stages)

    def info(self, stage: str) -> StageInfo:
        for info in self.stages:
            if info.name == stage:
                return info
        return StageInfo(stage, stage, stage.casefold() in CONVENTIONAL_FINAL)

    def is_final(self, stage: str) -> bool:
        return self.info(stage).final

    def add_observed(self, stage: str) -> None:
        """A stage found in the records that the rule does not declare (renamed since?): shown after the others."""
        if all(info.name != stage for info in self.stages):
            self.stages.append(StageInfo(stage, stage, stage.casefold() in CONVENTIONAL_FINAL))

    def deadline(self, timer_name: str, data: Mapping[str, Any]) -> DeadlineAlarm | None:
        """The alarm a pending timer of a runbook deadline rings next, or None for any other timer."""
        found = self._deadlines.get(timer_name)
        if found is None or "alarm" not in data or "start" not in data:
            return None
        try:
            key = (timer_name, int(data["alarm"]), str(data["start"]))
        except (TypeError, ValueError):
            return None
        if key not in self._alarms:
            self._alarms[key] = _alarm(timer_name, *found, key[1], key[2])
        return self._alarms[key]

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "title": self.title, "declared": self.declared,
                "stages": [s.as_dict() for s in self.stages]}


def _alarm(name: str, deadline: Any, calendar: Any, index: int, start: str) -> DeadlineAlarm | None:
    try:
        alarm = deadline.alarm(index, datetime.fromisoformat(start), calendar)
    except Exception:  # noqa: BLE001 - a timer from an older version of the runbook: shown as a plain timer
        log.debug("console: cannot read alarm %s of deadline %s", index, name, exc_info=True)
        return None
    return None if alarm is None else DeadlineAlarm(name, alarm.label, alarm.due)


def shape_of(bound: BoundRule, histories: Iterable[Sequence[str]] = ()) -> RunbookShape:
    """``bound``'s shape: declared (runbooks, or ``stages``/``final_stages``), else read from ``histories``
    (stage sequences of some of its instances, oldest stage first)."""
    rule = bound.rule
    shape = RunbookShape(bound.id, getattr(rule, "title", "") or bound.id, [], declared=True,
                         decision_stages=tuple(getattr(rule, "decision_stages", None) or ()),
                         approvers=_approvers(bound), waits=dict(getattr(rule, "decision_waits", None) or {}))
    runbooks = _runbooks(bound)
    if runbooks:
        for runbook in runbooks:
            last = runbook.stages[-1].name if runbook.stages else None
            for stage in runbook.stages:
                if all(info.name != stage.name for info in shape.stages):
                    shape.stages.append(StageInfo(stage.name, stage.label, stage.name == last))
            for deadline in runbook.deadlines:
                shape._deadlines.setdefault(deadline.name, (deadline, runbook.calendar))
        return shape
    names = getattr(rule, "stages", None)
    if isinstance(names, Sequence) and not isinstance(names, str) and names:
        finals = set(getattr(rule, "final_stages", None) or (names[-1],))
        shape.stages = [StageInfo(str(n), str(n), n in finals) for n in names]
        return shape
    shape.declared = False
    shape.stages = [StageInfo(n, n, n.casefold() in CONVENTIONAL_FINAL) for n in observed_order(histories)]
    return shape


def _runbooks(bound: BoundRule) -> list[Any]:
    declarations = getattr(bound.rule, "declarations", None)
    if declarations is None:
        return []
    try:
        return list(declarations(bound.config).runbooks)
    except NotImplementedError:
        return []
    except Exception:  # noqa: BLE001 - one rule's bug must not take the console down
        log.warning("console: the runbooks of rule %s cannot be read", bound.id, exc_info=True)
        return []


def _approvers(bound: BoundRule) -> tuple[str, ...]:
    try:
        return tuple(email.casefold() for email, _ in bound.rule.approvers(bound.config) if email)
    except Exception:  # noqa: BLE001 - as above
        log.warning("console: the approvers of rule %s cannot be read", bound.id, exc_info=True)
        return ()


def observed_order(histories: Iterable[Sequence[str]]) -> list[str]:
    """Stage names in the order instances went through them: by their mean relative place in the histories
    (a stage most instances reach late comes late), first appearance breaking ties; final-looking names last."""
    places: dict[str, list[float]] = {}
    first_seen: dict[str, int] = {}
    for history in histories:
        seen = list(dict.fromkeys(history))
        for index, stage in enumerate(seen):
            places.setdefault(stage, []).append(index / max(1, len(seen) - 1))
            first_seen.setdefault(stage, len(first_seen))
    return sorted(places, key=lambda s: (s.casefold() in CONVENTIONAL_FINAL, sum(places[s]) / len(places[s]),
                                         first_seen[s]))
