"""Backtest: the same recorded events replayed under two rule configurations, and what differs.

``ticketbot backtest FILE… --config-b OTHER.yaml`` answers the question an admin has before changing a runbook:
"had this been the configuration over the last month, what would have happened differently?" Each side is a
:class:`~bot.replay.Replay` of the same records on its own in-memory site (the same ``site.yaml``), its own
virtual clock and its own in-memory records (no database at all): nothing is written anywhere, no tracker or
Slack is reached. ``ticketbot backtest`` plays B in a second process while it plays A (:func:`backtest_files`).

What each side did is the effects it applied (or found already true, or had refused by the site), by their stable
key (rule, ticket, step: :attr:`bot.effects.Effect.key`) with the moment they happened: a Slack message held for
working hours counts when it was delivered. The bot's own bookkeeping (rule state, timers) is not compared; the
stage each runbook ended at is. Per ticket, an effect is

* ``added`` — only B did it, ``removed`` — only A did,
* ``moved`` — both, at different moments (a reminder after 24 h → the next business morning),
* ``changed`` — both, at the same moment, saying something else (another template, another person).
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.effects import Effect, InternalComment, PublicReply, SlackMessage
from bot.engine import BoundRule
from bot.executor import ALREADY, APPLIED, REJECTED
from bot.replay import Replay, read_records
from bot.store import MemoryStore, Store
from bot.trackers.site import Site

#: What a side "did": the outcomes that leave the site (or Slack) as the plan wanted it.
DONE = (APPLIED, ALREADY, REJECTED)
#: After the last event, virtual time runs this long (timers due by then fire) unless ``until`` is given.
DEFAULT_TAIL = timedelta(days=30)
SCOPE = "backtest"


@dataclass(frozen=True)
class Done:
    """One effect one side carried out: when, what, and how it ended."""

    key: str
    rule_id: str
    ticket_key: str
    kind: str
    at: datetime
    summary: str
    outcome: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "rule": self.rule_id, "ticket": self.ticket_key, "kind": self.kind,
                "at": self.at.isoformat(), "summary": self.summary, "outcome": self.outcome}


@dataclass
class Side:
    """One replay's account: the effects done by key, the stage each runbook ended at, counts."""

    events: int = 0
    done: dict[str, Done] = field(default_factory=dict)
    stages: dict[tuple[str, str], str] = field(default_factory=dict)  # (rule, ticket) -> stage
    counts: Counter[str] = field(default_factory=Counter)

    def note(self, effect: Effect, outcome: str, at: datetime) -> None:
        if effect.is_local or outcome not in DONE:
            return
        key = effect.key
        if key not in self.done:
            self.done[key] = Done(key, effect.rule_id, effect.ticket_key, effect.kind, at, effect.describe(), outcome)
            self.counts[_category(effect)] += 1


def _category(effect: Effect) -> str:
    if isinstance(effect, SlackMessage):
        return "slack messages"
    if isinstance(effect, InternalComment):
        return "comments"
    if isinstance(effect, PublicReply):
        return "public replies"
    return "ticket changes"


@dataclass(frozen=True)
class Difference:
    kind: str  # added | removed | moved | changed
    a: Done | None
    b: Done | None

    @property
    def ticket_key(self) -> str:
        return (self.a or self.b).ticket_key  # type: ignore[union-attr]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "a": self.a.as_dict() if self.a else None, "b": self.b.as_dict() if self.b else None}


@dataclass(frozen=True)
class StageDifference:
    rule_id: str
    ticket_key: str
    a: str | None
    b: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "ticket": self.ticket_key, "a": self.a, "b": self.b}


@dataclass
class Comparison:
    """What differs between the two sides, per ticket, and the totals."""

    a: Side
    b: Side
    differences: list[Difference]
    stages: list[StageDifference]
    until: datetime | None

    @property
    def identical(self) -> bool:
        return not self.differences and not self.stages

    def tickets(self) -> list[str]:
        """The tickets something differs on, in the order of their first difference."""
        return list(self.by_ticket())

    def by_ticket(self) -> dict[str, tuple[list[Difference], list[StageDifference]]]:
        """Per ticket something differs on (in the order of :meth:`tickets`), its differences and its stages."""
        groups: dict[str, tuple[list[Difference], list[StageDifference]]] = {}
        for difference in self.differences:
            groups.setdefault(difference.ticket_key, ([], []))[0].append(difference)
        for stage in self.stages:
            groups.setdefault(stage.ticket_key, ([], []))[1].append(stage)
        return groups

    def summary(self) -> dict[str, Any]:
        kinds = Counter(d.kind for d in self.differences)
        return {"events": self.a.events, "tickets_changed": len(self.tickets()),
                "effects": {"a": len(self.a.done), "b": len(self.b.done)},
                "added": kinds["added"], "removed": kinds["removed"], "moved": kinds["moved"],
                "changed": kinds["changed"], "stages_differ": len(self.stages),
                "a": dict(sorted(self.a.counts.items())), "b": dict(sorted(self.b.counts.items()))}

    def as_dict(self) -> dict[str, Any]:
        return {"identical": self.identical, "until": self.until.isoformat() if self.until else None,
                "summary": self.summary(),
                "tickets": {key: {"effects": [d.as_dict() for d in differences],
                                  "stages": [s.as_dict() for s in stages]}
                            for key, (differences, stages) in self.by_ticket().items()}}


def play(rules: list[BoundRule], site: Site, records: Iterable[dict[str, Any]], *,
         until: datetime | None, plain: bool = False) -> tuple[Side, datetime | None]:
    """Replay ``records`` under ``rules`` on a fresh in-memory site; what it did. Without ``until`` virtual time
    runs :data:`DEFAULT_TAIL` past the last event, so the reminders a change moves are seen.

    A side needs each effect's outcome and moment and the final stages, nothing else: the replay builds no
    traces and keeps its records in a :class:`~bot.store.MemoryStore` (no SQL). ``plain``: the replay as
    ``ticketbot replay`` runs it instead (traces, an in-memory SQLite database): the same side, slower."""
    with _collector_paused():
        return _play(rules, site, records, until=until, plain=plain)  # its replay is freed as _play returns


def _play(rules: list[BoundRule], site: Site, records: Iterable[dict[str, Any]], *,
          until: datetime | None, plain: bool) -> tuple[Side, datetime | None]:
    side = Side()
    if plain:
        player = Replay(rules, site, Store("sqlite://"), scope=SCOPE)
    else:
        player = Replay(rules, site, MemoryStore(), scope=SCOPE, record_traces=False)
    last: datetime | None = None
    for step in player.run(records):
        side.events += 1
        if not side.events % COLLECT_EVERY:
            gc.collect(0)
        last = step.event.occurred_at
        for outcome in step.report.outcomes:
            side.note(outcome.effect, outcome.status, step.event.occurred_at)
    end = until or (last + DEFAULT_TAIL if last else None)
    if end is not None:
        for step in player.fire_due(end):
            for outcome in step.report.outcomes:
                side.note(outcome.effect, outcome.status, step.event.occurred_at)
        player.commit()
    side.stages = {(s.rule_id, s.ticket_key): s.stage for s in player.states.all(SCOPE)}
    return side, end


#: While a side plays, the cycle collector looks at the objects made since it last looked every this many events.
COLLECT_EVERY = 10_000


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cycle collector paused: while a side plays, but for a collection of the youngest objects every
    :data:`COLLECT_EVERY` events (:func:`_play`), and while the other process's side is unpickled here.

    A side keeps almost all it makes (the site's tickets, rule state, timers, what it did: millions of objects
    in a month's replay), and the collector's passes over them were a sixth of its time at 100,000 events
    (benchmarks/README.md). A replay makes no reference cycles (``tests/ops/test_backtest.py``; the replay
    itself is freed the moment it is dropped), so there is nothing for the full passes to find; the young
    collections still free any cycle that rules might make, within the events it was made in."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def backtest(records: Callable[[], Iterable[dict[str, Any]]], site: Site, rules_a: list[BoundRule],
             rules_b: list[BoundRule], *, until: datetime | None = None, plain: bool = False) -> Comparison:
    """Replay ``records()`` (called once per side) under ``rules_a`` and ``rules_b``; what differs (``plain``:
    see :func:`play`)."""
    a, end = play(rules_a, site, records(), until=until, plain=plain)
    b, _ = play(rules_b, site, records(), until=end, plain=plain)
    return compare(a, b, until=end)


@dataclass(frozen=True)
class RecordFiles:
    """The records of ``paths``, in order, each time it is called: a source of records another process can be
    given (it reads the files itself), as the command's files are."""

    paths: tuple[Path, ...]

    def __call__(self) -> Iterator[dict[str, Any]]:
        for path in self.paths:
            yield from read_records(path)

    @property
    def size(self) -> int:
        """Their bytes (what tells whether a second process pays for itself)."""
        return sum(path.stat().st_size for path in self.paths)


#: From this many bytes of records on, :func:`backtest_files` plays B in a second process: it costs about a
#: second and a half to start one (the interpreter, ticketbot and the rules imported again), which a side of
#: a few thousand events takes to play.
PARALLEL_BYTES = 8 * 1024 * 1024


def backtest_files(records: RecordFiles, site: Site, rules_a: list[BoundRule], rules_b: list[BoundRule], *,
                   config_b: Path, until: datetime | None = None, processes: int | None = None) -> Comparison:
    """:func:`backtest` of the records in files, as ``ticketbot backtest`` runs it (``rules_b`` loaded from
    ``config_b``): with ``processes`` 2, A is played here while B is played in a process of its own (spawned:
    it loads ``config_b`` and reads the files itself), so both cores work; the comparison is the same
    (``tests/ops/test_backtest.py``). ``None``: two processes when this process may use two cores and the
    files hold :data:`PARALLEL_BYTES` at least, else one."""
    if processes is None:
        processes = 2 if _cores() >= 2 and records.size >= PARALLEL_BYTES else 1
    if processes < 2:
        return backtest(records, site, rules_a, rules_b, until=until)
    with _Elsewhere(_play_from_config, (config_b, site, records, until)) as side_b:
        a, end = play(rules_a, site, records(), until=until)
        b, end_b = side_b.result()
    if end_b != end:  # B ran to its own end: the same records end at the same moment, so this is only a guard
        b, _ = play(rules_b, site, records(), until=end)
    return compare(a, b, until=end)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _play_from_config(config: Path, site: Site, records: RecordFiles,
                      until: datetime | None) -> tuple[Side, datetime | None]:
    from rules import load_rules

    return play(load_rules(config), site, records(), until=until)


class _Elsewhere:
    """``function(*args)`` in a spawned process, its log records handled by this process's handlers (when it has
    any: else the other process logs as an unconfigured one does); as a context manager, the process is ended
    when the block leaves early (an error on this side)."""

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        context = multiprocessing.get_context("spawn")
        self._receive, send = context.Pipe(duplex=False)
        self._logs: Any = context.Queue()
        root = logging.getLogger()
        self._listener = logging.handlers.QueueListener(self._logs, *root.handlers, respect_handler_level=True)
        self._process = context.Process(target=_run_elsewhere, name="ticketbot-backtest-b", daemon=True,
                                        args=(function, args, send, self._logs if root.handlers else None,
                                              root.level))
        self._process.start()
        send.close()
        self._listener.start()

    def result(self) -> Any:
        try:
            with _collector_paused():  # hundreds of thousands of objects, which the collector would walk twice
                status, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(f"the backtest's process for B ended without a result (exit code "
                               f"{self._process.exitcode})") from None
        if status == "error":
            raise value
        return value

    def __enter__(self) -> _Elsewhere:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive() and exc[0] is not None:
            self._process.terminate()
        self._process.join()
        self._listener.stop()
        self._logs.close()
        self._receive.close()


def _run_elsewhere(function: Callable[..., Any], args: tuple[Any, ...], send: Any, logs: Any, level: int) -> None:
    if logs is not None:
        root = logging.getLogger()
        root.handlers[:] = [logging.handlers.QueueHandler(logs)]
        root.setLevel(level)
    try:
        message: tuple[str, Any] = ("ok", function(*args))
    except BaseException as exc:  # noqa: BLE001 - raised again on the other side
        message = ("error", exc)
    try:
        send.send(message)
    except Exception as exc:  # noqa: BLE001 - an exception that does not pickle: say what it was
        send.send(("error", RuntimeError(f"{type(exc).__name__} in the backtest's process for B: {message[1]!r}")))
    send.close()


def compare(a: Side, b: Side, *, until: datetime | None = None) -> Comparison:
    differences: list[Difference] = []
    for key in dict.fromkeys([*a.done, *b.done]):
        was, now = a.done.get(key), b.done.get(key)
        if was is None:
            differences.append(Difference("added", None, now))
        elif now is None:
            differences.append(Difference("removed", was, None))
        elif was.at != now.at:
            differences.append(Difference("moved", was, now))
        elif (was.summary, was.outcome) != (now.summary, now.outcome):
            differences.append(Difference("changed", was, now))
    differences.sort(key=lambda d: (d.ticket_key, _first(d)))
    stages = [StageDifference(rule, ticket, a.stages.get((rule, ticket)), b.stages.get((rule, ticket)))
              for rule, ticket in dict.fromkeys([*a.stages, *b.stages])
              if a.stages.get((rule, ticket)) != b.stages.get((rule, ticket))]
    return Comparison(a, b, differences, stages, until)


def _first(difference: Difference) -> datetime:
    return min(d.at for d in (difference.a, difference.b) if d is not None)


def describe(comparison: Comparison, names: Mapping[str, str] | None = None) -> list[str]:
    """The comparison for people: per ticket what differs, then the totals (A and B named by ``names``)."""
    names = {"a": "A", "b": "B", **(names or {})}
    s = comparison.summary()
    if comparison.identical:
        return [f"No difference: {names['a']} and {names['b']} do the same on {s['events']} events "
                f"({s['effects']['a']} effects)."]
    lines = []
    for key, (differences, stages) in comparison.by_ticket().items():
        lines.append(key)
        for d in differences:
            if d.kind == "moved" and d.a and d.b:
                lines.append(f"  moved    {d.a.summary}\n           {_at(d.a.at)} → {_at(d.b.at)}")
            elif d.kind == "changed" and d.a and d.b:
                lines.append(f"  changed  {_at(d.a.at)} {d.a.summary}\n           now: {d.b.summary}")
            elif d.kind == "added" and d.b:
                lines.append(f"  only {names['b']:<4}{_at(d.b.at)} {d.b.summary}")
            elif d.a:
                lines.append(f"  only {names['a']:<4}{_at(d.a.at)} {d.a.summary}")
        for st in stages:
            lines.append(f"  stage    {st.rule_id}: {st.a or '(none)'} → {st.b or '(none)'}")
    counts = ", ".join(f"{cat} {s['a'].get(cat, 0)} → {s['b'].get(cat, 0)}"
                       for cat in sorted(set(s["a"]) | set(s["b"])))
    lines.append(f"\n{s['tickets_changed']} ticket(s) differ over {s['events']} events: {s['added']} effect(s) added, "
                 f"{s['removed']} removed, {s['moved']} moved, {s['changed']} changed, {s['stages_differ']} final "
                 f"stage(s) differ ({counts}).")
    return lines


def _at(moment: datetime) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M} UTC"
