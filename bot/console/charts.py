"""Charts for the console, computed from the rule states and the traces, drawn on the server as SVG.

Four questions, each a :class:`Chart` (its numbers, for the JSON API) that :func:`svg` draws as inline SVG: no
JavaScript, no build step, a ``<title>`` and ``<desc>`` for screen readers, every bar's value written
beside it and a table of the same numbers under it (``<details>``). Colours come from the stylesheet
(classes) and from SVG presentation attributes, never from ``style=`` attributes (the CSP allows no
inline style).

* **Against the target** (one chart per runbook deadline: NF-e's 60-day implementation target, Momentus'
  48 h validation): for each instance, how long it took from the deadline's start stage to one of its stop
  stages (or how long it has been running, when it is still open), beside the target the runbook's
  calendar gives that instance. Met, missed and open-past-target are counted.
* **Time in each stage** per runbook: the median and 90th percentile of the finished stays in each stage,
  and how many instances are in it now.
* **Reminders and escalations per week** (the last 12 weeks): the alarms that rang and told someone, counted
  in the database from the traces of ``timer.fired`` events whose rule sent a message (an escalation when
  the message's step says ``escalate``).
* **From approval request to decision** (a rule that takes decisions, EverBright's): how long instances
  waited at a decision stage before it was decided, as a distribution.

Bounded: the first, second and fourth read the :data:`SAMPLE` newest instances of each rule (their
``rule_state`` rows, by id, through the rule's index); the third reads one index range of
``ix_traces_rings``, a partial index holding only the traces of timer events whose rule acted (migration
0011): a small fraction of the traces, so the index costs the ingest next to nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import Index, Text, and_, case, cast, distinct, func, select, text, true

from bot.console.queries import parse_time
from bot.console.stages import RunbookShape
from bot.model import TIMER_FIRED
from bot.state import RuleStateRow
from bot.store import TraceRow

#: The traces of timer events whose rule acted: what the weekly alarm counts read (migration 0011).
RINGS_WHERE = and_(TraceRow.event_kind == TIMER_FIRED, TraceRow.matched == true())
Index("ix_traces_rings", TraceRow.scope, TraceRow.at,
      sqlite_where=text("event_kind = 'timer.fired' AND matched = 1"),
      postgresql_where=text("event_kind = 'timer.fired' AND matched"))

#: Instances of each rule the charts read (the newest).
SAMPLE = 500
#: Targets remembered (a deadline's due moment for a start moment never changes: the calendar's arithmetic is
#: not free, and the same instances are drawn again at every request).
TARGET_CACHE = 50_000
#: Bars drawn per deadline chart (the instances that started last); the counts cover the whole sample.
BARS = 20
WEEKS = 12
#: Buckets of the decision chart (upper bounds).
WAIT_BUCKETS = ((timedelta(hours=4), "under 4 h"), (timedelta(hours=8), "4–8 h"), (timedelta(days=1), "8–24 h"),
                (timedelta(days=2), "1–2 days"), (timedelta(days=5), "2–5 days"), (None, "5 days or more"))

S = RuleStateRow


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # seconds, or a count
    target: float | None = None  # seconds
    kind: str = ""  # "late", "open", "ok", "reminder", "escalation" (the stylesheet's classes)
    href: str | None = None
    note: str = ""

    def as_dict(self, unit: str) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "value": round(self.value, 1), "kind": self.kind or None}
        if unit == "seconds":
            out["text"] = duration_text(self.value)
        if self.target is not None:
            out["target"] = round(self.target, 1)
            out["target_text"] = target_text(self.target)
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Chart:
    id: str
    title: str
    description: str  # what it shows, in a sentence (the SVG's <desc>)
    unit: str  # "seconds" | "count"
    bars: list[Bar] = field(default_factory=list)
    #: Bars in groups (the weekly chart: one group a week, a reminder and an escalation bar in each).
    groups: list[tuple[str, list[Bar]]] = field(default_factory=list)
    summary: str = ""
    rule_id: str = ""

    @property
    def empty(self) -> bool:
        return not self.bars and not any(bars for _, bars in self.groups)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "rule": self.rule_id or None, "title": self.title,
                               "description": self.description, "unit": self.unit, "summary": self.summary}
        if self.groups:
            out["groups"] = [{"label": label, "bars": [b.as_dict(self.unit) for b in bars]}
                             for label, bars in self.groups]
        else:
            out["bars"] = [b.as_dict(self.unit) for b in self.bars]
        return out


@dataclass
class Charts:
    now: datetime
    targets: list[Chart]
    stages: list[Chart]
    alarms: Chart
    decisions: list[Chart]

    def all(self) -> list[Chart]:
        return [*self.targets, *self.stages, self.alarms, *self.decisions]

    def as_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "sample": SAMPLE, "weeks": WEEKS,
                "targets": [c.as_dict() for c in self.targets], "stages": [c.as_dict() for c in self.stages],
                "alarms": self.alarms.as_dict(), "decisions": [c.as_dict() for c in self.decisions]}


@dataclass(frozen=True)
class _Instance:
    rule_id: str
    ticket_key: str
    stage: str
    steps: tuple[tuple[str, datetime], ...]  # (stage, entered at), oldest first
    data: Mapping[str, Any]


class ChartQueries:
    """The charts of one scope: ``queries`` is the console's :class:`~bot.console.queries.ConsoleQueries`."""

    def __init__(self, queries: Any) -> None:
        self.queries = queries
        self._targets: dict[tuple[str, str, datetime], float] = {}
        #: The counts of past weeks (reminders, escalations) and when they were counted: kept for an hour.
        self._weeks: dict[datetime, tuple[tuple[int, int], datetime]] = {}

    def charts(self) -> Charts:
        q = self.queries
        now = q.now()
        shapes = [s for s in q.shapes() if s.stages]
        samples = {s.rule_id: self._sample(s.rule_id, with_data=bool(s._deadlines)) for s in shapes}
        if len(self._targets) > TARGET_CACHE:
            self._targets.clear()
        targets = [c for s in shapes for c in target_charts(s, samples[s.rule_id], now, q.links.url, self._targets)]
        stages = [c for s in shapes if (c := stage_chart(s, samples[s.rule_id], now)) is not None]
        decisions = [c for s in shapes if (c := decision_chart(s, samples[s.rule_id])) is not None]
        return Charts(now, targets, stages, self._alarms(shapes, now), decisions)

    def _sample(self, rule_id: str, with_data: bool = True) -> list[_Instance]:
        """The newest instances of ``rule_id``; their records only when asked (a deadline's ``met:`` moment)."""
        columns = [S.rule_id, S.ticket_key, S.stage, S.history] + ([S.data] if with_data else [])
        query = (select(*columns).where(S.scope == self.queries.scope, S.rule_id == rule_id).order_by(S.id.desc())
                 .limit(SAMPLE))
        with self.queries.store.engine.connect() as conn:
            return [_Instance(r.rule_id, r.ticket_key, r.stage, _steps(r.history), (r.data or {}) if with_data else {})
                    for r in conn.execute(query)]

    def _alarms(self, shapes: Sequence[RunbookShape], now: datetime) -> Chart:
        """Rings per week: distinct timer events whose rule sent a message, by whether it was an escalation (its
        step says ``escalate``). Counted by the database over one range of ix_traces_rings, week by week; a past
        week's counts are kept for an hour (its traces are written already), so most requests count this week."""
        monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        weeks = [monday - timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]
        t = TraceRow
        effects = cast(t.effects, Text)
        week = case(*[(t.at >= weeks[i], i) for i in range(WEEKS - 1, -1, -1)], else_=-1).label("week")
        escalation = effects.like("%escalat%").label("escalation")
        counts = {w: [0, 0] for w in weeks}
        fresh = now - timedelta(hours=1)
        known = {w: c for w, (c, at) in self._weeks.items() if w in counts and at > fresh and w < monday}
        since = next((w for w in weeks if w not in known), monday)  # past weeks are counted once an hour
        query = (select(week, escalation, func.count(distinct(t.event_id)))
                 .where(t.scope == self.queries.scope, RINGS_WHERE, t.at >= since, effects.like('%"text"%'))
                 .group_by(week, escalation))
        with self.queries.store.engine.connect() as conn:
            for index, escalated, n in conn.execute(query):
                if 0 <= index < WEEKS:
                    counts[weeks[index]][1 if escalated else 0] += n
        for w in weeks:
            if w < since:
                counts[w] = list(known[w])
            elif w < monday:
                self._weeks[w] = ((counts[w][0], counts[w][1]), now)
        for w in [w for w in self._weeks if w < weeks[0]]:
            del self._weeks[w]
        groups = [(f"{w:%d %b}", [Bar("reminders", r, kind="reminder"), Bar("escalations", e, kind="escalation")])
                  for w, (r, e) in counts.items()]
        reminders, escalations = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
        return Chart("alarms", f"Reminders and escalations per week (last {WEEKS} weeks)",
                     f"For each week starting on the Monday named, how many reminders (bars labelled reminders) "
                     f"and escalations the runbooks sent: {reminders} reminders and {escalations} escalations in "
                     f"all.", "count", groups=groups,
                     summary=f"{reminders} reminder(s), {escalations} escalation(s) in {WEEKS} weeks")


# the charts ---------------------------------------------------------------------------------------------
def target_charts(shape: RunbookShape, sample: Sequence[_Instance], now: datetime, url: Any,
                  memo: dict[tuple[str, str, datetime], float] | None = None) -> list[Chart]:
    """One chart per deadline of ``shape``: each instance's time from its start stage to a stop stage (``memo``
    remembers the targets, by rule, deadline and start)."""
    memo = {} if memo is None else memo
    charts = []
    for name, (deadline, calendar) in shape._deadlines.items():
        starts = str(getattr(deadline, "starts", ""))
        stops = set(getattr(deadline, "stops", ()) or ())
        alarms = getattr(deadline, "alarms", None)
        due = getattr(alarms, "promise", None) or getattr(alarms, "due", None)  # a rule's own deadline may lack it
        if not starts or due is None:
            continue
        rows: list[tuple[datetime, Bar]] = []
        met = missed = open_late = open_ok = 0
        for inst in sample:
            start = next((at for stage, at in inst.steps if stage == starts), None)
            if start is None:
                continue
            end = next((at for stage, at in inst.steps if stage in stops and at >= start), None) \
                or parse_time(inst.data.get(f"met:{name}")) \
                or (inst.steps[-1][1] if shape.is_final(inst.stage) and inst.steps else None)
            remembered = (shape.rule_id, name, start)
            if remembered not in memo:
                try:
                    memo[remembered] = (calendar.due(start, due) - start).total_seconds()
                except Exception:  # noqa: BLE001 - a calendar that cannot say: the instance is left out
                    continue
            target = memo[remembered]
            took = ((end or now) - start).total_seconds()
            late = took > target
            if end is not None:
                met, missed = met + (not late), missed + late
                kind = "late" if late else "ok"
                note = "missed the target" if late else "met the target"
            else:
                open_late, open_ok = open_late + late, open_ok + (not late)
                kind = "late" if late else "open"
                note = "still open, past the target" if late else "still open"
            rows.append((start, Bar(inst.ticket_key, took, target, kind, url(inst.ticket_key), note)))
        if not rows:
            continue
        rows.sort(key=lambda r: r[0], reverse=True)
        bars = [bar for _, bar in rows[:BARS]]
        promised = target_text(due.total_seconds()) if isinstance(due, timedelta) else str(due)
        stop_text = ", ".join(shape.info(s).title for s in sorted(stops)) or "the end"
        title = f"{shape.title}: deadline {name} (target {promised})"
        desc = (f"For each of the {len(bars)} instances that entered {shape.info(starts).title} last, the time "
                f"from then until {stop_text} (or until now, when still open), with the target as a mark. "
                f"Of the {len(rows)} read, {met} met the target, {missed} missed it, {open_late} are open past "
                f"it and {open_ok} open within it.")
        charts.append(Chart(f"target-{shape.rule_id}-{name}", title, desc, "seconds", bars,
                            summary=f"{met} met, {missed} missed, {open_late} open past the target, {open_ok} open "
                                    f"within it", rule_id=shape.rule_id))
    return charts


def stage_chart(shape: RunbookShape, sample: Sequence[_Instance], now: datetime) -> Chart | None:
    """The median finished stay in each stage of ``shape`` (and the 90th percentile and count as notes)."""
    stays: dict[str, list[float]] = {}
    current: dict[str, int] = {}
    for inst in sample:
        for (stage, at), (_, following) in zip(inst.steps, inst.steps[1:], strict=False):
            stays.setdefault(stage, []).append((following - at).total_seconds())
        if inst.steps and not shape.is_final(inst.stage):
            current[inst.stage] = current.get(inst.stage, 0) + 1
    bars = []
    for info in shape.stages:
        if info.final:
            continue
        values = stays.get(info.name, [])
        if not values and not current.get(info.name):
            continue
        median = statistics.median(values) if values else 0.0
        p90 = _percentile(values, 0.9) if values else 0.0
        note = (f"{len(values)} finished stay(s), 90% within {duration_text(p90)}" if values else "no finished stay")
        note += f"; {current.get(info.name, 0)} there now"
        bars.append(Bar(info.title, median, kind="stage", note=note))
    if not bars:
        return None
    slowest = max(bars, key=lambda b: b.value)
    return Chart(f"stages-{shape.rule_id}", f"{shape.title}: time in each stage",
                 f"The median time instances of {shape.title} spent in each stage before moving on, from the "
                 f"stage histories of the {len(sample)} newest instances; the slowest is {slowest.label} "
                 f"({duration_text(slowest.value)}).", "seconds", bars, rule_id=shape.rule_id,
                 summary=f"slowest: {slowest.label}, median {duration_text(slowest.value)}")


def decision_chart(shape: RunbookShape, sample: Sequence[_Instance]) -> Chart | None:
    """How long instances waited at a decision stage of ``shape`` before the decision, as a distribution."""
    if not shape.decision_stages:
        return None
    waits: list[float] = []
    for inst in sample:
        for (stage, at), (_, following) in zip(inst.steps, inst.steps[1:], strict=False):
            if stage in shape.decision_stages:
                waits.append((following - at).total_seconds())
                break
    if not waits:
        return None
    counts = [0] * len(WAIT_BUCKETS)
    for wait in waits:
        for index, (bound, _) in enumerate(WAIT_BUCKETS):
            if bound is None or wait < bound.total_seconds():
                counts[index] += 1
                break
    median = statistics.median(waits)
    bars = [Bar(label, n, kind="decision") for (_, label), n in zip(WAIT_BUCKETS, counts, strict=True)]
    stages = ", ".join(shape.info(s).title for s in shape.decision_stages)
    return Chart(f"decisions-{shape.rule_id}", f"{shape.title}: from approval request to decision",
                 f"How many of the {len(waits)} decided instances waited how long at {stages} before the "
                 f"decision; the median wait is {duration_text(median)}.", "count", bars, rule_id=shape.rule_id,
                 summary=f"{len(waits)} decided, median wait {duration_text(median)}, 90% within "
                         f"{duration_text(_percentile(waits, 0.9))}")


# drawing ---------------------------------------------------------------------------------------------------
WIDTH = 720
LABEL = 190  # room for the labels on the left
LABEL_CHARS = 28  # longer labels are cut (the whole one is in the bar's tooltip and the table)
VALUE = 110  # room for the values on the right
ROW = 22


def svg(chart: Chart) -> str:
    """``chart`` as inline SVG markup (escaped; safe to put in a page as it is)."""
    if chart.groups:
        return _grouped(chart)
    bars = chart.bars
    top = max([b.value for b in bars] + [b.target or 0 for b in bars] + [1])
    plot = WIDTH - LABEL - VALUE
    height = ROW * len(bars) + 28
    out = [_open(chart, height)]
    for index, bar in enumerate(bars):
        y = 6 + index * ROW
        width = max(1.0, plot * bar.value / top) if bar.value else 0
        value = duration_text(bar.value) if chart.unit == "seconds" else f"{bar.value:g}"
        extra = f" (target {target_text(bar.target)})" if bar.target is not None else ""
        label = escape(bar.label if len(bar.label) <= LABEL_CHARS else bar.label[:LABEL_CHARS - 1] + "…")
        tip = escape(f"{bar.label}: {value}{extra}" + (f", {bar.note}" if bar.note else ""))
        row = [f'<g class="row {escape(bar.kind)}">',
               f'<text class="label" x="{LABEL - 8}" y="{y + 14}" text-anchor="end">{label}</text>',
               f'<rect class="bar {escape(bar.kind)}" x="{LABEL}" y="{y + 2}" width="{width:.1f}" height="{ROW - 6}" '
               f'fill="{_FILL.get(bar.kind, "#2952cc")}"><title>{tip}</title></rect>']
        if bar.target is not None:
            tx = LABEL + plot * bar.target / top
            row.append(f'<line class="target" x1="{tx:.1f}" x2="{tx:.1f}" y1="{y}" y2="{y + ROW - 2}" '
                       f'stroke="#1d2330" stroke-width="2"><title>target {escape(target_text(bar.target))}</title>'
                       f'</line>')
        row.append(f'<text class="value" x="{LABEL + width + 6:.1f}" y="{y + 14}">{escape(value)}</text>')
        row.append("</g>")
        if bar.href:
            row = [f'<a href="{escape(bar.href)}">', *row, "</a>"]
        out += row
    out.append(_axis(chart, top, height - 20, plot))
    out.append("</svg>")
    return "".join(out)


def _grouped(chart: Chart) -> str:
    top = max([b.value for _, bars in chart.groups for b in bars] + [1])
    height = 220
    plot_h = height - 70  # from y=30 (under the legend and the tallest bar's value) to the axis
    slot = (WIDTH - 40) / max(1, len(chart.groups))
    each = max(4.0, (slot - 8) / 2)
    out = [_open(chart, height)]
    for index, (label, bars) in enumerate(chart.groups):
        x0 = 40 + index * slot
        out.append(f'<g class="week"><text class="label" x="{x0 + slot / 2:.1f}" y="{height - 20}" '
                   f'text-anchor="middle">{escape(label)}</text>')
        for n, bar in enumerate(bars):
            h = plot_h * bar.value / top
            x = x0 + 4 + n * each
            y = 30 + plot_h - h
            out.append(f'<rect class="bar {escape(bar.kind)}" x="{x:.1f}" y="{y:.1f}" width="{each - 2:.1f}" '
                       f'height="{h:.1f}" fill="{_FILL.get(bar.kind, "#2952cc")}"><title>{escape(label)}: '
                       f'{bar.value:g} {escape(bar.label)}</title></rect>')
            if bar.value:
                out.append(f'<text class="value" x="{x + (each - 2) / 2:.1f}" y="{y - 3:.1f}" '
                           f'text-anchor="middle">{bar.value:g}</text>')
        out.append("</g>")
    out.append(f'<line class="axis" x1="36" x2="{WIDTH}" y1="{30 + plot_h}" y2="{30 + plot_h}" stroke="#5b6475"/>')
    out.append(f'<g class="legend"><rect x="{WIDTH - 220}" y="2" width="10" height="10" fill="{_FILL["reminder"]}"/>'
               f'<text x="{WIDTH - 206}" y="11">reminders</text><rect x="{WIDTH - 120}" y="2" width="10" height="10" '
               f'fill="{_FILL["escalation"]}"/><text x="{WIDTH - 106}" y="11">escalations</text></g>')
    out.append("</svg>")
    return "".join(out)


_FILL = {"late": "#b3261e", "ok": "#1e6b3a", "open": "#2952cc", "stage": "#2952cc", "decision": "#6a3fb5",
         "reminder": "#8a5a00", "escalation": "#b3261e"}


def _open(chart: Chart, height: int) -> str:
    ident = escape(chart.id)
    return (f'<svg class="chart" role="img" aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {WIDTH} '
            f'{height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="12" '
            f'font-family="system-ui, sans-serif"><title id="{ident}-title">{escape(chart.title)}</title>'
            f'<desc id="{ident}-desc">{escape(chart.description)}</desc>')


def _axis(chart: Chart, top: float, y: float, plot: float) -> str:
    ticks = []
    for fraction in (0, 0.5, 1):
        x = LABEL + plot * fraction
        value = top * fraction
        text_ = duration_text(value) if chart.unit == "seconds" else f"{value:g}"
        ticks.append(f'<text class="tick" x="{x:.1f}" y="{y + 14}" text-anchor="middle">{escape(text_)}</text>')
    return (f'<g class="axis"><line x1="{LABEL}" x2="{LABEL + plot}" y1="{y}" y2="{y}" stroke="#5b6475"/>'
            + "".join(ticks) + "</g>")


# helpers ---------------------------------------------------------------------------------------------------
def duration_text(seconds: float | None) -> str:
    """``2d 4h``, ``3h 20m``, ``45m``."""
    if seconds is None:
        return "—"
    total = abs(int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def target_text(seconds: float) -> str:
    """A target as a promise is written: ``48h`` (whole hours under three days, as Storecove's), else
    :func:`duration_text` (``60d``, ``2d 4h``)."""
    if 0 < seconds < 3 * 86400 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return duration_text(seconds)


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _steps(history: Any) -> tuple[tuple[str, datetime], ...]:
    steps = []
    for item in history or ():
        if not isinstance(item, Mapping):
            continue
        try:
            at = _aware(datetime.fromisoformat(str(item.get("at"))))
        except ValueError:
            continue
        steps.append((str(item.get("stage")), at))
    return tuple(steps)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
