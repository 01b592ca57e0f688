"""Console benchmark: the board, the pages and the JSON API with 10,000 runbook instances in flight and 1,000,000
trace rows, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/console.py                          # both databases, default sizes
    .venv/bin/python benchmarks/console.py --db sqlite --instances 10000 --traces 1000000 --requests 60
    .venv/bin/python benchmarks/console.py --db postgres --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The database is made with the migrations (``Store``), then filled through the driver (``executemany`` on
SQLite, ``COPY`` on PostgreSQL: filling is not what is measured) with what the console reads, shaped as the
rules of ``config/ticketbot.yaml`` write it: ``--instances`` instances in flight spread over the five runbooks
and their stages (each with its stage history, a customer, one pending timer: NF-e's and Momentus' are
runbook deadline alarms the console reads back with the runbook's calendar), a fifth as many closed ones,
``--traces`` trace rows over those tickets (3% of them ``timer.fired`` evaluations that sent a reminder or
an escalation), 40 dead letters and 2,000 audit entries. On PostgreSQL a database of its own is created and
dropped (``--keep`` keeps it); ``ANALYZE`` runs after the load, as autovacuum would.

Each route is then asked ``--requests`` times in-process (Starlette's TestClient: the whole app, the gate
and the security headers included, no network) after two warm-up requests (the first answer of each route
is printed as "cold"), and the p50, p95 and max are printed. As ``ticketbot run`` and ``ticketbot console``
do before they serve, what is loaded is frozen out of the garbage collector's sight (``gc.freeze``):
without it one request in six paid ~80 ms for a full collection walking SQLAlchemy and FastAPI.
Target (issue 17): the board and the JSON API answer in <= 200 ms p95.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient

from bot.clock import VirtualClock
from bot.console.app import build_console
from bot.console.queries import ConsoleQueries
from bot.inbox.guards import Guards
from bot.inbox.queue import Inbox
from bot.settings import Settings
from bot.store import Store
from rules import load_rules

CONFIG = ROOT / "config" / "ticketbot.yaml"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ADMIN = "bench@ticketbot.example"
HEADER = "X-Forwarded-Email"
#: Stages of a rule that declares none (EverBright's, as its instances go through them).
OBSERVED = ["intake", "configuring", "awaiting-approval", "approved", "closed"]
PROJECTS = {"everbright_onboarding": "SS", "nfe_onboarding": "NFE", "momentus_einvoicing": "EINV",
            "procountor_einvoicing": "PRC", "sharespine_onboarding": "SHP"}
CUSTOMERS = ["Sunpeak Solar", "Helio Homes", "Padaria Pão Dourado", "Nordic Freight", "Café Aurora", "Voltline",
             "Kiinteistö Oy Ranta", "Brightwater", "Solaris Norte", "Tuulivoima"]


# filling ------------------------------------------------------------------------------------------------
def plan(instances: int, traces: int, seed: int = 17) -> dict[str, list[tuple]]:
    """The rows to load: rule_state, timers, traces, inbox (dead letters), audit_log."""
    rng = random.Random(seed)
    rules = load_rules(CONFIG)
    queries = ConsoleQueries(Store("sqlite://"), rules, VirtualClock(NOW))
    shapes = {s.rule_id: s for s in queries.shapes()}
    rule_ids = [r.id for r in rules if r.id in PROJECTS]
    states, timers, keys = [], [], []
    closed = instances // 5
    for n in range(instances + closed):
        rule_id = rule_ids[n % len(rule_ids)]
        shape = shapes[rule_id]
        names = [s.name for s in shape.stages] or OBSERVED
        finals = [s.name for s in shape.stages if s.final] or ["closed"]
        flying = [s for s in names if s not in finals]
        stage = rng.choice(finals) if n >= instances else rng.choice(flying)
        upto = names.index(stage) + 1 if stage in names else len(names)
        start = NOW - timedelta(days=rng.uniform(1, 90))
        at, history = start, []
        for name in names[:upto]:
            history.append({"stage": name, "at": at.isoformat()})
            at += timedelta(hours=rng.uniform(2, 24 * 6))
        updated = datetime.fromisoformat(history[-1]["at"])
        key = f"{PROJECTS[rule_id]}-{100000 + n}"
        keys.append(key)
        data = {"customer": rng.choice(CUSTOMERS), "contact": f"ops{n}@customer.example",
                "account_manager": f"am{n % 40}@ticketbot.example"}
        states.append(("live", rule_id, key, stage, json.dumps(data), json.dumps(history), start, updated))
        if n < instances:
            deadline = next(iter(shape._deadlines), None)
            if deadline:
                tdata = {"alarm": rng.randint(0, 3), "start": start.isoformat()}
                name = deadline
            else:
                tdata, name = {"n": 1}, "approval-reminder"
            due = NOW + timedelta(hours=rng.uniform(-48, 24 * 20))
            timers.append(("live", f"{rule_id}:{key}:{name}", rule_id, key, name, due, "pending", json.dumps(tdata),
                           start, None, 0))
    trace_rows = []
    kinds = ["ticket.updated"] * 90 + ["comment.created"] * 7
    verdicts = json.dumps([{"condition": "stage", "observed": "configuring", "expected": "configuring", "ok": True}])
    for i in range(traces):
        key = keys[i % len(keys)]
        rule_id = rule_ids[(i % len(keys)) % len(rule_ids)]
        at = NOW - timedelta(minutes=(traces - i) * 130_000 / traces)  # ~90 days, oldest first
        ring = i % 33 == 0
        if ring:
            step = "target:escalate:lead" if i % 4 == 0 else "target:remind1:consultant"
            effects = json.dumps([{"rule_id": rule_id, "ticket_key": key, "step": step, "text": "A reminder",
                                   "outcome": "applied"}])
            row = ("live", f"timer:{rule_id}:{key}:{i}", "timer.fired", key, rule_id, at, True, verdicts, effects,
                   "[]", None)
        else:
            row = ("live", f"evt-{i}", rng.choice(kinds), key, rule_id, at, i % 3 == 0, verdicts, "[]",
                   json.dumps(["note"]), None)
        trace_rows.append(row)
    dead = [("jira", f"jira:dead-{i}", "ticket.updated", keys[i], "dead", 5, json.dumps({"source": "jira"}),
             NOW - timedelta(days=1), NOW - timedelta(hours=1), "TrackerError: HTTP 400") for i in range(40)]
    audit = [(NOW - timedelta(minutes=i), f"U{i % 30:04d}", "slack", f"approve {keys[i % len(keys)]}", "done", "")
             for i in range(2000)]
    return {"rule_state": states, "timers": timers, "traces": trace_rows, "inbox": dead, "audit_log": audit}


COLUMNS = {
    "rule_state": "scope, rule_id, ticket_key, stage, data, history, created_at, updated_at",
    "timers": "scope, timer_id, rule_id, ticket_key, name, due_at, status, data, created_at, fired_at, fire_count",
    "traces": "scope, event_id, event_kind, ticket_key, rule_id, at, matched, verdicts, effects, notes, error",
    "inbox": "source, dedup_key, kind, ticket_key, status, attempts, envelope, received_at, finished_at, last_error",
    "audit_log": "at, actor, via, command, outcome, detail",
}


def load(url: str, rows: dict[str, list[tuple]]) -> float:
    """Fill the database at ``url`` (already migrated) with ``rows``; seconds taken."""
    started = time.perf_counter()
    inbox_extra = _inbox_defaults(url)
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for table, values in rows.items():
            columns = COLUMNS[table] + (inbox_extra[0] if table == "inbox" else "")
            marks = ", ".join("?" * len(columns.split(",")))
            values = [tuple(_sqlite(v) for v in row) + (inbox_extra[1] if table == "inbox" else ()) for row in values]
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            with conn.cursor() as cur:
                for table, values in rows.items():
                    columns = COLUMNS[table] + (inbox_extra[0] if table == "inbox" else "")
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in values:
                            copy.write_row(row + (inbox_extra[1] if table == "inbox" else ()))
            conn.commit()
            conn.autocommit = True
            conn.execute("ANALYZE")
    return time.perf_counter() - started


def _inbox_defaults(url: str) -> tuple[str, tuple]:
    """Columns of the inbox this script does not care about but the table requires (read from the schema)."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    required = [c for c in inspect(engine).get_columns("inbox")
                if not c.get("nullable", True) and c.get("default") is None and not c.get("autoincrement")
                and c["name"] not in {x.strip() for x in COLUMNS["inbox"].split(",")} and c["name"] != "id"]
    engine.dispose()
    values: list[Any] = []
    for column in required:
        kind = str(column["type"]).upper()
        values.append(0 if any(t in kind for t in ("INT", "FLOAT", "REAL", "NUMERIC", "DOUBLE"))
                      else NOW if "TIME" in kind else False if "BOOL" in kind else "")
    names = "".join(f", {c['name']}" for c in required)
    return names, tuple(values)


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):  # as SQLAlchemy stores it on SQLite
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


# measuring ---------------------------------------------------------------------------------------------
ROUTES = [
    ("board page", "/console/"),
    ("board API", "/api/v1/board"),
    ("board API, search", "/api/v1/board?q=aurora"),
    ("board API, person", "/api/v1/board?person=am7@ticketbot.example"),
    ("board API, one stage page 3", None),  # filled in: a stage of the first runbook, offset 100
    ("board API, closed 30 days", "/api/v1/board?closed_days=30"),
    ("ticket page", None),
    ("instance API", None),
    ("timers API", "/api/v1/timers"),
    ("dead letters API", "/api/v1/dead-letters"),
    ("rules API", "/api/v1/rules"),
    ("audit API", "/api/v1/audit"),
    ("audit API, search", "/api/v1/audit?q=U0007"),
    ("charts page", "/console/charts"),
    ("charts API", "/api/v1/charts"),
]


def measure(url: str, requests: int, busy_key: str) -> list[tuple[str, str, list[float]]]:
    settings = Settings(database_url=url, config=CONFIG,
                        console={"admins": ADMIN, "trusted_header": HEADER, "trusted_proxies": "127.0.0.1"})
    clock = VirtualClock(NOW)
    store = Store(url)
    console = build_console(settings, store=store, inbox=Inbox(store.engine, clock), rules=load_rules(CONFIG),
                            clock=clock, guards=Guards(store, settings.guards, clock))
    client = TestClient(console.standalone(), client=("127.0.0.1", 50000))
    headers = {HEADER: ADMIN}
    client.get("/api/v1/session", headers=headers)
    gc.collect()  # as ``ticketbot run`` and ``ticketbot console`` do before serving
    gc.freeze()
    first = client.get("/api/v1/board", headers=headers).json()["runbooks"][0]
    stage = max(first["stages"], key=lambda s: s["count"])["stage"]
    results = []
    for name, path in ROUTES:
        if name.startswith("board API, one stage"):
            path = f"/api/v1/board?runbook={first['rule']}&stage={stage}&offset=100"
        elif name == "ticket page":
            path = f"/console/ticket/{busy_key}"
        elif name == "instance API":
            path = f"/api/v1/instances/{busy_key}"
        assert path is not None
        cold = 0.0
        for _ in range(2):
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            cold = cold or (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
        times = [cold]  # the first answer, kept apart (results[i][2][0])
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        results.append((name, path, times))  # times[0] is the cold answer
    store.engine.dispose()
    return results


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p * len(ordered))) - 1))]


def run(kind: str, url: str, args: argparse.Namespace, rows: dict[str, list[tuple]]) -> dict[str, Any]:
    Store(url).engine.dispose()  # the schema, by the migrations
    loaded = load(url, rows)
    busy = rows["rule_state"][0][2]
    results = measure(url, args.requests, busy)
    print(f"\n{kind}: {args.instances:,} in flight (+{args.instances // 5:,} closed), {len(rows['traces']):,} traces,"
          f" {len(rows['timers']):,} pending timers; loaded in {loaded:.0f} s; {args.requests} requests a route")
    print(f"{'route':34} {'cold ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    out = {}
    for name, _path, (cold, *times) in results:
        p50, p95 = statistics.median(times), pct(times, 0.95)
        mark = "" if p95 <= 200 else "  over 200 ms"
        print(f"{name:34} {cold:8.1f} {p50:8.1f} {p95:8.1f} {max(times):8.1f}{mark}")
        out[name] = {"cold": round(cold, 1), "p50": round(p50, 1), "p95": round(p95, 1), "max": round(max(times), 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--pg-url", default=os.environ.get("TICKETBOT_TEST_POSTGRES_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--keep", action="store_true", help="keep the databases made")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = plan(args.instances, args.traces)
    print(f"planned in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
    report: dict[str, Any] = {"load_average_before": os.getloadavg()}
    if args.db in ("sqlite", "both"):
        folder = Path(tempfile.mkdtemp(prefix="console-bench-"))
        url = f"sqlite:///{folder / 'console.sqlite3'}"
        try:
            report["sqlite"] = run("SQLite", url, args, rows)
        finally:
            if not args.keep:
                for path in folder.iterdir():
                    path.unlink()
                folder.rmdir()
    if args.db in ("postgres", "both"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin_url = make_url(args.pg_url)
        name = f"ticketbot_console_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            report["postgres"] = run("PostgreSQL", admin_url.set(database=name).render_as_string(hide_password=False),
                                     args, rows)
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    report["load_average_after"] = os.getloadavg()
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
