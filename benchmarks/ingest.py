"""Ingest benchmark: signed Jira webhooks at a target rate against a live ``ticketbot run`` on loopback.

    .venv/bin/python benchmarks/ingest.py --rate 200 --duration 20

It starts the daemon (``python -m bot.cli run``, SQLite in a temporary directory, the
file-backed in-memory site as its tracker so no Jira is needed) and measures:

* webhook acknowledgement latency p50/p95/p99 at ``--rate`` requests/s for ``--duration`` s
  (open loop: request k is sent at t0 + k/rate whether or not earlier ones were answered),
  and the sustained acknowledged events/s;
* a ``--burst`` of events sent at once (up to 100 connections): how many were lost, i.e.
  acknowledged but not in the inbox (must be 0), and how many were refused or failed;
* event -> first write latency p50/p99: from sending a ticket's first event to the first effect
  the executor recorded for it (both on this machine's clock);
* the same ack figures for a bare FastAPI endpoint under the same uvicorn on the same machine,
  and the ratio bare/ticketbot per percentile (1.0: ticketbot acks as fast as doing nothing).

Each ticket gets one ``jira:issue_created`` then updates (``--events-per-ticket``): the first
event triggers the onboarding intake (7 writes), the others find it done.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET = "benchmark-secret"
FORM = "Installer name: Sunpeak Solar\nInstaller contact email: ops@sunpeaksolar.example"

try:  # the bare endpoint uvicorn serves (imported by ``uvicorn ingest:bare_app``)
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    bare_app = FastAPI()

    @bare_app.post("/webhooks/jira")
    async def _bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "queued"}, status_code=202)
except ImportError:  # pragma: no cover - only when run outside the project's venv
    bare_app = None


# payloads --------------------------------------------------------------------------------------------
def _template() -> dict[str, Any]:
    for line in (ROOT / "examples" / "everbright" / "events.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("//"):
            return json.loads(line)
    raise SystemExit("examples/everbright/events.jsonl has no event")


def make_events(tickets: int, per_ticket: int, start: int = 1) -> list[tuple[str, str, bytes]]:
    """(ticket key, delivery id, body) in sending order: each ticket's created event, then its updates."""
    template = _template()
    out = []
    for n in range(start, start + tickets):
        key = f"SS-{n}"
        for i in range(per_ticket):
            body = copy.deepcopy(template)
            body["timestamp"] = 1793610840000 + n * 1000 + i
            body["issue"]["key"], body["issue"]["id"] = key, str(100000 + n)
            body["issue"]["fields"]["description"] = FORM
            if i:
                body["webhookEvent"], body["issue_event_type_name"] = "jira:issue_updated", "issue_updated"
                body["changelog"] = {"id": f"{n}{i}", "items": [{"field": "labels", "fromString": "",
                                                                 "toString": f"touch-{i}"}]}
            out.append((key, f"bench-{key}-{i}", json.dumps(body).encode()))
    return out


def write_site(path: Path, tickets: int) -> None:
    import yaml

    site = yaml.safe_load((ROOT / "examples" / "everbright" / "site.yaml").read_text(encoding="utf-8"))
    site["tickets"] = [{"key": f"SS-{n}", "summary": "EverBright Partner Onboarding", "description": FORM,
                        "status": "Waiting for support", "issue_type": "Service Request",
                        "reporter": "ops@sunpeaksolar.example", "participants": ["ops@sunpeaksolar.example"]}
                       for n in range(1, tickets + 1)]
    path.write_text(yaml.safe_dump(site), encoding="utf-8")


def headers(delivery: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": delivery,
            "X-Hub-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


# processes -------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not ready after {timeout}s")


def start_ticketbot(work: Path, port: int, workers: int, tickets: int, processes: int = 1) -> subprocess.Popen:
    write_site(work / "site.yaml", tickets)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TICKETBOT_")},
           "TICKETBOT_DATABASE_URL": f"sqlite:///{work / 'ticketbot.sqlite3'}",
           "TICKETBOT_TRACKER": f"memory:{work / 'site.yaml'}:{work / 'site-state.sqlite3'}",
           "TICKETBOT_CONFIG": str(ROOT / "config" / "ticketbot.yaml"),
           "TICKETBOT_JIRA__WEBHOOK_SECRET": SECRET, "TICKETBOT_JIRA__POLL_INTERVAL": "0",
           "TICKETBOT_HTTP__PORT": str(port), "TICKETBOT_WORKER__COUNT": str(workers),
           "TICKETBOT_WORKER__PROCESSES": str(processes),
           # A benchmark changes a thousand tickets an hour: the blast-radius cap would pause the rule.
           "TICKETBOT_GUARDS__MAX_TICKETS_PER_RULE_HOUR": "0", "TICKETBOT_LOG_LEVEL": "WARNING"}
    log = open(work / "ticketbot.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def start_bare(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "benchmarks"),
                             "ingest:bare_app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                             "--log-level", "warning"], cwd=ROOT)
    wait_ready(f"http://127.0.0.1:{port}/docs", proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


# load ------------------------------------------------------------------------------------------------
@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, acknowledged requests
    acked: set[str] = field(default_factory=set)
    failed: int = 0
    first_sent: dict[str, float] = field(default_factory=dict)  # ticket -> wall time of its first send
    started: float = 0.0
    finished: float = 0.0
    behind: float = 0.0  # how late the generator got (s): large values mean the client was the limit


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand: a load generator must cost less than
    the server it measures (an httpx client at 200 req/s on two CPUs saturates its own core)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, extra: dict[str, str]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in extra.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length, keep = 0, True
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and "close" in value.lower():
                keep = False
        await self.reader.readexactly(length)
        if not keep:
            self.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _worker(conn: Connection, jobs: asyncio.Queue, run: Run) -> None:
    """Take (due time, item) jobs; latency counts from the due time, so waiting for a free connection counts."""
    while True:
        job = await jobs.get()
        if job is None:
            conn.close()
            return
        due, (key, delivery, body) = job
        run.first_sent.setdefault(key, time.time() - (time.perf_counter() - due))
        try:
            status = await conn.post(body, headers(delivery, body))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            conn.close()
            run.failed += 1
            continue
        if 200 <= status < 300:
            run.latencies.append(time.perf_counter() - due)
            run.acked.add(delivery)
        else:
            run.failed += 1


async def _drive(url: str, items: list[tuple[str, str, bytes]], rate: float | None, connections: int) -> Run:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    run = Run()
    jobs: asyncio.Queue = asyncio.Queue()
    workers = [asyncio.create_task(_worker(Connection(parts.hostname, parts.port, parts.path), jobs, run))
               for _ in range(connections)]
    run.started = time.perf_counter()
    for k, item in enumerate(items):
        due = run.started + (k / rate if rate else 0.0)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif rate:
            run.behind = max(run.behind, -delay)
        jobs.put_nowait((due, item))
    for _ in workers:
        jobs.put_nowait(None)
    await asyncio.gather(*workers)
    run.finished = time.perf_counter()
    return run


async def open_loop(url: str, items: list[tuple[str, str, bytes]], rate: float, connections: int = 64) -> Run:
    """Request k is due at t0 + k/rate, whether or not earlier ones were answered."""
    return await _drive(url, items, rate, connections)


async def burst(url: str, items: list[tuple[str, str, bytes]], connections: int = 100) -> Run:
    """Everything due at once, over ``connections`` connections."""
    return await _drive(url, items, None, connections)


# measures --------------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def ack_figures(run: Run) -> dict[str, float]:
    ms = [v * 1000 for v in run.latencies]
    span = run.finished - run.started
    return {"p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "max": max(ms, default=float("nan")),
            "events_per_s": len(run.acked) / span if span else 0.0, "acked": len(run.acked), "failed": run.failed}


def inbox(db: Path) -> tuple[set[str], int]:
    """Dedup keys received (in the inbox, or in the intake file the HTTP process commits webhooks to, see
    bot/inbox/spool.py), and how many are not finished (those not yet moved from the intake file included)."""
    with sqlite3.connect(db) as conn:
        keys = {row[0] for row in conn.execute("SELECT dedup_key FROM inbox")}
        open_ = conn.execute("SELECT count(*) FROM inbox WHERE status IN ('pending', 'processing')").fetchone()[0]
        moved = (conn.execute("SELECT max(last_id) FROM intake_progress").fetchone()[0] or 0)
    spool = Path(f"{db}-intake")
    if spool.exists():
        with sqlite3.connect(spool) as conn:
            keys |= {row[0] for row in conn.execute("SELECT dedup_key FROM intake")}
            open_ += conn.execute("SELECT count(*) FROM intake WHERE id > ?", (moved,)).fetchone()[0]
    return keys, open_


def first_writes(db: Path) -> dict[str, float]:
    """Per ticket, when (epoch s) the executor recorded its first applied write."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT ticket_key, min(at) FROM applied_effects WHERE outcome = 'applied' "
                            "GROUP BY ticket_key").fetchall()
    return {key: _utc_epoch(at) for key, at in rows}


def _utc_epoch(text: str) -> float:
    from datetime import UTC

    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def drain(db: Path, timeout: float) -> float:
    """Wait until the inbox is empty; returns the seconds it took (or timeout)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if inbox(db)[1] == 0:
            return time.monotonic() - began
        time.sleep(0.2)
    return timeout


def report(title: str, figures: dict[str, float]) -> None:
    print(f"{title}: ack p50 {figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms, p99 {figures['p99']:.1f} ms, "
          f"max {figures['max']:.1f} ms; {figures['events_per_s']:.0f} acked events/s "
          f"({figures['acked']} acked, {figures['failed']} failed)")


# main ------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of steady load (default 20)")
    parser.add_argument("--burst", type=int, default=1000, help="events sent at once (default 1000)")
    parser.add_argument("--events-per-ticket", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="TICKETBOT_WORKER__COUNT (default 4)")
    parser.add_argument("--worker-processes", type=int, default=1,
                        help="TICKETBOT_WORKER__PROCESSES (default 1; 0: worker threads in the HTTP process)")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ticketbot-bench-"))
    steady_n = int(args.rate * args.duration)
    per = args.events_per_ticket
    steady_tickets = -(-steady_n // per)
    burst_tickets = -(-args.burst // per)
    steady = make_events(steady_tickets, per)[:steady_n]
    bursty = make_events(burst_tickets, per, start=steady_tickets + 1)[: args.burst]
    db = work / "ticketbot.sqlite3"
    print(f"{os.cpu_count()} CPUs; {steady_n} events at {args.rate:.0f}/s for {args.duration:.0f}s, then a burst of "
          f"{args.burst}; {per} events per ticket; {args.workers} worker threads in "
          f"{args.worker_processes or 'the HTTP'} process(es); work dir {work}")

    port = free_port()
    proc = start_ticketbot(work, port, args.workers, steady_tickets + burst_tickets, args.worker_processes)
    try:
        url = f"http://127.0.0.1:{port}/webhooks/jira"
        steady_run = asyncio.run(open_loop(url, steady, args.rate))
        steady_drain = drain(db, args.drain_timeout)
        burst_run = asyncio.run(burst(url, bursty))
        burst_drain = drain(db, args.drain_timeout)
        keys, unfinished = inbox(db)
        writes = first_writes(db)
    finally:
        stop(proc)
    bare_port = free_port()
    bare = start_bare(bare_port)
    try:
        bare_run = asyncio.run(open_loop(f"http://127.0.0.1:{bare_port}/webhooks/jira", steady, args.rate))
    finally:
        stop(bare)

    tb, base = ack_figures(steady_run), ack_figures(bare_run)
    report("ticketbot", tb)
    report("bare FastAPI endpoint", base)
    print("ratio bare/ticketbot (1.0 = as fast as a bare endpoint): "
          + ", ".join(f"{p} {base[p] / tb[p]:.2f}" for p in ("p50", "p95", "p99")))
    if steady_run.behind > 0.05:
        print(f"note: the load generator fell behind schedule by up to {steady_run.behind * 1000:.0f} ms")
    lost = len({f"jira:{d}" for d in burst_run.acked} - keys) + len({f"jira:{d}" for d in steady_run.acked} - keys)
    print(f"burst of {args.burst}: {len(burst_run.acked)} acked in {burst_run.finished - burst_run.started:.2f}s, "
          f"{burst_run.failed} refused/failed (a sender retries those), LOST (acked, not in the inbox): {lost}")
    latencies = [writes[k] - sent for k, sent in steady_run.first_sent.items() if k in writes]
    print(f"event -> first write: p50 {pct(latencies, 50) * 1000:.0f} ms, p99 {pct(latencies, 99) * 1000:.0f} ms "
          f"over {len(latencies)} tickets; inbox drained {steady_drain:.1f}s after the steady load ended "
          f"and {burst_drain:.1f}s after the burst; {unfinished} unfinished at the end")
    targets = tb["p99"] <= 50 and lost == 0 and base["p99"] / tb["p99"] >= 0.5
    print(f"targets (ack p99 <= 50 ms at {args.rate:.0f}/s, 0 lost, ratio >= 0.5): {'MET' if targets else 'NOT MET'}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
