"""Scale benchmark: rule-evaluation throughput on the virtual clock, and 100k pending durable timers.

    .venv/bin/python benchmarks/scale.py                       # both parts, default sizes
    .venv/bin/python benchmarks/scale.py --events 20000 --timers 100000 --json

(a) Replay throughput. ``--events`` synthetic EverBright webhook bodies (Jira Cloud's shape, built
with ``examples/everbright/make_events.py``'s helpers) across many onboarding tickets walk all six
runbook steps: the form arrives (intake), Jira's automation creates the CS ticket (found and linked),
a person edits the SS ticket, Config puts CS on hold (approval asked, 24 h reminder armed), the
approver answers by comment (most), only after the reminder fired (some) or by a separate ticket
(a few, linked and closed as a duplicate), and Config sets CS Done (SS closed). Each is measured
through three paths, all with the five rules enabled in ``config/ticketbot.yaml``:

* ``replay``: :class:`bot.replay.Replay` — the real pipeline (``Processor``: tracker read, engine,
  executor, traces, applied-effect records, rule state and timers in a SQLite *file*, committed in
  batches as ``ticketbot replay`` does, the last one inside the measured time), timers firing on the
  virtual clock;
* ``pipeline, no persistence``: the same ``Replay``, its traces built and counted in a
  :class:`bot.store.MemoryStore` instead of stored, its effect records kept there, its rule state and timers
  kept in the replay's ``BufferedStateStore`` and never written: what the pipeline costs without SQL;
* ``backtest side``: the same records as one side of ``ticketbot backtest`` plays them
  (:func:`bot.ops.backtest.play`: no traces, the effect records in a ``MemoryStore``, no SQL at all, the
  cycle collector paused but for young collections), and what it noted of each effect;
* ``rule evaluation``: the events evaluated per second of time spent inside ``Engine.evaluate`` (the
  five rules deciding, reading ticket and state but writing nothing), in each of the two runs.

Target (issue 6: "events/s of rule evaluation on the virtual clock"): >= 5,000 events/s of rule
evaluation during ``replay``. The two whole-run figures are printed beside it: they also count what the
pipeline does around the rules (decoding, tracker writes, traces and records, SQL).

(c) ``--backtest-events`` (100,000: a month of a busy site) of the same synthetic events written to a JSON-lines
file, and ``ticketbot backtest`` of it run as a command (``--site examples/everbright/site.yaml``, A the
shipped ``config/ticketbot.yaml``, B the same with the EverBright approver chased every 2 h instead of every
business day, the README's example; ``--json`` output to a file): its wall time, and its CPU time (the
command's processes). Then each side alone in this process (:func:`bot.ops.backtest.play`, the events read
from the file as the command reads them): wall and CPU seconds, events/s. Target (issue 19): the command
finishes in <= 60 s on this 2-core machine.

(b) ``--timers`` pending durable timers in a SQLite file (``StateStore.start_timer`` rows, as the
rules arm them): the RSS of a process holding and sweeping them (target <= 300 MB), and due-timer
lateness when they all fall due across ``--window`` seconds and the real :class:`bot.inbox.timers.TimerSweep`
(the leader job) runs every ``--sweep`` seconds on the real clock, queueing ``timer.fired`` events in
the real inbox: lateness = the moment the sweep committed a timer's event minus its due time
(target p50 and p99 <= 1 s).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.util
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.clock import SystemClock
from bot.engine import BoundRule
from bot.state import PENDING, timer_id
from bot.store import MemoryStore, Store
from bot.trackers.site import Site

EXAMPLES = ROOT / "examples" / "everbright"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _make_events_module() -> Any:
    spec = importlib.util.spec_from_file_location("everbright_make_events", EXAMPLES / "make_events.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# (a) synthetic events ------------------------------------------------------------------------------
def synthetic_events(n_events: int, *, seed: int = 7, every: timedelta = timedelta(minutes=3)) -> list[dict]:
    """About ``n_events`` webhook bodies (6 per onboarding, one more for an approval by separate ticket),
    ordered by time; a new onboarding arrives every ``every``."""
    me = _make_events_module()
    rng = random.Random(seed)
    out: list[tuple[int, int, dict]] = []
    n = 0
    serial = 0
    extra_key = 900000
    while len(out) < n_events:
        n += 1
        ss_key, cs_key = f"SS-{n}", f"CS-{n}"
        installer = f"Installer {n:06d} Solar"
        t0 = START + n * every
        def at(delta, t0=t0):
            return (t0 + delta).strftime("%Y-%m-%dT%H:%M:%S")
        form = (f"Thank you for partnering with EverBright!\n\n* Installer name: {installer}\n"
                f"* Installer contact email: ops@sunpeaksolar.example\n* State: Colorado\n")
        ss = me.issue(ss_key, 100000 + n, "EverBright Partner Onboarding", form, "sunpeak", created=at(timedelta()),
                      status="Waiting for support", participants=("sunpeak",))
        cs = me.issue(cs_key, 500000 + n, f"EverBright integrated finance setup: {installer}",
                      f"Created by automation from {ss_key} (Needs Configuration? = Integrated Finance).",
                      "automation", created=at(timedelta(minutes=2)), status="To Do", issue_type="Task")
        on_hold = timedelta(hours=20 + rng.random() * 8)
        steps: list[tuple[timedelta, dict]] = [
            (timedelta(), me.created(at(timedelta()), ss, "sunpeak", serial + 1)),
            (timedelta(minutes=2), me.created(at(timedelta(minutes=2)), cs, "automation", serial + 2)),
            (timedelta(hours=2), me.updated(at(timedelta(hours=2)), ss, "tom", serial + 3, [
                {"field": "labels", "fieldtype": "jira", "fieldId": "labels", "from": None, "fromString": "",
                 "to": None, "toString": "partner"}])),
            (on_hold, me.updated(at(on_hold), cs, "config", serial + 4, [me.status_change("To Do", "On Hold")])),
        ]
        kind = rng.random()
        if kind < 0.6:  # the approver answers within hours, by comment
            answer = on_hold + timedelta(hours=rng.random() * 6)
            steps.append((answer, me.comment_created(at(answer), ss, "david", 700000 + n, "Approved, go ahead.")))
        elif kind < 0.85:  # only after the 24 h reminder (a timer firing on the virtual clock)
            answer = on_hold + timedelta(hours=26 + rng.random() * 10)
            steps.append((answer, me.comment_created(at(answer), ss, "david", 700000 + n, "Approved, go ahead.")))
        else:  # by e-mail: a separate ticket, linked and closed as a duplicate, counted as the approval
            answer = on_hold + timedelta(hours=3 + rng.random() * 30)
            extra_key += 1
            dup = me.issue(f"SS-{extra_key}", 100000 + extra_key, f"{ss_key} approved",
                           f"Hi team: approved, please push {installer} live.\n\nDavid", "david",
                           created=at(answer), status="Waiting for support")
            steps.append((answer, me.created(at(answer), dup, "david", serial + 5)))
        done = answer + timedelta(hours=4 + rng.random() * 20)
        steps.append((done, me.updated(at(done), cs, "config", serial + 6, [me.status_change("To Do", "Done")])))
        serial += 10
        for delta, body in steps:
            body["timestamp"] = int((t0 + delta).timestamp() * 1000)
            out.append((body["timestamp"], len(out), body))
    out.sort(key=lambda item: (item[0], item[1]))
    return [body for _, _, body in out[:n_events]]


def load_bound_rules(config: Path) -> list[BoundRule]:
    from rules import load_rules

    return load_rules(config)


def demo_site() -> Site:
    return Site.load(EXAMPLES / "site.yaml")


# (a) measurement ------------------------------------------------------------------------------------
@dataclass
class Split:
    """Seconds spent in each part of the pipeline during one run."""

    total: float = 0.0
    events: int = 0
    parts: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        rate = self.events / self.total if self.total else 0.0
        return {"events": self.events, "seconds": round(self.total, 3), "events_per_s": round(rate, 1),
                "parts_s": {k: round(v, 3) for k, v in (self.parts or {}).items()}}


def _timed(parts: dict[str, float], name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            parts[name] += time.perf_counter() - began
    return wrapper


def run_replay(records: list[dict], rules: list[BoundRule], *, db_url: str | None, profile: Path | None = None,
               instrument: bool = True) -> tuple[Split, Any]:
    """Replay ``records``; db_url None: the no-persistence path (dictionaries for the store and states)."""
    from bot.replay import Replay

    player = Replay(rules, demo_site(), Store(db_url or "sqlite://"), scope="bench")
    if not db_url:  # rule state and timers stay in the replay's BufferedStateStore, never written
        player.processor.store = player.processor.executor.store = MemoryStore()
    parts: dict[str, float] = defaultdict(float)
    if instrument:
        proc = player.processor
        proc.engine.evaluate = _timed(parts, "rules (Engine.evaluate)", proc.engine.evaluate)
        proc.executor.apply = _timed(parts, "executor (writes, records, state)", proc.executor.apply)
        proc.tracker.get_ticket = _timed(parts, "tracker reads", proc.tracker.get_ticket)
        proc._trace = _timed(parts, "traces", proc._trace)
        player.decode = _timed(parts, "decode webhook", player.decode)
        player.states.due = _timed(parts, "timer lookups", player.states.due)
    gc.collect()
    profiler = cProfile.Profile() if profile else None
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    steps = 0
    for _ in player.run(records):
        steps += 1
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    total = time.perf_counter() - began
    parts["other (batch commits of traces, records, state, timers; replay loop, seeding)"] = total - sum(parts.values())
    return Split(total, steps, dict(parts)), player


def run_side(records: list[dict], rules: list[BoundRule]) -> Split:
    """``records`` played as one side of a backtest (:func:`bot.ops.backtest.play`), up to the last event (as the
    other paths: not the 30 days after it)."""
    from bot.ops.backtest import play

    last = datetime.fromtimestamp(records[-1]["timestamp"] / 1000, UTC)
    gc.collect()
    began = time.perf_counter()
    side, _ = play(rules, demo_site(), records, until=last)
    return Split(time.perf_counter() - began, side.events)


def part_a(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rules = load_bound_rules(Path(args.config))
    enabled = [b.id for b in rules if b.config.enabled]
    records = synthetic_events(args.events)
    tickets = len({r["issue"]["key"] for r in records})
    print(f"(a) {len(records)} synthetic EverBright webhook events on {tickets} tickets; rules enabled: "
          f"{', '.join(enabled)}")
    db = work / "replay.sqlite3"
    full, player = run_replay(records, rules, db_url=f"sqlite:///{db}",
                              profile=work / "replay.prof" if args.profile else None)
    fired = full.events - len(records)
    closed = sum(1 for s in player.states.find("bench", "everbright_onboarding", stages=["closed"]))
    print(f"  replay (SQLite file): {full.events} events ({fired} timers fired) in {full.total:.1f}s = "
          f"{full.events / full.total:,.0f} events/s; {closed} onboardings closed")
    _print_parts(full)
    if args.profile:
        _print_profile(work / "replay.prof", args.profile_lines)
    memory, _ = run_replay(records, rules, db_url=None)
    print(f"  pipeline, no persistence: {memory.events} events in {memory.total:.1f}s = "
          f"{memory.events / memory.total:,.0f} events/s")
    _print_parts(memory)
    side = run_side(records, rules)
    print(f"  backtest side (bot.ops.backtest.play: no traces, no SQL): {side.events} events in {side.total:.1f}s = "
          f"{side.events / side.total:,.0f} events/s")
    rules_in_replay, rules_alone = _rules_only(full), _rules_only(memory)
    rate = rules_in_replay.events / rules_in_replay.total
    print(f"  rule evaluation (time inside Engine.evaluate, 5 rules): {rate:,.0f} events/s during the replay "
          f"({rules_in_replay.total:.2f}s), {rules_alone.events / rules_alone.total:,.0f} events/s in the run without "
          f"persistence ({rules_alone.total:.2f}s)")
    met = rate >= args.target_rate
    print(f"  target >= {args.target_rate:,.0f} events/s of rule evaluation: {'MET' if met else 'NOT MET'} "
          f"(whole replay: {full.events / full.total:,.0f} events/s)")
    return {"events": len(records), "tickets": tickets, "timers_fired": fired, "closed": closed, "rules": enabled,
            "replay_sqlite": full.as_dict(), "pipeline_no_persistence": memory.as_dict(),
            "backtest_side": side.as_dict(), "rules_during_replay": rules_in_replay.as_dict(),
            "rules_no_persistence": rules_alone.as_dict(),
            "target_events_per_s": args.target_rate, "target_met": met}


# (c) a month's backtest ----------------------------------------------------------------------------------
def write_jsonl(records: list[dict], path: Path) -> int:
    """``records`` as JSON lines (what ``ticketbot events export`` writes); the file's size in bytes."""
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")))
            out.write("\n")
    return path.stat().st_size


def sooner_config(config: Path, path: Path) -> Path:
    """The README's "try a change" example: the EverBright approver chased every 2 h, not every business day."""
    import re

    text = config.read_text(encoding="utf-8")
    text = re.sub(r"approval_reminder_after: 1 business day.*", "approval_reminder_after: 2h", text)
    text = re.sub(r"approval_reminder_every: 1 business day", "approval_reminder_every: 2h", text)
    path.write_text(text, encoding="utf-8")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def part_c(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import subprocess

    from bot.ops.backtest import play
    from bot.replay import read_records

    config_a = Path(args.config)
    config_b = sooner_config(config_a, work / "sooner.yaml")
    events = work / "events.jsonl"
    records = synthetic_events(args.backtest_events)
    size = write_jsonl(records, events)
    del records
    site = EXAMPLES / "site.yaml"
    print(f"(c) backtest of {args.backtest_events:,} synthetic EverBright webhook events ({size / 1e6:,.0f} MB of JSON "
          f"lines); A {config_a.name}, B the approver chased every 2 h; load average {os.getloadavg()[0]:.2f}")
    command = [str(Path(sys.executable).with_name("ticketbot")), "backtest", str(events), "--site", str(site),
               "--config-b", str(config_b), "--json"]
    env = {**os.environ, "TICKETBOT_CONFIG": str(config_a), "TICKETBOT_DATABASE_URL": f"sqlite:///{work / 'none.db'}"}
    cpu0, began = _children_cpu(), time.perf_counter()
    with (work / "backtest.json").open("wb") as output:
        done = subprocess.run(command, env=env, stdout=output, stderr=subprocess.PIPE, check=False)
    wall, cpu = time.perf_counter() - began, _children_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"ticketbot backtest failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    text = (work / "backtest.json").read_text(encoding="utf-8")
    summary = json.loads(text[text.index("{"):])["summary"]
    met = wall <= args.target_backtest
    print(f"  ticketbot backtest: {wall:.1f}s wall, {cpu:.1f}s CPU (its processes), load average "
          f"{os.getloadavg()[0]:.2f}; {summary['events']:,} events a side, {summary['tickets_changed']:,} tickets "
          f"differ ({summary['added']:,} added, {summary['removed']:,} removed, {summary['moved']:,} moved); "
          f"target <= {args.target_backtest:.0f}s: {'MET' if met else 'NOT MET'}")
    sides: dict[str, Any] = {}
    rules = {"A": load_bound_rules(config_a), "B": load_bound_rules(config_b)}
    site_description = Site.load(site)
    end = None
    for name in ("A", "B"):
        gc.collect()
        cpu0, began = time.process_time(), time.perf_counter()
        side, end = play(rules[name], site_description, read_records(events), until=end)
        wall_s, cpu_s = time.perf_counter() - began, time.process_time() - cpu0
        sides[name] = {"events": side.events, "wall_s": round(wall_s, 2), "cpu_s": round(cpu_s, 2),
                       "events_per_s": round(side.events / wall_s), "events_per_cpu_s": round(side.events / cpu_s)}
        print(f"  side {name} alone, in this process: {side.events:,} events in {wall_s:.1f}s wall "
              f"({side.events / wall_s:,.0f} events/s), {cpu_s:.1f}s CPU ({side.events / cpu_s:,.0f} events/CPU-s); "
              f"{len(side.done):,} effects")
    return {"events": args.backtest_events, "file_bytes": size, "command_wall_s": round(wall, 2),
            "command_cpu_s": round(cpu, 2), "summary": summary, "sides": sides,
            "target_s": args.target_backtest, "target_met": met}


def _rules_only(split: Split) -> Split:
    """The time inside Engine.evaluate during a run, as a run of its own."""
    evaluate = (split.parts or {}).get("rules (Engine.evaluate)", 0.0)
    return Split(evaluate, split.events, {"rules (Engine.evaluate)": evaluate})


def _print_parts(split: Split) -> None:
    for name, seconds in sorted((split.parts or {}).items(), key=lambda kv: -kv[1]):
        print(f"      {name:<40} {seconds:7.2f}s  {100 * seconds / split.total:5.1f}%")


def _print_profile(path: Path, lines: int) -> None:
    text = StringIO()
    stats = pstats.Stats(str(path), stream=text)
    stats.sort_stats("cumulative").print_stats(lines)
    print("\n".join("      " + line for line in text.getvalue().splitlines() if line.strip()))


# (b) 100k pending timers -----------------------------------------------------------------------------
def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def arm_timers(db_url: str, count: int, first_due: datetime, window: float, *, batch: int = 5000) -> float:
    """``count`` pending timers due evenly across ``window`` seconds from ``first_due``, written as
    ``StateStore.start_timer`` writes them (same table, same columns), in large transactions so arming
    100k takes seconds; returns the seconds it took."""
    from sqlalchemy import insert

    from bot.state import TimerRow

    store = Store(db_url)
    now = datetime.now(UTC)
    began = time.perf_counter()
    with store.engine.begin() as conn:
        rows = []
        for i in range(count):
            key = f"SS-{i + 1}"
            due = first_due + timedelta(seconds=window * i / max(1, count - 1))
            rows.append({"scope": "live", "timer_id": timer_id("everbright_onboarding", key, "approval-reminder"),
                         "rule_id": "everbright_onboarding", "ticket_key": key, "name": "approval-reminder",
                         "due_at": due, "status": PENDING, "data": {"n": 1}, "created_at": now, "fired_at": None,
                         "fire_count": 0})
            if len(rows) == batch:
                conn.execute(insert(TimerRow), rows)
                rows = []
        if rows:
            conn.execute(insert(TimerRow), rows)
    store.engine.dispose()
    return time.perf_counter() - began


def part_b(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """In-process equivalent of the leader's timer job: the real TimerSweep, inbox and StateStore on a SQLite
    file, called every ``--sweep`` s on the real clock by a thread (as the scheduler's interval job does)."""
    from bot.inbox.queue import Inbox
    from bot.inbox.timers import TimerSweep
    from bot.state import StateStore

    db_url = f"sqlite:///{work / 'timers.sqlite3'}"
    print(f"(b) {args.timers:,} pending durable timers (SQLite file), due across {args.window:.0f}s, "
          f"TimerSweep every {args.sweep:g}s on the real clock")
    rss_start = rss_mb()
    store = Store(db_url)
    first_due = datetime.now(UTC) + timedelta(seconds=args.lead)
    arm_s = arm_timers(db_url, args.timers, first_due, args.window)
    clock = SystemClock()
    states = StateStore(store)
    inbox = Inbox(store.engine, clock)
    sweep = TimerSweep(states, inbox, clock)
    pending = len(states.timers("live", status=PENDING)) if args.timers <= 20000 else None
    # What the leader does between sweeps while they wait: look at them (the next due, /ticketbot timers).
    t0 = time.perf_counter()
    nxt = states.next_due("live")
    next_due_ms = (time.perf_counter() - t0) * 1000
    rss_holding = rss_mb()
    if datetime.now(UTC) > first_due:
        print(f"  note: arming ended after the first due time; raise --lead (now {args.lead:g}s)")
    print(f"  armed in {arm_s:.1f}s; next due {nxt:%H:%M:%S} (lookup {next_due_ms:.1f} ms); RSS holding them "
          f"{rss_holding:.0f} MB" + (f" ({pending} pending read back)" if pending is not None else ""))

    samples: list[tuple[float, float]] = []
    sweeps: list[tuple[float, int, float]] = []  # (start, fired, seconds)
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(0.5):
            samples.append((time.monotonic(), rss_mb()))

    def scheduler() -> None:
        # APScheduler's interval trigger: the next run is due `sweep` s after the previous *start*;
        # a run still going when the next is due is skipped (max_instances=1), as in bot/inbox/scheduler.py.
        next_run = time.monotonic()
        while not stop.is_set():
            delay = next_run - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            began = time.monotonic()
            try:
                fired = sweep.run_once()
            except Exception as exc:  # noqa: BLE001 - the scheduler logs and goes on
                print(f"  sweep failed: {exc!r}")
                fired = 0
            sweeps.append((began, fired, time.monotonic() - began))
            while next_run <= time.monotonic():
                next_run += args.sweep

    threads = [threading.Thread(target=sampler, daemon=True), threading.Thread(target=scheduler, daemon=True)]
    for thread in threads:
        thread.start()
    deadline = first_due + timedelta(seconds=args.window)
    while datetime.now(UTC) < deadline + timedelta(seconds=2):
        time.sleep(0.5)
    # then until every timer has fired (or the grace runs out)
    grace = time.monotonic() + args.grace
    while time.monotonic() < grace and states.next_due("live") is not None:
        time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    lateness = _lateness(store)
    rss_peak_sweeping = max((r for _, r in samples), default=rss_mb())
    remaining = _count(store, "SELECT count(*) FROM timers WHERE status = 'pending'")
    fired_total = sum(f for _, f, _ in sweeps)
    durations = sorted(s for _, _, s in sweeps)
    p50, p99 = pct(lateness, 50), pct(lateness, 99)
    rss_max = max(rss_holding, rss_peak_sweeping)
    print(
        f"  {fired_total:,} fired by {len(sweeps)} sweeps (longest sweep {durations[-1] if durations else 0:.2f}s, "
        f"p50 {pct(durations, 50):.3f}s); {remaining} still pending; {len(lateness):,} timer.fired events in the inbox"
    )
    print(f"  lateness (event committed to the inbox - due): p50 {p50:.3f}s, p99 {p99:.3f}s, "
          f"max {max(lateness, default=float('nan')):.3f}s")
    print(f"  RSS: {rss_start:.0f} MB at start, {rss_holding:.0f} MB holding {args.timers:,} timers, "
          f"{rss_peak_sweeping:.0f} MB peak while sweeping (ru_maxrss {peak_rss_mb():.0f} MB)")
    rss_ok, late_ok = rss_max <= args.target_rss, (p50 <= args.target_lateness and p99 <= args.target_lateness)
    print(f"  target RSS <= {args.target_rss:.0f} MB: {'MET' if rss_ok else 'NOT MET'}; "
          f"target lateness p50/p99 <= {args.target_lateness:g}s: {'MET' if late_ok else 'NOT MET'}")
    return {"timers": args.timers, "window_s": args.window, "sweep_every_s": args.sweep, "arm_s": round(arm_s, 2),
            "fired": fired_total, "still_pending": remaining, "sweeps": len(sweeps),
            "sweep_s_p50": pct(durations, 50), "sweep_s_max": durations[-1] if durations else None,
            "lateness_s": {"p50": p50, "p99": p99, "max": max(lateness, default=None)},
            "rss_mb": {"start": round(rss_start), "holding": round(rss_holding), "peak_sweeping":
                       round(rss_peak_sweeping), "ru_maxrss": round(peak_rss_mb())},
            "rss_series_mb": [round(r) for _, r in samples[:: max(1, len(samples) // 40)]],
            "target_rss_mb": args.target_rss, "target_lateness_s": args.target_lateness,
            "rss_target_met": rss_ok, "lateness_target_met": late_ok}


def _count(store: Store, sql: str) -> int:
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def _lateness(store: Store) -> list[float]:
    """Per fired timer: when its event reached the inbox (received_ts) minus its due time."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT occurred_at, received_ts FROM inbox WHERE source = 'timer'")).all()
    out = []
    for occurred, received in rows:
        due = occurred if isinstance(occurred, datetime) else datetime.fromisoformat(str(occurred))
        due = due if due.tzinfo else due.replace(tzinfo=UTC)
        out.append(float(received) - due.timestamp())
    return out


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# main ---------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b", "c", "both", "all"], default="both",
                        help="both: a and b; all: a, b and c")
    parser.add_argument("--events", type=int, default=20000, help="(a) synthetic events (default 20000)")
    parser.add_argument("--config", default=str(ROOT / "config" / "ticketbot.yaml"))
    parser.add_argument("--target-rate", type=float, default=5000.0)
    parser.add_argument("--profile", action="store_true", help="(a) cProfile the SQLite replay and print the top")
    parser.add_argument("--profile-lines", type=int, default=35)
    parser.add_argument("--backtest-events", type=int, default=100000, help="(c) events (default 100000)")
    parser.add_argument("--target-backtest", type=float, default=60.0, help="(c) seconds")
    parser.add_argument("--timers", type=int, default=100000, help="(b) pending timers (default 100000)")
    parser.add_argument("--window", type=float, default=60.0, help="(b) seconds across which they fall due")
    parser.add_argument("--lead", type=float, default=20.0, help="(b) seconds from arming to the first due time")
    parser.add_argument("--sweep", type=float, default=0.25, help="(b) sweep interval, s (the daemon's default 0.25)")
    parser.add_argument("--grace", type=float, default=300.0, help="(b) max seconds to wait after the window")
    parser.add_argument("--target-rss", type=float, default=300.0)
    parser.add_argument("--target-lateness", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ticketbot-scale-"))
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}; "
          f"work dir {work}")
    result: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                              "loadavg_start": os.getloadavg()[0]}
    # (b) first: its RSS figures are of a process that has done nothing else yet
    if args.part in ("b", "both", "all"):
        result["timers"] = part_b(args, work)
    if args.part in ("a", "both", "all"):
        result["replay"] = part_a(args, work)
    if args.part in ("c", "all"):
        result["backtest"] = part_c(args, work)
    result["loadavg_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
